"""The admin listener: /healthz for orchestrators, /metrics for Prometheus."""

from __future__ import annotations

import aiohttp
from ocpp.v16 import call as c16

from tests.conftest import GatewayFactory, charger_url
from tests.net.scrape import metric, scrape
from tests.peers import Csms, connect_charger


async def test_healthz_is_200_once_listening(csms: Csms, start_gateway: GatewayFactory) -> None:
    """/healthz answers 200 once the gateway listens and its store is open."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{gateway.admin_port}/healthz") as r:
        assert (r.status, await r.text()) == (200, "ok\n")


async def test_metrics_count_connections_messages_and_round_trips(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A relayed call shows in chargers/upstreams connected, messages by kind, and the round-trip histogram."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await csms.next_connection()
    await charger.cp.call(c16.Heartbeat())
    assert await metric(gateway, "gateway_chargers_connected", dialect="ocpp1.6") == 1
    assert await metric(gateway, "gateway_upstream_connections") == 1
    assert await metric(gateway, "gateway_messages_total", leg="csms", direction="out", action="Heartbeat",
                        kind="call") == 1
    assert await metric(gateway, "gateway_messages_total", leg="charger", direction="out", action="Heartbeat",
                        kind="result") == 1
    assert await metric(gateway, "gateway_call_duration_seconds_count", origin="charger", outcome="result") == 1
    await charger.close()


async def test_metrics_never_carry_a_charge_box_id(csms: Csms, start_gateway: GatewayFactory) -> None:
    """No metric label holds the charge box id: series stay bounded on a large fleet."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "UNIQUE-CB-4711", "ocpp1.6")
    await charger.cp.call(c16.Heartbeat())
    assert "UNIQUE-CB-4711" not in await scrape(gateway)
    await charger.close()


async def test_invented_actions_share_one_label(csms: Csms, start_gateway: GatewayFactory) -> None:
    """Actions that do not exist in OCPP are counted under "unknown", so a peer cannot create series."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await charger.ws.send('[2,"x1","MadeUpActionName",{}]')
    await charger.ws.send('[2,"hb","Heartbeat",{}]')
    assert (await csms.next_connection()) and (await csms.links["CB1"].next_call())[0] == "Heartbeat"
    text = await scrape(gateway)
    assert "MadeUpActionName" not in text
    assert await metric(gateway, "gateway_call_errors_total", leg="charger", code="NotImplemented") == 1
    await charger.close()
