"""TransactionEvent of a 2.0.1 station toward a 1.6 CSMS (TRANSLATION.md 3.4, 3.5) as session traces."""

from __future__ import annotations

import pytest

from gateway.core.translate.settings import TranslationSettings
from tests.core.trace201 import T0, Station, active, event, status, status16, wh

T1 = "2026-11-22T10:01:00Z"
T2 = "2026-11-22T10:30:00Z"


def plugged_in(station: Station) -> None:
    """Occupied, then Started without a token at plug-in (TxStartPoint EVConnected) with Begin 1520 Wh."""
    station.call("StatusNotification", status("Occupied"))
    station.call("TransactionEvent", event("Started", 0, "CablePluggedIn", charging="EVConnected",
                                           meter=[wh(1520, "Transaction.Begin")]))


# ---- 3.4.3: open201, start condition not met ---------------------------------------------------------


def test_started_without_token_sends_nothing_and_opens_the_record() -> None:
    """Started at plug-in without a token: no 1.6 call, `{}`, record open201 remembering the Begin reading."""
    station = Station()
    station.call("StatusNotification", status("Occupied"))
    calls, answer = station.call("TransactionEvent", event("Started", 0, "CablePluggedIn", charging="EVConnected",
                                                           meter=[wh(1520, "Transaction.Begin")]))
    assert (calls, answer) == ([], {})
    record = station.tx()
    assert (record["state"], record["meterStartWh"], record["evConnected"]) == ("open201", 1520, True)


def test_token_without_ev_waits_and_shows_preparing() -> None:
    """Card first (TxStartPoint Authorized): no StartTransaction yet; the Available connector becomes Preparing."""
    station = Station()
    station.call("StatusNotification", status("Available"))
    calls, answer = station.call("TransactionEvent", event("Started", 0, "Authorized", token="04A1B2C3",
                                                           charging="Idle"))
    assert (calls, answer) == ([status16("Preparing")], {})
    assert station.tx()["state"] == "open201"


# ---- 3.4.3: the event that meets the start condition --------------------------------------------------


def test_token_after_plug_in_starts_the_16_transaction() -> None:
    """Session A #4: the Authorized event sends StartTransaction with the Begin reading and answers idTokenInfo."""
    station = Station()
    plugged_in(station)
    calls, answer = station.call("TransactionEvent", event("Updated", 1, "Authorized", token="04A1B2C3",
                                                           charging="EVConnected", ts=T1))
    assert calls == [("StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 1520,
                                           "timestamp": T1})]
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert (station.tx()["state"], station.tx()["upstream16"]) == ("active16", 4711)


def test_cable_after_card_starts_the_16_transaction() -> None:
    """Card first, then CablePluggedIn: StartTransaction at the plug-in event, then Preparing stays."""
    station = Station()
    station.call("StatusNotification", status("Available"))
    station.call("TransactionEvent", event("Started", 0, "Authorized", token="04A1B2C3", charging="Idle", evse=False))
    station.call("StatusNotification", status("Occupied"))
    calls, answer = station.call("TransactionEvent", event("Updated", 1, "CablePluggedIn", charging="EVConnected",
                                                           ts=T1))
    assert [action for action, _ in calls] == ["StartTransaction"]
    assert (calls[0][1]["meterStart"], calls[0][1]["timestamp"], answer) == (0, T1, {})


def test_start_condition_without_ev_when_the_setting_is_off() -> None:
    """With tx.start16_requires_ev_connected false, the token alone starts the 1.6 transaction."""
    station = Station(settings=TranslationSettings(start16_requires_ev_connected=False))
    calls, _ = station.call("TransactionEvent", event("Started", 0, "Authorized", token="04A1B2C3", charging="Idle"))
    assert calls[0][0] == "StartTransaction"


