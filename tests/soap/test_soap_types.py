"""The committed SOAP type tables match the WSDLs, and the JSON schemas derived from them match OCPP-J 1.6."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from gateway.core.dialects import Dialect
from gateway.errors import NotSupportedAction
from gateway.soap import types
from gateway.soap.json_schema import json_actions, json_schema
from tests.soap import wsdl_types

V15, V16 = Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP


@pytest.mark.parametrize("dialect", list(wsdl_types.SOURCES))
def test_committed_table_is_what_the_wsdls_give(dialect: str) -> None:
    """Regenerating a table from the WSDLs changes nothing (else run `python -m tests.soap.wsdl_types`)."""
    committed = wsdl_types.table_path(dialect).read_text(encoding="utf-8")
    assert committed == wsdl_types.render(wsdl_types.derive(dialect))


def _sequence(dialect: Dialect, service: types.Service, action: str, direction: str) -> list[str]:
    op = types.operation(dialect, service, action)
    ct = op.request_type if direction == "request" else op.response_type
    return [f.name for f in ct.fields]


def test_15_boot_response_has_heartbeat_interval() -> None:
    """1.5 BootNotification.conf is status, currentTime, heartbeatInterval."""
    assert _sequence(V15, "cs", "BootNotification", "response") == ["status", "currentTime", "heartbeatInterval"]


def test_16_boot_response_has_interval() -> None:
    """1.6 BootNotification.conf names the interval `interval`, as OCPP-J does."""
    assert _sequence(V16, "cs", "BootNotification", "response") == ["status", "currentTime", "interval"]


def test_remote_start_order_differs_between_versions() -> None:
    """RemoteStartTransaction.req is idTag, connectorId in 1.5 and connectorId, idTag, chargingProfile in 1.6."""
    assert _sequence(V15, "cp", "RemoteStartTransaction", "request") == ["idTag", "connectorId"]
    assert _sequence(V16, "cp", "RemoteStartTransaction", "request") == ["connectorId", "idTag", "chargingProfile"]


@pytest.mark.parametrize(
    ("dialect", "service", "count"), [(V15, "cs", 10), (V15, "cp", 15), (V16, "cs", 10), (V16, "cp", 19)]
)
def test_operation_counts(dialect: Dialect, service: types.Service, count: int) -> None:
    """Each service has the number of operations SOAP-NOTES section 5 lists."""
    assert len(types.operations(dialect, service)) == count


def test_charger_operations_are_the_same_in_both_versions() -> None:
    """CentralSystemService has the same 10 operations in 1.5 and 1.6."""
    assert types.operations(V15, "cs") == types.operations(V16, "cs")


@pytest.mark.parametrize("dialect", [V15, V16])
def test_actions_and_roots_follow_the_naming_rule(dialect: Dialect) -> None:
    """Every operation's roots are lowerCamel op + Request/Response and its actions /Op and /OpResponse."""
    for service in types.SERVICES:
        for op in types.table(dialect, service).operations.values():
            camel = op.name[0].lower() + op.name[1:]
            assert (op.request_root, op.response_root) == (f"{camel}Request", f"{camel}Response")
            assert (op.request_action, op.response_action) == (f"/{op.name}", f"/{op.name}Response")


def _field(ct: types.ComplexType, *path: str) -> types.Field:
    """The field reached by following child names from a complex type."""
    head, *rest = path
    found = ct.fields[ct.index[head]]
    if not rest:
        return found
    assert isinstance(found.type, types.ComplexType)
    return _field(found.type, *rest)


def test_15_meter_value_is_text_with_unqualified_attributes() -> None:
    """The 1.5 MeterValue `value` element is a string with the five optional attributes."""
    value = _field(types.operation(V15, "cs", "MeterValues").request_type, "values", "value").type
    assert isinstance(value, types.ComplexType) and value.text is not None
    assert [a.name for a in value.attributes] == ["context", "format", "measurand", "location", "unit"]
    assert not any(a.required for a in value.attributes)


def test_decimal_one_keeps_its_fraction_digits() -> None:
    """1.6 ChargingSchedulePeriod.limit is a decimal with one fraction digit."""
    request = types.operation(V16, "cp", "SetChargingProfile").request_type
    limit = _field(request, "csChargingProfiles", "chargingSchedule", "chargingSchedulePeriod", "limit").type
    assert isinstance(limit, types.SimpleType) and (limit.base, limit.fraction_digits) == ("decimal", 1)


def test_service_of_data_transfer_is_the_charger_initiated_one() -> None:
    """DataTransfer is in both services; service_of answers "cs"."""
    assert types.service_of(V16, "DataTransfer") == "cs"
    assert types.service_of(V16, "Reset") == "cp"
    assert types.service_of(V15, "Heartbeat") == "cs"


def test_service_of_an_unknown_action_is_refused() -> None:
    """An operation the dialect lacks (TriggerMessage in 1.5) raises NotSupportedAction."""
    with pytest.raises(NotSupportedAction):
        types.service_of(V15, "TriggerMessage")


