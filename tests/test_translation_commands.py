"""Stateful CSMS commands end to end (TRANSLATION.md 4.4-4.6, 4.10, 4.14, 4.15, 2.10), `ocpp` peers on both sides."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.app import Gateway
from gateway.store import open_store
from tests.conftest import GatewayFactory, charger_url
from tests.peers import Charger, ChargerCp16, ChargerCp201, Csms, CsmsLink, Recorder, connect_charger, now

ENERGY = "Energy.Active.Import.Register"


class LocklessCharger16(ChargerCp16):
    """A 1.6 charger without a connector lock."""

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> r16.UnlockConnector:
        self._record("UnlockConnector", kw)
        return r16.UnlockConnector(status="NotSupported")


class PickyCharger16(ChargerCp16):
    """A 1.6 charger that refuses to change the availability of connector 2."""

    @on("ChangeAvailability")
    def change_availability(self, **kw: Any) -> r16.ChangeAvailability:
        self._record("ChangeAvailability", kw)
        return r16.ChangeAvailability(status="Rejected" if kw["connector_id"] == 2 else "Accepted")


class OneConnectorStation(ChargerCp201):
    """A 2.0.1 station that knows no connector it is asked to unlock."""

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> r201.UnlockConnector:
        self._record("UnlockConnector", kw)
        return r201.UnlockConnector(status="UnknownConnector")


class ObedientCharger16(ChargerCp16):
    """A 1.6 charger that, having accepted a TriggerMessage, sends what it asks for, as a real one does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statuses: dict[int, str] = {}

    async def report(self, connector_id: int, status: str) -> None:
        self.statuses[connector_id] = status
        await self.call(c16.StatusNotification(connector_id=connector_id, error_code="NoError", status=status,
                                               timestamp=now()))

    async def boot(self) -> None:
        await self.call(c16.BootNotification(charge_point_vendor="ACME", charge_point_model="Wall-7"))

    @after("TriggerMessage")
    async def send_triggered(self, requested_message: str, connector_id: int | None = None, **_: Any) -> None:
        # Sent after the answer, without waiting for the CSMS to hear it: the gateway sees both back to back.
        if requested_message == "BootNotification":
            await self.boot()
        elif requested_message == "StatusNotification":
            for number in [connector_id] if connector_id is not None else sorted(self.statuses):
                await self.report(number, self.statuses[number])


async def connect_as(gateway: Gateway, charge_box_id: str, cls: type[ChargerCp16] | type[ChargerCp201]) -> Charger:
    """Connect a charger whose answers a subclass of the standard test peer decides."""
    subprotocol = "ocpp2.0.1" if issubclass(cls, ChargerCp201) else "ocpp1.6"
    ws = await connect(f"{charger_url(gateway)}/{charge_box_id}", subprotocols=[subprotocol],  # type: ignore[list-item]
                       open_timeout=10)
    recorder = Recorder(ws)
    cp = cls(charge_box_id, recorder, response_timeout=10)

    async def serve() -> None:
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    return Charger(cp, ws, recorder, asyncio.create_task(serve()))


@dataclass
class Pair:
    charger: Charger
    link: CsmsLink


