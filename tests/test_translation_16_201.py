"""A 1.6 charger behind a 2.0.1 CSMS: the `ocpp` package plays both, the gateway translates (TRANSLATION.md 2-4)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from gateway.app import Gateway
from gateway.config import load_config
from tests.conftest import REPO, GatewayFactory, charger_url, free_port, wait_healthy, write_config
from tests.peers import Charger, Csms, CsmsLink, connect_charger, now


@dataclass
class Pair:
    gateway: Gateway
    charger: Charger
    link: CsmsLink


@pytest.fixture
async def pair(csms: Csms, start_gateway: GatewayFactory) -> AsyncIterator[Pair]:
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_charger(charger_url(gateway), "CB16", "ocpp1.6")
    link = await csms.next_connection()
    yield Pair(gateway, charger, link)
    await charger.close()


async def test_boot_notification_reaches_201_csms_and_answer_returns(pair: Pair) -> None:
    """A 1.6 BootNotification reaches the CSMS as a 2.0.1 one (reason PowerUp) and its answer returns."""
    reply = await pair.charger.cp.call(c16.BootNotification(
        charge_point_vendor="ACME", charge_point_model="Wall-7", charge_point_serial_number="SN1",
        firmware_version="1.2.3", iccid="8931", meter_type="M1"))
    action, payload = await pair.link.next_call()
    assert action == "BootNotification"
    assert payload == {"charging_station": {"vendor_name": "ACME", "model": "Wall-7", "serial_number": "SN1",
                                            "firmware_version": "1.2.3", "modem": {"iccid": "8931"}},
                       "reason": "PowerUp"}
    assert (reply.status, reply.interval) == ("Accepted", 300)


async def test_authorize_carries_id_token_type_and_answer(pair: Pair) -> None:
    """Authorize's idTag becomes an ISO14443 idToken; idTokenInfo comes back as idTagInfo."""
    reply = await pair.charger.cp.call(c16.Authorize(id_tag="04A1B2C3"))
    assert await pair.link.next_call() == ("Authorize", {"id_token": {"id_token": "04A1B2C3", "type": "ISO14443"}})
    assert reply.id_tag_info == {"status": "Accepted"}


async def test_status_changes_are_sent_once_per_connector_status(pair: Pair) -> None:
    """Preparing and Charging are both Occupied in 2.0.1: only the first change reaches the CSMS."""
    cp = pair.charger.cp
    for status in ("Available", "Preparing", "Charging"):
        await cp.call(c16.StatusNotification(connector_id=1, error_code="NoError", status=status, timestamp=now()))
    sent = [await pair.link.next_call(), await pair.link.next_call()]
    assert [(a, p["connector_status"], p["evse_id"], p["connector_id"]) for a, p in sent] == [
        ("StatusNotification", "Available", 1, 1), ("StatusNotification", "Occupied", 1, 1)]
    assert pair.link.cp.calls.empty()


