"""A 2.0.1 CSMS configuring a 1.6 charger (TRANSLATION.md 4.7.4, 4.7.5) as session traces."""

from __future__ import annotations

import pytest

from tests.core.config_trace import BOOT, C16, HEARTBEAT, playbook, sent, use_key_table


@pytest.fixture(autouse=True)
def key_table() -> None:
    use_key_table()


# ---- 4.7.4 U201 -> C16: GetVariables -------------------------------------------------------


def test_get_variables_asks_one_get_configuration_and_echoes_the_request() -> None:
    """Every needed key goes into one GetConfiguration; results follow the request order."""
    pb, _ = playbook(C16)
    legacy = {"component": {"name": "OCPP16Config"}, "variable": {"name": "VendorThing"}}
    request = {"getVariableData": [HEARTBEAT, {**legacy, "attributeType": "Actual"}]}
    assert sent(pb.csms([2, "m1", "GetVariables", request])) == [
        ("charger", [2, "gw-1", "GetConfiguration", {"key": ["HeartbeatInterval", "VendorThing"]}])]
    reply = pb.charger([3, "gw-1", {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                                          "value": "300"}], "unknownKey": ["VendorThing"]}])
    assert sent(reply) == [("csms", [3, "m1", {"getVariableResult": [
        {**HEARTBEAT, "attributeStatus": "Accepted", "attributeValue": "300"},
        {**legacy, "attributeType": "Actual", "attributeStatus": "UnknownVariable"}]}])]


def test_get_variables_answers_locally_what_has_no_key() -> None:
    """Other attribute types, unmapped standard and non-standard components are answered without a call."""
    pb, _ = playbook(C16)
    request = {"getVariableData": [
        {**HEARTBEAT, "attributeType": "MaxSet"},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "NoSuchVariable"}},
        {"component": {"name": "VendorBox"}, "variable": {"name": "Colour"}}]}
    [(_, frame)] = sent(pb.csms([2, "m1", "GetVariables", request]))
    assert [r["attributeStatus"] for r in frame[2]["getVariableResult"]] == [
        "NotSupportedAttributeType", "UnknownVariable", "UnknownComponent"]


def test_get_variables_emulated_identity_comes_from_the_boot_cache() -> None:
    """ChargingStation.Model is answered from the last 1.6 BootNotification."""
    pb, _ = playbook(C16, {"cache": {"boot": BOOT}})
    request = {"getVariableData": [{"component": {"name": "ChargingStation"}, "variable": {"name": "Model"}}]}
    assert sent(pb.csms([2, "m1", "GetVariables", request])) == [("csms", [3, "m1", {"getVariableResult": [
        {**request["getVariableData"][0], "attributeStatus": "Accepted", "attributeValue": "Wall-7"}]}])]


def test_get_variables_charger_error_is_rejected() -> None:
    """A CALLERROR to GetConfiguration makes the entries that needed it Rejected."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "GetVariables", {"getVariableData": [HEARTBEAT]}])
    reply = pb.charger([4, "gw-1", "InternalError", "", {}])
    assert sent(reply) == [("csms", [3, "m1", {"getVariableResult": [{**HEARTBEAT, "attributeStatus": "Rejected"}]}])]


# ---- 4.7.5 U201 -> C16: SetVariables -------------------------------------------------------


def test_set_variables_sends_one_change_configuration_per_entry_in_order() -> None:
    """Two entries become two ChangeConfigurations; NotSupported maps to UnknownVariable."""
    pb, _ = playbook(C16)
    retries = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "ResetRetries"}}
    request = {"setVariableData": [{**HEARTBEAT, "attributeValue": "120"}, {**retries, "attributeValue": "3"}]}
    assert sent(pb.csms([2, "m1", "SetVariables", request])) == [
        ("charger", [2, "gw-1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}])]
    assert sent(pb.charger([3, "gw-1", {"status": "Accepted"}])) == [
        ("charger", [2, "gw-2", "ChangeConfiguration", {"key": "ResetRetries", "value": "3"}])]
    assert sent(pb.charger([3, "gw-2", {"status": "NotSupported"}])) == [("csms", [3, "m1", {"setVariableResult": [
        {**HEARTBEAT, "attributeStatus": "Accepted"}, {**retries, "attributeStatus": "UnknownVariable"}]}])]


def test_set_variables_callerror_is_rejected() -> None:
    """A CALLERROR to ChangeConfiguration is Rejected for that entry."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "SetVariables", {"setVariableData": [{**HEARTBEAT, "attributeValue": "120"}]}])
    assert sent(pb.charger([4, "gw-1", "GenericError", "", {}])) == [
        ("csms", [3, "m1", {"setVariableResult": [{**HEARTBEAT, "attributeStatus": "Rejected"}]}])]


def test_set_variables_refuses_locally_what_cannot_be_written() -> None:
    """Emulated variables and connection settings (also as legacy keys) are Rejected; Target is not supported."""
    pb, _ = playbook(C16)
    request = {"setVariableData": [
        {"component": {"name": "ChargingStation"}, "variable": {"name": "Model"}, "attributeValue": "X"},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}, "attributeValue": "2"},
        {"component": {"name": "OCPP16Config"}, "variable": {"name": "AuthorizationKey"}, "attributeValue": "00"},
        {**HEARTBEAT, "attributeType": "Target", "attributeValue": "1"}]}
    [(_, frame)] = sent(pb.csms([2, "m1", "SetVariables", request]))
    assert [r["attributeStatus"] for r in frame[2]["setVariableResult"]] == [
        "Rejected", "Rejected", "Rejected", "NotSupportedAttributeType"]


def test_set_variables_legacy_component_writes_the_16_key_as_is() -> None:
    """OCPP16Config.<key> writes that 1.6 key with the value unchanged."""
    pb, _ = playbook(C16)
    request = {"setVariableData": [{"component": {"name": "OCPP16Config"}, "variable": {"name": "VendorThing"},
                                    "attributeValue": "on"}]}
    assert sent(pb.csms([2, "m1", "SetVariables", request])) == [
        ("charger", [2, "gw-1", "ChangeConfiguration", {"key": "VendorThing", "value": "on"}])]
