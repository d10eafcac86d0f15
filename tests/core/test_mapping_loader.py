"""Mapping files that are wrong are refused at load time with one line: file, entry path, problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, HOOKS_USED, Forward, RuleSet
from gateway.core.mapping_load import load_rules
from gateway.core.mapping_schema import compatibility
from gateway.errors import ConfigError
from tests.core.test_mapping_examples import FakeContext

ENTRY = "bad.yaml: messages[BootNotification ocpp1.6->ocpp2.0.1]"
#: A valid BootNotification entry (C16 -> U201) the cases below break one way each.
BOOT: dict[str, Any] = {
    "direction": "up",
    "request": {
        "fields": {"chargingStation.vendorName": "chargePointVendor", "chargingStation.model": "chargePointModel",
                   "reason": {"const": "PowerUp"}},
        "drop": ["chargePointSerialNumber", "chargeBoxSerialNumber", "firmwareVersion", "iccid", "imsi", "meterType",
                 "meterSerialNumber"],
    },
    "response": {"copy": ["status", "currentTime", "interval"], "drop": ["statusInfo"]},
}


def document(messages: dict[str, Any] | None = None, **top: Any) -> str:
    """A mapping file with the BootNotification entry (or the given messages) and extra top-level keys."""
    body = {"format": 1, "pair": ["ocpp1.6", "ocpp2.0.1"],
            "messages": messages if messages is not None else {"ocpp1.6": {"BootNotification": BOOT}}, **top}
    return yaml.safe_dump(body, sort_keys=False)


def boot(change: Any) -> str:
    """The BootNotification file after `change(entry)` edits a copy of the entry."""
    entry = copy.deepcopy(BOOT)
    change(entry)
    return document({"ocpp1.6": {"BootNotification": entry}})


def load(text: str, **files: str) -> RuleSet:
    return load_rules({"bad.yaml": text, **files}, HOOKS_USED, HANDLERS_USED)


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return str(caught.value)


def fields(entry: dict[str, Any]) -> dict[str, Any]:
    fields_: dict[str, Any] = entry["request"]["fields"]
    return fields_


def test_the_base_entry_is_valid() -> None:
    """The entry the other cases break loads and maps."""
    rule = load(document()).find(Dialect.OCPP16, "BootNotification", "up")
    assert rule is not None
    outcome = rule.apply({"chargePointVendor": "V", "chargePointModel": "M"}, FakeContext())
    assert isinstance(outcome, Forward)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param(document(colour="blue"), "bad.yaml: colour: unknown key (expected one of: format, pair, "
                 "description, enums, messages, config_keys)", id="unknown-top-key"),
    pytest.param(document().replace("format: 1", "format: 2"), "bad.yaml: format: expected 1, got 2", id="format"),
    pytest.param(document().replace("- ocpp2.0.1", "- ocpp2"), "bad.yaml: pair[1]: unknown dialect 'ocpp2' "
                 "(expected one of: ocpp1.5-soap, ocpp1.6-soap, ocpp1.6, ocpp2.0.1)", id="unknown-dialect"),
    pytest.param("format: 1\npair: [ocpp1.6]\n", "bad.yaml: pair: expected a list of two different dialects, "
                 "e.g. [ocpp1.6, ocpp2.0.1]", id="pair"),
    pytest.param("format: 1\npair: [ocpp1.6, ocpp2.0.1]\nenums: {}\nenums: {}\n",
                 "bad.yaml: line 4: not valid YAML: duplicate key 'enums'", id="duplicate-yaml-key"),
    pytest.param("format: 1\npair: [ocpp1.6, ocpp2.0.1\n", "bad.yaml: line 3: not valid YAML: expected ',' or ']', "
                 "but got '<stream end>'", id="yaml-syntax"),
    pytest.param(document({"ocpp1.6": {"Boot": BOOT}}),
                 "bad.yaml: messages[Boot ocpp1.6->ocpp2.0.1]: Boot is not an OCPP ocpp1.6 action", id="action"),
    pytest.param(boot(lambda e: e.update(target="Booting")), f"{ENTRY}.target: Booting is not an OCPP ocpp2.0.1 "
                 "action", id="target-action"),
    pytest.param(boot(lambda e: e.update(direction="sideways")), f"{ENTRY}.direction: expected up, down or both, "
                 "got 'sideways'", id="direction"),
    pytest.param(boot(lambda e: e.update(handler="boot")), f"{ENTRY}: handler and request and response exclude "
                 "each other: a message is mapped, handled by code, answered locally or not supported", id="exclusive"),
    pytest.param(boot(lambda e: e.update(colour=1)), f"{ENTRY}.colour: unknown key (expected one of: direction, "
                 "target, spec, note, handler, local, not_supported, routes, request, response, variants)",
                 id="unknown-message-key"),
    pytest.param(boot(lambda e: fields(e).update(reason={"cnst": "PowerUp"})),
                 f"{ENTRY}.request.fields.reason.cnst: unknown key (expected one of: from, const, default, hook, "
                 "convert, enum, on_unknown, when, on_missing, narrowing, each, fields, value, drop, copy, require, "
                 "note)", id="unknown-field-key"),
])
def test_malformed_files_are_refused(text: str, message: str) -> None:
    """Bad structure is refused with the file, the key path and the problem."""
    assert refusal(text) == message


@pytest.mark.parametrize(("change", "message"), [
    pytest.param(lambda e: fields(e).update({"chargingStation.vendorName": "chargePointVendr"}),
                 f"{ENTRY}.request.fields.chargingStation.vendorName.from: 'chargePointVendr' is not a field of the "
                 "source schema", id="unknown-source-path"),
    pytest.param(lambda e: fields(e).update({"chargingStation.vendor": "chargePointVendor"}),
                 f"{ENTRY}.request.fields.chargingStation.vendor: 'chargingStation.vendor' is not a field of the "
                 "target schema", id="unknown-target-path"),
    pytest.param(lambda e: e["response"].update(copy=["status", "interval"], fields={"currentTime": "interval"}),
                 f"{ENTRY}.response.fields.currentTime: interval is integer but the target wants string",
                 id="type-mismatch"),
    pytest.param(lambda e: fields(e).update({"chargingStation.vendorName": "iccid"}),
                 f"{ENTRY}.request.fields.chargingStation.vendorName: required target field "
                 "'chargingStation.vendorName' may be left out (its source is optional); add a default, on_missing "
                 "or a route", id="required-from-optional"),
    pytest.param(lambda e: fields(e).pop("reason"),
                 f"{ENTRY}.request: required target field 'reason' is not produced", id="required-not-produced"),
    pytest.param(lambda e: fields(e).update({"chargingStation.model": "firmwareVersion"}),
                 f"{ENTRY}.request.fields.chargingStation.model: firmwareVersion may be longer than the target's 20 "
                 "characters; add `convert: truncate:N` or `narrowing: reject`", id="narrowing"),
    pytest.param(lambda e: (fields(e).update(reason="iccid"), e["request"]["drop"].remove("iccid")),
                 f"{ENTRY}.request.fields.reason: iccid is free text but the target is an enum; add an enum table",
                 id="free-text-into-enum"),
    pytest.param(lambda e: e["request"]["drop"].remove("meterType"),
                 f"{ENTRY}.request: source field 'meterType' is neither mapped nor listed in drop", id="coverage"),
    pytest.param(lambda e: fields(e).update(reason={"hook": "guess_reason"}),
                 f"{ENTRY}.request.fields.reason: unknown hook 'guess_reason'", id="unknown-hook"),
    pytest.param(lambda e: e["request"].update(notify=["remember_everything"]),
                 f"{ENTRY}.request.notify: unknown hook 'remember_everything'", id="unknown-notify-hook"),
    pytest.param(lambda e: fields(e).update({"chargingStation.model": {"from": "chargePointModel",
                                                                       "convert": "shout"}}),
                 f"{ENTRY}.request.fields.chargingStation.model.convert: unknown converter 'shout' (known: celsius, "
                 "first_item, json_text, number_to_text, round, sampled_values_to_16, sampled_values_to_201, "
                 "text_to_number, truncate, wrap_list)", id="unknown-converter"),
    pytest.param(lambda e: fields(e).update({"chargingStation.model": {"from": "chargePointModel",
                                                                       "convert": "truncate"}}),
                 f"{ENTRY}.request.fields.chargingStation.model.convert: truncate needs an argument, e.g. truncate:20",
                 id="converter-argument"),
    pytest.param(lambda e: fields(e).update({"chargingStation.model": {"from": "chargePointModel",
                                                                       "convert": "number_to_text"}}),
                 f"{ENTRY}.request.fields.chargingStation.model.convert: number_to_text takes integer/number, but the "
                 "value is string", id="converter-type"),
    pytest.param(lambda e: fields(e).update(reason={"const": "Boredom"}),
                 f"{ENTRY}.request.fields.reason.const: 'Boredom' is not valid for the target field: data must be one "
                 "of ['ApplicationReset', 'FirmwareUpdate', 'LocalReset', 'PowerUp', 'RemoteReset', "
                 "'ScheduledReset', 'Triggered', 'Unknown', 'Watchdog']", id="const-invalid"),
    pytest.param(lambda e: fields(e).update({"chargingStation.model": {"from": "$request.chargePointModel"}}),
                 f"{ENTRY}.request.fields.chargingStation.model.from: $request.chargePointModel: $request paths exist "
                 "only in response mappings", id="request-scope-in-request"),
    pytest.param(lambda e: e["response"].update(copy=["status", "currentTime"]),
                 f"{ENTRY}.response: required target field 'interval' is not produced", id="response-required"),
    pytest.param(lambda e: e.update(routes=[{"when": {"present": "iccid"}, "local": {"status": "Maybe"}}]),
                 f"{ENTRY}.routes[0].local: not a valid BootNotification response: BootNotification response: data "
                 "must contain ['currentTime', 'interval'] properties", id="invalid-local-answer"),
    pytest.param(lambda e: e.update(routes=[{"when": {"present": "iccid"}, "handler": "boot_code"}]),
                 f"{ENTRY}: unknown handler 'boot_code'", id="unknown-handler"),
    pytest.param(lambda e: e.update(routes=[{"when": {"present": "iccid"}, "variant": "other"}]),
                 f"{ENTRY}.routes[0].variant: no variant named 'other'", id="unknown-variant"),
    pytest.param(lambda e: e.update(routes=[{"when": {"path": "iccid", "eq": 1, "ne": 2}, "local": {}}]),
                 f"{ENTRY}.routes[0].when: expected one of: present, absent, path with eq/ne/in/not_in, hook, all, "
                 "any, not", id="bad-condition"),
])
def test_mappings_that_break_the_schemas_are_refused(change: Any, message: str) -> None:
    """Each schema check names file, entry and problem (TRANSLATION.md Appendix A, checks 1-6)."""
    assert refusal(boot(change)) == message


ENUM_ENTRY = "bad.yaml: messages[Reset ocpp1.6->ocpp2.0.1]"


def reset(table: dict[str, Any], **field: Any) -> str:
    entry = {"direction": "down", "request": {"fields": {"type": {"from": "type", "enum": "t", **field}}},
             "response": {"fields": {"status": {"from": "status", "enum": "s"}}, "drop": ["statusInfo"]}}
    status = {"Accepted": "Accepted", "Rejected": "Rejected", "Scheduled": "Accepted"}
    return document({"ocpp1.6": {"Reset": entry}}, enums={"t": {"map": table}, "s": {"map": status}})


@pytest.mark.parametrize(("text", "message"), [
    pytest.param(reset({"Hard": "Immediate"}), f"{ENUM_ENTRY}.request.fields.type.enum: enum table 't' does not "
                 "cover source value 'Soft'; add it or set on_unknown", id="not-covering"),
    pytest.param(reset({"Hard": "Immediate", "Soft": "Gently"}), f"{ENUM_ENTRY}.request.fields.type.enum: enum table "
                 "'t' yields 'Gently', not a value of the target field", id="invalid-target-value"),
    pytest.param(reset({"Hard": "Immediate", "Soft": "OnIdle", "Warm": "OnIdle"}),
                 f"{ENUM_ENTRY}.request.fields.type.enum: enum table 't' maps 'Warm', not a value of the source field",
                 id="stray-key"),
    pytest.param(reset({"Hard": "Immediate"}, enum="u"), f"{ENUM_ENTRY}.request.fields.type.enum: unknown enum table "
                 "'u'", id="unknown-table"),
    pytest.param(reset({"Hard": 3}), "bad.yaml: enums.t.map.Hard: expected the target value as a string, got int 3",
                 id="non-string-value"),
])
def test_enum_tables_are_checked_against_both_enums(text: str, message: str) -> None:
    """An enum table must cover the source enum and yield only target values."""
    assert refusal(text) == message


def test_anchors_and_merge_keys_share_parts_of_entries() -> None:
    """YAML anchors and `<<` merge keys work, and an explicit key may override a merged one."""
    text = document().replace("  ocpp1.6:\n    BootNotification:\n", "  ocpp1.6:\n    BootNotification: &boot\n")
    text += "    Heartbeat:\n      <<: *boot\n      request: {}\n      response: {copy: [currentTime]}\n"
    rule = load(text).find(Dialect.OCPP16, "Heartbeat", "up")
    assert rule is not None and rule.map_request({}, FakeContext()) == {}


def test_an_enum_table_with_on_unknown_need_not_cover_everything() -> None:
    """With on_unknown the table may leave source values out; they are then refused at run time."""
    load(reset({"Hard": "Immediate"}, on_unknown="not_supported"))


def test_the_same_entry_in_two_built_in_files_is_refused() -> None:
    """Two built-in files defining one (source, action) are ambiguous."""
    with pytest.raises(ConfigError, match=r"^b.yaml: messages\[BootNotification ocpp1.6->ocpp2.0.1\]: defined twice "
                       r"\(also in bad.yaml\)$"):
        load(document(), **{"b.yaml": document()})


def test_operator_overrides_replace_built_in_entries() -> None:
    """An operator file's entry replaces the built-in one with the same source dialect and action."""
    override = boot(lambda e: fields(e).update(reason={"const": "Unknown"}))
    rules = load_rules({"bad.yaml": document()}, HOOKS_USED, HANDLERS_USED, overrides={"ops.yaml": override})
    rule = rules.find(Dialect.OCPP16, "BootNotification", "up")
    assert rule is not None and rule.spec.file == "ops.yaml"
    assert rule.map_request({"chargePointVendor": "V", "chargePointModel": "M"}, FakeContext())["reason"] == "Unknown"


def test_copying_an_object_needs_a_place_for_each_of_its_fields() -> None:
    """A whole-object copy fails when the target lacks one of its fields (customData excepted) or needs more."""
    source = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                                                                "customData": {"type": "object"}}}
    target = {"type": "object", "required": ["a", "c"], "properties": {"a": {"type": "string"},
                                                                      "c": {"type": "string"}}}
    assert compatibility(source, target, where="x") == ["x.b has no place in the target; map the fields one by one",
                                                        "x.c is required by the target but optional in the source"]
