"""Pass-through: a charger and a CSMS speaking the same dialect talk through the gateway unchanged."""

from __future__ import annotations

import json

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from tests.conftest import GatewayFactory, charger_url
from tests.peers import Csms, connect_charger


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

