"""Chain: two stacked translators act as one; each call toward the middle dialect runs the other's flow."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.flow import Flow, Reply, Request, Respond
from gateway.core.ocppj import Call, CallError
from gateway.core.session_types import Leg
from gateway.core.translate.chain import Chain
from gateway.errors import NotSupportedAction


class Renamer:
    """A translator that forwards every call to the other leg with `suffix` added or removed."""

    def __init__(self, suffix: str, *, early_answer: bool = False, refuse: str | None = None) -> None:
        self.suffix = suffix
        self.early_answer = early_answer
        self.refuse = refuse
        self.saved: list[tuple[str, Any]] = []

    def writes(self) -> list[tuple[str, Any]]:
        out, self.saved = self.saved, []
        return out

    def flow(self, call: Call, origin: Leg, now: float) -> Flow:
        if call.action == self.refuse:
            raise NotSupportedAction(f"{call.action} is refused")
        return self._flow(call, origin)

    def _flow(self, call: Call, origin: Leg) -> Flow:
        action = call.action + self.suffix if origin is Leg.CHARGER else call.action.removesuffix(self.suffix)
        self.saved.append((self.suffix, action))
        if self.early_answer:
            yield Respond({"early": self.suffix})
        reply = yield Request(origin.other, action, {"via": [*call.payload.get("via", []), self.suffix]})
        assert reply is not None
        if not reply.ok:
            assert reply.error is not None
            return {"error": reply.error.error_code}
        return {**(reply.payload or {}), "seen_by": [*(reply.payload or {}).get("seen_by", []), self.suffix]}


def run(flow: Flow, replies: list[Reply]) -> tuple[list[Request | Respond], Any]:
    steps: list[Request | Respond] = []
    value: Reply | None = None
    try:
        while True:
            step = flow.send(value)
            steps.append(step)
            value = replies.pop(0) if isinstance(step, Request) else None
    except StopIteration as stop:
        return steps, stop.value


def test_a_chargers_call_runs_the_lower_then_the_upper_translation() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201"))
    steps, result = run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [Reply(payload={})])
    assert steps == [Request(Leg.CSMS, "Boot_16_201", {"via": ["_16", "_201"]})]
    assert result == {"seen_by": ["_201", "_16"]}


def test_a_csms_call_runs_the_upper_then_the_lower_translation() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201"))
    steps, result = run(chain.flow(Call("1", "Reset_16_201", {}), Leg.CSMS, 0.0), [Reply(payload={})])
    assert steps == [Request(Leg.CHARGER, "Reset", {"via": ["_201", "_16"]})]
    assert result == {"seen_by": ["_16", "_201"]}


def test_an_error_reply_reaches_the_inner_flow_first() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201"))
    error = Reply(error=CallError("x", "InternalError", "down", {}))
    _, result = run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [error])
    # The upper flow turns the error into a payload, which the lower flow then decorates.
    assert result == {"error": "InternalError", "seen_by": ["_16"]}


def test_a_nested_translator_that_refuses_gives_the_outer_flow_an_error_reply() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201", refuse="Boot_16"))
    steps, result = run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [])
    assert steps == []
    assert result == {"error": "NotSupported"}


def test_an_early_answer_of_the_nested_flow_is_the_outer_flows_reply() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201", early_answer=True))
    steps, result = run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [Reply(payload={"late": True})])
    # The nested Respond never reaches the session: the session's source is the charger, answered once.
    assert [type(s) for s in steps] == [Request]
    assert result == {"early": "_201", "seen_by": ["_16"]}


def test_the_outer_flows_own_early_answer_reaches_the_session() -> None:
    chain = Chain(Renamer("_16", early_answer=True), Renamer("_201"))
    steps, _ = run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [Reply(payload={})])
    assert steps[0] == Respond({"early": "_16"})


def test_writes_of_both_translators_are_saved_lower_first() -> None:
    chain = Chain(Renamer("_16"), Renamer("_201"))
    run(chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0), [Reply(payload={})])
    assert chain.writes() == [("_16", "Boot_16"), ("_201", "Boot_16_201")]


def test_a_refusal_by_the_outer_translator_is_raised_at_once() -> None:
    chain = Chain(Renamer("_16", refuse="Boot"), Renamer("_201"))
    with pytest.raises(NotSupportedAction):
        chain.flow(Call("1", "Boot", {}), Leg.CHARGER, 0.0)
