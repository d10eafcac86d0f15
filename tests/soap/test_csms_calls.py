"""Every CSMS-initiated operation of the SOAP ChargePointService, through the gateway, from a 1.6 CSMS.

A 1.6 SOAP charger gets every 1.6 operation as it is (the codec only changes the encoding); a 1.5
charger gets every 1.5 operation in its own terms (TRANSLATION.md 5.5, 5.6), and the operations it
lacks are answered by the gateway: TriggerMessage is emulated from what the gateway remembers
(5.5.1), smart charging and the security extension are refused as 5.5 documents. Each row is one
behaviour: the command, what the charger's endpoint receives, what the charger answers, what the
CSMS hears back. The CSMS is the `ocpp` package (JSON schemas), the endpoint checks the XSD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201

from tests.conftest import GatewayFactory
from tests.peers import Csms, CsmsLink, now
from tests.soap.charger import SoapCharger
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import ChargerEndpoint, Fields
from tests.soap.test_day import DayCsms16, use_day_handlers

T0 = "2026-12-06T08:00:00Z"
FIRMWARE_URL = "https://firmware.example/wall-7-2.0.bin"
LOG_URL = "ftp://logs.example/upload/"
#: What a 1.5 charger can do, as the gateway tells a 1.6 CSMS (TRANSLATION.md 5.5.1).
PROFILES_15 = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger"
TX_PROFILE_16 = {
    "charging_profile_id": 8, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
    "charging_profile_kind": "Absolute", "charging_schedule": {
        "charging_rate_unit": "A", "start_schedule": T0,
        "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}}
TX_PROFILE_SOAP = {
    "chargingProfileId": 8, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute", "chargingSchedule": {
        "startSchedule": T0, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}


class ChangingIntervalCsms16(DayCsms16):
    """A 1.6 CSMS that answers the first boot with interval 300 and every later one with 600."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boots = 0

    @on("BootNotification")
    def boot(self, **kw: Any) -> r16.BootNotification:
        self._record("BootNotification", kw)
        self.boots += 1
        return r16.BootNotification(current_time=now(), interval=300 if self.boots == 1 else 600,
                                    status="Accepted")


@dataclass
class Linked:
    """A booted SOAP charger, its endpoint, and the CSMS's link to it."""

    charger: SoapCharger
    endpoint: ChargerEndpoint
    link: CsmsLink

    async def command(self, request: Any) -> Any:
        return await self.link.cp.call(request, suppress=False)

    def clean(self) -> bool:
        return self.charger.violations == [] and self.endpoint.violations == []


async def booted(version: str, csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory,
                 soap_charger: ChargerFactory, cp16_class: type[DayCsms16] = DayCsms16,
                 dialect: str = "ocpp1.6") -> Linked:
    use_day_handlers(csms)
    csms.cp16_class = cp16_class
    endpoint = await start_endpoint(version)
    gateway = await start_gateway(csms.url, dialect, chargers={"CB1": {}})
    charger = soap_charger(version, f"http://127.0.0.1:{gateway.port}/soap", "CB1", endpoint.url)
    await charger.call("BootNotification", chargePointVendor="ACME", chargePointModel="Wall-7")
    link = await csms.next_connection()
    assert (await link.next_call())[0] == "BootNotification"
    return Linked(charger, endpoint, link)


@pytest.fixture
async def cb16(csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory,
               soap_charger: ChargerFactory) -> Linked:
    return await booted("1.6", csms, start_gateway, start_endpoint, soap_charger)


@pytest.fixture
async def cb15(csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory,
               soap_charger: ChargerFactory) -> Linked:
    return await booted("1.5", csms, start_gateway, start_endpoint, soap_charger)


