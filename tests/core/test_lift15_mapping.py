"""Each entry of mappings/ocpp1.5-soap__ocpp1.6.yaml applied to a realistic message and its answer (TRANSLATION.md 5).

Mapped entries are exercised both ways, through `Rule.apply` and `Rule.map_response` with a recording
stand-in for the translator's hooks: the source message maps to the expected target message, valid
for the target's schema (1.6: the `ocpp` package; 1.5: the SOAP codec's, so the codec can encode it),
and the target's answer maps back to the expected, valid source response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.core.mapping import Answer, Delegate, Forward, Rule
from gateway.errors import NotSupportedAction
from gateway.soap.types import operations
from tests.core.test_lift15_kit import NOW, T1, lift_rules, valid

C15, U16 = Dialect.OCPP15_SOAP, Dialect.OCPP16
#: 1.6 charger-initiated actions, security extension included; every other 1.6 action is CSMS-initiated.
CHARGER_ACTIONS_16 = frozenset({
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction", "LogStatusNotification",
    "SecurityEventNotification", "SignCertificate", "SignedFirmwareStatusNotification"})


class Hooks:
    """The translator's side of the hook seam, recording every hook call (the lift file uses notify hooks only)."""

    now_iso = NOW

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def hook(self, name: str, source: Any, value: Any) -> Any:
        self.calls.append((name, dict(source), value))
        return None


def lift_rule(source: Dialect, action: str) -> Rule:
    """The lift's rule for a call from `source` (the other side of the pair is the target)."""
    found = lift_rules().find(source, action, "up" if source is C15 else "down", U16 if source is C15 else C15)
    assert found is not None, f"no lift rule for {source} {action}"
    return found


@dataclass(frozen=True)
class Case:
    """One behaviour of a mapped entry: the request to the target and the target's answer back."""

    behaviour: str
    source: Dialect
    action: str
    request: dict[str, Any]
    expected: dict[str, Any]
    answer: dict[str, Any]
    expected_answer: dict[str, Any]

    @property
    def target(self) -> Dialect:
        return U16 if self.source is C15 else C15


LONG_NAME = "diagnostics-" + "x" * 300 + ".zip"
ID_TAG_INFO = {"status": "Blocked", "expiryDate": NOW, "parentIdTag": "PARENT-1"}

