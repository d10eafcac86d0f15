"""A 1.6 CSMS configuring a 2.0.1 station (TRANSLATION.md 4.7.2, 4.7.3) as session traces."""

from __future__ import annotations

import pytest

from tests.core.config_trace import C201, HEARTBEAT, model, only_payload, playbook, sent, use_key_table
from tests.core.playbook import ANY


@pytest.fixture(autouse=True)
def key_table() -> None:
    use_key_table()


# ---- 4.7.2 U16 -> C201: GetConfiguration ---------------------------------------------------


def test_get_configuration_reads_the_mapped_variable() -> None:
    """HeartbeatInterval is read as OCPPCommCtrlr.HeartbeatInterval and comes back as a 1.6 configurationKey."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["HeartbeatInterval"]}])) == [
        ("charger", [2, "gw-1", "GetVariables", {"getVariableData": [{**HEARTBEAT, "attributeType": "Actual"}]}])]
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**HEARTBEAT, "attributeStatus": "Accepted",
                                                          "attributeValue": "300"}]}])
    assert sent(reply) == [("csms", [3, "m1", {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}])]


def test_get_configuration_unmapped_and_unsupported_keys_are_unknown_without_a_call() -> None:
    """A key with no mapping and a key marked unsupported go to unknownKey; the station is not asked."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["VendorThing", "BlinkRepeat"]}])) == [
        ("csms", [3, "m1", {"configurationKey": [], "unknownKey": ["VendorThing", "BlinkRepeat"]}])]


def test_get_configuration_computes_local_keys_from_the_topology() -> None:
    """NumberOfConnectors and SupportedFeatureProfiles are answered by the gateway itself."""
    pb, _ = playbook(C201, topology=((1, 1), (1, 2), (2, 1)))
    frames = sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["NumberOfConnectors", "SupportedFeatureProfiles"]}]))
    assert frames == [("csms", [3, "m1", {"configurationKey": [
        {"key": "NumberOfConnectors", "readonly": True, "value": "3"},
        {"key": "SupportedFeatureProfiles", "readonly": True,
         "value": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"}]}])]


def test_get_configuration_counts_connectors_from_the_device_model_without_topology() -> None:
    """Without a configured topology NumberOfConnectors counts the connectors the station reported."""
    docs = model(**{"Connector@1.1__AvailabilityState": {"value": "Available"},
                    "EVSE@2__AvailabilityState": {"value": "Available"}})
    pb, _ = playbook(C201, docs)
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["NumberOfConnectors"]}])) == [
        ("csms", [3, "m1", {"configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}]}])]


def test_get_configuration_report_key_comes_from_the_cached_max_limit() -> None:
    """LocalAuthListMaxLength is the cached maxLimit of LocalAuthListCtrlr.Entries."""
    pb, _ = playbook(C201, model(LocalAuthListCtrlr__Entries={"value": "3", "maxLimit": 500}))
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["LocalAuthListMaxLength"]}])) == [
        ("csms", [3, "m1", {"configurationKey": [{"key": "LocalAuthListMaxLength", "readonly": True,
                                                  "value": "500"}]}])]


def test_get_configuration_report_key_without_cache_is_unknown() -> None:
    """A report key the device-model cache does not hold is an unknownKey."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["LocalAuthListMaxLength"]}])) == [
        ("csms", [3, "m1", {"configurationKey": [], "unknownKey": ["LocalAuthListMaxLength"]}])]


def test_get_configuration_rejected_variable_is_an_unknown_key() -> None:
    """UnknownVariable from the station turns the explicitly asked key into an unknownKey."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "GetConfiguration", {"key": ["HeartbeatInterval"]}])
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**HEARTBEAT, "attributeStatus": "UnknownVariable"}]}])
    assert sent(reply) == [("csms", [3, "m1", {"configurationKey": [], "unknownKey": ["HeartbeatInterval"]}])]


def test_get_configuration_all_keys_go_in_batches_of_twenty() -> None:
    """With no keys every mapped key is asked for, at most 20 entries per GetVariables."""
    pb, _ = playbook(C201)
    first = sent(pb.csms([2, "m1", "GetConfiguration", {}]))
    assert len(first[0][1][3]["getVariableData"]) == 20
    sizes = []
    frame = first[0][1]
    while frame[2] == "GetVariables":
        data = frame[3]["getVariableData"]
        sizes.append(len(data))
        answer = [{"component": d["component"], "variable": d["variable"], "attributeStatus": "UnknownVariable"}
                  for d in data]
        frame = sent(pb.charger([3, frame[1], {"getVariableResult": answer}]))[0][1]
    assert sizes[:-1] == [20] * (len(sizes) - 1) and 0 < sizes[-1] <= 20
    assert "unknownKey" not in frame[2]  # 4.7.2 step 4: dropped from an "all" answer
    assert {k["key"] for k in frame[2]["configurationKey"]} == {
        "SupportedFeatureProfiles", "SupportedFeatureProfilesMaxLength", "GetConfigurationMaxKeys"}


