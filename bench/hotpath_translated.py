"""The gateway's own CPU work per translated call (1.6 charger, 2.0.1 CSMS), without sockets.

compare.py's translated16to201 scenario measures the whole gateway process; this drives the same
code in one process: a ChargerSession with the real Translation (mapping files, handlers, state
documents) through the bench's mix (70% MeterValues of an open transaction -> TransactionEvent
Updated, 25% Heartbeat, 5% StatusNotification cycling Charging, Charging, Available, Available),
with bench_frames' payloads and the sink's answers. Printed, in microseconds per charger call
(min and median over rounds; the variants are interleaved so that drift hits all of them):

* the stages of one MeterValues call, timed one by one (parse, validate, rule, handler, ...);
* `session, mix`: the whole sans-I/O core for the mix, Saves serialized but not stored;
* `runner + SqliteStore, mix`: SessionRunner.feed_text with a real SQLite state file (group commit,
  thread hop), link and upstream stubbed; CPU time of the whole process (all threads) and wall time.

    .venv/bin/python bench/hotpath_translated.py             # about 20 s
    .venv/bin/python bench/hotpath_translated.py --profile   # cProfile of the session mix instead

Numbers are for comparing two versions of the code on the same machine; a loaded gateway pays more
per call (cold caches, the event loop, the sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench_frames import (
    DEFAULT_MIX,
    OCPP16,
    OCPP201,
    TX_STARTED_RESPONSE_201,
    TX_STATUS_CYCLE,
    FrameParams,
    RequestFrames,
    ResponseBodies,
)

from gateway.config import Config, Listen, Upstream
from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect
from gateway.core.ocppj import Call, CallResult
from gateway.core.session import ChargerSession, Leg, Save, Send
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.translator import Translation
from gateway.core.translate.tx16 import meter_values
from gateway.metrics import Metrics
from gateway.net.context import GatewayContext
from gateway.net.runner import SessionRunner
from gateway.store import StateStore
from gateway.store.sqlite import SqliteStore
from gateway.store.sqlite_schema import dump_json
from gateway.translation import load_translation_rules, translator_factory

D16, D201 = Dialect.OCPP16, Dialect.OCPP201
CHARGER = "CB00001"
CONFIG = Config(listen=Listen(host="127.0.0.1", port=1), upstream=Upstream(url="ws://127.0.0.1:1", dialect=D201))
RULES = load_translation_rules(CONFIG)


def mix(n: int, seed: int = 1) -> list[str]:
    """n actions in the bench's proportions, shuffled as loadgen's random picks would be."""
    actions = [action for action, weight in DEFAULT_MIX for _ in range(weight)]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        rng.shuffle(actions)
        out.extend(actions)
    return out[:n]


class Csms:
    """The sink's answers, as CALLRESULT text for a call the gateway sent upstream."""

    def __init__(self) -> None:
        self._bodies = ResponseBodies(OCPP201)
        self._started = json.dumps(TX_STARTED_RESPONSE_201, separators=(",", ":"))

    def answer(self, call: Call) -> str:
        if call.action == "TransactionEvent" and call.payload.get("eventType") == "Started":
            body = self._started
        else:
            body = self._bodies.body(call.action) or "{}"
        return f'[3,"{call.unique_id}",{body}]'


class Charger:
    """A bench charger's frames: boot, one StartTransaction, then the mix with its transactionId."""

    def __init__(self) -> None:
        self.frames = RequestFrames(OCPP16, FrameParams(id_tag="BENCH00001"), TX_STATUS_CYCLE)
        self._ids = iter(range(1, 1 << 62))

    def frame(self, action: str) -> str:
        return self.frames.frame(action, f"m{next(self._ids)}")


async def new_translation(store: StateStore) -> Translation:
    factory = translator_factory(CONFIG, RULES)
    translator = await factory(store, CHARGER, D16, D201)
    assert isinstance(translator, Translation)
    return translator


class _MemoryStore:
    """get_value for the translator factory: every charger starts without state."""

    async def get_value(self, charge_box_id: str, key: str) -> None:
        return None


