"""A SOAP charger's full day through the gateway, for all four pairs (TRANSLATION.md 5, 2-4).

A zeep charger (1.5 or 1.6, official WSDL) calls the gateway's `/soap`; its own ChargePointService
endpoint takes the CSMS's commands; the `ocpp` package plays the upstream CSMS (1.6 or 2.0.1) and
validates everything it receives against the official JSON schemas. One gateway session carries the
whole day, so state carried from one message to the next (transaction ids, remote starts, status
refinement, stop reasons, jobs) is part of what is checked.

The day (`live_day`): boot, Available, Authorize, a local session (plugged in, started, charging,
metered, unplugged, stopped), a remote session (started by the CSMS, stopped by the CSMS), the
configuration read and written, a firmware update and a diagnostics upload with their status
notifications, a DataTransfer, UnlockConnector, ChangeAvailability, a Reset and the boot after it,
and a closing Heartbeat. The tests read the same day from four sides: what the charger heard, what
its endpoint received, what the CSMS received and what the CSMS heard back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.conftest import GatewayFactory
from tests.peers import Csms, CsmsCp16, CsmsCp201, CsmsLink
from tests.soap.charger import SoapCharger
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import ChargerEndpoint, Fields

PAIRS = [("1.5", "ocpp1.6"), ("1.5", "ocpp2.0.1"), ("1.6", "ocpp1.6"), ("1.6", "ocpp2.0.1")]
CALLERROR = 4  # OCPP-J message type
T0 = "2026-12-06T08:00:00Z"
T1 = "2026-12-06T08:30:00Z"
FIRMWARE_URL = "https://firmware.example/wall-7-2.0.bin"
LOG_URL = "ftp://logs.example/upload/"


class DayCsms16(CsmsCp16):
    """A 1.6 CSMS that also takes the firmware and diagnostics notifications."""

    @on("FirmwareStatusNotification")
    def firmware_status(self, **kw: Any) -> r16.FirmwareStatusNotification:
        self._record("FirmwareStatusNotification", kw)
        return r16.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def diagnostics_status(self, **kw: Any) -> r16.DiagnosticsStatusNotification:
        self._record("DiagnosticsStatusNotification", kw)
        return r16.DiagnosticsStatusNotification()


class DayCsms201(CsmsCp201):
    """A 2.0.1 CSMS that also takes the firmware, log and event notifications."""

    @on("FirmwareStatusNotification")
    def firmware_status(self, **kw: Any) -> r201.FirmwareStatusNotification:
        self._record("FirmwareStatusNotification", kw)
        return r201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def log_status(self, **kw: Any) -> r201.LogStatusNotification:
        self._record("LogStatusNotification", kw)
        return r201.LogStatusNotification()

    @on("NotifyEvent")
    def notify_event(self, **kw: Any) -> r201.NotifyEvent:
        self._record("NotifyEvent", kw)
        return r201.NotifyEvent()


def use_day_handlers(csms: Csms) -> None:
    csms.cp16_class = DayCsms16
    csms.cp201_class = DayCsms201


@dataclass
class Day:
    """Everything the four sides saw of one day; steps are named, in the order they happened."""

    version: str
    dialect: str
    charger: SoapCharger
    endpoint: ChargerEndpoint
    link: CsmsLink | None = None
    heard: dict[str, Fields] = field(default_factory=dict)  # charger's answers by step
    answered: dict[str, Any] = field(default_factory=dict)  # the CSMS's answers by step
    upstream: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # every call the CSMS got

    @property
    def v15(self) -> bool:
        return self.version == "1.5"

    @property
    def csms(self) -> CsmsLink:
        assert self.link is not None, "the CSMS sees the charger after its first request"
        return self.link

    async def charger_calls(self, step: str, operation: str, **fields: Any) -> Fields:
        answer = await self.charger.call(operation, **fields)
        self.heard[step] = answer
        return answer

    async def status(self, step: str, status: str, connector: int = 1) -> None:
        await self.charger_calls(step, "StatusNotification", connectorId=connector, status=status,
                                 errorCode="NoError", timestamp=T0)

    async def csms_calls(self, step: str, request: Any) -> Any:
        answer = await self.csms.cp.call(request, suppress=False)
        self.answered[step] = answer
        return answer

    async def upstream_until(self, action: str, match: Callable[[dict[str, Any]], bool] = lambda _: True,
                             ) -> dict[str, Any]:
        """Read the CSMS's calls up to and including the next `action` whose payload `match`es; that payload."""
        while True:
            received = await self.csms.next_call()
            self.upstream.append(received)
            if received[0] == action and match(received[1]):
                return received[1]

    def at_endpoint(self) -> list[tuple[str, Fields]]:
        return [(request.operation, request.fields) for request in self.endpoint.received]


