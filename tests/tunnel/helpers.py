"""Steps the tunnel tests share: a SOAP charger that boots at the gateway, a closed port, CSMS calls."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from ocpp.exceptions import GenericError
from ocpp.v16 import call as c16

from gateway.app import Gateway
from gateway.core import tunnel
from gateway.core.tunnel import Carried, Register, Registered
from tests.conftest import free_port
from tests.peers import Csms, CsmsLink
from tests.soap.charger import SoapCharger
from tests.soap.conftest import ChargerFactory
from tests.tunnel.conftest import SITE, TOKEN, soap_url, tunnel_url

BOOT: dict[str, Any] = {"chargePointVendor": "ACME", "chargePointModel": "Wall-7"}


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens: a charger's private address seen from the gateway."""
    return f"http://127.0.0.1:{free_port()}/ChargePointService"


async def boot(csms: Csms, gateway: Gateway, soap_charger: ChargerFactory, charge_box_id: str,
               version: str = "1.6", *, url: str | None = None) -> tuple[SoapCharger, CsmsLink]:
    """A SOAP charger whose wsa:From is a closed port boots (at the gateway's /soap unless `url` is given)."""
    charger = soap_charger(version, url or soap_url(gateway), charge_box_id, closed_port_url())
    answer = await charger.call("BootNotification", **BOOT)
    assert answer["status"] == "Accepted"
    link = await csms.next_connection()
    assert link.charge_box_id == charge_box_id
    assert (await link.next_call())[0] == "BootNotification"
    return charger, link


async def call_error(link: CsmsLink, request: Any) -> tuple[GenericError, float]:
    """The CALLERROR GenericError the CSMS gets for `request`, and how many seconds it took to come."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GenericError) as info:
        await link.cp.call(request, suppress=False)
    return info.value, loop.time() - started


RESET = c16.Reset(type="Hard")


async def raw_tunnel(http: aiohttp.ClientSession, gateway: Gateway, *, site: str = SITE,
                     token: str = TOKEN) -> aiohttp.ClientWebSocketResponse:
    """A hand-driven agent's WebSocket to the gateway's /tunnel (nothing sent yet)."""
    return await http.ws_connect(tunnel_url(gateway), params={"site": site},
                                 headers={"Authorization": f"Bearer {token}"})


async def register(ws: aiohttp.ClientWebSocketResponse, chargers: dict[str, str]) -> Registered:
    """Send a register frame and return the gateway's registered answer."""
    await ws.send_str(tunnel.encode_control(Register(chargers)))
    answer = tunnel.decode_control(await ws.receive_str(timeout=10))
    assert isinstance(answer, Registered)
    return answer


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> Carried:
    """The next binary frame the gateway sends, decoded."""
    return tunnel.decode_carried(await ws.receive_bytes(timeout=10))
