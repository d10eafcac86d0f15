"""Pass-through: a charger and a CSMS speaking the same dialect talk through the gateway unchanged."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from tests.conftest import GatewayFactory, charger_url
from tests.peers import Csms, connect_charger, now


async def test_16_boot_reaches_csms_and_answer_returns(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A 1.6 BootNotification reaches a 1.6 CSMS unchanged and its answer returns to the charger."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    link = await csms.next_connection()
    reply = await charger.cp.call(c16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    action, payload = await link.next_call()
    assert (action, payload["charge_point_vendor"], link.subprotocol) == ("BootNotification", "V", "ocpp1.6")
    assert reply.status == "Accepted"
    assert json.loads(charger.recorder.sent[0])[1] == json.loads(link.recorder.received[0])[1]
    await charger.close()


async def test_201_csms_command_reaches_charger(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A 2.0.1 CSMS-initiated Reset reaches the station and the station's answer returns."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_charger(charger_url(gateway), "CS1", "ocpp2.0.1")
    link = await csms.next_connection()
    await charger.cp.call(c201.BootNotification(
        charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
    result = await link.cp.call(c201.Reset(type="Immediate"))
    action, payload = await charger.next_command()
    assert (action, payload["type"], result.status) == ("Reset", "Immediate", "Accepted")
    assert json.loads(link.recorder.sent[-1]) == json.loads(charger.recorder.received[-1])
    await charger.close()



async def test_16_full_day_passes_through_with_ids_and_payloads_unchanged(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A 1.6 charger's day, charger- and CSMS-initiated, crosses the gateway with ids and payloads unchanged."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    link = await csms.next_connection()
    cp = charger.cp
    await cp.call(c16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    await cp.call(c16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    await cp.call(c16.Authorize(id_tag="TAG1"))
    started = await cp.call(c16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0, timestamp=now()))
    await cp.call(c16.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
        {"timestamp": now(), "sampled_value": [{"value": "1500", "measurand": "Energy.Active.Import.Register"}]}]))
    await link.cp.call(c16.ChangeConfiguration(key="HeartbeatInterval", value="120"))
    await link.cp.call(c16.GetConfiguration(key=["HeartbeatInterval"]))
    await link.cp.call(c16.RemoteStopTransaction(transaction_id=started.transaction_id))
    await cp.call(c16.StopTransaction(transaction_id=started.transaction_id, meter_stop=1500, timestamp=now()))
    await link.cp.call(c16.TriggerMessage(requested_message="Heartbeat"))
    await link.cp.call(c16.Reset(type="Soft"))
    assert [json.loads(f) for f in charger.recorder.sent] == [json.loads(f) for f in link.recorder.received]
    assert [json.loads(f) for f in link.recorder.sent] == [json.loads(f) for f in charger.recorder.received]
    assert [action for action, _ in _drain(charger.cp.commands)] == [
        "ChangeConfiguration", "GetConfiguration", "RemoteStopTransaction", "TriggerMessage", "Reset"]
    await charger.close()


async def test_201_full_day_passes_through_with_ids_and_payloads_unchanged(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A 2.0.1 station's day, station- and CSMS-initiated, crosses the gateway with ids and payloads unchanged."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_charger(charger_url(gateway), "CS1", "ocpp2.0.1")
    link = await csms.next_connection()
    cp = charger.cp
    await cp.call(c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
    await cp.call(c201.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1, connector_id=1))
    await cp.call(c201.Authorize(id_token={"id_token": "TAG1", "type": "ISO14443"}))
    await link.cp.call(c201.RequestStartTransaction(id_token={"id_token": "TAG1", "type": "Central"},
                                                    remote_start_id=7, evse_id=1))
    await cp.call(c201.TransactionEvent(event_type="Started", timestamp=now(), trigger_reason="RemoteStart",
                                        seq_no=0, transaction_info={"transaction_id": "TX-1", "remote_start_id": 7},
                                        evse={"id": 1, "connector_id": 1}))
    await link.cp.call(c201.GetVariables(get_variable_data=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]))
    await link.cp.call(c201.RequestStopTransaction(transaction_id="TX-1"))
    await cp.call(c201.TransactionEvent(event_type="Ended", timestamp=now(), trigger_reason="RemoteStop",
                                        seq_no=1, transaction_info={"transaction_id": "TX-1",
                                                                    "stopped_reason": "Remote"}))
    await link.cp.call(c201.ChangeAvailability(operational_status="Inoperative"))
    assert [json.loads(f) for f in charger.recorder.sent] == [json.loads(f) for f in link.recorder.received]
    assert [json.loads(f) for f in link.recorder.sent] == [json.loads(f) for f in charger.recorder.received]
    await charger.close()


async def test_csms_calls_reach_the_charger_one_at_a_time(start_gateway: GatewayFactory) -> None:
    """Two CSMS calls sent back to back reach the charger one at a time (OCPP-J one outstanding CALL)."""
    links: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def csms_handler(ws: ServerConnection) -> None:
        links.put_nowait(ws)
        await ws.wait_closed()

    async with serve(csms_handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", "ocpp1.6")
        async with connect(f"{charger_url(gateway)}/CB1", subprotocols=[Subprotocol("ocpp1.6")]) as charger:
            upstream = await asyncio.wait_for(links.get(), 5)
            await upstream.send('[2,"A","ClearCache",{}]')
            await upstream.send('[2,"B","ClearCache",{}]')
            assert json.loads(await charger.recv())[1] == "A"
            # A heartbeat round trip overtakes B: had B been forwarded, it would have arrived first.
            await charger.send('[2,"hb","Heartbeat",{}]')
            assert json.loads(await upstream.recv())[2] == "Heartbeat"
            await upstream.send(f'[3,"hb",{{"currentTime":"{now()}"}}]')
            assert json.loads(await charger.recv())[1] == "hb"
            await charger.send('[3,"A",{"status":"Accepted"}]')
            assert json.loads(await upstream.recv()) == [3, "A", {"status": "Accepted"}]
            assert json.loads(await charger.recv())[1] == "B"


def _drain(queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