def meter_values(version: str, energy: str, current: str) -> dict[str, Any]:
    """One reading of energy (Wh) and current, in the charger's own XML shape."""
    if version == "1.5":
        return {"values": [{"timestamp": T0, "value": [
            {"_value_1": energy, "unit": "Wh"},
            {"_value_1": current, "measurand": "Current.Import", "unit": "Amp"}]}]}
    return {"meterValue": [{"timestamp": T0, "sampledValue": [
        {"value": energy, "unit": "Wh"}, {"value": current, "measurand": "Current.Import", "unit": "A"}]}]}


def stop_data(version: str, energy: str) -> dict[str, Any]:
    if version == "1.5":
        return {"transactionData": [{"values": [{"timestamp": T1, "value": [{"_value_1": energy}]}]}]}
    return {"transactionData": [{"timestamp": T1, "sampledValue": [{"value": energy}]}]}


def commands(dialect: str) -> dict[str, Any]:
    """The CSMS's commands of the day in its own dialect (the remote stop is built when its id is known)."""
    if dialect == "ocpp1.6":
        return {
            "remote start": c16.RemoteStartTransaction(id_tag="TAG2", connector_id=1),
            "change configuration": c16.ChangeConfiguration(key="HeartbeatInterval", value="120"),
            "get configuration": c16.GetConfiguration(key=["HeartbeatInterval"]),
            "update firmware": c16.UpdateFirmware(location=FIRMWARE_URL, retrieve_date=T0),
            "get diagnostics": c16.GetDiagnostics(location=LOG_URL),
            "unlock": c16.UnlockConnector(connector_id=1),
            "change availability": c16.ChangeAvailability(connector_id=1, type="Inoperative"),
            "reset": c16.Reset(type="Soft"),
        }
    heartbeat = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    return {
        "remote start": c201.RequestStartTransaction(id_token={"id_token": "TAG2", "type": "Central"},
                                                     remote_start_id=7, evse_id=1),
        "change configuration": c201.SetVariables(set_variable_data=[{**heartbeat, "attribute_value": "120"}]),
        "get configuration": c201.GetVariables(get_variable_data=[heartbeat]),
        "update firmware": c201.UpdateFirmware(request_id=11, firmware={"location": FIRMWARE_URL,
                                                                        "retrieve_date_time": T0}),
        "get diagnostics": c201.GetLog(log_type="DiagnosticsLog", request_id=12, log={"remote_location": LOG_URL}),
        "unlock": c201.UnlockConnector(evse_id=1, connector_id=1),
        "change availability": c201.ChangeAvailability(operational_status="Inoperative",
                                                       evse={"id": 1, "connector_id": 1}),
        "reset": c201.Reset(type="Immediate"),
    }


