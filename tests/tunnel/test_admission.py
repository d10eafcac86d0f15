"""Who may open a tunnel, what it may carry, and what happens to frames that break the protocol.

Agents here are driven by hand (aiohttp WebSocket clients sending frames from gateway.core.tunnel),
so each test can send exactly what it means to; the real agent is in the other test files.
"""

from __future__ import annotations

import asyncio
import struct

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.core import tunnel
from gateway.core.tunnel import Carried
from tests.net.scrape import metric, scrape
from tests.peers import Csms
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.tunnel.conftest import SITE, TOKEN, AgentFactory, tunnel_url
from tests.tunnel.helpers import RESET, boot, call_error, next_frame, raw_tunnel, register


@pytest.mark.parametrize(
    ("site", "headers", "reason"),
    [
        pytest.param(SITE, {"Authorization": "Bearer wrong-token"}, "bad_token", id="wrong-token"),
        pytest.param(SITE, {}, "bad_token", id="no-token"),
        pytest.param(SITE, {"Authorization": f"Basic {TOKEN}"}, "bad_token", id="not-bearer"),
        pytest.param("site-b", {"Authorization": f"Bearer {TOKEN}"}, "bad_token", id="another-sites-token"),
        pytest.param("site-z", {"Authorization": f"Bearer {TOKEN}"}, "unknown_site", id="unknown-site"),
        pytest.param("", {"Authorization": f"Bearer {TOKEN}"}, "unknown_site", id="no-site"),
    ],
)
async def test_bad_credentials_are_refused_with_401_before_the_upgrade(
    csms: Csms, tunnel_gateway: Gateway, soap_charger: ChargerFactory, site: str, headers: dict[str, str],
    reason: str,
) -> None:
    """Wrong token or unknown site: HTTP 401, the same body whatever was wrong, counted, nothing registered."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(tunnel_url(tunnel_gateway), params={"site": site}, headers=headers)
        assert info.value.status == 401
        async with http.get(tunnel_url(tunnel_gateway).replace("ws:", "http:"), params={"site": site},
                            headers=headers) as response:
            assert response.status == 401
            assert await response.text() == "tunnel authentication failed\n"
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="ocpp-gateway"'
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason=reason) == 2
    assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 0
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    error, _ = await call_error(link, RESET)
    assert "no tunnel agent of site site-a is connected" in error.description


async def test_plain_get_with_good_credentials_is_400(tunnel_gateway: Gateway) -> None:
    """The right site and token without a WebSocket upgrade: HTTP 400, counted."""
    async with aiohttp.ClientSession() as http, http.get(
        tunnel_url(tunnel_gateway).replace("ws:", "http:"), params={"site": SITE},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 400
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="not_websocket") == 1


@pytest.mark.parametrize(
    "first",
    [pytest.param(None, id="nothing"), pytest.param(b"\x00", id="binary"), pytest.param("{}", id="bad-json"),
     pytest.param('{"t":"registered","accepted":[],"refused":[]}', id="wrong-control")],
)
async def test_no_register_frame_first_closes_with_1002(tunnel_gateway: Gateway, first: str | bytes | None) -> None:
    """An agent whose first frame is not a register frame (or that sends nothing in time) is closed with 1002."""
    async with aiohttp.ClientSession() as http:
        ws = await raw_tunnel(http, tunnel_gateway)
        if isinstance(first, str):
            await ws.send_str(first)
        elif isinstance(first, bytes):
            await ws.send_bytes(first)
        message = await ws.receive(timeout=10)  # register_timeout is 2 s in these tests
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1002)
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="no_register") == 1


async def test_register_answers_accepted_and_refused(tunnel_gateway: Gateway) -> None:
    """Ids of the site are accepted; another site's, unknown ones and non-HTTP URLs are refused and counted."""
    async with aiohttp.ClientSession() as http:
        ws = await raw_tunnel(http, tunnel_gateway)
        answer = await register(ws, {"CB1": "http://10.1.1.1/", "CB3": "http://10.1.1.3/", "CB2": "mailto:x@y",
                                     "NOPE": "http://10.1.1.9/"})
        assert answer.accepted == ("CB1",)
        assert answer.refused == ("CB3", "CB2", "NOPE")
        assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 1
        await ws.close()
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="foreign_charger") == 2
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="bad_url") == 1


