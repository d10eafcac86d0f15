"""A 2.0.1 station behind a 1.6 CSMS: the `ocpp` package plays both, the gateway translates (TRANSLATION.md 3.4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from gateway.app import Gateway
from gateway.config import load_config
from tests.conftest import GatewayFactory, charger_url, write_config
from tests.peers import Charger, Csms, CsmsLink, connect_charger

ENERGY = "Energy.Active.Import.Register"
T = [f"2026-11-22T10:0{i}:00Z" for i in range(10)]


@dataclass
class Pair:
    charger: Charger
    link: CsmsLink


@pytest.fixture
async def pair(csms: Csms, start_gateway: GatewayFactory) -> AsyncIterator[Pair]:
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    yield Pair(charger, link)
    await charger.close()


def status(connector_status: str, ts: str) -> c201.StatusNotification:
    return c201.StatusNotification(timestamp=ts, connector_status=connector_status, evse_id=1, connector_id=1)


def tx_event(event_type: str, seq_no: int, trigger: str, ts: str, *, tx: str = "a1f3", charging: str | None = None,
             token: str | None = None, meter: list[dict[str, Any]] | None = None, **info: Any) -> c201.TransactionEvent:
    """A TransactionEvent of transaction `tx` on EVSE 1, connector 1."""
    transaction_info: dict[str, Any] = {"transaction_id": tx, **info}
    if charging is not None:
        transaction_info["charging_state"] = charging
    return c201.TransactionEvent(
        event_type=event_type, timestamp=ts, trigger_reason=trigger, seq_no=seq_no,
        transaction_info=transaction_info, evse={"id": 1, "connector_id": 1},
        id_token={"id_token": token, "type": "ISO14443"} if token else None,
        meter_value=[{"timestamp": ts, "sampled_value": meter}] if meter else None)


def sample(value: float, context: str | None = None, measurand: str = ENERGY, unit: str = "Wh") -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "measurand": measurand, "unit_of_measure": {"unit": unit}}
    if context:
        out["context"] = context
    return out


async def next_status(link: CsmsLink) -> tuple[int, str, str]:
    action, payload = await link.next_call()
    assert action == "StatusNotification"
    return payload["connector_id"], payload["status"], payload["error_code"]


async def test_session_a_reaches_the_16_csms_step_by_step(pair: Pair) -> None:
    """TRANSLATION.md 3.6 session A: plug-in, authorize, charge, meter, stop, unplug as a 1.6 CSMS sees them."""
    cp, link = pair.charger.cp, pair.link
    await cp.call(status("Occupied", T[1]))
    assert await next_status(link) == (1, "Preparing", "NoError")
    answer = await cp.call(tx_event("Started", 0, "CablePluggedIn", T[2], charging="EVConnected",
                                    meter=[sample(1520, "Transaction.Begin")]))
    assert answer.id_token_info is None and link.cp.calls.empty()
    authorized = await cp.call(c201.Authorize(id_token={"id_token": "04A1B2C3", "type": "ISO14443"}))
    assert await link.next_call() == ("Authorize", {"id_tag": "04A1B2C3"})
    assert authorized.id_token_info == {"status": "Accepted"}
    answer = await cp.call(tx_event("Updated", 1, "Authorized", T[4], token="04A1B2C3", charging="EVConnected"))
    assert await link.next_call() == ("StartTransaction", {"connector_id": 1, "id_tag": "04A1B2C3",
                                                           "meter_start": 1520, "timestamp": T[4]})
    assert answer.id_token_info == {"status": "Accepted"}
    await cp.call(tx_event("Updated", 2, "ChargingStateChanged", T[5], charging="Charging"))
    assert await next_status(link) == (1, "Charging", "NoError")
    await cp.call(tx_event("Updated", 3, "MeterValuePeriodic", T[6], meter=[
        sample(2010, "Sample.Periodic"), sample(7200, "Sample.Periodic", "Power.Active.Import", "W")]))
    assert await link.next_call() == ("MeterValues", {"connector_id": 1, "transaction_id": 1001, "meter_value": [
        {"timestamp": T[6], "sampled_value": [
            {"value": "2010", "context": "Sample.Periodic", "measurand": ENERGY, "unit": "Wh"},
            {"value": "7200", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"}]}]})
    answer = await cp.call(tx_event("Ended", 4, "StopAuthorized", T[7], token="04A1B2C3", charging="EVConnected",
                                    stopped_reason="Local", meter=[sample(9876, "Transaction.End")]))
    assert await link.next_call() == ("StopTransaction", {
        "transaction_id": 1001, "id_tag": "04A1B2C3", "meter_stop": 9876, "timestamp": T[7], "reason": "Local",
        "transaction_data": [{"timestamp": T[7], "sampled_value": [
            {"value": "9876", "context": "Transaction.End", "measurand": ENERGY, "unit": "Wh"}]}]})
    assert await next_status(link) == (1, "Finishing", "NoError")
    assert answer.id_token_info == {"status": "Accepted"}
    await cp.call(status("Available", T[8]))
    assert await next_status(link) == (1, "Available", "NoError")
    assert link.cp.calls.empty()


async def test_remote_start_becomes_a_16_start_transaction(pair: Pair) -> None:
    """RemoteStartTransaction reaches the station; its Started(RemoteStart) event becomes StartTransaction."""
    answer = await pair.link.cp.call(c16.RemoteStartTransaction(id_tag="APP1", connector_id=1))
    action, request = await pair.charger.next_command()
    assert (action, request["id_token"], request["evse_id"], answer.status) == (
        "RequestStartTransaction", {"id_token": "APP1", "type": "ISO14443"}, 1, "Accepted")
    reply = await pair.charger.cp.call(tx_event(
        "Started", 0, "RemoteStart", T[1], tx="r-1", token="APP1", charging="EVConnected",
        remote_start_id=request["remote_start_id"], meter=[sample(0, "Transaction.Begin")]))
    assert await pair.link.next_call() == ("StartTransaction", {"connector_id": 1, "id_tag": "APP1",
                                                                "meter_start": 0, "timestamp": T[1]})
    assert reply.id_token_info == {"status": "Accepted"}


async def test_remote_stop_reaches_the_station_with_its_own_id(pair: Pair) -> None:
    """RemoteStopTransaction with the CSMS's int becomes RequestStopTransaction with the station's string id."""
    await pair.charger.cp.call(tx_event("Started", 0, "Authorized", T[1], tx="st-9", token="T1", charging="Charging"))
    _, start = await pair.link.next_call()
    answer = await pair.link.cp.call(c16.RemoteStopTransaction(transaction_id=1001))
    assert await pair.charger.next_command() == ("RequestStopTransaction", {"transaction_id": "st-9"})
    assert (start["connector_id"], answer.status) == (1, "Accepted")


async def test_station_availability_becomes_connector_0_status(pair: Pair) -> None:
    """NotifyEvent ChargingStation.AvailabilityState Unavailable becomes StatusNotification connector 0."""
    answer = await pair.charger.cp.call(c201.NotifyEvent(generated_at=T[1], seq_no=0, event_data=[{
        "event_id": 1, "timestamp": T[1], "trigger": "Delta", "actual_value": "Unavailable",
        "event_notification_type": "HardWiredNotification", "component": {"name": "ChargingStation"},
        "variable": {"name": "AvailabilityState"}}]))
    assert await next_status(pair.link) == (0, "Unavailable", "NoError")
    assert answer is not None


async def test_gateway_restart_mid_transaction_keeps_the_16_id(csms: Csms, tmp_path: Path) -> None:
    """After a gateway restart the station's transaction continues under the CSMS's id; a retry is absorbed."""
    path = write_config(tmp_path, csms.url, "ocpp1.6")
    first = Gateway(load_config(path))
    await first.start()
    charger = await connect_charger(charger_url(first), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    started = tx_event("Started", 0, "Authorized", T[1], token="T1", charging="Charging",
                       meter=[sample(100, "Transaction.Begin")])
    await charger.cp.call(started)
    assert (await link.next_call())[0] == "StartTransaction"
    await charger.close()
    await first.stop()
    second = Gateway(load_config(path))
    await second.start()
    try:
        charger = await connect_charger(charger_url(second), "CS201", "ocpp2.0.1")
        link = await csms.next_connection()
        await charger.cp.call(started)  # the station retries an event it is unsure about: nothing is resent
        await charger.cp.call(tx_event("Ended", 1, "StopAuthorized", T[3], meter=[sample(600, "Transaction.End")]))
        action, stop = await link.next_call()
        assert (action, stop["transaction_id"], stop["meter_stop"], stop["reason"]) == (
            "StopTransaction", 1001, 600, "Local")
        await charger.close()
    finally:
        await second.stop()