async def live_day(version: str, dialect: str, csms: Csms, start_gateway: GatewayFactory,
                   start_endpoint: EndpointFactory, soap_charger: ChargerFactory) -> Day:
    use_day_handlers(csms)
    endpoint = await start_endpoint(version)
    heartbeat_key = "HeartBeatInterval" if version == "1.5" else "HeartbeatInterval"
    endpoint.handlers["GetConfiguration"] = lambda _fields: {
        "configurationKey": [{"key": heartbeat_key, "readonly": False, "value": "120"}]}
    gateway = await start_gateway(csms.url, dialect, chargers={"CB1": {}})
    charger = soap_charger(version, f"http://127.0.0.1:{gateway.port}/soap", "CB1", endpoint.url)
    day = Day(version, dialect, charger, endpoint)
    v15, command = day.v15, commands(dialect)
    plugged, charging = ("Occupied", "Occupied") if v15 else ("Preparing", "Charging")
    boot = {"chargePointVendor": "ACME", "chargePointModel": "Wall-7", "firmwareVersion": "1.9"}

    await day.charger_calls("boot", "BootNotification", **boot)
    day.link = await csms.next_connection()
    await day.status("available", "Available")
    await day.charger_calls("authorize", "Authorize", idTag="TAG1")

    # The local session: plugged in, started with TAG1, charging, metered, unplugged, then stopped.
    await day.status("plugged", plugged)
    local = await day.charger_calls("local start", "StartTransaction", connectorId=1, idTag="TAG1",
                                    timestamp=T0, meterStart=100)
    await day.status("charging", charging)
    await day.charger_calls("meter values", "MeterValues", connectorId=1, transactionId=local["transactionId"],
                            **meter_values(version, "1500", "16"))
    await day.status("unplugged", "Available")
    reason = {} if v15 else {"reason": "EVDisconnected"}
    await day.charger_calls("local stop", "StopTransaction", transactionId=local["transactionId"], idTag="TAG1",
                            timestamp=T1, meterStop=2000, **reason, **stop_data(version, "2000"))

    # The remote session: the CSMS starts it, the charger starts it, the CSMS stops it by its own id.
    await day.csms_calls("remote start", command["remote start"])
    await day.status("plugged again", plugged)
    remote = await day.charger_calls("remote start", "StartTransaction", connectorId=1, idTag="TAG2",
                                     timestamp=T0, meterStart=2000)
    await day.status("charging again", charging)
    if dialect == "ocpp1.6":
        await day.csms_calls("remote stop", c16.RemoteStopTransaction(transaction_id=remote["transactionId"]))
    else:
        started = await day.upstream_until(
            "TransactionEvent", lambda event: event["transaction_info"].get("remote_start_id") == 7)
        await day.csms_calls("remote stop", c201.RequestStopTransaction(
            transaction_id=started["transaction_info"]["transaction_id"]))
    reason = {} if v15 else {"reason": "Remote"}
    await day.charger_calls("remote stop", "StopTransaction", transactionId=remote["transactionId"],
                            timestamp=T1, meterStop=3000, **reason)
    if not v15:
        await day.status("finishing", "Finishing")
    await day.status("unplugged again", "Available")

    # Configuration, firmware, diagnostics, vendor data.
    await day.csms_calls("change configuration", command["change configuration"])
    await day.csms_calls("get configuration", command["get configuration"])
    await day.csms_calls("update firmware", command["update firmware"])
    await day.charger_calls("firmware downloaded", "FirmwareStatusNotification", status="Downloaded")
    await day.charger_calls("firmware installed", "FirmwareStatusNotification", status="Installed")
    await day.csms_calls("get diagnostics", command["get diagnostics"])
    await day.charger_calls("diagnostics uploaded", "DiagnosticsStatusNotification", status="Uploaded")
    await day.charger_calls("data transfer", "DataTransfer", vendorId="ACME", messageId="ping", data="hello")

    # Connector and charger commands, the reboot after the reset, and a heartbeat that closes the day.
    await day.csms_calls("unlock", command["unlock"])
    await day.csms_calls("change availability", command["change availability"])
    await day.status("unavailable", "Unavailable")
    await day.csms_calls("reset", command["reset"])
    await day.charger_calls("boot after reset", "BootNotification", **boot)
    await day.charger_calls("heartbeat", "Heartbeat")
    await day.upstream_until("Heartbeat")
    return day


@pytest.fixture(params=PAIRS, ids=[f"soap{v}-{d}" for v, d in PAIRS])
async def day(request: pytest.FixtureRequest, csms: Csms, start_gateway: GatewayFactory,
              start_endpoint: EndpointFactory, soap_charger: ChargerFactory) -> Day:
    version, dialect = request.param
    return await live_day(version, dialect, csms, start_gateway, start_endpoint, soap_charger)


def sent_frames_of_type(link: CsmsLink, message_type: int) -> list[list[Any]]:
    return [frame for frame in map(json.loads, link.recorder.sent) if frame[0] == message_type]


