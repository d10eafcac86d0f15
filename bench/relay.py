"""Baseline for the gateway benchmark: a plain WebSocket relay, nothing else.

Same network stack as the gateway (aiohttp server for chargers, one
aiohttp ClientSession.ws_connect upstream per charger), but no OCPP logic:
text frames are forwarded verbatim both ways and the charger's subprotocol is
passed through. Whatever the gateway costs beyond this relay is the price of
its own work (parsing, validation, state, metrics).

    .venv/bin/python bench/relay.py --listen-port 9000 --upstream-url ws://127.0.0.1:9100/ocpp

Chargers connect to ws://HOST:PORT/ocpp/{chargeBoxId}; the relay dials
{upstream-url}/{chargeBoxId}. Exits on SIGTERM/SIGINT or after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
from aiohttp import WSMsgType, web
from procstat import raise_nofile_limit, wait_for_stop_signal

# The same WebSocket keepalive as the gateway's defaults (listen/upstream ping_interval), so both
# pay the same transport costs and the ratio measures what the gateway adds on top.
KEEPALIVE_S = 30.0

SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")


def _offered(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


async def _pump(
    src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for msg in src:
        if msg.type is WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:  # not OCPP-J, but a relay should not judge
            await dst.send_bytes(msg.data)
        elif msg.type is WSMsgType.ERROR:
            break


class Relay:
    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # limit=0: one upstream connection per charger, thousands of them.
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        charge_box_id = request.match_info["charge_box_id"]
        # Pick the charger's first supported subprotocol and dial upstream with it
        # *before* accepting, so an upstream refusal becomes an HTTP error for the charger.
        wanted = [p for p in _offered(request) if p in SUBPROTOCOLS][:1]
        try:
            upstream = await self.session.ws_connect(
                f"{self.upstream_url}/{charge_box_id}",
                protocols=tuple(wanted),
                max_msg_size=1 << 20,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                heartbeat=KEEPALIVE_S,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise web.HTTPBadGateway(text=f"upstream unavailable: {exc}") from exc

        chosen = (upstream.protocol,) if upstream.protocol else ()
        charger = web.WebSocketResponse(protocols=chosen, max_msg_size=1 << 20, heartbeat=KEEPALIVE_S)
        try:
            await charger.prepare(request)
            to_up = asyncio.create_task(_pump(charger, upstream))
            to_down = asyncio.create_task(_pump(upstream, charger))
            # Either side closing ends the session for both.
            _, pending = await asyncio.wait((to_up, to_down), return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await upstream.close()
            await charger.close()
        return charger


async def serve(host: str, port: int, upstream_url: str, max_seconds: float) -> None:
    relay = Relay(upstream_url)
    await relay.start()
    app = web.Application()
    app.router.add_get("/ocpp/{charge_box_id}", relay.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    print(f"relay listening on {host}:{port} -> {upstream_url}", file=sys.stderr, flush=True)

    await wait_for_stop_signal(max_seconds)
    await runner.cleanup()
    await relay.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, default=9000)
    ap.add_argument("--upstream-url", default="ws://127.0.0.1:9100/ocpp")
    ap.add_argument(
        "--max-seconds", type=float, default=3600.0, help="exit after this long even if never signalled (default 3600)"
    )
    args = ap.parse_args()
    raise_nofile_limit()  # two sockets per charger
    asyncio.run(serve(args.listen_host, args.listen_port, args.upstream_url, args.max_seconds))


if __name__ == "__main__":
    main()
