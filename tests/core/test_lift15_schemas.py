"""OCPP 1.5 in the schema layer and the mapping loader: the SOAP codec's JSON schemas, used like the official ones."""

from __future__ import annotations

import pytest

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, HOOKS_USED
from gateway.core.mapping_load import load_rules
from gateway.core.mapping_schema import at, message_schema, parse_path
from gateway.errors import (
    ConfigError,
    FormatViolation,
    NotImplementedAction,
    OccurrenceConstraintViolation,
    PropertyConstraintViolation,
    TypeConstraintViolation,
)
from gateway.mapping_files import builtin_mapping_texts
from gateway.soap.json_schema import json_actions

C15, U16 = Dialect.OCPP15_SOAP, Dialect.OCPP16
LIFT_FILE = "ocpp1.5-soap__ocpp1.6.yaml"


def test_1_5_actions_are_the_codec_operations() -> None:
    """schemas.actions(1.5) lists every 1.5 SOAP operation of both services, and no 1.6-only one."""
    assert schemas.actions(C15) == json_actions(C15)
    assert {"BootNotification", "SendLocalList", "UnlockConnector"} <= schemas.actions(C15)
    assert "TriggerMessage" not in schemas.actions(C15)


def test_1_5_payload_in_codec_shape_validates() -> None:
    """A 1.5 MeterValues with the codec's `values[].value[]` shape is valid."""
    schemas.validate(C15, "MeterValues", "request", {"connectorId": 1, "values": [
        {"timestamp": "2024-05-01T10:00:00Z", "value": [{"value": "12", "unit": "Amp"}]}]})


def test_1_6_shaped_payload_is_not_valid_1_5() -> None:
    """A 1.6 meterValue[] is no 1.5 MeterValues: unknown fields are a FormatViolation."""
    with pytest.raises(FormatViolation):
        schemas.validate(C15, "MeterValues", "request", {"connectorId": 1, "meterValue": []})


@pytest.mark.parametrize(("payload", "error"), [
    ({"connectorId": "1", "status": "Available", "errorCode": "NoError"}, TypeConstraintViolation),
    ({"connectorId": 1, "status": "Charging", "errorCode": "NoError"}, PropertyConstraintViolation),
    ({"connectorId": 1, "status": "Available"}, OccurrenceConstraintViolation),
], ids=["type", "enum", "required"])
def test_1_5_violations_get_the_ocpp_error_of_the_rule(payload: dict[str, object], error: type[Exception]) -> None:
    """A 1.5 payload that breaks its schema raises the same errors as a 1.6 one (1.4)."""
    with pytest.raises(error):
        schemas.validate(C15, "StatusNotification", "request", payload)


def test_1_5_int_is_32_bit() -> None:
    """xs:int has 32 bits: a 1.6 transaction id beyond it does not fit a 1.5 message."""
    with pytest.raises(PropertyConstraintViolation):
        schemas.validate(C15, "RemoteStopTransaction", "request", {"transactionId": 2**31})


def test_action_unknown_in_1_5_is_not_implemented() -> None:
    """TriggerMessage is no 1.5 action: NotImplemented, as for any version (1.3 d)."""
    with pytest.raises(NotImplementedAction):
        schemas.validate(C15, "TriggerMessage", "request", {"requestedMessage": "Heartbeat"})


def test_1_6_validation_is_unchanged() -> None:
    """1.6 and 1.6 SOAP still use the official 1.6 schemas."""
    schemas.validate(U16, "UnlockConnector", "response", {"status": "Unlocked"})
    schemas.validate(Dialect.OCPP16_SOAP, "UnlockConnector", "response", {"status": "Unlocked"})
    with pytest.raises(PropertyConstraintViolation):
        schemas.validate(U16, "UnlockConnector", "response", {"status": "Accepted"})


def test_message_schema_of_1_5_reads_codec_schema_paths() -> None:
    """The loader's schema paths reach into 1.5 payloads (`values[0].value[0].unit`)."""
    schema = message_schema(C15, "MeterValues", "request")
    unit = at(schema, parse_path("values[0].value[0].unit") or ())
    assert unit is not None and "Amp" in unit["enum"]


def test_loader_accepts_the_lift_file_pair() -> None:
    """The built-in lift file loads with pair [ocpp1.5-soap, ocpp1.6] and its rules have 1.5 as one side."""
    rules = load_rules({LIFT_FILE: builtin_mapping_texts()[LIFT_FILE]}, HOOKS_USED, HANDLERS_USED)
    assert {(r.source, r.target) for r in rules} == {(C15, U16), (U16, C15)}
    found = rules.find(C15, "BootNotification", "up")
    assert found is not None and found.target is U16


def test_loader_checks_1_5_paths_against_the_codec_schema() -> None:
    """A 1.5 entry naming a 1.6 field (meterValue) is refused with file, entry and problem."""
    text = """\
format: 1
pair: [ocpp1.5-soap, ocpp1.6]
messages:
  ocpp1.5-soap:
    MeterValues:
      direction: up
      request: {copy: [connectorId, meterValue]}
      response: {}
"""
    with pytest.raises(ConfigError, match=r"bad\.yaml: messages\[MeterValues ocpp1\.5-soap->ocpp1\.6\].*meterValue"):
        load_rules({"bad.yaml": text}, HOOKS_USED, HANDLERS_USED)


def test_loader_refuses_a_1_5_action_that_does_not_exist() -> None:
    """TriggerMessage keyed by 1.5 is refused: 1.5 has no such action."""
    text = """\
format: 1
pair: [ocpp1.5-soap, ocpp1.6]
messages:
  ocpp1.5-soap:
    TriggerMessage: {direction: down, not_supported: true}
"""
    with pytest.raises(ConfigError, match=r"TriggerMessage is not an OCPP ocpp1\.5-soap action"):
        load_rules({"bad.yaml": text}, HOOKS_USED, HANDLERS_USED)


def test_operator_file_overrides_a_lift_entry() -> None:
    """An operator file of the 1.5 pair replaces the built-in entry of the same (source, action) only."""
    override = """\
format: 1
pair: [ocpp1.5-soap, ocpp1.6]
messages:
  ocpp1.6:
    SetChargingProfile: {direction: down, local: {status: Rejected}}
"""
    rules = load_rules(builtin_mapping_texts(), HOOKS_USED, HANDLERS_USED, overrides={"acme.yaml": override})
    lowered = rules.find(U16, "SetChargingProfile", "down", C15)
    assert lowered is not None and lowered.local == {"status": "Rejected"}
    default = rules.find(U16, "SetChargingProfile", "down")
    assert default is not None and default.target is Dialect.OCPP201 and default.local is None