@pytest.fixture
async def c16_u201(csms: Csms, start_gateway: GatewayFactory) -> AsyncIterator[Pair]:
    """A 1.6 charger (connectors 1, 2 on EVSE 1; 3 on EVSE 2) behind a 2.0.1 CSMS."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1", chargers={"CB16": {"topology": [[1, 1], [1, 2], [2, 1]]}})
    charger = await connect_charger(charger_url(gateway), "CB16", "ocpp1.6")
    pair = Pair(charger, await csms.next_connection())
    yield pair
    await charger.close()


@pytest.fixture
async def obedient16(csms: Csms, start_gateway: GatewayFactory) -> AsyncIterator[tuple[ObedientCharger16, CsmsLink]]:
    """A 1.6 charger that does what it is triggered to do, behind a 2.0.1 CSMS: (its ChargePoint, the CSMS's link)."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_as(gateway, "CB16", ObedientCharger16)
    assert isinstance(charger.cp, ObedientCharger16)
    yield charger.cp, await csms.next_connection()
    await charger.close()


@pytest.fixture
async def c201_u16(csms: Csms, start_gateway: GatewayFactory) -> AsyncIterator[Pair]:
    """A 2.0.1 station behind a 1.6 CSMS."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    pair = Pair(charger, await csms.next_connection())
    yield pair
    await charger.close()


async def start_16_transaction(pair: Pair, connector_id: int = 1) -> tuple[int, str]:
    """Start a transaction on the 1.6 charger: (its 1.6 id, its 2.0.1 id as the CSMS saw it)."""
    started = await pair.charger.cp.call(c16.StartTransaction(connector_id=connector_id, id_tag="T1", meter_start=0,
                                                              timestamp=now()))
    _, event = await pair.link.next_call()
    return started.transaction_id, event["transaction_info"]["transaction_id"]


# ---- 2.0.1 CSMS, 1.6 charger -----------------------------------------------------------------


async def test_unlock_reaches_the_16_charger(c16_u201: Pair) -> None:
    """UnlockConnector(EVSE 1, connector 2) unlocks 1.6 connector 2 and Unlocked returns."""
    answer = await c16_u201.link.cp.call(c201.UnlockConnector(evse_id=1, connector_id=2))
    assert await c16_u201.charger.next_command() == ("UnlockConnector", {"connector_id": 2})
    assert answer.status == "Unlocked"


async def test_unlock_during_a_16_transaction_is_refused_without_asking_the_charger(c16_u201: Pair) -> None:
    """While a transaction runs on the connector the CSMS hears OngoingAuthorizedTransaction; the charger nothing."""
    await start_16_transaction(c16_u201)
    answer = await c16_u201.link.cp.call(c201.UnlockConnector(evse_id=1, connector_id=1))
    assert answer.status == "OngoingAuthorizedTransaction"
    assert c16_u201.charger.cp.commands.empty()


async def test_unlock_of_a_lockless_16_charger_fails_with_reason(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A 1.6 NotSupported reaches the 2.0.1 CSMS as UnlockFailed with reasonCode NotSupported."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_as(gateway, "CB16", LocklessCharger16)
    link = await csms.next_connection()
    answer = await link.cp.call(c201.UnlockConnector(evse_id=1, connector_id=1))
    assert (answer.status, answer.status_info) == ("UnlockFailed", {"reason_code": "NotSupported"})
    await charger.close()


async def test_reset_on_idle_of_an_idle_charger_is_a_soft_reset(c16_u201: Pair) -> None:
    """Reset OnIdle with no transaction running reaches the charger at once as Reset Soft."""
    answer = await c16_u201.link.cp.call(c201.Reset(type="OnIdle"))
    assert await c16_u201.charger.next_command() == ("Reset", {"type": "Soft"})
    assert answer.status == "Accepted"


async def test_reset_on_idle_during_a_transaction_is_scheduled(c16_u201: Pair) -> None:
    """Reset OnIdle while a transaction runs is answered Scheduled and not sent to the charger yet."""
    await start_16_transaction(c16_u201)
    answer = await c16_u201.link.cp.call(c201.Reset(type="OnIdle"))
    assert answer.status == "Scheduled"
    assert c16_u201.charger.cp.commands.empty()


async def test_scheduled_reset_follows_the_last_stop(c16_u201: Pair) -> None:
    """Once the last transaction has stopped, the scheduled reset reaches the charger as Reset Soft."""
    id16, _ = await start_16_transaction(c16_u201)
    await c16_u201.link.cp.call(c201.Reset(type="OnIdle"))
    await c16_u201.charger.cp.call(c16.StopTransaction(transaction_id=id16, meter_stop=10, timestamp=now()))
    assert await c16_u201.charger.next_command(timeout=2) == ("Reset", {"type": "Soft"})


async def test_change_availability_of_an_evse_reaches_each_16_connector(c16_u201: Pair) -> None:
    """ChangeAvailability of EVSE 1 becomes one call per 1.6 connector of it; all Accepted -> Accepted."""
    answer = await c16_u201.link.cp.call(c201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}))
    commands = [await c16_u201.charger.next_command() for _ in range(2)]
    assert commands == [("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
                        ("ChangeAvailability", {"connector_id": 2, "type": "Inoperative"})]
    assert answer.status == "Accepted"


async def test_change_availability_refused_on_one_connector_is_rejected(csms: Csms,
                                                                        start_gateway: GatewayFactory) -> None:
    """When one connector of the EVSE refuses, the combined answer is Rejected."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1", chargers={"CB16": {"topology": [[1, 1], [1, 2]]}})
    charger = await connect_as(gateway, "CB16", PickyCharger16)
    link = await csms.next_connection()
    answer = await link.cp.call(c201.ChangeAvailability(operational_status="Operative", evse={"id": 1}))
    assert answer.status == "Rejected"
    await charger.close()