def heard(answer: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of the CSMS's answer that `expected` names."""
    return {name: getattr(answer, name) for name in expected}


# (command, what the endpoint receives, what the charger answers (None: endpoint default), what the CSMS hears)
Row = tuple[Any, Fields, Fields | None, dict[str, Any]]


def row(request: Any, at_endpoint: Fields, charger_answers: Fields | None, csms_hears: dict[str, Any],
        name: str = "") -> Any:
    return pytest.param(request, at_endpoint, charger_answers, csms_hears, id=name or type(request).__name__)


OPERATIONS_16 = [
    row(c16.CancelReservation(reservation_id=3), {"reservationId": 3}, None, {"status": "Accepted"}),
    row(c16.ChangeAvailability(connector_id=1, type="Inoperative"), {"connectorId": 1, "type": "Inoperative"},
        {"status": "Scheduled"}, {"status": "Scheduled"}),
    row(c16.ChangeConfiguration(key="MeterValueSampleInterval", value="60"),
        {"key": "MeterValueSampleInterval", "value": "60"}, {"status": "RebootRequired"},
        {"status": "RebootRequired"}),
    row(c16.ClearCache(), {}, None, {"status": "Accepted"}),
    row(c16.ClearChargingProfile(id=8), {"id": 8}, {"status": "Unknown"}, {"status": "Unknown"}),
    row(c16.DataTransfer(vendor_id="ACME", message_id="ping", data="hello"),
        {"vendorId": "ACME", "messageId": "ping", "data": "hello"}, {"status": "Accepted", "data": "pong"},
        {"status": "Accepted", "data": "pong"}),
    row(c16.GetConfiguration(key=["HeartbeatInterval", "Nonsense"]), {"key": ["HeartbeatInterval", "Nonsense"]},
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
         "unknownKey": ["Nonsense"]},
        {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
         "unknown_key": ["Nonsense"]}),
    row(c16.GetDiagnostics(location=LOG_URL, retries=2, start_time=T0), {"location": LOG_URL, "startTime": T0,
                                                                          "retries": 2},
        None, {"file_name": "diagnostics.zip"}),
    row(c16.GetLocalListVersion(), {}, {"listVersion": 4}, {"list_version": 4}),
    row(c16.RemoteStartTransaction(id_tag="TAG2", connector_id=1, charging_profile={
        **TX_PROFILE_16, "charging_profile_purpose": "TxProfile"}),
        {"connectorId": 1, "idTag": "TAG2", "chargingProfile": {**TX_PROFILE_SOAP,
                                                                "chargingProfilePurpose": "TxProfile"}},
        None, {"status": "Accepted"}),
    row(c16.RemoteStopTransaction(transaction_id=42), {"transactionId": 42}, {"status": "Rejected"},
        {"status": "Rejected"}),
    row(c16.ReserveNow(connector_id=1, expiry_date=T0, id_tag="TAG2", reservation_id=3),
        {"connectorId": 1, "expiryDate": T0, "idTag": "TAG2", "reservationId": 3}, {"status": "Occupied"},
        {"status": "Occupied"}),
    row(c16.Reset(type="Hard"), {"type": "Hard"}, None, {"status": "Accepted"}),
    row(c16.SendLocalList(list_version=2, update_type="Full", local_authorization_list=[
        {"id_tag": "TAG2", "id_tag_info": {"status": "Accepted", "expiry_date": T0}}]),
        {"listVersion": 2, "localAuthorizationList": [{"idTag": "TAG2", "idTagInfo": {"status": "Accepted",
                                                                                       "expiryDate": T0}}],
         "updateType": "Full"},
        {"status": "VersionMismatch"}, {"status": "VersionMismatch"}),
    row(c16.SetChargingProfile(connector_id=1, cs_charging_profiles=TX_PROFILE_16),
        {"connectorId": 1, "csChargingProfiles": TX_PROFILE_SOAP}, None, {"status": "Accepted"}),
    row(c16.TriggerMessage(requested_message="StatusNotification", connector_id=1),
        {"requestedMessage": "StatusNotification", "connectorId": 1}, None, {"status": "Accepted"}),
    row(c16.UnlockConnector(connector_id=1), {"connectorId": 1}, {"status": "NotSupported"},
        {"status": "NotSupported"}),
    row(c16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=T0, retries=3),
        {"retrieveDate": T0, "location": FIRMWARE_URL, "retries": 3}, None, {}),
    row(c16.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="A"),
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        {"status": "Accepted", "connectorId": 1, "scheduleStart": T0, "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}},
        {"status": "Accepted", "connector_id": 1, "schedule_start": T0, "charging_schedule": {
            "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}}),
]


@pytest.mark.parametrize(("command", "at_endpoint", "charger_answers", "csms_hears"), OPERATIONS_16)
async def test_16_operation_reaches_16_soap_charger_and_its_answer_returns(
    cb16: Linked, command: Any, at_endpoint: Fields, charger_answers: Fields | None, csms_hears: dict[str, Any]
) -> None:
    """A 1.6 CSMS command reaches a 1.6 SOAP charger field for field, and the charger's answer comes back."""
    operation = type(command).__name__
    if charger_answers is not None:
        cb16.endpoint.handlers[operation] = lambda _fields: charger_answers
    answer = await cb16.command(command)
    assert await cb16.endpoint.next_call() == (operation, at_endpoint)
    assert heard(answer, csms_hears) == csms_hears
    assert cb16.clean(), (cb16.charger.violations, cb16.endpoint.violations)


OPERATIONS_15 = [
    row(c16.CancelReservation(reservation_id=3), {"reservationId": 3}, {"status": "Rejected"},
        {"status": "Rejected"}),
    row(c16.ChangeAvailability(connector_id=0, type="Operative"), {"connectorId": 0, "type": "Operative"},
        {"status": "Scheduled"}, {"status": "Scheduled"}),
    row(c16.ChangeConfiguration(key="MeterValueSampleInterval", value="60"),
        {"key": "MeterValueSampleInterval", "value": "60"}, {"status": "NotSupported"}, {"status": "NotSupported"}),
    row(c16.ChangeConfiguration(key="HeartbeatInterval", value="120"), {"key": "HeartBeatInterval", "value": "120"},
        None, {"status": "Accepted"}, "ChangeConfiguration-HeartBeatInterval"),
    row(c16.ClearCache(), {}, {"status": "Rejected"}, {"status": "Rejected"}),
    row(c16.DataTransfer(vendor_id="ACME", message_id="ping", data="hello"),
        {"vendorId": "ACME", "messageId": "ping", "data": "hello"}, {"status": "UnknownMessageId"},
        {"status": "UnknownMessageId"}),
    row(c16.GetConfiguration(key=["HeartbeatInterval", "ProximityLockRetries"]),
        {"key": ["HeartBeatInterval", "ProximityLockRetries"]},
        {"configurationKey": [{"key": "HeartBeatInterval", "readonly": False, "value": "300"},
                              {"key": "ProximityLockRetries", "readonly": True, "value": "3"}]},
        {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                               {"key": "ProximityLockRetries", "readonly": True, "value": "3"}]}),
    row(c16.GetDiagnostics(location=LOG_URL, retries=2, retry_interval=30),
        {"location": LOG_URL, "retries": 2, "retryInterval": 30}, None, {"file_name": "diagnostics.zip"}),
    row(c16.GetLocalListVersion(), {}, {"listVersion": -1}, {"list_version": -1}),
    row(c16.RemoteStartTransaction(id_tag="TAG2", connector_id=1), {"idTag": "TAG2", "connectorId": 1}, None,
        {"status": "Accepted"}),
    row(c16.RemoteStartTransaction(id_tag="TAG2", charging_profile={**TX_PROFILE_16,
                                                                   "charging_profile_purpose": "TxProfile"}),
        {"idTag": "TAG2"}, None, {"status": "Accepted"}, "RemoteStartTransaction-chargingProfile-dropped"),
    row(c16.RemoteStopTransaction(transaction_id=42), {"transactionId": 42}, None, {"status": "Accepted"}),
    row(c16.ReserveNow(connector_id=1, expiry_date=T0, id_tag="TAG2", parent_id_tag="FLEET", reservation_id=3),
        {"connectorId": 1, "expiryDate": T0, "idTag": "TAG2", "parentIdTag": "FLEET", "reservationId": 3},
        {"status": "Faulted"}, {"status": "Faulted"}),
    row(c16.Reset(type="Soft"), {"type": "Soft"}, {"status": "Rejected"}, {"status": "Rejected"}),
    row(c16.SendLocalList(list_version=2, update_type="Differential", local_authorization_list=[
        {"id_tag": "TAG2", "id_tag_info": {"status": "Blocked"}}]),
        {"updateType": "Differential", "listVersion": 2,
         "localAuthorisationList": [{"idTag": "TAG2", "idTagInfo": {"status": "Blocked"}}]},
        None, {"status": "Accepted"}),
    row(c16.SendLocalList(list_version=2, update_type="Full"), {"updateType": "Full", "listVersion": 2},
        {"status": "HashError", "hash": "0badc0de"}, {"status": "Failed"}, "SendLocalList-HashError-is-Failed"),
    row(c16.UnlockConnector(connector_id=1), {"connectorId": 1}, {"status": "Accepted"}, {"status": "Unlocked"}),
    row(c16.UnlockConnector(connector_id=2), {"connectorId": 2}, {"status": "Rejected"},
        {"status": "UnlockFailed"}, "UnlockConnector-Rejected-is-UnlockFailed"),
    row(c16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=T0, retry_interval=60),
        {"retrieveDate": T0, "location": FIRMWARE_URL, "retryInterval": 60}, None, {}),
]


