"""Who checks a mapped payload against its schema: the rule, or the session that sends it (TRANSLATION.md 1.4)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.dialects import Dialect
from gateway.core.mapping import Forward
from gateway.core.translate import hooks
from gateway.core.translate.chain import Chain
from gateway.core.translate.translator import Translation
from gateway.errors import SchemaViolation
from tests.core.playbook import ANY
from tests.core.test_command_translation import context, playbook, rules
from tests.core.test_mapping_examples import FakeContext, rule

V16, V201 = Dialect.OCPP16, Dialect.OCPP201
#: An IdTokenType no 2.0.1 schema accepts.
BAD_TOKEN = {"idToken": "TAG1", "type": "Bogus"}
#: A 1.6 idTag longer than the schema's 20 characters.
LONG_TAG = "T" * 21
GROUP_ANSWER = {"idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "G1", "type": "Central"}}}


class BadHooks(FakeContext):
    """A context whose hooks give values the target schema refuses (a hook bug, as far as the rules know)."""

    def hook(self, name: str, source: Any, value: Any) -> Any:
        self.calls.append((name, value))
        return {"token_to_2x": BAD_TOKEN, "token_to_1x": LONG_TAG, "boot_reason": "Bored"}.get(name)


class SharedToken(FakeContext):
    """A context whose token hook hands out the object it keeps, as a hook reading the state document may."""

    def __init__(self) -> None:
        super().__init__()
        self.kept = {"idToken": "TAG1", "type": "ISO14443"}

    def hook(self, name: str, source: Any, value: Any) -> Any:
        return self.kept


# ---- the rule ------------------------------------------------------------------------------


def test_rule_refuses_a_mapped_request_that_fails_the_target_schema() -> None:
    with pytest.raises(SchemaViolation, match=r"Authorize ocpp1\.6->ocpp2\.0\.1: the translated request"):
        rule(V16, "Authorize", "up").apply({"idTag": "TAG1"}, BadHooks())


def test_rule_leaves_the_request_check_to_a_caller_that_validates() -> None:
    outcome = rule(V16, "Authorize", "up").apply({"idTag": "TAG1"}, BadHooks(), validate=False)
    assert outcome == Forward("Authorize", {"idToken": BAD_TOKEN}, ANY)


def test_rule_with_notify_hooks_checks_the_request_even_for_a_caller_that_validates() -> None:
    """Its hooks record the message as sent (remember_boot): they must not run for one that never is."""
    ctx = BadHooks()
    with pytest.raises(SchemaViolation):
        rule(V16, "BootNotification", "up").apply({"chargePointVendor": "V", "chargePointModel": "M"}, ctx,
                                                  validate=False)
    assert ("remember_boot", None) not in ctx.calls


def test_rule_refuses_a_mapped_answer_that_fails_the_source_schema() -> None:
    with pytest.raises(SchemaViolation, match=r"Authorize ocpp1\.6->ocpp2\.0\.1: the translated response"):
        rule(V16, "Authorize", "up").map_response(GROUP_ANSWER, BadHooks())


def test_rule_leaves_the_answer_check_to_a_caller_that_validates() -> None:
    mapped = rule(V16, "Authorize", "up").map_response(GROUP_ANSWER, BadHooks(), validate=False)
    assert mapped == {"idTagInfo": {"status": "Accepted", "parentIdTag": LONG_TAG}}


def test_a_mapped_payload_holds_a_copy_of_what_a_hook_returned() -> None:
    """The session may keep a payload queued while the hook's state changes, and a caller may change the payload."""
    ctx = SharedToken()
    outcome = rule(V16, "Authorize", "up").apply({"idTag": "TAG1"}, ctx)
    assert isinstance(outcome, Forward)
    outcome.payload["idToken"]["type"] = "Central"
    assert ctx.kept == {"idToken": "TAG1", "type": "ISO14443"}


# ---- the session -----------------------------------------------------------------------------


def test_a_translated_request_failing_its_schema_never_reaches_the_csms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(hooks.HOOKS, "token_to_2x", lambda ctx, payload, value: BAD_TOKEN)
    pb, _ = playbook(V16)
    assert pb.charger([2, "a1", "Authorize", {"idTag": "TAG1"}]) == [
        ("received", "charger", "call", "Authorize"),
        ("refused", "charger", "Authorize", "SchemaViolation"),
        ("send", "charger", [4, "a1", "InternalError", ANY, {}]),
        ("completed", "Authorize", "charger", "error", 0.0),
    ]


def test_a_translated_answer_failing_its_schema_never_reaches_the_charger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(hooks.HOOKS, "token_to_1x", lambda ctx, payload, value: LONG_TAG)
    pb, _ = playbook(V16)
    pb.charger([2, "a1", "Authorize", {"idTag": "TAG1"}])
    assert pb.csms([3, "gw-1", GROUP_ANSWER]) == [
        ("received", "csms", "result", "Authorize"),
        ("refused", "csms", "Authorize", "SchemaViolation"),
        ("send", "charger", [4, "a1", "InternalError", ANY, {}]),
        ("completed", "Authorize", "charger", "error", 0.0),
    ]


def test_translations_in_a_chain_check_what_they_hand_each_other() -> None:
    """The session sees only what the chain emits, not the 1.6 payloads between its two translations."""
    lower, upper = Translation(context(V16), rules()), Translation(context(V16), rules())
    Chain(lower, upper)
    assert lower.validates and upper.validates