def test_get_configuration_batches_follow_cached_items_per_message() -> None:
    """The station's cached DeviceDataCtrlr.ItemsPerMessage[GetVariables] bounds each batch."""
    pb, _ = playbook(C201, model(DeviceDataCtrlr__ItemsPerMessage_GetVariables={"value": "2"}))
    frames = sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["HeartbeatInterval", "ResetRetries", "CpoName"]}]))
    assert len(frames[0][1][3]["getVariableData"]) == 2


def test_get_configuration_escape_form_addresses_any_variable() -> None:
    """`EVSE@1/AvailabilityState` reads that variable of EVSE 1 and keeps the key as asked."""
    pb, _ = playbook(C201)
    variable = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}
    assert sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["EVSE@1/AvailabilityState"]}])) == [
        ("charger", [2, "gw-1", "GetVariables", {"getVariableData": [{**variable, "attributeType": "Actual"}]}])]
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**variable, "attributeStatus": "Accepted",
                                                          "attributeValue": "Available"}]}])
    assert [only_payload(sent(reply))] == [{"configurationKey": [
        {"key": "EVSE@1/AvailabilityState", "readonly": False, "value": "Available"}]}]


def test_get_configuration_readonly_follows_cached_mutability() -> None:
    """A variable the station reported ReadOnly is readonly in 1.6 even though the key is RW."""
    pb, _ = playbook(C201, model(OCPPCommCtrlr__HeartbeatInterval={"value": "60", "mutability": "ReadOnly"}))
    pb.csms([2, "m1", "GetConfiguration", {"key": ["HeartbeatInterval"]}])
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**HEARTBEAT, "attributeStatus": "Accepted",
                                                          "attributeValue": "60"}]}])
    assert only_payload(sent(reply))["configurationKey"][0]["readonly"] is True


