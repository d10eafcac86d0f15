"""The gateway's own per-call CPU work, without sockets: parse, validate, session, runner, metrics.

compare.py measures the whole process on a shared machine, where a few microseconds per call drown
in noise. This drives the same code in one process with the bench's 1.6 MeterValues call and its
CALLRESULT, interleaving the variants so that drift hits all of them, and prints microseconds per
call (min and median over rounds). The runner line is what one relayed call costs the gateway's
event loop thread on top of the socket work a plain relay also does (link and upstream are stubs).

    .venv/bin/python bench/hotpath.py            # about 10 s
    .venv/bin/python bench/hotpath.py --rounds 5 # quicker, noisier

Numbers from this are for comparing two versions of the hot path on the same machine; they are
lower than the share the same code takes inside a loaded gateway (cold caches between frames).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_frames import FrameParams, _meter_values_16

from gateway.config import Config, Listen, Upstream
from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect
from gateway.core.session import ChargerSession, Leg, Send
from gateway.metrics import Metrics
from gateway.net.context import GatewayContext
from gateway.net.runner import SessionRunner

D16 = Dialect.OCPP16
PAYLOAD = _meter_values_16("2026-11-22T05:00:00Z", 1234.5, FrameParams())
CALL = json.dumps([2, "abcdef-0001", "MeterValues", PAYLOAD], separators=(",", ":"))
RESULT = '[3,"abcdef-0001",{}]'


class _Link:
    """The charger side, reduced to what the runner touches on the hot path."""

    closed = False
    close_code = None

    async def send(self, command: Send) -> None:
        return None


class _Upstream:
    closed = False

    async def send_str(self, text: str) -> None:
        return None


class _NoTasks:
    def create_task(self, coro: Any) -> None:  # a timer that fires during the run does nothing
        coro.close()


def _session() -> ChargerSession:
    session = ChargerSession(D16, D16, None, charger_timeout=30, csms_timeout=30, max_queued=16, max_frame=262_144)
    session.leg_up(Leg.CSMS, 0.0)
    return session


def sync_cases() -> dict[str, Callable[[], object]]:
    session = _session()
    metrics = Metrics()

    def session_call() -> None:
        session.receive(Leg.CHARGER, CALL, 1.0)
        session.commands()
        session.receive(Leg.CSMS, RESULT, 1.001)
        session.commands()

    def metrics_call() -> None:
        metrics.message(Leg.CHARGER, "in", D16, "MeterValues", "call").inc()
        metrics.message(Leg.CSMS, "out", D16, "MeterValues", "call").inc()
        metrics.message(Leg.CSMS, "in", D16, "MeterValues", "result").inc()
        metrics.message(Leg.CHARGER, "out", D16, "MeterValues", "result").inc()
        metrics.duration(Leg.CHARGER, "result").observe(0.0007)

    return {
        "ocppj.parse CALL": lambda: ocppj.parse(CALL),
        "ocppj.parse CALLRESULT": lambda: ocppj.parse(RESULT),
        "validate request": lambda: schemas.validate(D16, "MeterValues", "request", PAYLOAD),
        "validate response": lambda: schemas.validate(D16, "MeterValues", "response", {}),
        "session: call + result": session_call,
        "metrics API, one call": metrics_call,
    }


async def runner_case(n: int) -> float:
    """Microseconds per call through SessionRunner.feed_text (both frames), best of one batch."""
    config = Config(listen=Listen(host="127.0.0.1", port=1), upstream=Upstream(url="ws://127.0.0.1:1", dialect=D16))
    ctx = GatewayContext(config, Metrics(), None, None, None)  # type: ignore[arg-type]  # no store, no HTTP
    runner = SessionRunner(ctx, "CB1", D16, _Link())
    runner._upstream = _Upstream()  # type: ignore[assignment]
    runner._tasks = _NoTasks()  # type: ignore[assignment]
    runner._session.leg_up(Leg.CSMS, 0.0)
    start = time.perf_counter()
    for _ in range(n):
        await runner.feed_text(Leg.CHARGER, CALL)
        await runner.feed_text(Leg.CSMS, RESULT)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=5000, help="calls per case and round")
    args = ap.parse_args()
    cases = sync_cases()
    results: dict[str, list[float]] = {name: [] for name in [*cases, "runner.feed_text: call + result"]}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(args.calls):
                fn()
            results[name].append((time.perf_counter() - start) / args.calls * 1e6)
        results["runner.feed_text: call + result"].append(asyncio.run(runner_case(args.calls)))
    print(f"| per 1.6 MeterValues call ({args.rounds} rounds x {args.calls}) | min us | median us |")
    print("|---|---:|---:|")
    for name, values in results.items():
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
