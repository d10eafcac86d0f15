"""Statuses, NotifyEvent and NotifyReport of a 2.0.1 station toward a 1.6 CSMS (TRANSLATION.md 2.5.2, 2.5.4, 2.11)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.flow import Reply, Request
from gateway.core.session_types import Leg
from gateway.core.translate.context import iso
from gateway.core.translate.status201 import after_boot
from tests.core.trace201 import NOW, T0, Station, active, event, status, status16, wh


def problem(value: bool, *, code: str | None = None, info: str | None = None, evse: int | None = 1,
            name: str = "Connector") -> dict[str, Any]:
    """A NotifyEvent with one Problem event on a connector (or the station when `evse` is None)."""
    component: dict[str, Any] = {"name": name}
    if evse is not None:
        component["evse"] = {"id": evse, "connectorId": 1}
    data: dict[str, Any] = {"eventId": 1, "timestamp": T0, "trigger": "Delta", "actualValue": str(value).lower(),
                            "eventNotificationType": "HardWiredNotification", "component": component,
                            "variable": {"name": "Problem"}}
    if code is not None:
        data["techCode"] = code
    if info is not None:
        data["techInfo"] = info
    return {"generatedAt": T0, "seqNo": 0, "eventData": [data]}


def availability(value: str) -> dict[str, Any]:
    """A NotifyEvent for ChargingStation.AvailabilityState."""
    return {"generatedAt": T0, "seqNo": 0, "eventData": [{
        "eventId": 2, "timestamp": T0, "trigger": "Delta", "actualValue": value,
        "eventNotificationType": "HardWiredNotification", "component": {"name": "ChargingStation"},
        "variable": {"name": "AvailabilityState"}}]}


# ---- table B -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("connector_status", "expected"), [
    ("Available", "Available"), ("Occupied", "Preparing"), ("Reserved", "Reserved"),
    ("Unavailable", "Unavailable"), ("Faulted", "Faulted")])
def test_status_without_transaction(connector_status: str, expected: str) -> None:
    """Table B without a transaction: Occupied is Preparing, the rest keep their name."""
    calls, answer = Station().call("StatusNotification", status(connector_status))
    error = "OtherError" if expected == "Faulted" else "NoError"
    assert (calls, answer) == ([status16(expected, error=error)], {})


@pytest.mark.parametrize(("charging", "flowed", "expected"), [
    ("Charging", False, "Charging"), ("SuspendedEV", False, "SuspendedEV"), ("Idle", False, "SuspendedEV"),
    ("SuspendedEVSE", False, "SuspendedEVSE"), ("EVConnected", False, "Preparing"),
    ("EVConnected", True, "SuspendedEVSE")])
def test_status_with_active_16_transaction(charging: str, flowed: bool, expected: str) -> None:
    """Table B with a 1.6 transaction: the chargingState decides, EVConnected by whether energy flowed."""
    station = Station()
    active(station)
    meter = [wh(1600)] if flowed else None
    station.call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", charging=charging, meter=meter))
    assert station.state.read("status")["sent16"]["1"] == {"status": expected, "errorCode": "NoError"}


def test_status_active_without_charging_state_is_charging() -> None:
    """Table B: a 1.6 transaction whose chargingState was never reported counts as Charging."""
    station = Station()
    station.call("StatusNotification", status("Occupied"))
    calls, _ = station.call("TransactionEvent", event("Started", 0, "Authorized", token="T1"))
    assert [a for a, _ in calls] == ["StartTransaction", "StatusNotification"]
    assert calls[1] == status16("Charging")


def test_occupied_after_a_transaction_ended_is_finishing_until_released() -> None:
    """Session A #7-8: Finishing after the stop; a later Available is sent, a new Occupied is Preparing again."""
    station = Station()
    active(station)
    station.call("TransactionEvent", event("Ended", 1, "StopAuthorized"))
    assert station.call("StatusNotification", status("Available"))[0] == [status16("Available")]
    assert station.call("StatusNotification", status("Occupied"))[0] == [status16("Preparing")]


def test_repeated_station_status_is_forwarded() -> None:
    """A StatusNotification repeating the station's last connectorStatus (e.g. triggered) is sent again."""
    station = Station()
    station.call("StatusNotification", status("Available"))
    assert station.call("StatusNotification", status("Available"))[0] == [status16("Available")]


def test_derived_status_is_deduplicated() -> None:
    """Occupied after a transaction already made the connector Preparing sends nothing new."""
    station = Station()
    station.call("TransactionEvent", event("Started", 0, "CablePluggedIn", charging="EVConnected"))
    assert station.state.read("status")["sent16"]["1"]["status"] == "Preparing"
    assert station.call("StatusNotification", status("Occupied")) == ([], {})


def test_status_uses_the_topology() -> None:
    """EVSE 2 of the default topology is 1.6 connector 2."""
    calls, _ = Station().call("StatusNotification", status("Available", evse=2))
    assert calls == [status16("Available", connector=2)]


# ---- errors (NotifyEvent Problem) -----------------------------------------------------------------------


