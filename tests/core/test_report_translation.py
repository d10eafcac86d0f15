"""GetBaseReport / GetReport emulated on a 1.6 charger (TRANSLATION.md 4.8) as session traces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.config_trace import BOOT, C16, NOW_ISO, playbook, sent, use_key_table


@pytest.fixture(autouse=True)
def key_table() -> None:
    use_key_table()


# ---- 4.8 GetBaseReport / GetReport on a 1.6 charger ----------------------------------------


def configuration(*keys: str) -> dict[str, Any]:
    """A 1.6 GetConfiguration answer with the given keys (value "1", read-write)."""
    return {"configurationKey": [{"key": k, "readonly": False, "value": "1"} for k in keys]}


def test_base_report_is_accepted_at_once_then_reported() -> None:
    """GetBaseReport is Accepted, GetConfiguration follows, and one NotifyReport describes the charger."""
    pb, _ = playbook(C16, {"cache": {"boot": BOOT}})
    assert sent(pb.csms([2, "m1", "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"}])) == [
        ("csms", [3, "m1", {"status": "Accepted"}]), ("charger", [2, "gw-1", "GetConfiguration", {}])]
    [(leg, frame)] = sent(pb.charger([3, "gw-1", configuration("HeartbeatInterval", "VendorThing")]))
    assert (leg, frame[2]) == ("csms", "NotifyReport")
    report = frame[3]
    assert (report["requestId"], report["seqNo"], report["tbc"], report["generatedAt"]) == (7, 0, False, NOW_ISO)
    names = [(e["component"]["name"], e["variable"]["name"]) for e in report["reportData"]]
    assert ("ChargingStation", "Model") in names and ("TxCtrlr", "TxStartPoint") in names
    assert {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"type": "Actual", "mutability": "ReadWrite", "value": "1"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False}} in report["reportData"]
    assert ("OCPP16Config", "VendorThing") in names
    assert pb.csms([3, frame[1], {}]) == [("received", "csms", "result", "NotifyReport")]


def test_base_report_is_sent_in_chunks_of_fifty() -> None:
    """120 entries go out as NotifyReport seqNo 0, 1, 2 with tbc on all but the last."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "GetBaseReport", {"requestId": 3, "reportBase": "ConfigurationInventory"}])
    count = 120 - 8  # the gateway's own 8 entries (message limits, transaction points) come first
    frame = sent(pb.charger([3, "gw-1", configuration(*(f"Key{i}" for i in range(count)))]))[0][1]
    reports = [frame[3]]
    while frame[3]["tbc"]:
        frame = sent(pb.csms([3, frame[1], {}]))[0][1]
        reports.append(frame[3])
    assert [(r["seqNo"], r["tbc"], len(r["reportData"]), r["requestId"]) for r in reports] == [
        (0, True, 50, 3), (1, True, 50, 3), (2, False, 20, 3)]


def test_base_report_summary_has_availability_and_problems_only() -> None:
    """SummaryInventory reports AvailabilityState and Problem entries from the status cache."""
    status = {"c16": {"0": {"status": "Available", "errorCode": "NoError"},
                      "1": {"status": "Faulted", "errorCode": "GroundFailure"}}}
    pb, _ = playbook(C16, {"status": status})
    pb.csms([2, "m1", "GetBaseReport", {"requestId": 1, "reportBase": "SummaryInventory"}])
    report = sent(pb.charger([3, "gw-1", configuration("HeartbeatInterval")]))[0][1][3]
    assert [(e["component"], e["variable"]["name"], e["variableAttribute"][0]["value"])
            for e in report["reportData"]] == [
        ({"name": "ChargingStation"}, "AvailabilityState", "Available"), ({"name": "ChargingStation"}, "Problem",
                                                                           "false"),
        ({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "AvailabilityState", "Faulted"),
        ({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "Problem", "true"),
        ({"name": "EVSE", "evse": {"id": 1}}, "AvailabilityState", "Faulted")]


def test_base_report_report_key_becomes_a_max_limit() -> None:
    """LocalAuthListMaxLength is reported as LocalAuthListCtrlr.Entries with maxLimit, not as a value."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}])
    report = sent(pb.charger([3, "gw-1", {"configurationKey": [
        {"key": "LocalAuthListMaxLength", "readonly": True, "value": "250"}]}]))[0][1][3]
    assert report["reportData"][-1] == {
        "component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Entries"},
        "variableAttribute": [{"type": "Actual", "mutability": "ReadOnly"}],
        "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False, "maxLimit": 250}}


def test_get_report_filters_by_component_variable() -> None:
    """GetReport for OCPPCommCtrlr reports only its variables, after the charger answered."""
    pb, _ = playbook(C16)
    request = {"requestId": 5, "componentVariable": [{"component": {"name": "OCPPCommCtrlr"}}]}
    assert sent(pb.csms([2, "m1", "GetReport", request])) == [("charger", [2, "gw-1", "GetConfiguration", {}])]
    frames = sent(pb.charger([3, "gw-1", configuration("HeartbeatInterval", "VendorThing")]))
    assert frames[0] == ("csms", [3, "m1", {"status": "Accepted"}])
    assert [e["variable"]["name"] for e in frames[1][1][3]["reportData"]] == ["HeartbeatInterval"]


def test_get_report_without_match_is_an_empty_result_set() -> None:
    """A filter that matches nothing is answered EmptyResultSet and no NotifyReport follows."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "GetReport", {"requestId": 5, "componentVariable": [{"component": {"name": "Nothing"}}]}])
    assert sent(pb.charger([3, "gw-1", configuration("HeartbeatInterval")])) == [
        ("csms", [3, "m1", {"status": "EmptyResultSet"}])]


def test_get_report_problem_criterion_keeps_faulted_components() -> None:
    """componentCriteria [Problem] reports only the components that have a problem."""
    status = {"c16": {"1": {"status": "Available", "errorCode": "NoError"},
                      "2": {"status": "Available", "errorCode": "HighTemperature"}}}
    pb, _ = playbook(C16, {"status": status})
    pb.csms([2, "m1", "GetReport", {"requestId": 5, "componentCriteria": ["Problem"]}])
    frames = sent(pb.charger([3, "gw-1", configuration("HeartbeatInterval")]))
    assert {str(e["component"]) for e in frames[1][1][3]["reportData"]} == {
        str({"name": "Connector", "evse": {"id": 2, "connectorId": 1}})}


def test_base_report_without_charger_answer_reports_what_the_gateway_knows() -> None:
    """A CALLERROR to GetConfiguration still ends in a NotifyReport of the emulated variables."""
    pb, _ = playbook(C16, {"cache": {"boot": BOOT}})
    pb.csms([2, "m1", "GetBaseReport", {"requestId": 2, "reportBase": "FullInventory"}])
    [(leg, frame)] = sent(pb.charger([4, "gw-1", "InternalError", "", {}]))
    assert (leg, frame[2], frame[3]["tbc"]) == ("csms", "NotifyReport", False)
    assert {"component": {"name": "ChargingStation"}, "variable": {"name": "VendorName"},
            "variableAttribute": [{"type": "Actual", "mutability": "ReadOnly", "value": "ACME"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}} in frame[3]["reportData"]
