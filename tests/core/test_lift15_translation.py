"""The lift as a Translation: mapped 1.5 <-> 1.6 messages carried end to end, and what it refuses (TRANSLATION.md 5)."""

from __future__ import annotations

import pytest

from gateway.errors import NotSupportedAction, PropertyConstraintViolation
from tests.core.test_lift15_kit import CHARGER, CSMS, NOW, T1, Lift


def test_meter_values_reach_the_csms_in_1_6_shape() -> None:
    """A 1.5 MeterValues is sent as a 1.6 one; the charger gets the CSMS's empty answer."""
    exchange = Lift().up("MeterValues", {"connectorId": 1, "values": [
        {"timestamp": T1, "value": [{"value": "7", "unit": "Amp", "measurand": "Current.Import"}]}]})
    assert exchange.calls(CSMS) == [{"connectorId": 1, "meterValue": [
        {"timestamp": T1, "sampledValue": [{"value": "7", "unit": "A", "measurand": "Current.Import"}]}]}]
    assert exchange.answer == {}


def test_meter_values_without_values_are_not_sent() -> None:
    """An empty 1.5 MeterValues is answered by the gateway (1.6 needs a meterValue)."""
    exchange = Lift().up("MeterValues", {"connectorId": 1})
    assert exchange.answer == {} and exchange.sent == []


def test_boot_pending_reaches_the_charger_as_rejected() -> None:
    """Pending has no 1.5 value: the charger hears Rejected with the interval to retry after (5.1)."""
    exchange = Lift().up("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"},
                         {"BootNotification": {"status": "Pending", "currentTime": NOW, "interval": 30}})
    assert exchange.answer == {"status": "Rejected", "currentTime": NOW, "heartbeatInterval": 30}


def test_data_transfer_that_fits_is_forwarded() -> None:
    """A 1.5 DataTransfer within the 1.6 limits goes up unchanged and its answer down."""
    request = {"vendorId": "v" * 255, "messageId": "m" * 50, "data": "x"}
    exchange = Lift().up("DataTransfer", request, {"DataTransfer": {"status": "Rejected"}})
    assert exchange.calls(CSMS) == [request] and exchange.answer == {"status": "Rejected"}


@pytest.mark.parametrize("request_", [{"vendorId": "v" * 256}, {"vendorId": "com.acme", "messageId": "m" * 51}],
                         ids=["vendorId", "messageId"])
def test_data_transfer_beyond_1_6_limits_is_a_property_violation(request_: dict[str, str]) -> None:
    """Cutting a vendorId or messageId would change its meaning: PropertyConstraintViolation, nothing sent (5.1)."""
    exchange = Lift().up("DataTransfer", request_)
    assert isinstance(exchange.error, PropertyConstraintViolation) and exchange.sent == []


def test_csms_command_reaches_the_charger_in_1_5_shape() -> None:
    """A 1.6 SendLocalList reaches the charger with the 1.5 list name; HashError comes back as Failed."""
    exchange = Lift().down("SendLocalList", {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]}, {"SendLocalList": {"status": "HashError"}})
    assert exchange.calls(CHARGER) == [{"listVersion": 2, "updateType": "Full", "localAuthorisationList": [
        {"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]}]
    assert exchange.answer == {"status": "Failed"}


def test_unlock_answer_is_translated() -> None:
    """The 1.5 UnlockConnector Accepted reaches the CSMS as Unlocked."""
    exchange = Lift().down("UnlockConnector", {"connectorId": 1})
    assert exchange.answer == {"status": "Unlocked"}


def test_set_charging_profile_is_answered_by_the_gateway() -> None:
    """No smart charging on 1.5: NotSupported in-band, nothing sent to the charger."""
    exchange = Lift().down("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 32.0}]}}})
    assert exchange.answer == {"status": "NotSupported"} and exchange.sent == []


def test_security_extension_call_is_refused_not_supported() -> None:
    """A 1.6 security-extension call has no 1.5 counterpart: CALLERROR NotSupported."""
    exchange = Lift().down("GetLog", {"log": {"remoteLocation": "https://logs.example/"}, "logType": "DiagnosticsLog",
                                      "requestId": 1})
    assert isinstance(exchange.error, NotSupportedAction) and exchange.sent == []


def test_csms_call_sent_by_the_charger_is_refused() -> None:
    """A 1.5 charger sending a CSMS-initiated action (Reset) finds no rule: CALLERROR NotSupported."""
    exchange = Lift().up("Reset", {"type": "Hard"})
    assert isinstance(exchange.error, NotSupportedAction)


def test_remote_start_reaches_the_charger_without_profile() -> None:
    """RemoteStartTransaction loses its chargingProfile toward 1.5 (5.5)."""
    exchange = Lift().down("RemoteStartTransaction", {"idTag": "APP-1", "chargingProfile": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0}]}}}, {"RemoteStartTransaction": {"status": "Accepted"}})
    assert exchange.calls(CHARGER) == [{"idTag": "APP-1"}]
    assert exchange.answer == {"status": "Accepted"}
