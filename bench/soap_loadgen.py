"""SOAP load generator: N simulated OCPP 1.5 / 1.6 SOAP chargers in one asyncio process.

Every charger POSTs SOAP 1.2 envelopes (soap_frames.Envelopes: chargeBoxIdentity header and the
WS-Addressing headers OCPP-S requires, wsa:From = a callback URL nobody listens on, since the bench
sends no CSMS-initiated calls) to --url, one request at a time: BootNotification first, then the
same mix as loadgen.py (70% MeterValues, 25% Heartbeat, 5% StatusNotification). A call counts as
answered when the HTTP response body has been read; it is an error when the status is not 200 or
the body is not the expected `<op>Response` (a SOAP fault, say). Closed loop by default; --rate
paces the total rate. HTTP keep-alive connections come from one pool (no connection limit), so
with N chargers in flight there are about N connections.

--soap-version 1.5, 1.6 or mix (even-numbered chargers 1.6, odd 1.5). --transactions: after its
BootNotification each charger sends one StartTransaction (its own idTag), needs it Accepted, puts
the transactionId it got into every MeterValues, and cycles its StatusNotifications through
soap_frames.TX_STATUS_CYCLE.

stdout speaks loadgen.py's protocol for compare.py: `PHASE connected {..}`, `PHASE measure-start`,
`PHASE measure-end`, then `RESULT {..}` with the same keys (plus `transport_errors`: requests that
got no HTTP response at all). No idle mode: a SOAP charger holds no connection between requests.

    .venv/bin/python bench/soap_loadgen.py --url http://127.0.0.1:9000/soap --chargers 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from bench_frames import DEFAULT_MIX
from loadgen import Run, _id_tag, _ms, _pct, emit, measure_window
from procstat import raise_nofile_limit
from soap_frames import SOAP15, SOAP16, TX_STATUS_CYCLE, VERSIONS, Envelopes, content_type, root_name

Json = dict[str, Any]
perf = time.perf_counter
_TRANSACTION_ID = re.compile(rb"<(?:[\w.-]+:)?transactionId>\s*(-?\d+)\s*<")
_ACCEPTED = re.compile(rb"<(?:[\w.-]+:)?status>\s*Accepted\s*<")


@dataclass
class SoapRun(Run):
    transport_errors: int = 0  # requests that got no HTTP response (whole run)
    faults_shown: int = 0


class SoapCharger:
    """One simulated SOAP charge point: its envelopes, its MessageID counter, its random mix."""

    def __init__(self, index: int, version: str, args: argparse.Namespace, run: SoapRun) -> None:
        self.index = index
        self.id = f"{args.id_prefix}{index:05d}"
        self.version = version
        self.args = args
        self.run = run
        cycle = TX_STATUS_CYCLE[version]
        shift = index % len(cycle)  # each charger starts at its own point of the cycle
        self.envelopes = Envelopes(
            version,
            self.id,
            f"{args.callback_base.rstrip('/')}/{self.id}",
            args.url,
            id_tag=_id_tag(self.id),
            status_cycle=cycle[shift:] + cycle[:shift] if args.transactions else None,
        )
        self.rng = random.Random(args.seed * 1_000_003 + index)
        self.seq = 0
        self.transaction_id: int | None = None

    async def call(self, http: aiohttp.ClientSession, action: str) -> tuple[int, float, bytes]:
        """POST one request; return (3 = answered, 4 = fault or unexpected answer, latency s, body)."""
        self.seq += 1
        message_id = f"urn:uuid:{self.index:08x}-0000-4000-8000-{self.seq:012x}"
        data = self.envelopes.envelope(action, message_id)
        t0 = perf()
        try:
            async with (
                asyncio.timeout(self.args.call_timeout),
                http.post(self.args.url, data=data, headers=_HEADERS[action]) as resp,
            ):
                body = await resp.read()
                status = resp.status
        except TimeoutError:
            self.run.timeouts += 1
            raise
        except (aiohttp.ClientError, OSError) as exc:
            self.run.transport_errors += 1
            raise ConnectionError(str(exc)) from exc
        t1 = perf()
        ok = status == 200 and _EXPECTED[action] in body
        if not ok and self.run.faults_shown < 5:  # a few samples for the log, not thousands
            self.run.faults_shown += 1
            print(f"soap_loadgen: {self.id} {action} -> HTTP {status}: {body[:600]!r}", file=sys.stderr)
        return (3 if ok else 4), t1 - t0, body

    async def start_transaction(self, http: aiohttp.ClientSession) -> None:
        kind, _, body = await self.call(http, "StartTransaction")
        found = _TRANSACTION_ID.search(body)
        if kind != 3 or found is None or _ACCEPTED.search(body) is None:
            raise ConnectionError(f"StartTransaction not accepted: {body[:300]!r}")
        self.transaction_id = int(found.group(1))
        self.envelopes.set_transaction(self.transaction_id)


_ACTIONS = ("BootNotification", "StartTransaction", *(a for a, _ in DEFAULT_MIX))
_HEADERS = {a: {"Content-Type": content_type(a)} for a in _ACTIONS}
# The response root with its namespace prefix's colon, e.g. b":heartbeatResponse": present in the
# answer, absent from a fault. (A response without a prefix would be missed; the gateway uses one.)
_EXPECTED = {a: f":{root_name(a, 'Response')}".encode() for a in _ACTIONS}


async def _worker(ch: SoapCharger, http: aiohttp.ClientSession, run: SoapRun, interval: float | None) -> None:
    actions = [a for a, _ in DEFAULT_MIX]
    cum, total = [], 0
    for _, w in DEFAULT_MIX:
        total += w
        cum.append(total)
    next_at = perf() + (ch.rng.random() * interval if interval else 0.0)
    while not run.stopping:
        if interval:
            delay = next_at - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
        action = ch.rng.choices(actions, cum_weights=cum)[0]
        try:
            kind, latency, _ = await ch.call(http, action)
        except (TimeoutError, ConnectionError):
            await asyncio.sleep(0.05)  # counted; do not spin on a dead server
            continue
        run.record(latency, kind == 4, action)


async def _boot(ch: SoapCharger, http: aiohttp.ClientSession, gate: asyncio.Semaphore, boot_lat: list[float]) -> bool:
    async with gate:
        t0 = perf()
        try:
            kind, _, body = await ch.call(http, "BootNotification")
            if kind != 3 or _ACCEPTED.search(body) is None:
                print(f"soap_loadgen: {ch.id} BootNotification not accepted", file=sys.stderr)
                return False
            if ch.args.transactions:
                await ch.start_transaction(http)
        except (TimeoutError, ConnectionError) as exc:
            print(f"soap_loadgen: {ch.id} boot failed: {exc!r}", file=sys.stderr)
            return False
        boot_lat.append(perf() - t0)
        return True


def _version_of(index: int, choice: str) -> str:
    if choice == "mix":
        return SOAP16 if index % 2 == 0 else SOAP15
    return choice


async def run_load(args: argparse.Namespace) -> Json:
    run = SoapRun(calls_target=args.calls, slow_s=args.slow_ms / 1000.0)
    chargers = [SoapCharger(i, _version_of(i, args.soap_version), args, run) for i in range(args.chargers)]
    boot_lat: list[float] = []
    gate = asyncio.Semaphore(args.connect_concurrency)
    # limit=0: no cap on pooled connections (one per charger in flight).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        t_boot = perf()
        ok = await asyncio.gather(*(_boot(c, http, gate, boot_lat) for c in chargers))
        live = [c for c, good in zip(chargers, ok, strict=True) if good]
        boot_lat.sort()
        base: Json = {
            "connected": len(live),
            "requested": args.chargers,
            "connect_seconds": round(perf() - t_boot, 3),
            "connect_p50_ms": _ms(_pct(boot_lat, 50)),
            "connect_p99_ms": _ms(_pct(boot_lat, 99)),
            "versions": {v: sum(1 for c in live if c.version == v) for v in VERSIONS},
        }
        if args.transactions:
            base["transactions"] = sum(1 for c in live if c.transaction_id is not None)
        emit("PHASE", "connected", base)
        result: Json = {"mode": "load", "driver": "soap", "soap_version": args.soap_version, **base}
        if not live:
            return result | {"error": "no charger booted"}
        interval = len(live) / args.rate if args.rate > 0 else None
        workers = [asyncio.create_task(_worker(c, http, run, interval)) for c in live]
        result |= await measure_window(run, workers, args)
        result |= {
            "disconnects": 0,
            "transport_errors": run.transport_errors,  # whole run, as timeouts
            "server_calls": 0,
            "pipeline": 1,
            "slow_calls": run.slow,
            "rate": args.rate,
        }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:9000/soap", help="the gateway's SOAP endpoint")
    ap.add_argument("--soap-version", choices=(*VERSIONS, "mix"), default=SOAP16,
                    help="mix: even-numbered chargers 1.6, odd 1.5")
    ap.add_argument("--chargers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window; with --calls, an upper bound")
    ap.add_argument("--calls", type=int, default=None, help="end the window after this many responses")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=0.0, help="total target calls/s (0 = as fast as possible)")
    ap.add_argument("--slow-ms", type=float, default=0.0, help="list calls slower than this (offset, ms, action)")
    ap.add_argument("--transactions", action="store_true",
                    help="StartTransaction after boot, its transactionId in every MeterValues, cycling statuses")
    ap.add_argument("--callback-base", default="http://127.0.0.1:9/cp",
                    help="wsa:From of every request is this plus /{chargeBoxId} (nothing needs to listen)")
    ap.add_argument("--connect-concurrency", type=int, default=100, help="BootNotifications in flight at start")
    ap.add_argument("--call-timeout", type=float, default=10.0)
    ap.add_argument("--id-prefix", default="LG")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=None, help="hard cap on the whole run")
    args = ap.parse_args(argv)
    if args.chargers < 1:
        ap.error("--chargers must be >= 1")
    if args.max_seconds is None:
        boot = args.call_timeout * (2 + args.chargers / args.connect_concurrency)
        args.max_seconds = args.warmup + args.seconds + args.call_timeout + boot + 30
    return args


async def _main(args: argparse.Namespace) -> Json:
    try:
        async with asyncio.timeout(args.max_seconds):
            return await run_load(args)
    except TimeoutError:
        return {"error": f"hard time limit of {args.max_seconds:.0f}s reached"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile_limit()
    result = asyncio.run(_main(args))
    print(f"RESULT {json.dumps(result)}", flush=True)
    print(json.dumps(result, indent=1), file=sys.stderr)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