async def test_triggered_transaction_event_comes_back_as_a_triggered_update(c16_u201: Pair) -> None:
    """TriggerMessage TransactionEvent asks the transaction's connector for MeterValues, which return as an Updated."""
    id16, id201 = await start_16_transaction(c16_u201, connector_id=3)
    answer = await c16_u201.link.cp.call(c201.TriggerMessage(requested_message="TransactionEvent", evse={"id": 2}))
    assert await c16_u201.charger.next_command() == ("TriggerMessage",
                                                     {"requested_message": "MeterValues", "connector_id": 3})
    assert answer.status == "Accepted"
    await c16_u201.charger.cp.call(c16.MeterValues(connector_id=3, transaction_id=id16, meter_value=[
        {"timestamp": now(), "sampled_value": [{"value": "42", "context": "Trigger", "measurand": ENERGY}]}]))
    action, event = await c16_u201.link.next_call()
    assert (action, event["trigger_reason"], event["transaction_info"]["transaction_id"]) == (
        "TransactionEvent", "Trigger", id201)


async def test_triggered_transaction_event_without_transaction_is_rejected(c16_u201: Pair) -> None:
    """TriggerMessage TransactionEvent with no transaction open is Rejected without asking the charger."""
    answer = await c16_u201.link.cp.call(c201.TriggerMessage(requested_message="TransactionEvent"))
    assert answer.status == "Rejected"
    assert c16_u201.charger.cp.commands.empty()


async def test_triggered_boot_reaches_the_201_csms_as_triggered(
        obedient16: tuple[ObedientCharger16, CsmsLink]) -> None:
    """The BootNotification a 2.0.1 CSMS triggered from a 1.6 charger carries reason Triggered (2.2 rule 1)."""
    _, link = obedient16
    answer = await link.cp.call(c201.TriggerMessage(requested_message="BootNotification"))
    assert answer.status == "Accepted"
    action, payload = await link.next_call()
    assert (action, payload["reason"]) == ("BootNotification", "Triggered")


async def test_reboot_after_the_triggered_boot_keeps_its_own_reason(
        obedient16: tuple[ObedientCharger16, CsmsLink]) -> None:
    """The trigger is used up by its boot: a later reboot after a Reset says RemoteReset, not Triggered."""
    charger, link = obedient16
    await link.cp.call(c201.TriggerMessage(requested_message="BootNotification"))
    assert (await link.next_call())[1]["reason"] == "Triggered"
    assert (await link.cp.call(c201.Reset(type="Immediate"))).status == "Accepted"
    await charger.boot()
    action, payload = await link.next_call()
    assert (action, payload["reason"]) == ("BootNotification", "RemoteReset")


async def test_triggered_unchanged_status_reaches_the_201_csms(
        obedient16: tuple[ObedientCharger16, CsmsLink]) -> None:
    """A triggered StatusNotification is forwarded although its connectorStatus did not change (4.10)."""
    charger, link = obedient16
    await charger.report(1, "Available")
    assert (await link.next_call())[1]["connector_status"] == "Available"
    answer = await link.cp.call(c201.TriggerMessage(requested_message="StatusNotification",
                                                    evse={"id": 1, "connector_id": 1}))
    assert answer.status == "Accepted"
    action, payload = await link.next_call()
    assert (action, payload["connector_status"], payload["evse_id"], payload["connector_id"]) == (
        "StatusNotification", "Available", 1, 1)


async def test_untriggered_unchanged_status_is_still_deduplicated(
        obedient16: tuple[ObedientCharger16, CsmsLink]) -> None:
    """After the triggered status, an unchanged one is answered by the gateway: the CSMS next hears the change."""
    charger, link = obedient16
    await charger.report(1, "Available")
    await link.next_call()
    await link.cp.call(c201.TriggerMessage(requested_message="StatusNotification", evse={"id": 1, "connector_id": 1}))
    assert (await link.next_call())[1]["connector_status"] == "Available"
    await charger.report(1, "Available")
    await charger.report(1, "Preparing")
    action, payload = await link.next_call()
    assert (action, payload["connector_status"]) == ("StatusNotification", "Occupied")


async def test_transaction_status_follows_the_16_transaction(c16_u201: Pair) -> None:
    """GetTransactionStatus says ongoing while the 1.6 transaction runs and not after its stop."""
    id16, id201 = await start_16_transaction(c16_u201)
    running = await c16_u201.link.cp.call(c201.GetTransactionStatus(transaction_id=id201))
    await c16_u201.charger.cp.call(c16.StopTransaction(transaction_id=id16, meter_stop=10, timestamp=now()))
    await c16_u201.link.next_call()
    ended = await c16_u201.link.cp.call(c201.GetTransactionStatus(transaction_id=id201))
    assert [(s.ongoing_indicator, s.messages_in_queue) for s in (running, ended)] == [(True, False), (False, False)]