def test_faulted_takes_the_error_code_of_the_last_problem() -> None:
    """A connector Problem with a 1.6 techCode gives Faulted that errorCode and the techInfo as info."""
    station = Station()
    station.call("NotifyEvent", problem(True, code="GroundFailure", info="x" * 60))
    calls, _ = station.call("StatusNotification", status("Faulted"))
    assert calls == [status16("Faulted", error="GroundFailure", info="x" * 50)]


def test_problem_with_vendor_code_is_other_error() -> None:
    """A techCode that is not a 1.6 error code becomes OtherError plus vendorErrorCode."""
    station = Station()
    station.call("NotifyEvent", problem(True, code="E42"))
    calls, _ = station.call("StatusNotification", status("Faulted"))
    assert calls == [status16("Faulted", error="OtherError", vendorErrorCode="E42")]


def test_problem_after_the_fault_resends_with_its_error_code() -> None:
    """Table B is re-evaluated on a Problem: a Faulted connector is sent again with the new errorCode."""
    station = Station()
    station.call("StatusNotification", status("Faulted"))
    calls, answer = station.call("NotifyEvent", problem(True, code="HighTemperature"))
    assert (calls, answer) == ([status16("Faulted", error="HighTemperature")], {})


def test_problem_on_a_working_connector_sends_nothing() -> None:
    """Errors only show on a Faulted connector: a Problem on an Available one changes nothing upstream."""
    station = Station()
    station.call("StatusNotification", status("Available"))
    assert station.call("NotifyEvent", problem(True, code="GroundFailure")) == ([], {})


def test_notify_event_is_answered_before_the_16_call() -> None:
    """NotifyEvent gets `{}` at once; the synthesized StatusNotification follows."""
    station = Station()
    out = station.pb.charger([2, "n1", "NotifyEvent", availability("Unavailable")])
    assert [c[1:3] for c in out if c[0] == "send"] == [
        ("charger", [3, "n1", {}]),
        ("csms", [2, "gw-1", "StatusNotification", {"connectorId": 0, "status": "Unavailable", "timestamp": T0,
                                                    "errorCode": "NoError"}])]


# ---- connector 0 (2.5.4) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("Available", "Available"), ("Unavailable", "Unavailable"), ("Occupied", "Available"), ("Reserved", "Available")])
def test_station_availability_becomes_connector_0(value: str, expected: str) -> None:
    """ChargingStation.AvailabilityState becomes a connector-0 status (Occupied and Reserved: Available)."""
    calls, _ = Station().call("NotifyEvent", availability(value))
    assert calls == [status16(expected, connector=0)]


def test_station_problem_faults_connector_0_and_clears_back() -> None:
    """ChargingStation.Problem true: connector 0 Faulted with the techCode; false: back to the availability."""
    station = Station()
    station.call("NotifyEvent", availability("Unavailable"))
    calls, _ = station.call("NotifyEvent", problem(True, code="PowerMeterFailure", evse=None, name="ChargingStation"))
    assert calls == [status16("Faulted", connector=0, error="PowerMeterFailure")]
    calls, _ = station.call("NotifyEvent", problem(False, evse=None, name="ChargingStation"))
    assert calls == [status16("Unavailable", connector=0)]


def test_accepted_boot_reports_connector_0_available() -> None:
    """After an accepted boot connector 0 is Available again, even if it was Faulted before (2.5.4)."""
    station = Station()
    station.call("NotifyEvent", problem(True, code="PowerMeterFailure", evse=None, name="ChargingStation"))
    flow = after_boot(station.ctx, {"status": "Accepted", "currentTime": T0, "interval": 300})
    assert next(flow) == Request(Leg.CSMS, "StatusNotification", {
        "connectorId": 0, "status": "Available", "timestamp": iso(NOW), "errorCode": "NoError"})
    with pytest.raises(StopIteration):
        flow.send(Reply(payload={}))
    assert station.state.read("status")["sent16"]["0"] == {"status": "Available", "errorCode": "NoError"}


def test_refused_boot_reports_nothing() -> None:
    """A Pending or Rejected boot leaves connector 0 alone."""
    assert list(after_boot(Station().ctx, {"status": "Pending", "currentTime": T0, "interval": 60})) == []


# ---- NotifyReport: device-model cache (4.7.6) ------------------------------------------------------------


def test_notify_report_fills_the_device_model_cache() -> None:
    """Reported Actual values land in cache.deviceModel under their escape-form key; nothing is sent."""
    report = {"requestId": 1, "generatedAt": T0, "seqNo": 0, "reportData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
         "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
         "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False, "maxLimit": 3600}},
        {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
         "variable": {"name": "ConnectorType"}, "variableAttribute": [{"value": "cType2", "mutability": "ReadOnly"}]},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
         "variableAttribute": [{"mutability": "WriteOnly"}]},
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxEndedMeasurands"},
         "variableAttribute": [{"type": "Target", "value": "x"}]}]}
    station = Station()
    assert station.call("NotifyReport", report) == ([], {})
    assert station.state.read("cache")["deviceModel"] == {
        "OCPPCommCtrlr/HeartbeatInterval": {"mutability": "ReadWrite", "value": "300", "dataType": "integer",
                                            "maxLimit": 3600},
        "Connector@1.2/ConnectorType": {"mutability": "ReadOnly", "value": "cType2"},
        "SecurityCtrlr/BasicAuthPassword": {"mutability": "WriteOnly"},
    }