def new_session() -> tuple[ChargerSession, Translation]:
    translation = asyncio.run(new_translation(_MemoryStore()))  # type: ignore[arg-type]  # only get_value is used
    ids = iter(range(1, 1 << 62))
    session = ChargerSession(D16, D201, translation, charger_timeout=30, csms_timeout=30, max_queued=16,
                             max_frame=262_144, new_id=lambda: f"gw-{next(ids)}")
    session.leg_up(Leg.CSMS, 0.0)
    return session, translation


def session_call(session: ChargerSession, csms: Csms, text: str, now: float, saved: list[str]) -> str:
    """One charger call through the session, the CSMS answering at once; returns the charger's answer."""
    session.receive(Leg.CHARGER, text, now)
    while True:
        reply = answer = None
        for command in session.commands():
            if type(command) is Send:
                if command.leg is Leg.CSMS:
                    assert isinstance(command.message, Call)
                    reply = csms.answer(command.message)
                else:
                    answer = command.text
            elif type(command) is Save:
                saved.append(dump_json(command.value))  # what the runner's store.set_value does first
        if answer is not None:
            return answer
        assert reply is not None, "the call neither went upstream nor was answered"
        session.receive(Leg.CSMS, reply, now)


def started_session() -> tuple[ChargerSession, Translation, Charger, Csms]:
    session, translation = new_session()
    charger, csms = Charger(), Csms()
    saved: list[str] = []
    session_call(session, csms, charger.frame("BootNotification"), 1.0, saved)
    answer = ocppj.parse(session_call(session, csms, charger.frame("StartTransaction"), 1.0, saved))
    assert isinstance(answer, CallResult) and answer.payload["idTagInfo"]["status"] == "Accepted", answer
    charger.frames.set_transaction(answer.payload["transactionId"])
    return session, translation, charger, csms


# ---- the whole mix --------------------------------------------------------------------------


def session_mix_case(calls: int) -> Callable[[], float]:
    """The sans-I/O core for `calls` mix calls; returns microseconds per call."""
    session, _, charger, csms = started_session()
    actions = mix(calls)

    def run() -> float:
        saved: list[str] = []
        frames = [charger.frame(action) for action in actions]
        start = time.perf_counter()
        for text in frames:
            session_call(session, csms, text, 1.0, saved)
        return (time.perf_counter() - start) / calls * 1e6

    return run


class _Link:
    closed = False
    close_code = None

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, command: Send) -> None:
        self.sent.append(command.text)


class _Upstream:
    closed = False

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(text)


class _NoTasks:
    def create_task(self, coro: Any) -> None:  # a timer that fires during the run does nothing
        coro.close()


