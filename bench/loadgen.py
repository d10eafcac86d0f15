"""OCPP-J load generator: N simulated chargers in one asyncio process.

Load mode: every charger connects to {url}/{chargeBoxId}, sends one
BootNotification, then loops over a realistic mix (70% MeterValues with four
sampled values, 25% Heartbeat, 5% StatusNotification). After --warmup seconds
a measurement window of --seconds (or until --calls responses arrived) counts
the calls completed in it and their latency from just before send to receipt
of the matching CALLRESULT/CALLERROR.

By default each charger is closed-loop with one outstanding CALL, as OCPP-J
requires; --rate paces the total call rate instead of running flat out, and
--pipeline K sends K CALLs concurrently per connection, which *violates* the
one-outstanding-CALL rule and is only for stressing a relay.

--transactions (OCPP 1.6 only): after its BootNotification each charger sends
one StartTransaction (its own idTag) and puts the transactionId from the
CALLRESULT into every MeterValues it sends; its StatusNotifications cycle
through bench_frames.TX_STATUS_CYCLE. Behind a 1.6 -> 2.0.1 gateway this drives
the TransactionEvent(Started/Updated) path instead of plain MeterValues.

Idle mode: connect and boot N chargers, then hold the connections silently
until a line arrives on stdin or --hold seconds pass (compare.py measures the
system under test's memory meanwhile).

stdout is for compare.py: `PHASE <name> [json]` lines and a final
`RESULT <json>`; a human summary goes to stderr.

    .venv/bin/python bench/loadgen.py --url ws://127.0.0.1:9000/ocpp --chargers 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType
from bench_frames import DEFAULT_MIX, DIALECTS, OCPP16, TX_STATUS_CYCLE, FrameParams, RequestFrames
from procstat import raise_nofile_limit

Json = dict[str, Any]  # a decoded JSON object

# Responses are `[3,"id",...]` or `[4,"id",...]`; a regex is much cheaper than
# json.loads and the ids are ours (digits only), so no escapes to worry about.
_REPLY_HEAD = re.compile(r'\[\s*([234])\s*,\s*"([^"]*)"')
perf = time.perf_counter


def emit(kind: str, name: str, data: Json | None = None) -> None:
    """One machine-readable line on stdout for compare.py."""
    line = f"{kind} {name}" if data is None else f"{kind} {name} {json.dumps(data)}"
    print(line, flush=True)


@dataclass
class Run:
    """Shared state of one load run (single event loop, so no locking)."""

    calls_target: int | None
    measuring: bool = False
    stopping: bool = False
    latencies: list[float] = field(default_factory=list)
    call_errors: int = 0  # CALLERROR received in the window
    timeouts: int = 0  # no reply within --call-timeout (whole run)
    disconnects: int = 0  # connection lost while not stopping (whole run)
    server_calls: int = 0  # CALLs sent to the charger by the server (unexpected here)
    window_full: asyncio.Event = field(default_factory=asyncio.Event)
    slow_s: float = 0.0  # --slow-ms as seconds; 0 = do not log slow calls
    window_start: float = 0.0
    slow: list[tuple[float, float, str]] = field(default_factory=list)

    def record(self, latency: float, is_error: bool, action: str) -> None:
        if not self.measuring:
            return
        if is_error:
            self.call_errors += 1
        self.latencies.append(latency)
        # Offsets of slow calls show whether the SUT stalls periodically (GC, disk, timers).
        if self.slow_s and latency >= self.slow_s and len(self.slow) < 200:
            self.slow.append((round(perf() - self.window_start, 3), round(latency * 1000, 1), action))
        if self.calls_target is not None and len(self.latencies) >= self.calls_target:
            self.window_full.set()


class Charger:
    """One simulated charge point: a WebSocket, a reader task and pending CALLs."""

    def __init__(self, index: int, args: argparse.Namespace, run: Run) -> None:
        self.id = f"{args.id_prefix}{index:05d}"
        self.url = f"{args.url.rstrip('/')}/{self.id}"
        self.args = args
        self.run = run
        self.frames = RequestFrames(
            args.dialect,
            FrameParams(id_tag=_id_tag(self.id)),
            # Start each charger at its own point of the cycle so the fleet's statuses are mixed.
            TX_STATUS_CYCLE[index % len(TX_STATUS_CYCLE) :] + TX_STATUS_CYCLE[: index % len(TX_STATUS_CYCLE)]
            if args.transactions
            else None,
        )
        self.transaction_id: int | None = None
        self.rng = random.Random(args.seed * 1_000_003 + index)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[str, asyncio.Future[tuple[int, float, str]]] = {}
        self.seq = 0
        self.reader: asyncio.Task[None] | None = None

    async def connect(self, session: aiohttp.ClientSession) -> None:
        async with asyncio.timeout(self.args.connect_timeout):
            self.ws = await session.ws_connect(
                self.url,
                protocols=(self.args.dialect,),
                max_msg_size=1 << 20,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            )
        if self.ws.protocol != self.args.dialect:
            await self.ws.close()
            raise ConnectionError(f"server chose subprotocol {self.ws.protocol!r}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            now = perf()  # stamp on receipt, before any scheduling delay of the caller
            m = _REPLY_HEAD.match(msg.data)
            if m is None:
                continue
            kind, msg_id = int(m.group(1)), m.group(2)
            if kind == 2:
                # Server-initiated CALL: not part of this benchmark; refuse politely.
                self.run.server_calls += 1
                await self.ws.send_str(f'[4,"{msg_id}","NotSupported","loadgen",{{}}]')
                continue
            fut = self.pending.pop(msg_id, None)
            if fut is not None and not fut.done():
                fut.set_result((kind, now, msg.data))
        if not self.run.stopping:
            self.run.disconnects += 1
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))
        self.pending.clear()

    async def call(self, action: str) -> tuple[int, float, str]:
        """Send one CALL; return (3 or 4, latency seconds, the reply's text)."""
        assert self.ws is not None
        self.seq += 1
        msg_id = str(self.seq)
        fut: asyncio.Future[tuple[int, float, str]] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        t0 = perf()
        try:
            await self.ws.send_str(self.frames.frame(action, msg_id))
            async with asyncio.timeout(self.args.call_timeout):
                kind, t1, reply = await fut
        except TimeoutError:
            self.run.timeouts += 1
            raise
        finally:
            self.pending.pop(msg_id, None)  # already gone if answered
        return kind, t1 - t0, reply

    async def start_transaction(self) -> None:
        """StartTransaction; later MeterValues carry the transactionId it returned."""
        kind, _, reply = await self.call("StartTransaction")
        frame = json.loads(reply)
        if kind != 3:
            raise ConnectionError(f"StartTransaction got CALLERROR {frame[2:4]}")
        payload = frame[2]
        status = payload.get("idTagInfo", {}).get("status")
        if status != "Accepted" or not isinstance(payload.get("transactionId"), int):
            raise ConnectionError(f"StartTransaction not accepted: {payload}")
        self.transaction_id = payload["transactionId"]
        self.frames.set_transaction(payload["transactionId"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


def _pick_action(rng: random.Random, actions: list[str], cum: list[int]) -> str:
    return rng.choices(actions, cum_weights=cum)[0]


async def _worker(ch: Charger, run: Run, interval: float | None) -> None:
    actions = [a for a, _ in DEFAULT_MIX]
    cum, total = [], 0
    for _, w in DEFAULT_MIX:
        total += w
        cum.append(total)
    # Spread paced chargers over the interval so they do not fire in lockstep.
    next_at = perf() + (ch.rng.random() * interval if interval else 0.0)
    while not run.stopping and not (ch.reader is not None and ch.reader.done()):
        if interval:
            delay = next_at - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
        try:
            action = _pick_action(ch.rng, actions, cum)
            kind, latency, _ = await ch.call(action)
        except (TimeoutError, ConnectionError, aiohttp.ClientError, RuntimeError):
            continue  # counted in Run; the loop condition ends the worker on disconnect
        run.record(latency, kind == 4, action)


async def _connect_and_boot(
    ch: Charger, session: aiohttp.ClientSession, gate: asyncio.Semaphore, connect_lat: list[float]
) -> bool:
    async with gate:
        t0 = perf()
        try:
            await ch.connect(session)
            kind, _, _ = await ch.call("BootNotification")
            if kind != 3:
                print(f"loadgen: {ch.id} BootNotification got CALLERROR", file=sys.stderr)
                await ch.close()
                return False
            if ch.args.transactions:
                await ch.start_transaction()
        except (TimeoutError, ConnectionError, aiohttp.ClientError, OSError, ValueError) as exc:
            print(f"loadgen: {ch.id} connect/boot failed: {exc!r}", file=sys.stderr)
            await ch.close()
            return False
        connect_lat.append(perf() - t0)
        return True


def _id_tag(charge_box_id: str) -> str:
    """A per-charger idTag within 1.6's 20 characters (hashed if the id is longer)."""
    if len(charge_box_id) <= 20:
        return charge_box_id
    return hashlib.sha1(charge_box_id.encode()).hexdigest()[:20].upper()


def _pct(sorted_vals: list[float], p: float) -> float | None:
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals) + 0.5) - 1))
    return sorted_vals[k]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 3)