def test_namespaces_locate_dialect_and_service() -> None:
    """Each of the four namespaces tells the dialect and the service; anything else is unknown."""
    assert types.namespace(V15, "cs") == "urn://Ocpp/Cs/2012/06/"
    located = types.locate("urn://Ocpp/Cp/2015/10/")
    assert located is not None and (located.dialect, located.service) == (V16, "cp")
    assert types.locate("urn://Ocpp/Cs/2015/10") is None


def test_json_actions_are_both_services() -> None:
    """json_actions is the union of both services' operations (28 in 1.6, 24 in 1.5)."""
    assert len(json_actions(V16)) == 28 and len(json_actions(V15)) == 24
    assert "TriggerMessage" not in json_actions(V15)


def test_15_json_schema_uses_the_15_names() -> None:
    """The 1.5 schemas carry the 1.5 XSD names and the text-with-attributes MeterValue object."""
    boot = json_schema(V15, "BootNotification", "response")
    assert boot["required"] == ["status", "currentTime", "heartbeatInterval"]
    meter = json_schema(V15, "MeterValues", "request")["properties"]["values"]["items"]["properties"]["value"]
    assert meter["type"] == "array" and meter["minItems"] == 1
    assert meter["items"]["required"] == ["value"] and meter["items"]["properties"]["unit"]["enum"][0] == "Wh"


def test_json_schema_types() -> None:
    """int is a 32-bit integer, decimal a number, dateTime a date-time string, empty messages an empty object."""
    stop = json_schema(V16, "StopTransaction", "request")["properties"]
    assert stop["meterStop"] == {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    assert stop["timestamp"] == {"type": "string", "format": "date-time"}
    assert json_schema(V16, "Heartbeat", "request") == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "HeartbeatRequest",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_json_schema_is_a_fresh_copy() -> None:
    """Changing a returned schema does not change the next one."""
    json_schema(V16, "Authorize", "request")["properties"].clear()
    assert "idTag" in json_schema(V16, "Authorize", "request")["properties"]


# SOAP-NOTES section 7: the only ways the WSDL-derived 1.6 schemas differ from the ocpp package's.
KNOWN_DIFFERENCES = {
    ("MeterValues", "required", "meterValue"),
    ("MeterValues.meterValue", "minItems"),
    ("MeterValues.meterValue[].sampledValue[].unit", "enum", "Celcius"),
    ("MeterValues.meterValue[].sampledValue[].unit", "enum", "Hertz"),
    ("StopTransaction.transactionData[].sampledValue", "minItems"),
    ("StopTransaction.transactionData[].sampledValue[].unit", "enum", "Celcius"),
    ("GetCompositeScheduleResponse.chargingSchedule.chargingSchedulePeriod", "minItems"),
    ("RemoteStartTransaction.chargingProfile.chargingSchedule.chargingSchedulePeriod", "minItems"),
    ("SetChargingProfile.csChargingProfiles.chargingSchedule.chargingSchedulePeriod", "minItems"),
}


def _differences(ours: dict[str, Any], theirs: dict[str, Any], path: str) -> set[tuple[str, ...]]:
    """Where two schemas disagree on type, property names, required names, enum values, maxLength, minItems."""
    found: set[tuple[str, ...]] = set()
    for key in ("type", "maxLength", "minItems", "format"):
        if ours.get(key) != theirs.get(key):
            found.add((path, key))
    found |= {(path, "enum", v) for v in set(ours.get("enum", ())) ^ set(theirs.get("enum", ()))}
    if ours.get("type") == "object":
        mine, other = ours["properties"], theirs.get("properties", {})
        found |= {(path, "property", name) for name in set(mine) ^ set(other)}
        found |= {(path, "required", n) for n in set(ours.get("required", ())) ^ set(theirs.get("required", ()))}
        for name in set(mine) & set(other):
            found |= _differences(mine[name], other[name], f"{path}.{name}")
    elif ours.get("type") == "array":
        found |= _differences(ours["items"], theirs["items"], f"{path}[]")
    return found


def _official(name: str) -> dict[str, Any]:
    text = resources.files("ocpp").joinpath("v16/schemas", f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_16_schemas_agree_with_ocpp_j_except_the_known_differences() -> None:
    """For all 58 messages of 1.6, the derived schemas differ from ocpp/v16/schemas only as SOAP-NOTES 7 lists."""
    found: set[tuple[str, ...]] = set()
    for action in sorted(json_actions(V16)):
        found |= _differences(json_schema(V16, action, "request"), _official(action), action)
        found |= _differences(json_schema(V16, action, "response"), _official(f"{action}Response"), f"{action}Response")
    assert found == KNOWN_DIFFERENCES


def test_difference_finder_sees_a_renamed_field() -> None:
    """The comparison is not vacuous: a renamed property and a dropped enum value are reported."""
    theirs = _official("BootNotificationResponse")
    ours = json_schema(V15, "BootNotification", "response")
    found = _differences(ours, theirs, "Boot")
    assert ("Boot", "property", "heartbeatInterval") in found and ("Boot", "enum", "Pending") not in found
    assert ("Boot.status", "enum", "Pending") in found
