"""Closed WebSockets are released at once, not kept by aiohttp's re-armed heartbeat timers (gateway.net.ws_timers)."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiohttp import web

from tests.conftest import GatewayFactory, charger_url
from tests.peers import connect_charger

pytestmark = pytest.mark.timeout(30)


def _closed_server_websockets() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, web.WebSocketResponse) and o.closed)


async def test_chargers_refused_with_1013_leave_no_websocket_behind(start_gateway: GatewayFactory) -> None:
    """Each refused reconnect of an outage (1013, the CSMS unreachable) is freed once closed; with aiohttp's
    re-armed heartbeat they stayed alive for 1.5 ping intervals (45 s here), ~11 KiB each."""
    before = _closed_server_websockets()
    gateway = await start_gateway("ws://127.0.0.1:9/ocpp", "ocpp1.6", listen={"ping_interval": 30})
    for n in range(5):
        charger = await connect_charger(charger_url(gateway), f"CB{n}", "ocpp1.6")
        await asyncio.wait_for(charger.ws.wait_closed(), 10)
        assert charger.ws.close_code == 1013
        await charger.close()
    async with asyncio.timeout(10):
        while _closed_server_websockets() > before:
            await asyncio.sleep(0.1)  # nothing to await: the handlers end by themselves