async def test_charger_hears_an_answer_to_every_call_of_its_day(day: Day) -> None:
    """Every call of the day is answered in the charger's own version, with what the CSMS decided."""
    interval = "heartbeatInterval" if day.v15 else "interval"
    assert (day.heard["boot"]["status"], day.heard["boot"][interval]) == ("Accepted", 300)
    assert (day.heard["boot after reset"]["status"], day.heard["boot after reset"][interval]) == ("Accepted", 300)
    assert day.heard["authorize"] == {"idTagInfo": {"status": "Accepted"}}
    local, remote = day.heard["local start"], day.heard["remote start"]
    assert local["idTagInfo"] == remote["idTagInfo"] == {"status": "Accepted"}
    assert isinstance(local["transactionId"], int) and remote["transactionId"] > local["transactionId"]
    assert day.heard["data transfer"] == {"status": "Accepted", "data": "pong"}
    assert "currentTime" in day.heard["heartbeat"]


async def test_csms_commands_reach_the_charger_endpoint_in_its_version(day: Day) -> None:
    """The CSMS's commands arrive at the charger's endpoint as its own version's calls, ids in its own terms.

    A 1.5 charger's heartbeat key is HeartBeatInterval (5.6); the remote stop names the transaction id
    the charger was given; a 2.0.1 Immediate reset is a Hard one (4.4).
    """
    heartbeat_key = "HeartBeatInterval" if day.v15 else "HeartbeatInterval"
    received = [(operation, fields) for operation, fields in day.at_endpoint()]
    assert received == [
        ("RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1}),
        ("RemoteStopTransaction", {"transactionId": day.heard["remote start"]["transactionId"]}),
        ("ChangeConfiguration", {"key": heartbeat_key, "value": "120"}),
        ("GetConfiguration", {"key": [heartbeat_key]}),
        ("UpdateFirmware", {"retrieveDate": T0, "location": FIRMWARE_URL}),
        ("GetDiagnostics", {"location": LOG_URL}),
        ("UnlockConnector", {"connectorId": 1}),
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
        ("Reset", {"type": "Soft" if day.dialect == "ocpp1.6" else "Hard"}),
    ]


async def test_csms_hears_the_charger_answers_in_its_dialect(day: Day) -> None:
    """The charger's answers reach the CSMS in its dialect: 1.5 unlock Accepted is Unlocked (5.5), keys renamed."""
    answered = {step: vars(answer) for step, answer in day.answered.items()}
    expected = {"remote start": "Accepted", "remote stop": "Accepted", "unlock": "Unlocked",
                "change availability": "Accepted", "reset": "Accepted"}
    assert {step: answered[step]["status"] for step in expected} == expected
    if day.dialect == "ocpp1.6":
        assert answered["get configuration"]["configuration_key"] == [
            {"key": "HeartbeatInterval", "readonly": False, "value": "120"}]
        assert answered["change configuration"]["status"] == "Accepted"
        assert answered["get diagnostics"]["file_name"] == "diagnostics.zip"
    else:
        [written] = answered["change configuration"]["set_variable_result"]
        [read] = answered["get configuration"]["get_variable_result"]
        assert (written["attribute_status"], read["attribute_status"], read["attribute_value"]) == (
            "Accepted", "Accepted", "120")
        assert (answered["get diagnostics"]["status"], answered["get diagnostics"]["filename"]) == (
            "Accepted", "diagnostics.zip")
        assert answered["update firmware"]["status"] == "Accepted"


async def test_nothing_of_the_day_breaks_a_schema(day: Day) -> None:
    """The charger and its endpoint find nothing against the XSD; the CSMS (JSON schemas) refuses nothing."""
    assert day.charger.violations == []
    assert day.endpoint.violations == []
    assert sent_frames_of_type(day.csms, CALLERROR) == []


def status_16(connector: int, status: str) -> tuple[str, dict[str, Any]]:
    return "StatusNotification", {"connector_id": connector, "error_code": "NoError", "status": status}


def without_timestamp(call: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    # The gateway stamps the statuses it derives itself (5.2) with its own clock.
    action, payload = call
    if action == "StatusNotification":
        payload = {key: value for key, value in payload.items() if key != "timestamp"}
    return action, payload


@pytest.mark.parametrize("version", ["1.5", "1.6"], ids=["soap1.5", "soap1.6"])
async def test_day_reaches_16_csms_as_16_calls(version: str, csms: Csms, start_gateway: GatewayFactory,
                                              start_endpoint: EndpointFactory, soap_charger: ChargerFactory) -> None:
    """A 1.6 CSMS sees the same day from a 1.5 charger as from a 1.6 one (TRANSLATION.md 5.1-5.4).

    1.5 Occupied becomes Preparing before a start, Charging during a transaction (the gateway says so
    itself after the start, and forwards the charger's own Occupied as Charging again), Finishing after
    the stop; the stop reason is inferred: EVDisconnected after Available, Remote after an accepted
    RemoteStopTransaction; `Amp` is `A`, meter values lose the 1.5 wrapper.
    """
    day = await live_day(version, "ocpp1.6", csms, start_gateway, start_endpoint, soap_charger)
    local, remote = day.heard["local start"]["transactionId"], day.heard["remote start"]["transactionId"]
    charging = [status_16(1, "Charging")] * (2 if version == "1.5" else 1)
    boot = ("BootNotification", {"charge_point_vendor": "ACME", "charge_point_model": "Wall-7",
                                 "firmware_version": "1.9"})
    assert [without_timestamp(call) for call in day.upstream] == [
        boot,
        status_16(1, "Available"),
        ("Authorize", {"id_tag": "TAG1"}),
        status_16(1, "Preparing"),
        ("StartTransaction", {"connector_id": 1, "id_tag": "TAG1", "timestamp": T0, "meter_start": 100}),
        *charging,
        ("MeterValues", {"connector_id": 1, "transaction_id": local, "meter_value": [{"timestamp": T0,
                         "sampled_value": [{"value": "1500", "unit": "Wh"},
                                           {"value": "16", "measurand": "Current.Import", "unit": "A"}]}]}),
        status_16(1, "Available"),
        ("StopTransaction", {"transaction_id": local, "id_tag": "TAG1", "timestamp": T1, "meter_stop": 2000,
                             "reason": "EVDisconnected",
                             "transaction_data": [{"timestamp": T1, "sampled_value": [{"value": "2000"}]}]}),
        status_16(1, "Preparing"),
        ("StartTransaction", {"connector_id": 1, "id_tag": "TAG2", "timestamp": T0, "meter_start": 2000}),
        *charging,
        ("StopTransaction", {"transaction_id": remote, "timestamp": T1, "meter_stop": 3000, "reason": "Remote"}),
        status_16(1, "Finishing"),
        status_16(1, "Available"),
        ("FirmwareStatusNotification", {"status": "Downloaded"}),
        ("FirmwareStatusNotification", {"status": "Installed"}),
        ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
        ("DataTransfer", {"vendor_id": "ACME", "message_id": "ping", "data": "hello"}),
        status_16(1, "Unavailable"),
        boot,
        ("Heartbeat", {}),
    ]


def transaction_event(payload: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The parts of a TransactionEvent a test states; transaction ids by name, in order of appearance."""
    info = payload["transaction_info"]
    event = {"event": payload["event_type"], "trigger": payload["trigger_reason"], "seq": payload["seq_no"],
             "tx": names.setdefault(info["transaction_id"], f"tx{len(names) + 1}"),
             "state": info.get("charging_state")}
    for key, name in (("stopped_reason", "stopped"), ("remote_start_id", "remote_start_id")):
        if key in info:
            event[name] = info[key]
    if "id_token" in payload:
        event["token"] = payload["id_token"]
    if "meter_value" in payload:
        event["meter"] = [(sample["value"], sample.get("context"), sample.get("measurand"),
                           sample.get("unit_of_measure", {}).get("unit"))
                          for value in payload["meter_value"] for sample in value["sampled_value"]]
    return event


def status_201(status: str) -> tuple[str, dict[str, Any]]:
    return "StatusNotification", {"connector_status": status, "evse_id": 1, "connector_id": 1}


@pytest.mark.parametrize("version", ["1.5", "1.6"], ids=["soap1.5", "soap1.6"])
async def test_day_reaches_201_csms_as_201_calls(version: str, csms: Csms, start_gateway: GatewayFactory,
                                                start_endpoint: EndpointFactory, soap_charger: ChargerFactory) -> None:
    """A 2.0.1 CSMS sees the same day from a 1.5 charger as from a 1.6 one (TRANSLATION.md 5 then 2-4).

    Statuses are Occupied whatever 1.5 or 1.6 said (table A); each session is one 2.0.1 transaction with
    rising seqNo; the remote one carries remoteStartId 7 and ends RemoteStop/Remote; jobs carry the
    CSMS's requestIds; the boot after the reset says RemoteReset.
    """
    day = await live_day(version, "ocpp2.0.1", csms, start_gateway, start_endpoint, soap_charger)
    names: dict[str, str] = {}
    seen = [
        (action, transaction_event(payload, names)) if action == "TransactionEvent"
        else (action, {key: value for key, value in payload.items() if key != "timestamp"})
        for action, payload in day.upstream
    ]
    station = {"vendor_name": "ACME", "model": "Wall-7", "firmware_version": "1.9"}
    tag1, tag2 = {"id_token": "TAG1", "type": "ISO14443"}, {"id_token": "TAG2", "type": "Central"}
    begin, end = ("Transaction.Begin", "Energy.Active.Import.Register", "Wh"), (
        "Transaction.End", "Energy.Active.Import.Register", "Wh")
    te = "TransactionEvent"
    assert seen == [
        ("BootNotification", {"charging_station": station, "reason": "PowerUp"}),
        status_201("Available"),
        ("Authorize", {"id_token": tag1}),
        status_201("Occupied"),
        (te, {"event": "Started", "trigger": "Authorized", "seq": 0, "tx": "tx1", "state": "EVConnected",
              "token": tag1, "meter": [(100, *begin)]}),
        (te, {"event": "Updated", "trigger": "ChargingStateChanged", "seq": 1, "tx": "tx1", "state": "Charging"}),
        (te, {"event": "Updated", "trigger": "MeterValuePeriodic", "seq": 2, "tx": "tx1", "state": "Charging",
              "meter": [(1500, None, None, "Wh"), (16, None, "Current.Import", "A")]}),
        status_201("Available"),
        (te, {"event": "Updated", "trigger": "ChargingStateChanged", "seq": 3, "tx": "tx1", "state": "Idle"}),
        (te, {"event": "Ended", "trigger": "EVCommunicationLost", "seq": 4, "tx": "tx1", "state": "Idle",
              "stopped": "EVDisconnected", "token": tag1,
              "meter": [(2000, None, None, None), (2000, *end)]}),
        status_201("Occupied"),
        (te, {"event": "Started", "trigger": "RemoteStart", "seq": 0, "tx": "tx2", "state": "EVConnected",
              "remote_start_id": 7, "token": tag2, "meter": [(2000, *begin)]}),
        (te, {"event": "Updated", "trigger": "ChargingStateChanged", "seq": 1, "tx": "tx2", "state": "Charging"}),
        (te, {"event": "Ended", "trigger": "RemoteStop", "seq": 2, "tx": "tx2", "state": "EVConnected",
              "stopped": "Remote", "meter": [(3000, *end)]}),
        status_201("Available"),
        ("FirmwareStatusNotification", {"status": "Downloaded", "request_id": 11}),
        ("FirmwareStatusNotification", {"status": "Installed", "request_id": 11}),
        ("LogStatusNotification", {"status": "Uploaded", "request_id": 12}),
        ("DataTransfer", {"vendor_id": "ACME", "message_id": "ping", "data": "hello"}),
        status_201("Unavailable"),
        ("BootNotification", {"charging_station": station, "reason": "RemoteReset"}),
        ("Heartbeat", {}),
    ]


class BlockingCsms16(DayCsms16):
    """A 1.6 CSMS that starts transactions but answers that the token is blocked."""

    @on("StartTransaction")
    def start_transaction(self, **kw: Any) -> r16.StartTransaction:
        self._record("StartTransaction", kw)
        return r16.StartTransaction(transaction_id=next(self._tx), id_tag_info={"status": "Blocked"})


class BlockingCsms201(DayCsms201):
    """A 2.0.1 CSMS that answers the start of every transaction with a blocked token."""

    @on("TransactionEvent")
    def transaction_event(self, **kw: Any) -> r201.TransactionEvent:
        self._record("TransactionEvent", kw)
        if kw["event_type"] == "Started":
            return r201.TransactionEvent(id_token_info={"status": "Blocked"})
        return r201.TransactionEvent()


async def stop_of_a_15_session(dialect: str, cause: Any, csms: Csms, start_gateway: GatewayFactory,
                               start_endpoint: EndpointFactory, soap_charger: ChargerFactory) -> dict[str, Any]:
    """A 1.5 charger's session on connector 1, `cause` sent by the CSMS (if any), then its StopTransaction.

    Returns what the CSMS received for the stop (1.6 StopTransaction, or 2.0.1 TransactionEvent Ended).
    """
    endpoint = await start_endpoint("1.5")
    gateway = await start_gateway(csms.url, dialect, chargers={"CB1": {}})
    charger = soap_charger("1.5", f"http://127.0.0.1:{gateway.port}/soap", "CB1", endpoint.url)
    day = Day("1.5", dialect, charger, endpoint)
    await day.charger_calls("boot", "BootNotification", chargePointVendor="ACME", chargePointModel="Wall-7")
    day.link = await csms.next_connection()
    await day.status("plugged", "Occupied")
    started = await day.charger_calls("start", "StartTransaction", connectorId=1, idTag="TAG1", timestamp=T0,
                                      meterStart=100)
    if cause is not None:
        await day.csms_calls("cause", cause)
    await day.charger_calls("stop", "StopTransaction", transactionId=started["transactionId"], timestamp=T1,
                            meterStop=900)
    stop = await day.upstream_until("StopTransaction" if dialect == "ocpp1.6" else "TransactionEvent",
                                    lambda payload: payload.get("event_type", "Ended") == "Ended")
    assert charger.violations == [] and endpoint.violations == []
    return stop


@pytest.mark.parametrize(("cause", "reason"), [
    (None, None),
    (c16.Reset(type="Soft"), "SoftReset"),
    (c16.Reset(type="Hard"), "HardReset"),
    (c16.UnlockConnector(connector_id=1), "UnlockCommand"),
], ids=["nothing", "Reset-Soft", "Reset-Hard", "UnlockConnector"])
async def test_15_stop_reason_at_16_csms_is_what_the_gateway_forwarded(
    cause: Any, reason: str | None, csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """A 1.5 StopTransaction gets the reason of the command the charger accepted just before; none if none (5.4)."""
    use_day_handlers(csms)
    stop = await stop_of_a_15_session("ocpp1.6", cause, csms, start_gateway, start_endpoint, soap_charger)
    assert stop.get("reason") == reason


async def test_15_stop_after_a_blocked_start_is_deauthorized_at_16_csms(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """A 1.5 transaction whose start the CSMS answered Blocked ends DeAuthorized (5.4)."""
    csms.cp16_class = BlockingCsms16
    stop = await stop_of_a_15_session("ocpp1.6", None, csms, start_gateway, start_endpoint, soap_charger)
    assert stop["reason"] == "DeAuthorized"


@pytest.mark.parametrize(("cause", "trigger", "stopped"), [
    (None, "StopAuthorized", "Local"),
    (c201.Reset(type="Immediate"), "ResetCommand", "ImmediateReset"),
], ids=["nothing", "Reset-Immediate"])
async def test_15_stop_reason_at_201_csms_is_what_the_gateway_forwarded(
    cause: Any, trigger: str, stopped: str, csms: Csms, start_gateway: GatewayFactory,
    start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
) -> None:
    """Through both translations the inferred 1.5 reason becomes 2.0.1 stoppedReason and triggerReason (5.4, 3.3.5)."""
    use_day_handlers(csms)
    ended = await stop_of_a_15_session("ocpp2.0.1", cause, csms, start_gateway, start_endpoint, soap_charger)
    assert (ended["trigger_reason"], ended["transaction_info"]["stopped_reason"]) == (trigger, stopped)


async def test_15_stop_after_a_blocked_start_is_deauthorized_at_201_csms(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """A 1.5 transaction whose start a 2.0.1 CSMS answered Blocked ends DeAuthorized there (5.4, 3.3.5)."""
    csms.cp201_class = BlockingCsms201
    ended = await stop_of_a_15_session("ocpp2.0.1", None, csms, start_gateway, start_endpoint, soap_charger)
    assert ended["transaction_info"]["stopped_reason"] == "DeAuthorized"