def test_start_event_also_sends_status_then_meter_values() -> None:
    """From the starting event: StartTransaction, then StatusNotification Charging, then its periodic samples."""
    station = Station()
    station.call("StatusNotification", status("Occupied"))
    calls, _ = station.call("TransactionEvent", event(
        "Started", 0, "Authorized", token="04A1B2C3", charging="Charging", reservationId=5,
        meter=[wh(1520, "Transaction.Begin"), wh(1530, "Sample.Periodic")]))
    assert calls == [
        ("StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 1520, "timestamp": T0,
                              "reservationId": 5}),
        status16("Charging"),
        ("MeterValues", {"connectorId": 1, "transactionId": 4711, "meterValue": [{"timestamp": T0, "sampledValue": [
            {"value": "1530", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
             "unit": "Wh"}]}]}),
    ]


def test_refused_token_is_passed_on_as_id_token_info() -> None:
    """A Blocked idTagInfo in StartTransaction.conf reaches the station as idTokenInfo Blocked."""
    station = Station()
    plugged_in(station)
    _, answer = station.call("TransactionEvent", event("Updated", 1, "Authorized", token="T9"),
                             StartTransaction={"transactionId": 9, "idTagInfo": {"status": "Blocked"}})
    assert answer == {"idTokenInfo": {"status": "Blocked"}}


def test_long_token_starts_with_its_alias() -> None:
    """A 36-character idToken becomes the deterministic 20-character alias in StartTransaction (1.8)."""
    station = Station()
    plugged_in(station)
    calls, _ = station.call("TransactionEvent", event("Updated", 1, "Authorized", token="X" * 36))
    assert calls[0][1]["idTag"].startswith("#") and len(calls[0][1]["idTag"]) == 20


# ---- 3.4.3: active16 ------------------------------------------------------------------------------------


def test_charging_state_change_sends_status_once() -> None:
    """Session A #5: ChargingStateChanged to Charging sends StatusNotification Charging; a repeat sends nothing."""
    station = Station()
    active(station)
    calls, answer = station.call("TransactionEvent", event("Updated", 1, "ChargingStateChanged", charging="Charging"))
    assert (calls, answer) == ([status16("Charging")], {})
    assert station.call("TransactionEvent", event("Updated", 2, "Trigger", charging="Charging"))[0] == []