async def measure_window(run: Run, workers: list[asyncio.Task[None]], args: argparse.Namespace) -> Json:
    """Warm up, measure for --seconds (or until --calls), drain the workers; the latency summary."""
    await asyncio.sleep(args.warmup)
    run.measuring = True
    t0 = run.window_start = perf()
    emit("PHASE", "measure-start")
    # Timeout is the normal end in duration mode (or --calls not reached in time).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.window_full.wait(), timeout=args.seconds)
    run.measuring = False
    t1 = perf()
    emit("PHASE", "measure-end")
    run.stopping = True
    # Let in-flight calls finish (bounded by call timeout) before closing connections.
    _, still = await asyncio.wait(workers, timeout=args.call_timeout + 1.0)
    for w in still:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    lat = sorted(run.latencies)
    window = t1 - t0
    return {
        "window_seconds": round(window, 3),
        "calls": len(lat),
        "calls_per_s": round(len(lat) / window, 1) if window > 0 else None,
        "p50_ms": _ms(_pct(lat, 50)),
        "p90_ms": _ms(_pct(lat, 90)),
        "p99_ms": _ms(_pct(lat, 99)),
        "max_ms": _ms(lat[-1] if lat else None),
        "call_errors": run.call_errors,
        "timeouts": run.timeouts,
    }


