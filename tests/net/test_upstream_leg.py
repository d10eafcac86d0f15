"""The upstream leg: dialing, refusals, losses and reconnects, and closing either side."""

from __future__ import annotations

import asyncio
import json
import socket
from http import HTTPStatus

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as c16
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from gateway.core.session import Leg
from tests.conftest import GatewayFactory, charger_url
from tests.net.scrape import metric
from tests.peers import Csms, connect_charger


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_csms_closes_the_charger_with_a_reason(start_gateway: GatewayFactory) -> None:
    """When the CSMS cannot be reached, the charger is closed with 1013 and a reason, and it is counted."""
    gateway = await start_gateway(f"ws://127.0.0.1:{_closed_port()}/ocpp", "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert charger.ws.close_code == 1013 and "CSMS unreachable" in (charger.ws.close_reason or "")
    assert await metric(gateway, "gateway_upstream_connect_failures_total", reason="unreachable") == 1
    await charger.close()


async def test_refusing_csms_closes_the_charger_with_policy_violation(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """When the CSMS answers the upgrade with HTTP 403, the charger is closed with 1008 naming the status."""
    csms.refuse_with = HTTPStatus.FORBIDDEN
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert (charger.ws.close_code, charger.ws.close_reason) == (1008, "CSMS refused the connection: HTTP 403")
    assert await metric(gateway, "gateway_upstream_connect_failures_total", reason="refused") == 1
    await charger.close()


@pytest.mark.parametrize("status", [HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.BAD_GATEWAY,
                                    HTTPStatus.TOO_MANY_REQUESTS], ids=lambda s: str(s.value))
async def test_csms_answering_a_temporary_http_error_closes_the_charger_with_try_again_later(
    csms: Csms, start_gateway: GatewayFactory, status: HTTPStatus
) -> None:
    """A 5xx (a load balancer before a restarting CSMS), 408 or 429 says "not now": the charger is told to
    try again later (1013), as for an unreachable CSMS, not that it is refused (1008)."""
    csms.refuse_with = status
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert (charger.ws.close_code, charger.ws.close_reason) == (
        1013, f"CSMS temporarily unavailable: HTTP {status.value}")
    assert await metric(gateway, "gateway_upstream_connect_failures_total", reason="unavailable") == 1
    await charger.close()


async def test_csms_without_our_subprotocol_is_a_refusal(start_gateway: GatewayFactory) -> None:
    """A CSMS that completes the handshake without agreeing to the upstream dialect is treated as refusing."""
    csms = await Csms(agree=False).start()
    try:
        gateway = await start_gateway(csms.url, "ocpp1.6")
        charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
        await asyncio.wait_for(charger.ws.wait_closed(), 10)
        assert charger.ws.close_code == 1008
        assert "did not agree to subprotocol ocpp1.6" in (charger.ws.close_reason or "")
        await charger.close()
    finally:
        await csms.stop()


async def test_charger_disconnect_closes_its_upstream(csms: Csms, start_gateway: GatewayFactory) -> None:
    """When the charger goes away, the CSMS sees its connection close."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    link = await csms.next_connection()
    await charger.close()
    await asyncio.wait_for(link.closed.wait(), 10)
    assert link.ws.close_code == 1001


async def test_csms_close_closes_the_charger(csms: Csms, start_gateway: GatewayFactory) -> None:
    """When the CSMS closes the connection, the gateway closes the charger with the same code."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    link = await csms.next_connection()
    await link.ws.close(code=4000, reason="maintenance")
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert charger.ws.close_code == 4000
    await charger.close()


async def test_lost_upstream_is_reconnected_while_the_charger_stays(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """When the upstream TCP connection drops without a close, the gateway redials and traffic resumes."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    first = await csms.next_connection()
    first.ws.transport.abort()
    second = await csms.next_connection()
    reply = await charger.cp.call(c16.Heartbeat())
    assert reply.current_time and (await second.next_call())[0] == "Heartbeat"
    assert await metric(gateway, "gateway_upstream_reconnects_total") == 1
    assert not charger.ws.close_code
    await charger.close()


async def test_transaction_message_while_upstream_is_down_waits_for_the_reconnect(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A transaction message made while the upstream is being redialed is delivered once it is back
    (other calls are refused at once: tests/net/test_csms_away.py)."""
    gateway = await start_gateway(csms.url, "ocpp1.6", upstream={"reconnect_initial_delay": 0.5})
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    first = await csms.next_connection()
    first.ws.transport.abort()
    await first.closed.wait()
    stop = c16.StopTransaction(meter_stop=1200, timestamp="2026-01-01T10:00:00Z", transaction_id=7)
    reply = await charger.cp.call(stop, suppress=False)
    second = await csms.next_connection()
    assert reply is not None
    assert (await second.next_call())[0] == "StopTransaction"
    await charger.close()


async def test_silent_csms_gets_the_charger_a_timely_callerror(start_gateway: GatewayFactory) -> None:
    """When the CSMS never answers, the charger gets InternalError after upstream.response_timeout."""
    received: asyncio.Queue[str] = asyncio.Queue()

    async def silent(ws: ServerConnection) -> None:  # a CSMS that reads calls and never answers
        async for frame in ws:
            received.put_nowait(str(frame))

    async with serve(silent, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", "ocpp1.6", upstream={"response_timeout": 0.3})
        charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
        with pytest.raises(InternalError, match="did not answer in time"):
            await charger.cp.call(c16.Heartbeat(), suppress=False)
        assert json.loads(await received.get())[2] == "Heartbeat"
        assert await metric(gateway, "gateway_call_duration_seconds_count", outcome="timeout") == 1
        await charger.close()


async def test_send_on_a_closing_upstream_is_a_lost_connection_not_an_internal_error(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A CSMS that crashes between the gateway's last read and its next send: aiohttp then refuses the
    write ("Cannot write to closing transport") before the reader has seen the end. That is the upstream
    going away (redial, charger kept), not a bug that closes the charger."""
    gateway = await start_gateway(csms.url, "ocpp1.6", upstream={"reconnect_initial_delay": 0.1})
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await csms.next_connection()
    await charger.cp.call(c16.Heartbeat())  # the upstream leg is up on the gateway's side too
    assert gateway._ctx is not None
    runner = gateway._ctx.runners["CB1"]
    upstream = runner._upstream
    assert upstream is not None
    # Close the gateway's side of the transport and feed a charger call in the same step, so the write
    # meets the closing transport before the reader can notice: the race the soak bench hit under load.
    upstream._writer.transport.close()
    await runner.feed_text(Leg.CHARGER, json.dumps([2, "race-1", "Heartbeat", {}]))
    second = await csms.next_connection()
    reply = await charger.cp.call(c16.Heartbeat())
    assert reply.current_time and (await second.next_call())[0] == "Heartbeat"
    assert await metric(gateway, "gateway_internal_errors_total") == 0
    assert not charger.ws.close_code
    await charger.close()


async def test_a_shorter_deadline_set_after_a_longer_one_fires_on_time(start_gateway: GatewayFactory) -> None:
    """The charger's deadline (listen.response_timeout 0.3 s) set while a charger call waits on the CSMS's
    (upstream.response_timeout 30 s) still fires on time: the CSMS hears CALLERROR, not silence for 30 s."""
    replies: asyncio.Queue[list[object]] = asyncio.Queue()

    async def csms(ws: ServerConnection) -> None:  # never answers the charger; calls it once, reads replies
        first = json.loads(await ws.recv())
        assert first[2] == "Heartbeat"
        await ws.send(json.dumps([2, "csms-1", "ClearCache", {}]))
        async for frame in ws:
            replies.put_nowait(json.loads(frame))

    async with serve(csms, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", "ocpp1.6", listen={"response_timeout": 0.3},
                                      upstream={"response_timeout": 30})
        # A charger that sends one call and never answers the CSMS's.
        async with connect(f"{charger_url(gateway)}/CB1", subprotocols=[Subprotocol("ocpp1.6")]) as charger:
            await charger.send(json.dumps([2, "cb-1", "Heartbeat", {}]))
            reply = await asyncio.wait_for(replies.get(), 10)
            assert reply[:3] == [4, "csms-1", "InternalError"] and "did not answer in time" in str(reply[3])
