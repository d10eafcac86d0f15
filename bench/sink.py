"""Minimal fast CSMS for benchmarks: answers every OCPP-J CALL with a CALLRESULT.

Serves ws://HOST:PORT/ocpp/{chargeBoxId} with subprotocols ocpp1.6 and
ocpp2.0.1. Responses are precomputed (see bench_frames.ResponseBodies) and the
CALL header is parsed with a regex instead of json.loads, so the sink stays a
small share of the 2-core machine's CPU during a benchmark. Actions it does not
know get a CALLERROR NotImplemented. A 2.0.1 TransactionEvent(Started) is
answered with idTokenInfo Accepted, every other TransactionEvent with {}.
`GET /stats` returns the calls received per dialect and action (compare.py
uses it to show what the system under test sent upstream). Exits on
SIGTERM/SIGINT or after --max-seconds, printing its counters to stderr.

    .venv/bin/python bench/sink.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

from aiohttp import WSMsgType, web
from bench_frames import DIALECTS, OCPP16, OCPP201, TX_STARTED_RESPONSE_201, ResponseBodies
from procstat import raise_nofile_limit, wait_for_stop_signal

# `[2,"<id>","<Action>",` -- the id is kept as raw JSON string content so it can be
# echoed back byte-for-byte (escapes included) without decoding.
_CALL_HEAD = re.compile(r'\[\s*2\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*"([A-Za-z0-9_]+)"')
_STARTED = re.compile(r'"eventType"\s*:\s*"Started"')
_TX_STARTED_BODY = json.dumps(TX_STARTED_RESPONSE_201, separators=(",", ":"))


class Sink:
    def __init__(self) -> None:
        self.bodies = {d: ResponseBodies(d) for d in DIALECTS}
        self.connections = 0
        self.open = 0
        self.calls = 0
        self.errors = 0
        self.by_action: dict[str, int] = {}  # "dialect Action" -> calls received

    def _body(self, dialect: str, action: str, text: str) -> str | None:
        self.calls += 1
        key = f"{dialect} {action}"
        self.by_action[key] = self.by_action.get(key, 0) + 1
        if action == "TransactionEvent" and dialect == OCPP201 and _STARTED.search(text):
            return _TX_STARTED_BODY
        return self.bodies[dialect].body(action)

    def answer(self, dialect: str, text: str) -> str | None:
        m = _CALL_HEAD.match(text)
        if m is None:
            return self._answer_slow(dialect, text)
        msg_id, action = m.group(1), m.group(2)
        body = self._body(dialect, action, text)
        if body is None:
            self.errors += 1
            return f'[4,"{msg_id}","NotImplemented","Action {action} not implemented by sink",{{}}]'
        return f'[3,"{msg_id}",{body}]'

    def _answer_slow(self, dialect: str, text: str) -> str | None:
        # Unusual formatting or not a CALL at all: decode properly.
        try:
            frame = json.loads(text)
        except ValueError:
            self.errors += 1
            return None
        if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2):
            return None  # CALLRESULT/CALLERROR to something we never sent: ignore
        msg_id = json.dumps(str(frame[1]))
        body = self._body(dialect, str(frame[2]), text)
        if body is None:
            self.errors += 1
            return f'[4,{msg_id},"NotImplemented","Action not implemented by sink",{{}}]'
        return f"[3,{msg_id},{body}]"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=DIALECTS, max_msg_size=1 << 20)
        await ws.prepare(request)
        # A client that offered no subprotocol is treated as 1.6 (common for old firmware).
        dialect = ws.ws_protocol or OCPP16
        self.connections += 1
        self.open += 1
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    reply = self.answer(dialect, msg.data)
                    if reply is not None:
                        await ws.send_str(reply)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.open -= 1
        return ws

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"calls": self.calls, "errors": self.errors, "open": self.open, "by_action": self.by_action}
        )


async def serve(host: str, port: int, max_seconds: float) -> Sink:
    sink = Sink()
    app = web.Application()
    app.router.add_get("/ocpp/{charge_box_id}", sink.handle)
    app.router.add_get("/stats", sink.stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    # Large backlog: the idle scenario opens thousands of connections in a burst.
    await web.TCPSite(runner, host, port, backlog=4096).start()
    print(f"sink listening on {host}:{port}", file=sys.stderr, flush=True)

    await wait_for_stop_signal(max_seconds)
    await runner.cleanup()
    return sink


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument(
        "--max-seconds", type=float, default=3600.0, help="exit after this long even if never signalled (default 3600)"
    )
    args = ap.parse_args()
    raise_nofile_limit()
    sink = asyncio.run(serve(args.host, args.port, args.max_seconds))
    print(
        f"sink done: connections={sink.connections} calls={sink.calls} errors={sink.errors} "
        f"by_action={json.dumps(sink.by_action, sort_keys=True)}",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    main()