def test_meter_values_carry_the_csms_transaction_id() -> None:
    """Session A #6: periodic samples become MeterValues with the CSMS's int and values as text."""
    station = Station()
    active(station, charging="Charging")
    power = {"value": 7.2, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}}
    calls, _ = station.call("TransactionEvent", event("Updated", 1, "MeterValuePeriodic",
                                                      meter=[wh(2010, "Sample.Periodic"), power]))
    assert calls == [("MeterValues", {"connectorId": 1, "transactionId": 4711, "meterValue": [{
        "timestamp": T0, "sampledValue": [
            {"value": "2010", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}]})]


def test_new_token_after_start_is_not_sent() -> None:
    """1.6 cannot change a running transaction's token: a new idToken sends nothing."""
    station = Station()
    active(station)
    assert station.call("TransactionEvent", event("Updated", 1, "Authorized", token="OTHER"))[0] == []


def test_ended_stops_with_fields_and_finishing() -> None:
    """Session A #7: StopTransaction with idTag, meterStop, reason, transactionData; then Finishing."""
    station = Station()
    active(station, charging="Charging")
    calls, answer = station.call("TransactionEvent", event(
        "Ended", 1, "StopAuthorized", stopped="Local", token="04A1B2C3", charging="EVConnected", ts=T2,
        meter=[wh(9876, "Transaction.End")]))
    assert calls == [
        ("StopTransaction", {"meterStop": 9876, "timestamp": T2, "reason": "Local", "idTag": "04A1B2C3",
                             "transactionData": [{"timestamp": T2, "sampledValue": [
                                 {"value": "9876", "context": "Transaction.End",
                                  "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}],
                             "transactionId": 4711}),
        status16("Finishing", ts=T2),
    ]
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    assert station.tx()["state"] == "closed"


def test_meter_stop_falls_back_to_the_last_register_reading() -> None:
    """Without a Transaction.End sample, meterStop is the last register reading seen (3.4.4)."""
    station = Station()
    active(station)
    station.call("TransactionEvent", event("Updated", 1, "MeterValuePeriodic", meter=[wh(2.5, unitOfMeasure={
        "unit": "kWh"}), wh(99, phase="L1")]))
    calls, answer = station.call("TransactionEvent", event("Ended", 2, "EVCommunicationLost", stopped="EVDisconnected"))
    assert (calls[0][1]["meterStop"], calls[0][1]["reason"], answer) == (2500, "EVDisconnected", {})


def test_deauthorization_rule_stops_and_later_events_are_absorbed() -> None:
    """StopAuthorized while not charging ends the 1.6 transaction; later events and the Ended send nothing."""
    station = Station()
    active(station, charging="Charging")
    calls, _ = station.call("TransactionEvent", event("Updated", 1, "StopAuthorized", charging="EVConnected"))
    assert [(a, p.get("reason", p.get("status"))) for a, p in calls] == [
        ("StopTransaction", "Local"), ("StatusNotification", "Finishing")]
    assert station.call("TransactionEvent", event("Updated", 2, "MeterValuePeriodic", meter=[wh(5)])) == ([], {})
    assert station.call("TransactionEvent", event("Ended", 3, "EVCommunicationLost")) == ([], {})


@pytest.mark.parametrize(("trigger", "charging", "setting", "stops"), [
    ("Deauthorized", "SuspendedEVSE", True, True),
    ("RemoteStop", None, True, True),
    ("StopAuthorized", "Charging", True, False),
    ("StopAuthorized", "EVConnected", False, False),
])
def test_deauthorization_rule_conditions(trigger: str, charging: str | None, setting: bool, stops: bool) -> None:
    """The rule needs tx.end_on_deauthorization and a chargingState other than Charging (3.4.2)."""
    station = Station(settings=TranslationSettings(end_on_deauthorization=setting))
    active(station, charging="Charging")
    calls, _ = station.call("TransactionEvent", event("Updated", 1, trigger, charging=charging))
    assert ("StopTransaction" in [a for a, _ in calls]) is stops


def test_ended_before_the_16_start_closes_silently() -> None:
    """Ended in open201 (nobody authorized): no 1.6 transaction call, record closed."""
    station = Station()
    plugged_in(station)
    calls, answer = station.call("TransactionEvent", event("Ended", 1, "EVCommunicationLost", stopped="EVDisconnected"))
    assert (calls, answer, station.tx()["state"]) == ([], {}, "closed")


def test_token_arriving_with_the_end_sends_start_then_stop() -> None:
    """An Ended that first meets the start condition sends StartTransaction, then StopTransaction."""
    station = Station()
    plugged_in(station)
    calls, answer = station.call("TransactionEvent", event("Ended", 1, "StopAuthorized", token="04A1B2C3",
                                                           meter=[wh(1600, "Transaction.End")]))
    assert [a for a, _ in calls] == ["StartTransaction", "StopTransaction", "StatusNotification"]
    assert (calls[1][1]["meterStop"], calls[1][1]["transactionId"]) == (1600, 4711)
    assert answer == {"idTokenInfo": {"status": "Accepted"}}


@pytest.mark.parametrize(("stopped", "cache", "reason"), [
    (None, {}, "Local"),
    ("Remote", {}, "Remote"),
    ("Remote", {"unlockStops": ["TX1"]}, "UnlockCommand"),
    ("ImmediateReset", {}, "HardReset"),
    ("ImmediateReset", {"lastResetType": "Soft"}, "SoftReset"),
    ("MasterPass", {}, "Local"),
    ("DeAuthorized", {}, "DeAuthorized"),
    ("PowerLoss", {}, "PowerLoss"),
    ("SOCLimitReached", {}, "Other"),
])
def test_stop_reason_table_r2(stopped: str | None, cache: dict[str, object], reason: str) -> None:
    """stoppedReason -> 1.6 reason per table R2, with UnlockCommand and SoftReset from the gateway's memory."""
    station = Station({"cache": cache})
    active(station)
    calls, _ = station.call("TransactionEvent", event("Ended", 1, "StopAuthorized", stopped=stopped))
    assert calls[0][1]["reason"] == reason


# ---- 3.5: duplicates, failures, restarts ---------------------------------------------------------------


def test_retransmitted_event_is_answered_from_the_record() -> None:
    """The same transactionId and seqNo again: the stored answer, nothing sent."""
    station = Station()
    plugged_in(station)
    request = event("Updated", 1, "Authorized", token="04A1B2C3")
    first = station.call("TransactionEvent", request)
    assert station.call("TransactionEvent", request) == ([], first[1])


def test_events_of_a_closed_transaction_are_answered_empty() -> None:
    """After Ended, a late event of that transaction sends nothing and gets `{}`."""
    station = Station()
    active(station)
    station.call("TransactionEvent", event("Ended", 1, "StopAuthorized"))
    assert station.call("TransactionEvent", event("Updated", 7, "MeterValuePeriodic", meter=[wh(3)])) == ([], {})


def test_failed_start_transaction_is_retried_with_the_event() -> None:
    """StartTransaction answered with a CALLERROR: the station hears it; its retry sends StartTransaction again."""
    station = Station()
    plugged_in(station)
    request = event("Updated", 1, "Authorized", token="04A1B2C3")
    _, answer = station.call("TransactionEvent", request, StartTransaction="InternalError")
    assert answer[0] == "error" and station.tx()["state"] == "open201"
    assert station.call("TransactionEvent", request)[0][0][0] == "StartTransaction"


def test_start_lost_in_a_restart_is_sent_again() -> None:
    """A record left starting16 by a restart: the station's retry sends StartTransaction again."""
    station = Station()
    plugged_in(station)
    request = event("Updated", 1, "Authorized", token="04A1B2C3")
    out = station.pb.charger([2, "a", "TransactionEvent", request])  # the CSMS never answers: the gateway dies
    saved = [c[2] for c in out if c[0] == "save" and c[1] == "tr.tx"][-1]
    assert saved["records201"]["TX1"]["state"] == "starting16"
    restarted = Station({"tx": saved})
    calls, answer = restarted.call("TransactionEvent", request)
    assert calls[0][0] == "StartTransaction" and answer == {"idTokenInfo": {"status": "Accepted"}}
    assert restarted.tx()["state"] == "active16"


def test_calls_wait_for_the_16_id_while_start_is_outstanding() -> None:
    """An event that arrives while StartTransaction is outstanding is answered; its MeterValues follow the conf."""
    station = Station()
    plugged_in(station)
    station.pb.charger([2, "a", "TransactionEvent", event("Updated", 1, "Authorized", token="04A1B2C3")])
    out = station.pb.charger([2, "b", "TransactionEvent", event("Updated", 2, "MeterValuePeriodic",
                                                                  meter=[wh(1600)])])
    assert [c[2] for c in out if c[0] == "send"] == [[3, "b", {}]]
    out = station.pb.csms([3, "gw-2", {"transactionId": 4711, "idTagInfo": {"status": "Accepted"}}])
    sent = [c[2] for c in out if c[0] == "send"]
    assert sent[0][2:] == ["MeterValues", {"connectorId": 1, "transactionId": 4711, "meterValue": [
        {"timestamp": T0, "sampledValue": [{"value": "1600", "measurand": "Energy.Active.Import.Register",
                                            "unit": "Wh"}]}]}]


def test_remote_stop_names_the_station_transaction() -> None:
    """RemoteStopTransaction with the CSMS's int reaches the station as RequestStopTransaction with its id."""
    station = Station()
    active(station)
    out = station.pb.csms([2, "m1", "RemoteStopTransaction", {"transactionId": 4711}])
    assert [c[2] for c in out if c[0] == "send"] == [[2, "gw-3", "RequestStopTransaction", {"transactionId": "TX1"}]]


def test_closed_records_are_pruned_after_a_day() -> None:
    """A record closed more than 24 h ago is forgotten when a new transaction begins (tx.keep_closed_h)."""
    old = {"id201": "OLD", "state": "closed", "closedAt": 0.0, "upstream16": 1}
    station = Station({"tx": {"records201": {"OLD": old}, "records": {"201:OLD": {"id201": "OLD"}}}})
    station.call("TransactionEvent", event("Started", 0, "CablePluggedIn"))
    assert set(station.state.read("tx")["records201"]) == {"TX1"}
    assert station.state.read("tx")["records"] == {}