async def runner_mix(calls: int, rounds: int) -> list[tuple[float, float]]:
    """(CPU us, wall us) per mix call through SessionRunner.feed_text with a real SQLite store, per round."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(str(Path(tmp) / "state.db"))
        try:
            ctx = GatewayContext(CONFIG, Metrics(), store, None, None,  # type: ignore[arg-type]  # no HTTP
                                 translators=translator_factory(CONFIG, RULES))
            link, upstream, csms, charger = _Link(), _Upstream(), Csms(), Charger()
            runner = SessionRunner(ctx, CHARGER, D16, link)  # type: ignore[arg-type]  # a stub link
            runner._session = runner._new_session(await ctx.make_translator(CHARGER, D16))
            runner._upstream = upstream  # type: ignore[assignment]
            runner._tasks = _NoTasks()  # type: ignore[assignment]
            runner._session.leg_up(Leg.CSMS, 0.0)

            async def call(text: str) -> str:
                await runner.feed_text(Leg.CHARGER, text)
                while not link.sent:
                    sent = upstream.sent.pop()
                    request = ocppj.parse(sent)
                    assert isinstance(request, Call)
                    await runner.feed_text(Leg.CSMS, csms.answer(request))
                return link.sent.pop()

            await call(charger.frame("BootNotification"))
            started = ocppj.parse(await call(charger.frame("StartTransaction")))
            assert isinstance(started, CallResult)
            charger.frames.set_transaction(started.payload["transactionId"])
            out = []
            for _ in range(rounds):
                frames = [charger.frame(action) for action in mix(calls)]
                cpu, wall = time.process_time(), time.perf_counter()
                for text in frames:
                    await call(text)
                out.append(((time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6))
            return out
        finally:
            await store.close()


# ---- one MeterValues call, stage by stage ----------------------------------------------------


def stage_cases() -> dict[str, Callable[[], object]]:
    """The steps of one MeterValues call, each on its own (their sum is not exactly the whole)."""
    session, translation, charger, csms = started_session()
    mv_text = charger.frame("MeterValues")
    mv_call = ocppj.parse(mv_text)
    assert isinstance(mv_call, Call)
    state = translation.ctx.state
    rule = RULES.find(D16, "MeterValues", "up", D201)
    assert rule is not None
    flow = translation.flow(mv_call, Leg.CHARGER, 1.0)
    event = next(flow)
    flow.close()
    te_call = Call("gw-1", "TransactionEvent", event.payload)  # type: ignore[union-attr]
    te_text = ocppj.serialize(te_call)
    te_reply = csms.answer(te_call)
    answer = CallResult(mv_call.unique_id, {})
    mapping = translation._mapping
    handler_ctx: HandlerContext = translation.ctx

    def handler() -> None:
        flow = meter_values(handler_ctx, mv_call, 1.0)
        assert flow is not None
        next(flow)  # type: ignore[call-overload]
        flow.close()  # type: ignore[union-attr]
        state.writes()

    def save_docs() -> None:
        state.doc("tx")
        for _, value in state.writes():
            dump_json(value)

    saved: list[str] = []
    hb_text = charger.frame("Heartbeat")

    return {
        "parse 1.6 MeterValues CALL": lambda: ocppj.parse(mv_text),
        "validate 1.6 MeterValues request": lambda: schemas.validate(D16, "MeterValues", "request", mv_call.payload),
        "rule: find + apply (routes)": lambda: rule.apply(mv_call.payload, mapping),
        "handler: record, event, seqNo": handler,
        "validate 2.0.1 TransactionEvent request": lambda: schemas.validate(D201, "TransactionEvent", "request",
                                                                             event.payload),  # type: ignore[union-attr]
        "serialize TransactionEvent CALL": lambda: ocppj.serialize(te_call),
        "parse TransactionEvent CALLRESULT": lambda: ocppj.parse(te_reply),
        "validate 2.0.1 TransactionEvent response": lambda: schemas.validate(D201, "TransactionEvent", "response", {}),
        "serialize MeterValues CALLRESULT": lambda: ocppj.serialize(answer),
        "Save: dump the tx document": save_docs,
        "session: MeterValues, whole": lambda: session_call(session, csms, mv_text, 1.0, saved),
        "session: Heartbeat, whole": lambda: session_call(session, csms, hb_text, 1.0, saved),
        "(for scale) serialized TransactionEvent bytes": lambda: len(te_text),
    }


def _timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def _profile(calls: int) -> None:
    run = session_mix_case(calls)
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def _rows(results: dict[str, list[float]]) -> Iterator[str]:
    for name, values in results.items():
        yield f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=4000, help="calls per case and round")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the session mix and stop")
    args = ap.parse_args()
    if args.profile:
        _profile(args.calls)
        return
    stages = stage_cases()
    session_run = session_mix_case(args.calls)
    results: dict[str, list[float]] = {name: [] for name in stages}
    results["session, mix"] = []
    for _ in range(args.rounds):
        for name, fn in stages.items():
            results[name].append(_timed(fn, args.calls) if not name.startswith("(") else float(fn()))  # type: ignore[arg-type]
        results["session, mix"].append(session_run())
    runner = asyncio.run(runner_mix(args.calls, args.rounds))
    results["runner + SqliteStore, mix: CPU (all threads)"] = [cpu for cpu, _ in runner]
    results["runner + SqliteStore, mix: wall"] = [wall for _, wall in runner]
    print(f"| per translated call ({args.rounds} rounds x {args.calls}) | min us | median us |")
    print("|---|---:|---:|")
    for row in _rows(results):
        print(row)


if __name__ == "__main__":
    main()
