"""A SOAP charger's first requests arriving together: one session, one upstream WebSocket, every request served.

SOAP has no connection, so the gateway starts a charger's session on its first request. A charger (or
a proxy in front of it) may send several requests at once after a power cycle; they must share the
session being started rather than each start one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import GatewayFactory
from tests.peers import Csms
from tests.soap.conftest import ChargerFactory

TOGETHER = 6
BOOT: dict[str, Any] = {"chargePointVendor": "ACME", "chargePointModel": "M"}


async def test_first_requests_sent_together_share_one_upstream_connection(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", f"http://127.0.0.1:{gateway.port}/soap", "CB1", None)
    answers = await asyncio.gather(*(charger.call("Heartbeat") for _ in range(TOGETHER - 1)),
                                   charger.call("BootNotification", **BOOT))
    assert all("currentTime" in answer for answer in answers)
    assert (await csms.next_connection()).charge_box_id == "CB1"
    assert csms.connections.empty()  # no second upstream WebSocket for CB1
    assert charger.violations == []


async def test_first_requests_sent_together_reach_the_csms_on_one_link(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", f"http://127.0.0.1:{gateway.port}/soap", "CB1", None)
    await asyncio.gather(*(charger.call("Heartbeat") for _ in range(TOGETHER)))
    link = await csms.next_connection()
    heartbeats = [frame for frame in link.recorder.received if '"Heartbeat"' in frame]
    assert len(heartbeats) == TOGETHER