async def _wait_stop_line(hold: float) -> None:
    """Wait for a line (or EOF) on stdin, at most `hold` seconds."""
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    fd = sys.stdin.fileno() if sys.stdin is not None else -1

    def on_readable() -> None:
        os.read(fd, 4096)  # any input, or EOF (empty read), means stop
        got.set()

    watching = False
    if fd >= 0:
        try:
            loop.add_reader(fd, on_readable)
            watching = True
        except (OSError, ValueError, PermissionError):
            pass  # e.g. stdin is /dev/null: epoll refuses it; fall back to the timer
    try:
        await asyncio.wait_for(got.wait(), timeout=hold)
    except TimeoutError:
        pass
    finally:
        if watching:
            loop.remove_reader(fd)


async def run_load(args: argparse.Namespace) -> Json:
    run = Run(calls_target=args.calls, slow_s=args.slow_ms / 1000.0)
    chargers = [Charger(i, args, run) for i in range(args.chargers)]
    connect_lat: list[float] = []
    gate = asyncio.Semaphore(args.connect_concurrency)
    # limit=0: the connector must not cap us at 100 concurrent connections.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        t_conn = perf()
        ok = await asyncio.gather(*(_connect_and_boot(c, session, gate, connect_lat) for c in chargers))
        live = [c for c, good in zip(chargers, ok, strict=True) if good]
        connect_s = perf() - t_conn
        connect_lat.sort()
        base = {
            "connected": len(live),
            "requested": args.chargers,
            "connect_seconds": round(connect_s, 3),
            "connect_p50_ms": _ms(_pct(connect_lat, 50)),
            "connect_p99_ms": _ms(_pct(connect_lat, 99)),
        }
        if args.transactions:  # chargers whose StartTransaction was accepted (ids are per charger)
            base["transactions"] = sum(1 for c in live if c.transaction_id is not None)
        emit("PHASE", "connected", base)
        result: Json = {"mode": args.mode, "dialect": args.dialect, **base}
        if not live:
            return result | {"error": "no charger connected"}

        if args.mode == "idle":
            emit("PHASE", "idle-ready")
            await _wait_stop_line(args.hold)
            run.stopping = True
            result |= {"disconnects": run.disconnects, "server_calls": run.server_calls}
        else:
            interval = None
            if args.rate > 0:
                interval = len(live) * args.pipeline / args.rate
            workers = [asyncio.create_task(_worker(c, run, interval)) for c in live for _ in range(args.pipeline)]
            result |= await measure_window(run, workers, args)
            result |= {
                "disconnects": run.disconnects,
                "server_calls": run.server_calls,
                "pipeline": args.pipeline,
                "slow_calls": run.slow,
                "rate": args.rate,
            }
        run.stopping = True
        closing = asyncio.gather(*(c.close() for c in live), return_exceptions=True)
        try:
            await asyncio.wait_for(closing, timeout=10.0)
        except TimeoutError:
            result["close_timeout"] = True
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="ws://127.0.0.1:9000/ocpp", help="base URL; /{chargeBoxId} is appended")
    ap.add_argument("--dialect", choices=DIALECTS, default=OCPP16)
    ap.add_argument("--mode", choices=("load", "idle"), default="load")
    ap.add_argument("--chargers", type=int, default=50)
    ap.add_argument(
        "--seconds", type=float, default=10.0, help="measurement window; with --calls, an upper bound on it"
    )
    ap.add_argument("--calls", type=int, default=None, help="end the window after this many responses")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=0.0, help="total target calls/s (0 = as fast as possible)")
    ap.add_argument(
        "--pipeline", type=int, default=1, help="outstanding CALLs per connection; >1 breaks the OCPP-J rule on purpose"
    )
    ap.add_argument(
        "--slow-ms", type=float, default=0.0, help="list calls slower than this (offset in window, ms, action)"
    )
    ap.add_argument(
        "--transactions",
        action="store_true",
        help="1.6 only: StartTransaction after boot, its transactionId in every MeterValues, cycling statuses",
    )
    ap.add_argument("--hold", type=float, default=60.0, help="idle mode: max seconds to hold connections")
    ap.add_argument("--connect-concurrency", type=int, default=100)
    ap.add_argument("--connect-timeout", type=float, default=15.0)
    ap.add_argument("--call-timeout", type=float, default=10.0)
    ap.add_argument("--id-prefix", default="LG")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="hard cap on the whole run (default: derived from the other durations)",
    )
    args = ap.parse_args(argv)
    if args.chargers < 1 or args.pipeline < 1:
        ap.error("--chargers and --pipeline must be >= 1")
    if args.transactions and args.dialect != OCPP16:
        ap.error("--transactions needs --dialect ocpp1.6")
    if args.max_seconds is None:
        busy = args.hold if args.mode == "idle" else args.warmup + args.seconds + args.call_timeout
        args.max_seconds = busy + args.connect_timeout * (1 + args.chargers / args.connect_concurrency) + 30
    return args


async def _main(args: argparse.Namespace) -> Json:
    try:
        async with asyncio.timeout(args.max_seconds):
            return await run_load(args)
    except TimeoutError:
        return {"error": f"hard time limit of {args.max_seconds:.0f}s reached"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit = raise_nofile_limit()
    if args.chargers + 64 > limit:
        print(f"loadgen: warning: fd limit {limit} is below {args.chargers} chargers", file=sys.stderr)
    result = asyncio.run(_main(args))
    print(f"RESULT {json.dumps(result)}", flush=True)
    print(json.dumps(result, indent=1), file=sys.stderr)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