@pytest.mark.parametrize(("command", "at_endpoint", "charger_answers", "csms_hears"), OPERATIONS_15)
async def test_16_operation_reaches_15_soap_charger_in_15_terms_and_its_answer_returns(
    cb15: Linked, command: Any, at_endpoint: Fields, charger_answers: Fields | None, csms_hears: dict[str, Any]
) -> None:
    """A 1.6 CSMS command reaches a 1.5 SOAP charger as its 1.5 operation (5.5, 5.6); the answer returns as 1.6."""
    operation = type(command).__name__
    if charger_answers is not None:
        cb15.endpoint.handlers[operation] = lambda _fields: charger_answers
    answer = await cb15.command(command)
    assert await cb15.endpoint.next_call() == (operation, at_endpoint)
    assert heard(answer, csms_hears) == csms_hears
    assert cb15.clean(), (cb15.charger.violations, cb15.endpoint.violations)


async def test_15_charger_asked_for_supported_profiles_is_answered_by_the_gateway(cb15: Linked) -> None:
    """SupportedFeatureProfiles of a 1.5 charger comes from the gateway: RemoteTrigger yes, SmartCharging no (5.5.1)."""
    answer = await cb15.command(c16.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert answer.configuration_key == [{"key": "SupportedFeatureProfiles", "readonly": True, "value": PROFILES_15}]
    assert cb15.endpoint.received == []


async def test_15_charger_refuses_a_charging_profile_in_band(cb15: Linked) -> None:
    """SetChargingProfile toward a 1.5 charger is answered NotSupported by the gateway (5.5, 1.3 b)."""
    answer = await cb15.command(c16.SetChargingProfile(connector_id=1, cs_charging_profiles=TX_PROFILE_16))
    assert answer.status == "NotSupported"
    assert cb15.endpoint.received == []


@pytest.mark.parametrize("command", [
    c16.ClearChargingProfile(id=8),
    c16.GetCompositeSchedule(connector_id=1, duration=3600),
    c16.ExtendedTriggerMessage(requested_message="Heartbeat"),
], ids=lambda command: type(command).__name__)
async def test_15_charger_lacks_smart_charging_and_security_operations(cb15: Linked, command: Any) -> None:
    """Smart-charging queries and the security extension are CALLERROR NotSupported for a 1.5 charger (5.5, 1.3 c)."""
    with pytest.raises(NotSupportedError):
        await cb15.command(command)
    assert cb15.endpoint.received == []


async def test_15_trigger_heartbeat_is_sent_by_the_gateway(cb15: Linked) -> None:
    """TriggerMessage(Heartbeat) is Accepted and the gateway sends the Heartbeat itself (5.5.1)."""
    answer = await cb15.command(c16.TriggerMessage(requested_message="Heartbeat"))
    assert answer.status == "Accepted"
    assert await cb15.link.next_call() == ("Heartbeat", {})
    assert cb15.endpoint.received == []


async def test_15_trigger_boot_resends_the_cached_boot_notification(cb15: Linked) -> None:
    """TriggerMessage(BootNotification) sends the charger's last BootNotification again (5.5.1)."""
    answer = await cb15.command(c16.TriggerMessage(requested_message="BootNotification"))
    assert answer.status == "Accepted"
    assert await cb15.link.next_call() == ("BootNotification", {"charge_point_vendor": "ACME",
                                                                "charge_point_model": "Wall-7"})
    assert cb15.endpoint.received == []


async def test_15_trigger_boot_pushes_a_changed_interval_to_the_charger(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """When the triggered boot's answer changes the interval, the charger is told with ChangeConfiguration (5.5.1)."""
    cb15 = await booted("1.5", csms, start_gateway, start_endpoint, soap_charger, ChangingIntervalCsms16)
    answer = await cb15.command(c16.TriggerMessage(requested_message="BootNotification"))
    assert answer.status == "Accepted"
    assert (await cb15.link.next_call())[0] == "BootNotification"
    assert await cb15.endpoint.next_call() == ("ChangeConfiguration", {"key": "HeartBeatInterval", "value": "600"})
    assert cb15.clean(), (cb15.charger.violations, cb15.endpoint.violations)


async def test_15_trigger_status_resends_the_last_status_of_the_connector(cb15: Linked) -> None:
    """TriggerMessage(StatusNotification) sends the last status the gateway sent for the connector (5.5.1)."""
    await cb15.charger.call("StatusNotification", connectorId=1, status="Occupied", errorCode="Mode3Error",
                            timestamp=T0)
    assert (await cb15.link.next_call())[1]["status"] == "Preparing"
    answer = await cb15.command(c16.TriggerMessage(requested_message="StatusNotification", connector_id=1))
    action, payload = await cb15.link.next_call()
    assert (answer.status, action) == ("Accepted", "StatusNotification")
    assert {key: payload[key] for key in ("connector_id", "status", "error_code")} == {
        "connector_id": 1, "status": "Preparing", "error_code": "EVCommunicationError"}
    assert cb15.endpoint.received == []


async def test_15_trigger_status_before_any_status_is_rejected(cb15: Linked) -> None:
    """With no status seen yet there is nothing to send: TriggerMessage(StatusNotification) is Rejected (6.2)."""
    answer = await cb15.command(c16.TriggerMessage(requested_message="StatusNotification"))
    assert answer.status == "Rejected"
    assert cb15.link.cp.calls.empty() and cb15.endpoint.received == []


@pytest.mark.parametrize(("requested", "last_seen", "sent"), [
    ("FirmwareStatusNotification", None, "Idle"),
    ("FirmwareStatusNotification", "Downloaded", "Downloaded"),
    ("FirmwareStatusNotification", "Installed", "Idle"),
    ("DiagnosticsStatusNotification", None, "Idle"),
    ("DiagnosticsStatusNotification", "Uploaded", "Idle"),
])
async def test_15_trigger_job_status_sends_the_running_job_or_idle(
    cb15: Linked, requested: str, last_seen: str | None, sent: str
) -> None:
    """Firmware/diagnostics triggers send the last status while a job runs, else Idle (5.5.1)."""
    if last_seen is not None:
        await cb15.charger.call(requested, status=last_seen)
        assert await cb15.link.next_call() == (requested, {"status": last_seen})
    answer = await cb15.command(c16.TriggerMessage(requested_message=requested))
    assert answer.status == "Accepted"
    assert await cb15.link.next_call() == (requested, {"status": sent})
    assert cb15.endpoint.received == []


async def test_15_trigger_meter_values_is_not_implemented(cb15: Linked) -> None:
    """A 1.5 charger cannot be asked for a reading: TriggerMessage(MeterValues) is NotImplemented (5.5.1)."""
    answer = await cb15.command(c16.TriggerMessage(requested_message="MeterValues", connector_id=1))
    assert answer.status == "NotImplemented"
    assert cb15.link.cp.calls.empty() and cb15.endpoint.received == []


# ---- a 1.5 charger behind a 2.0.1 CSMS: the emulated triggers go through both translations


@pytest.fixture
async def cb15_201(csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory,
                   soap_charger: ChargerFactory) -> Linked:
    return await booted("1.5", csms, start_gateway, start_endpoint, soap_charger, dialect="ocpp2.0.1")


async def test_15_trigger_boot_from_201_csms_says_triggered(cb15_201: Linked) -> None:
    """The BootNotification a 2.0.1 CSMS triggered carries reason Triggered (2.2 boot_reason rule 1, 5.5.1)."""
    answer = await cb15_201.command(c201.TriggerMessage(requested_message="BootNotification"))
    assert answer.status == "Accepted"
    action, payload = await cb15_201.link.next_call()
    assert (action, payload["reason"]) == ("BootNotification", "Triggered")


async def test_15_trigger_status_from_201_csms_is_sent_although_unchanged(cb15_201: Linked) -> None:
    """A triggered StatusNotification reaches a 2.0.1 CSMS even when the status did not change (5.5.1, 4.10)."""
    await cb15_201.charger.call("StatusNotification", connectorId=1, status="Available", errorCode="NoError",
                                timestamp=T0)
    assert (await cb15_201.link.next_call())[1]["connector_status"] == "Available"
    answer = await cb15_201.command(c201.TriggerMessage(requested_message="StatusNotification",
                                                        evse={"id": 1, "connector_id": 1}))
    assert answer.status == "Accepted"
    action, payload = await cb15_201.link.next_call(timeout=3)
    assert (action, payload["connector_status"]) == ("StatusNotification", "Available")