def test_get_configuration_omits_values_longer_than_500() -> None:
    """A value 1.6 cannot hold (over 500 characters) is left out; the key stays."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "GetConfiguration", {"key": ["HeartbeatInterval"]}])
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**HEARTBEAT, "attributeStatus": "Accepted",
                                                          "attributeValue": "9" * 501}]}])
    assert [only_payload(sent(reply))] == [{"configurationKey": [{"key": "HeartbeatInterval", "readonly": False}]}]


def test_get_configuration_converts_measurand_lists() -> None:
    """2.0.1-only measurands are removed from a list read into 1.6."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "GetConfiguration", {"key": ["MeterValuesAlignedData"]}])
    variable = {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Measurands"}}
    reply = pb.charger([3, "gw-1", {"getVariableResult": [{**variable, "attributeStatus": "Accepted",
                                                          "attributeValue": "Energy.Active.Net,Voltage"}]}])
    assert only_payload(sent(reply))["configurationKey"][0]["value"] == "Voltage"


def test_get_configuration_reassembles_connector_phase_rotation() -> None:
    """ConnectorPhaseRotation is read from the station and each EVSE and joined as `k.rotation`."""
    pb, _ = playbook(C201, topology=((1, 1), (2, 1)))
    frames = sent(pb.csms([2, "m1", "GetConfiguration", {"key": ["ConnectorPhaseRotation"]}]))
    asked = frames[0][1][3]["getVariableData"]
    assert [(d["component"], d["variable"]["name"]) for d in asked] == [
        ({"name": "ChargingStation"}, "PhaseRotation"), ({"name": "EVSE", "evse": {"id": 1}}, "PhaseRotation"),
        ({"name": "EVSE", "evse": {"id": 2}}, "PhaseRotation")]
    answer = [{"component": d["component"], "variable": d["variable"], "attributeStatus": "Accepted",
               "attributeValue": v} for d, v in zip(asked, ["RST", "RST", "RTS"], strict=True)]
    reply = pb.charger([3, "gw-1", {"getVariableResult": answer}])
    assert only_payload(sent(reply))["configurationKey"][0]["value"] == "0.RST,1.RST,2.RTS"


# ---- 4.7.3 U16 -> C201: ChangeConfiguration ------------------------------------------------


def test_change_configuration_writes_the_variable_and_updates_the_cache() -> None:
    """HeartbeatInterval becomes one SetVariables entry; Accepted returns and the cache keeps the value."""
    pb, state = playbook(C201)
    assert sent(pb.csms([2, "m1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}])) == [
        ("charger", [2, "gw-1", "SetVariables", {"setVariableData": [
            {**HEARTBEAT, "attributeType": "Actual", "attributeValue": "120"}]}])]
    reply = pb.charger([3, "gw-1", {"setVariableResult": [{**HEARTBEAT, "attributeStatus": "Accepted"}]}])
    assert sent(reply) == [("csms", [3, "m1", {"status": "Accepted"}])]
    assert state.read("cache")["deviceModel"]["OCPPCommCtrlr/HeartbeatInterval"]["value"] == "120"


def test_change_configuration_fans_out_where_the_table_says() -> None:
    """MeterValueSampleInterval also writes SampledDataCtrlr.TxEndedInterval; the primary entry decides."""
    pb, _ = playbook(C201)
    frames = sent(pb.csms([2, "m1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"}]))
    data = frames[0][1][3]["setVariableData"]
    assert [(d["component"]["name"], d["variable"]["name"], d["attributeValue"]) for d in data] == [
        ("SampledDataCtrlr", "TxUpdatedInterval", "60"), ("SampledDataCtrlr", "TxEndedInterval", "60")]
    answer = [{"component": d["component"], "variable": d["variable"], "attributeStatus": s}
              for d, s in zip(data, ["Accepted", "Rejected"], strict=True)]
    assert sent(pb.charger([3, "gw-1", {"setVariableResult": answer}])) == [("csms", [3, "m1", {"status": "Accepted"}])]


@pytest.mark.parametrize(("status_201", "status_16"), [
    ("RebootRequired", "RebootRequired"), ("Rejected", "Rejected"), ("UnknownVariable", "NotSupported"),
    ("UnknownComponent", "NotSupported"), ("NotSupportedAttributeType", "NotSupported")])
def test_change_configuration_maps_the_attribute_status(status_201: str, status_16: str) -> None:
    """The primary entry's attributeStatus becomes the 1.6 ConfigurationStatus (4.7.3)."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}])
    reply = pb.charger([3, "gw-1", {"setVariableResult": [{**HEARTBEAT, "attributeStatus": status_201}]}])
    assert sent(reply) == [("csms", [3, "m1", {"status": status_16}])]


@pytest.mark.parametrize(("key", "status"), [
    ("SecurityProfile", "Rejected"), ("AuthorizationKey", "Rejected"), ("ChargeProfileMaxStackLevel", "Rejected"),
    ("NumberOfConnectors", "Rejected"), ("LocalAuthListMaxLength", "Rejected"), ("VendorThing", "NotSupported"),
    ("LightIntensity", "NotSupported"), ("SecurityCtrlr/BasicAuthPassword", "Rejected")])
def test_change_configuration_refuses_locally(key: str, status: str) -> None:
    """Connection settings (1.9, escape form too), read-only, local, report keys Rejected; unmapped NotSupported."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "ChangeConfiguration", {"key": key, "value": "2"}])) == [
        ("csms", [3, "m1", {"status": status}])]


def test_change_configuration_callerror_reaches_the_csms() -> None:
    """A CALLERROR from the station is the 1.6 CSMS's CALLERROR, code respelled for 1.6."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}])
    assert sent(pb.charger([4, "gw-1", "FormatViolation", "bad", {}])) == [
        ("csms", [4, "m1", "FormationViolation", ANY, {}])]


def test_change_configuration_splits_connector_phase_rotation() -> None:
    """ConnectorPhaseRotation `0.RST, 1.RTS` becomes one SetVariables entry per connector."""
    pb, _ = playbook(C201, topology=((1, 1),))
    frames = sent(pb.csms([2, "m1", "ChangeConfiguration", {"key": "ConnectorPhaseRotation", "value": "0.RST, 1.RTS"}]))
    assert [(d["component"], d["attributeValue"]) for d in frames[0][1][3]["setVariableData"]] == [
        ({"name": "ChargingStation"}, "RST"), ({"name": "EVSE", "evse": {"id": 1}}, "RTS")]