async def test_charging_profiles_query_answers_no_profiles(c16_u201: Pair) -> None:
    """GetChargingProfiles is answered NoProfiles by the gateway; the charger is not asked."""
    answer = await c16_u201.link.cp.call(c201.GetChargingProfiles(
        request_id=1, charging_profile={"charging_profile_purpose": "TxDefaultProfile"}))
    assert answer.status == "NoProfiles"
    assert c16_u201.charger.cp.commands.empty()


async def test_installed_certificate_ids_without_security_extension_is_not_supported(c16_u201: Pair) -> None:
    """GetInstalledCertificateIds toward a 1.6 charger without the security extension is CALLERROR NotSupported."""
    with pytest.raises(NotSupportedError):
        await c16_u201.link.cp.call(c201.GetInstalledCertificateIds(), suppress=False)
    assert c16_u201.charger.cp.commands.empty()


# ---- 1.6 CSMS, 2.0.1 station -----------------------------------------------------------------


async def test_unlock_reaches_the_201_station(c201_u16: Pair) -> None:
    """UnlockConnector connector 1 reaches the station as EVSE 1, connector 1, and Unlocked returns."""
    answer = await c201_u16.link.cp.call(c16.UnlockConnector(connector_id=1))
    assert await c201_u16.charger.next_command() == ("UnlockConnector", {"evse_id": 1, "connector_id": 1})
    assert answer.status == "Unlocked"


async def test_unknown_201_connector_is_not_supported_for_16(csms: Csms, start_gateway: GatewayFactory) -> None:
    """The station's UnknownConnector reaches the 1.6 CSMS as NotSupported."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_as(gateway, "CS201", OneConnectorStation)
    link = await csms.next_connection()
    answer = await link.cp.call(c16.UnlockConnector(connector_id=2))
    assert answer.status == "NotSupported"
    await charger.close()


async def seed_201_transaction(tmp_path: Path, charge_box_id: str) -> None:
    """Store an active 2.0.1 transaction on EVSE 1 as the transaction engine (record201.save) leaves it."""
    store = await open_store(str(tmp_path / "state.sqlite"))
    await store.set_value(charge_box_id, "tr.tx", {
        "records201": {"st-1": {"id201": "st-1", "evse": {"id": 1, "connectorId": 1}, "connector16": 1,
                                "state": "active16", "upstream16": 1001}},
        "records": {"201:st-1": {"id201": "st-1", "upstream16": 1001, "connector16": 1, "state": "active"}}})
    await store.close()


async def test_unlock_stops_the_201_transaction_first(csms: Csms, start_gateway: GatewayFactory,
                                                      tmp_path: Path) -> None:
    """With a transaction open on the EVSE the station is asked to stop it, then to unlock."""
    await seed_201_transaction(tmp_path, "CS201")
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    answer = await link.cp.call(c16.UnlockConnector(connector_id=1))
    assert [await charger.next_command() for _ in range(2)] == [
        ("RequestStopTransaction", {"transaction_id": "st-1"}), ("UnlockConnector", {"evse_id": 1, "connector_id": 1})]
    assert answer.status == "Unlocked"
    await charger.close()


async def test_meter_values_trigger_during_a_transaction_asks_for_a_transaction_event(
        csms: Csms, start_gateway: GatewayFactory, tmp_path: Path) -> None:
    """TriggerMessage MeterValues on a connector with a 1.6 transaction asks the station for a TransactionEvent."""
    await seed_201_transaction(tmp_path, "CS201")
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    answer = await link.cp.call(c16.TriggerMessage(requested_message="MeterValues", connector_id=1))
    assert await charger.next_command() == (
        "TriggerMessage", {"requested_message": "TransactionEvent", "evse": {"id": 1, "connector_id": 1}})
    assert answer.status == "Accepted"
    await charger.close()


async def test_station_status_trigger_is_answered_and_reported(c201_u16: Pair) -> None:
    """TriggerMessage StatusNotification for connector 0 is Accepted, then a connector-0 status reaches the CSMS."""
    answer = await c201_u16.link.cp.call(c16.TriggerMessage(requested_message="StatusNotification", connector_id=0))
    action, status = await c201_u16.link.next_call()
    assert answer.status == "Accepted"
    assert (action, status["connector_id"], status["status"], status["error_code"]) == (
        "StatusNotification", 0, "Available", "NoError")
    assert c201_u16.charger.cp.commands.empty()