async def test_malformed_frames_are_dropped_and_a_malformed_reply_fails_only_its_call(
    csms: Csms, tunnel_gateway: Gateway, soap_charger: ChargerFactory
) -> None:
    """Garbage is dropped and counted; a reply whose header is wrong fails its call at once; the tunnel lives on."""
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    async with aiohttp.ClientSession() as http:
        ws = await raw_tunnel(http, tunnel_gateway)
        await register(ws, {"CB1": "http://10.1.1.1/cp"})
        pending = asyncio.create_task(call_error(link, RESET))
        call = await next_frame(ws)
        assert (call.kind, call.charger) == ("call", "CB1")
        assert call.headers["Content-Type"].startswith("application/soap+xml")
        await ws.send_bytes(b"\x00\x00\x00")
        await ws.send_str('{"t":"register","chargers":{}}')
        await ws.send_bytes(tunnel.encode_carried(Carried("response", 99, status=200)))
        header = f'{{"t":"reply","id":{call.id},"charger":"CB1"}}'.encode()  # no status
        await ws.send_bytes(struct.pack(">I", len(header)) + header)
        error, seconds = await pending
        assert seconds < 5 and "malformed frame from the agent" in error.description
        assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="bad_frame") == 4
        # The tunnel still carries the next call.
        second = asyncio.create_task(link.cp.call(RESET, suppress=False))
        call = await next_frame(ws)
        await ws.send_bytes(tunnel.encode_carried(Carried("error", call.id, "CB1", error="charger rebooting")))
        with pytest.raises(Exception, match="charger rebooting"):
            await second
        await ws.close()


async def test_newer_agent_of_the_same_site_replaces_the_older(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """A second agent of a site takes over: the first is closed with 4000 and calls go to the newer one."""
    endpoint = await start_endpoint()
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    async with aiohttp.ClientSession() as http:
        old = await raw_tunnel(http, tunnel_gateway)
        await register(old, {"CB1": "http://10.1.1.1/cp"})
        await start_agent(tunnel_gateway, {"CB1": endpoint.url})
        message = await old.receive(timeout=10)
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4000)
        assert "replaced" in str(message.extra)
    assert (await link.cp.call(RESET, suppress=False)).status == "Accepted"
    assert (await endpoint.next_call())[0] == "Reset"
    assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 1


async def test_shutdown_closes_tunnels_with_1001(tunnel_gateway: Gateway) -> None:
    """Stopping the gateway closes each tunnel with 1001 (going away)."""
    async with aiohttp.ClientSession() as http:
        ws = await raw_tunnel(http, tunnel_gateway)
        await register(ws, {"CB1": "http://10.1.1.1/cp"})
        await tunnel_gateway.stop()
        message = await ws.receive(timeout=10)
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_tunnel_metrics_are_exposed_and_health_ignores_tunnels(
    tunnel_gateway: Gateway, start_agent: AgentFactory
) -> None:
    """/metrics shows the tunnel gauge and counters; /healthz says 200 with or without agents."""
    async with aiohttp.ClientSession() as http:
        health = f"http://127.0.0.1:{tunnel_gateway.admin_port}/healthz"
        async with http.get(health) as response:
            assert response.status == 200
        await start_agent(tunnel_gateway, {"CB1": "http://127.0.0.1:9/", "CB3": "http://127.0.0.1:9/"})
        async with http.get(health) as response:
            assert response.status == 200
    text = await scrape(tunnel_gateway)
    assert "# TYPE gateway_tunnels_connected gauge" in text
    assert "gateway_tunnels_connected 1.0" in text
    assert "# TYPE gateway_tunnel_calls_total counter" in text
    assert 'gateway_tunnel_refusals_total{reason="foreign_charger"} 1.0' in text