async def test_local_transaction_becomes_transaction_events_with_rising_seq_no(pair: Pair) -> None:
    """Start, meter values and stop become TransactionEvent Started/Updated/Ended under one 2.0.1 id."""
    cp = pair.charger.cp
    started = await cp.call(c16.StartTransaction(connector_id=1, id_tag="04A1B2C3", meter_start=1520,
                                                 timestamp="2026-11-22T10:00:00Z"))
    assert isinstance(started.transaction_id, int) and started.id_tag_info == {"status": "Accepted"}
    await cp.call(c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
        {"timestamp": "2026-11-22T10:05:00Z",
         "sampled_value": [{"value": "2010", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
    stopped = await cp.call(c16.StopTransaction(transaction_id=started.transaction_id, meter_stop=9876,
                                                timestamp="2026-11-22T10:30:00Z", id_tag="04A1B2C3"))
    events = [(await pair.link.next_call())[1] for _ in range(3)]
    assert [(e["event_type"], e["seq_no"], e["trigger_reason"]) for e in events] == [
        ("Started", 0, "Authorized"), ("Updated", 1, "MeterValuePeriodic"), ("Ended", 2, "StopAuthorized")]
    assert len({e["transaction_info"]["transaction_id"] for e in events}) == 1
    assert events[0]["meter_value"][0]["sampled_value"][0] == {
        "value": 1520, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": "Wh"}}
    assert events[0]["id_token"] == {"id_token": "04A1B2C3", "type": "ISO14443"}
    assert events[1]["meter_value"][0]["sampled_value"][0]["value"] == 2010
    assert events[2]["transaction_info"]["stopped_reason"] == "Local"
    assert stopped.id_tag_info == {"status": "Accepted"}


async def test_retransmitted_start_transaction_gets_the_same_id(pair: Pair) -> None:
    """A StartTransaction the charger repeats (it missed the answer) is one transaction, not two."""
    request = c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0, timestamp="2026-11-22T10:00:00Z")
    first = await pair.charger.cp.call(request)
    second = await pair.charger.cp.call(request)
    assert first.transaction_id == second.transaction_id
    await pair.link.next_call()
    assert pair.link.cp.calls.empty()


async def test_remote_start_carries_remote_start_id_into_the_transaction(pair: Pair) -> None:
    """RequestStartTransaction reaches the charger as RemoteStartTransaction; its start says RemoteStart."""
    answer = await pair.link.cp.call(c201.RequestStartTransaction(
        id_token={"id_token": "APP-USER-1", "type": "Central"}, remote_start_id=42, evse_id=1))
    action, command = await pair.charger.next_command()
    assert (action, command["id_tag"], command.get("connector_id"), answer.status) == (
        "RemoteStartTransaction", "APP-USER-1", 1, "Accepted")
    await pair.charger.cp.call(c16.StartTransaction(connector_id=1, id_tag="APP-USER-1", meter_start=0,
                                                    timestamp=now()))
    _, event = await pair.link.next_call()
    assert (event["trigger_reason"], event["transaction_info"]["remote_start_id"]) == ("RemoteStart", 42)
    assert event["id_token"] == {"id_token": "APP-USER-1", "type": "Central"}


async def test_request_stop_names_the_charger_transaction(pair: Pair) -> None:
    """RequestStopTransaction with the 2.0.1 id reaches the charger as RemoteStopTransaction with its own id."""
    started = await pair.charger.cp.call(c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0,
                                                              timestamp=now()))
    _, event = await pair.link.next_call()
    answer = await pair.link.cp.call(c201.RequestStopTransaction(
        transaction_id=event["transaction_info"]["transaction_id"]))
    assert await pair.charger.next_command() == ("RemoteStopTransaction",
                                                 {"transaction_id": started.transaction_id})
    assert answer.status == "Accepted"


async def test_request_stop_of_unknown_transaction_is_rejected_locally(pair: Pair) -> None:
    """A stop for a transaction the gateway does not know is refused in-band and never reaches the charger."""
    answer = await pair.link.cp.call(c201.RequestStopTransaction(transaction_id="no-such-transaction"))
    assert answer.status == "Rejected"
    assert pair.charger.cp.commands.empty()


@pytest.mark.parametrize(
    ("request_201", "expected_16"),
    [
        (c201.Reset(type="Immediate"), ("Reset", {"type": "Hard"})),
        (c201.ChangeAvailability(operational_status="Inoperative"),
         ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"})),
        (c201.UnlockConnector(evse_id=1, connector_id=1), ("UnlockConnector", {"connector_id": 1})),
        (c201.TriggerMessage(requested_message="Heartbeat"), ("TriggerMessage", {"requested_message": "Heartbeat"})),
        (c201.DataTransfer(vendor_id="ACME", message_id="ping", data={"a": 1}),
         ("DataTransfer", {"vendor_id": "ACME", "message_id": "ping", "data": '{"a":1}'})),
    ],
)
async def test_csms_command_reaches_the_16_charger(pair: Pair, request_201: object, expected_16: object) -> None:
    """A 2.0.1 CSMS command arrives at the 1.6 charger in its 1.6 form, and the answer goes back schema-valid."""
    answer = await pair.link.cp.call(request_201, suppress=False)
    assert await pair.charger.next_command() == expected_16
    assert answer is not None


async def test_gateway_restart_mid_transaction_keeps_ids_and_seq_no(csms: Csms, tmp_path: Path) -> None:
    """After a gateway restart the same transaction continues upstream with its 2.0.1 id and the next seqNo."""
    path = write_config(tmp_path, csms.url, "ocpp2.0.1")
    first = Gateway(load_config(path))
    await first.start()
    charger = await connect_charger(charger_url(first), "CB16", "ocpp1.6")
    link = await csms.next_connection()
    started = await charger.cp.call(c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0, timestamp=now()))
    _, begin = await link.next_call()
    await charger.close()
    await first.stop()
    second = Gateway(load_config(path))
    await second.start()
    try:
        charger = await connect_charger(charger_url(second), "CB16", "ocpp1.6")
        link = await csms.next_connection()
        await charger.cp.call(c16.StopTransaction(transaction_id=started.transaction_id, meter_stop=500,
                                                  timestamp=now()))
        _, end = await link.next_call()
        assert end["transaction_info"]["transaction_id"] == begin["transaction_info"]["transaction_id"]
        assert (end["event_type"], end["seq_no"]) == ("Ended", 1)
        await charger.close()
    finally:
        await second.stop()


async def test_command_without_16_counterpart_is_not_supported(pair: Pair) -> None:
    """A 2.0.1-only command (SetDisplayMessage) is answered CALLERROR NotSupported and never reaches the charger."""
    with pytest.raises(NotSupportedError):
        await pair.link.cp.call(c201.SetDisplayMessage(message={
            "id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "hi"}}), suppress=False)
    assert pair.charger.cp.commands.empty()


@pytest.mark.timeout(60)
async def test_sigkill_mid_transaction_loses_no_mapping(csms: Csms, tmp_path: Path) -> None:
    """After SIGKILL and a restart, the running transaction continues upstream with its id and the next seqNo."""
    config = yaml.safe_load(write_config(tmp_path, csms.url, "ocpp2.0.1").read_text())
    config["listen"]["port"], config["admin"]["port"] = free_port(), free_port()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    url = f"ws://127.0.0.1:{config['listen']['port']}/ocpp"

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "run", "--config", str(path), cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await wait_healthy(config["admin"]["port"])
        return process

    process = await start()
    try:
        charger = await connect_charger(url, "CB16", "ocpp1.6")
        link = await csms.next_connection()
        started = await charger.cp.call(c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0,
                                                             timestamp=now()))
        await charger.cp.call(c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
            {"timestamp": now(), "sampled_value": [{"value": "100"}]}]))
        _, begin = await link.next_call()
        _, update = await link.next_call()
        process.kill()
        await process.wait()
        await charger.close()
        process = await start()
        charger = await connect_charger(url, "CB16", "ocpp1.6")
        link = await csms.next_connection()
        await charger.cp.call(c16.StopTransaction(transaction_id=started.transaction_id, meter_stop=500,
                                                  timestamp=now()))
        _, end = await link.next_call()
        ids = {e["transaction_info"]["transaction_id"] for e in (begin, update, end)}
        assert len(ids) == 1 and [e["seq_no"] for e in (begin, update, end)] == [0, 1, 2]
        await charger.close()
    finally:
        process.kill()
        await process.wait()