CASES = [
    # ------------------------------------------------------------------ charger-initiated: 1.5 -> 1.6 (5.1)
    Case("authorize_keeps_id_tag_and_id_tag_info", C15, "Authorize", {"idTag": "04A2B3C4"}, {"idTag": "04A2B3C4"},
         {"idTagInfo": ID_TAG_INFO}, {"idTagInfo": ID_TAG_INFO}),
    Case("boot_notification_keeps_every_field", C15, "BootNotification",
         {"chargePointVendor": "ACME", "chargePointModel": "Wall-5", "chargePointSerialNumber": "CP-1",
          "chargeBoxSerialNumber": "CB-1", "firmwareVersion": "1.5.3", "iccid": "8931", "imsi": "2620",
          "meterType": "M1", "meterSerialNumber": "MS-1"},
         {"chargePointVendor": "ACME", "chargePointModel": "Wall-5", "chargePointSerialNumber": "CP-1",
          "chargeBoxSerialNumber": "CB-1", "firmwareVersion": "1.5.3", "iccid": "8931", "imsi": "2620",
          "meterType": "M1", "meterSerialNumber": "MS-1"},
         {"status": "Accepted", "currentTime": NOW, "interval": 300},
         {"status": "Accepted", "currentTime": NOW, "heartbeatInterval": 300}),
    Case("boot_pending_becomes_rejected_with_the_interval", C15, "BootNotification",
         {"chargePointVendor": "ACME", "chargePointModel": "Wall-5"},
         {"chargePointVendor": "ACME", "chargePointModel": "Wall-5"},
         {"status": "Pending", "currentTime": NOW, "interval": 60},
         {"status": "Rejected", "currentTime": NOW, "heartbeatInterval": 60}),
    Case("heartbeat_keeps_current_time", C15, "Heartbeat", {}, {}, {"currentTime": NOW}, {"currentTime": NOW}),
    Case("meter_values_become_meter_value_with_sampled_values", C15, "MeterValues",
         {"connectorId": 1, "transactionId": 7, "values": [
             {"timestamp": T1, "value": [
                 {"value": "1520"},
                 {"value": "16.2", "unit": "Amp", "measurand": "Current.Import", "context": "Sample.Clock",
                  "location": "Inlet", "format": "Raw"},
                 {"value": "230", "unit": "Volt", "measurand": "Voltage"},
                 {"value": "31", "unit": "Celsius", "measurand": "Temperature", "location": "Body"}]},
             {"timestamp": NOW, "value": [{"value": "1.7", "unit": "kWh", "context": "Transaction.End"}]}]},
         {"connectorId": 1, "transactionId": 7, "meterValue": [
             {"timestamp": T1, "sampledValue": [
                 {"value": "1520"},
                 {"value": "16.2", "unit": "A", "measurand": "Current.Import", "context": "Sample.Clock",
                  "location": "Inlet", "format": "Raw"},
                 {"value": "230", "unit": "V", "measurand": "Voltage"},
                 {"value": "31", "unit": "Celsius", "measurand": "Temperature", "location": "Body"}]},
             {"timestamp": NOW, "sampledValue": [{"value": "1.7", "unit": "kWh", "context": "Transaction.End"}]}]},
         {}, {}),
    Case("firmware_status_notification_keeps_status", C15, "FirmwareStatusNotification", {"status": "Installed"},
         {"status": "Installed"}, {}, {}),
    Case("diagnostics_status_notification_keeps_status", C15, "DiagnosticsStatusNotification",
         {"status": "UploadFailed"}, {"status": "UploadFailed"}, {}, {}),
    Case("charger_data_transfer_keeps_its_fields", C15, "DataTransfer",
         {"vendorId": "com.acme", "messageId": "Tariff", "data": "{\"ct\":1}"},
         {"vendorId": "com.acme", "messageId": "Tariff", "data": "{\"ct\":1}"},
         {"status": "UnknownMessageId", "data": "none"}, {"status": "UnknownMessageId", "data": "none"}),
    # ------------------------------------------------------------------ CSMS-initiated: 1.6 -> 1.5 (5.5)
    Case("cancel_reservation_is_identical", U16, "CancelReservation", {"reservationId": 3}, {"reservationId": 3},
         {"status": "Rejected"}, {"status": "Rejected"}),
    Case("change_availability_is_identical", U16, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"},
         {"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}, {"status": "Scheduled"}),
    Case("clear_cache_is_identical", U16, "ClearCache", {}, {}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case("get_diagnostics_is_identical", U16, "GetDiagnostics",
         {"location": "ftp://logs.example/cb15", "retries": 2, "retryInterval": 30, "startTime": T1, "stopTime": NOW},
         {"location": "ftp://logs.example/cb15", "retries": 2, "retryInterval": 30, "startTime": T1, "stopTime": NOW},
         {"fileName": "diag.zip"}, {"fileName": "diag.zip"}),
    Case("get_diagnostics_file_name_is_cut_to_255", U16, "GetDiagnostics", {"location": "ftp://logs.example/cb15"},
         {"location": "ftp://logs.example/cb15"}, {"fileName": LONG_NAME}, {"fileName": LONG_NAME[:255]}),
    Case("get_local_list_version_is_identical", U16, "GetLocalListVersion", {}, {}, {"listVersion": 4},
         {"listVersion": 4}),
    Case("remote_stop_is_identical", U16, "RemoteStopTransaction", {"transactionId": 7}, {"transactionId": 7},
         {"status": "Accepted"}, {"status": "Accepted"}),
    Case("reserve_now_is_identical", U16, "ReserveNow",
         {"connectorId": 1, "expiryDate": NOW, "idTag": "04A2B3C4", "parentIdTag": "PARENT-1", "reservationId": 9},
         {"connectorId": 1, "expiryDate": NOW, "idTag": "04A2B3C4", "parentIdTag": "PARENT-1", "reservationId": 9},
         {"status": "Occupied"}, {"status": "Occupied"}),
    Case("reset_is_identical", U16, "Reset", {"type": "Hard"}, {"type": "Hard"}, {"status": "Rejected"},
         {"status": "Rejected"}),
    Case("update_firmware_is_identical", U16, "UpdateFirmware",
         {"location": "https://fw.example/5.bin", "retrieveDate": NOW, "retries": 1, "retryInterval": 60},
         {"location": "https://fw.example/5.bin", "retrieveDate": NOW, "retries": 1, "retryInterval": 60}, {}, {}),
    Case("csms_data_transfer_is_identical", U16, "DataTransfer", {"vendorId": "com.acme", "data": "x"},
         {"vendorId": "com.acme", "data": "x"}, {"status": "Accepted", "data": "y"},
         {"status": "Accepted", "data": "y"}),
    Case("remote_start_drops_the_charging_profile", U16, "RemoteStartTransaction",
         {"connectorId": 2, "idTag": "APP-1", "chargingProfile": {
             "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
             "chargingProfileKind": "Relative", "chargingSchedule": {
                 "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}},
         {"idTag": "APP-1", "connectorId": 2}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case("send_local_list_uses_the_1_5_spelling_and_hash_error_is_failed", U16, "SendLocalList",
         {"listVersion": 5, "updateType": "Differential", "localAuthorizationList": [
             {"idTag": "04A2B3C4", "idTagInfo": ID_TAG_INFO}, {"idTag": "DEL-1"}]},
         {"listVersion": 5, "updateType": "Differential", "localAuthorisationList": [
             {"idTag": "04A2B3C4", "idTagInfo": ID_TAG_INFO}, {"idTag": "DEL-1"}]},
         {"status": "HashError", "hash": "ab12"}, {"status": "Failed"}),
    Case("send_local_list_answer_loses_its_hash", U16, "SendLocalList", {"listVersion": 1, "updateType": "Full"},
         {"listVersion": 1, "updateType": "Full"}, {"status": "VersionMismatch", "hash": "ab12"},
         {"status": "VersionMismatch"}),
    Case("unlock_accepted_is_unlocked", U16, "UnlockConnector", {"connectorId": 1}, {"connectorId": 1},
         {"status": "Accepted"}, {"status": "Unlocked"}),
    Case("unlock_rejected_is_unlock_failed", U16, "UnlockConnector", {"connectorId": 1}, {"connectorId": 1},
         {"status": "Rejected"}, {"status": "UnlockFailed"}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.behaviour)
def test_request_maps_to_the_target_version(case: Case) -> None:
    """The source request becomes the expected target request, valid for the target's schema."""
    valid(case.source, case.action, "request", case.request)
    outcome = lift_rule(case.source, case.action).apply_mapping(case.request, Hooks())
    assert isinstance(outcome, Forward)
    assert (outcome.action, outcome.payload) == (case.action, case.expected)
    valid(case.target, case.action, "request", outcome.payload)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.behaviour)
def test_answer_maps_back_to_the_source_version(case: Case) -> None:
    """The target's answer becomes the expected source response, valid for the source's schema."""
    valid(case.target, case.action, "response", case.answer)
    mapped = lift_rule(case.source, case.action).map_response(case.answer, Hooks(), case.request)
    assert mapped == case.expected_answer
    valid(case.source, case.action, "response", mapped)


def test_every_mapped_lift_entry_has_a_case() -> None:
    """No mapped entry of the lift file goes without an example above."""
    mapped = {(r.source, r.action) for r in lift_rules() if C15 in (r.source, r.target) and r.request is not None}
    assert mapped == {(c.source, c.action) for c in CASES}


def test_every_1_5_charger_action_goes_up() -> None:
    """Each charger-initiated 1.5 action (CentralSystemService) has an entry toward 1.6 (5.1)."""
    up = {r.action for r in lift_rules() if r.source is C15 and r.direction == "up"}
    assert up == operations(C15, "cs")


def test_every_1_6_csms_action_comes_down() -> None:
    """Each CSMS-initiated 1.6 action, security extension included, has an entry toward 1.5 (5.5)."""
    down = {r.action for r in lift_rules() if r.source is U16 and r.target is C15}
    assert down == {a for a in schemas.actions(U16) if a not in CHARGER_ACTIONS_16 or a == "DataTransfer"}


@pytest.mark.parametrize("values", [None, []], ids=["absent", "empty"])
def test_meter_values_without_values_are_answered_locally(values: list[Any] | None) -> None:
    """1.5 allows a MeterValues without readings; 1.6 needs one, so the charger is answered and nothing sent."""
    request: dict[str, Any] = {"connectorId": 1} if values is None else {"connectorId": 1, "values": values}
    valid(C15, "MeterValues", "request", request)
    assert lift_rule(C15, "MeterValues").apply(request, Hooks()) == Answer({})


def test_charger_data_transfer_passes_the_length_check_first() -> None:
    """Every 1.5 DataTransfer goes to the length-check handler, which declines when it fits (5.1)."""
    assert lift_rule(C15, "DataTransfer").apply({"vendorId": "com.acme"}, Hooks()) == \
        Delegate("lift15_data_transfer_limits")


def test_set_charging_profile_is_answered_not_supported() -> None:
    """SetChargingProfile never reaches a 1.5 charger: the CSMS hears status NotSupported (1.3 b)."""
    request = {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000.0}]}}}
    valid(U16, "SetChargingProfile", "request", request)
    outcome = lift_rule(U16, "SetChargingProfile").apply(request, Hooks())
    assert outcome == Answer({"status": "NotSupported"})
    valid(U16, "SetChargingProfile", "response", outcome.payload)


@pytest.mark.parametrize("action", ["ClearChargingProfile", "GetCompositeSchedule", "CertificateSigned",
                                    "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds",
                                    "GetLog", "InstallCertificate", "SignedUpdateFirmware"])
def test_smart_charging_and_security_calls_are_not_supported(action: str) -> None:
    """Smart-charging queries and the security extension are refused CALLERROR NotSupported (1.3 c, 5.5)."""
    with pytest.raises(NotSupportedAction):
        lift_rule(U16, action).apply({}, Hooks())


@pytest.mark.parametrize(("source", "action", "handler"), [
    (C15, "StartTransaction", "lift15_start_transaction"),
    (C15, "StopTransaction", "lift15_stop_transaction"),
    (C15, "StatusNotification", "lift15_status_notification"),
    (U16, "TriggerMessage", "lift15_trigger_message"),
    (U16, "GetConfiguration", "lift15_get_configuration"),
    (U16, "ChangeConfiguration", "lift15_change_configuration"),
])
def test_stateful_messages_go_to_their_handler(source: Dialect, action: str, handler: str) -> None:
    """Messages that need the lift's state are handed to its code (TRANSLATION.md 6.1)."""
    assert lift_rule(source, action).apply({}, Hooks()) == Delegate(handler)


def test_boot_notification_feeds_the_boot_cache_hooks() -> None:
    """The 1.5 boot is cached (remember_boot) and the CSMS's answer kept (lift15_boot_answered)."""
    hooks = Hooks()
    found = lift_rule(C15, "BootNotification")
    request = {"chargePointVendor": "ACME", "chargePointModel": "Wall-5"}
    found.apply(request, hooks)
    found.map_response({"status": "Accepted", "currentTime": NOW, "interval": 300}, hooks, request)
    assert [(name, source) for name, source, _ in hooks.calls] == [
        ("remember_boot", request), ("lift15_boot_answered", {"status": "Accepted", "currentTime": NOW,
                                                              "interval": 300})]


@pytest.mark.parametrize(("action", "request_", "hook"), [
    ("RemoteStopTransaction", {"transactionId": 7}, "lift15_remote_stop_answered"),
    ("Reset", {"type": "Soft"}, "lift15_reset_answered"),
    ("UnlockConnector", {"connectorId": 2}, "lift15_unlock_answered"),
])
def test_stop_cause_hooks_see_the_answer_and_the_request(action: str, request_: dict[str, Any], hook: str) -> None:
    """A command that may stop a transaction tells its hook the charger's answer and the 1.6 request (5.4)."""
    hooks = Hooks()
    lift_rule(U16, action).map_response({"status": "Accepted"}, hooks, request_)
    assert hooks.calls == [(hook, {"status": "Accepted"}, request_)]


@pytest.mark.parametrize(("action", "status", "hook"), [
    ("FirmwareStatusNotification", "Downloaded", "lift15_firmware_status"),
    ("DiagnosticsStatusNotification", "Uploaded", "lift15_diagnostics_status"),
])
def test_job_statuses_are_remembered_for_triggers(action: str, status: str, hook: str) -> None:
    """Firmware and diagnostics statuses feed the emulated TriggerMessage (5.5.1)."""
    hooks = Hooks()
    lift_rule(C15, action).apply({"status": status}, hooks)
    assert hooks.calls == [(hook, {"status": status}, None)]
