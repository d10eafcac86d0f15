"""Crash recovery (issue 6): the gateway is SIGKILLed at chosen moments of a transaction, under load, and restarted.

A 1.6 charger drives Start, four MeterValues and Stop through the gateway to a 2.0.1 CSMS (translated) or a
1.6 CSMS (pass-through) while 20 other chargers send Heartbeats and MeterValues. The kill moment is chosen by
events, never by timers. After the restart every charger reconnects, and the transaction's charger resends
what it had not had answered, with the same content and message id, as a real charger retries. Then:
everything the charger got a CALLRESULT for is at the CSMS; the transaction keeps its ids; seqNo never goes
back except in recognisable duplicates; the transaction ends exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call_result as r201

from gateway.core.translate.tx16 import TX_NAMESPACE
from tests.crash.process import GatewayProcess, connect_retrying
from tests.peers import Charger, Csms, CsmsCp16, CsmsCp201

pytestmark = pytest.mark.timeout(30)

MAIN = "CRASH1"
LOAD_CHARGERS = 20
MODES = {"translated": "ocpp2.0.1", "passthrough": "ocpp1.6"}


# ---- the CSMS: one record across the gateway's reconnections, and a handler that can be held ----------


@dataclass
class Upstream:
    """What the CSMS received from every charger, over every connection, in arrival order."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (charge box, action, payload)
    hold_action: str | None = None  # the next such call from MAIN is held until `release` is set
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    tx_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))
    assigned: list[int] = field(default_factory=list)  # 1.6 transactionIds the CSMS gave out
    held_call: tuple[str, dict[str, Any]] | None = None  # the call that was held when the gateway died

    def of(self, charge_box_id: str, action: str) -> list[dict[str, Any]]:
        return [payload for box, name, payload in self.calls if box == charge_box_id and name == action]

    async def handled(self, charge_box_id: str, action: str, payload: dict[str, Any]) -> None:
        self.calls.append((charge_box_id, action, payload))
        if charge_box_id == MAIN and action == self.hold_action:
            self.hold_action = None  # once: the resent call is answered
            self.held_call = (action, payload)
            self.held.set()
            await self.release.wait()


def csms_for(upstream: Upstream) -> Csms:
    class Cp16(CsmsCp16):
        def _record(self, action: str, payload: dict[str, Any]) -> None:
            upstream.calls.append((self.id, action, payload))

        @on("StartTransaction")
        def start_transaction(self, **kw: Any) -> r16.StartTransaction:
            upstream.calls.append((self.id, "StartTransaction", kw))
            upstream.assigned.append(next(upstream.tx_ids))  # one sequence for every connection
            return r16.StartTransaction(transaction_id=upstream.assigned[-1], id_tag_info={"status": "Accepted"})

        @on("MeterValues")
        async def meter_values(self, **kw: Any) -> r16.MeterValues:
            await upstream.handled(self.id, "MeterValues", kw)
            return r16.MeterValues()

        @on("StopTransaction")
        async def stop_transaction(self, **kw: Any) -> r16.StopTransaction:
            await upstream.handled(self.id, "StopTransaction", kw)
            return r16.StopTransaction()

    class Cp201(CsmsCp201):
        def _record(self, action: str, payload: dict[str, Any]) -> None:
            upstream.calls.append((self.id, action, payload))

        @on("TransactionEvent")
        async def transaction_event(self, **kw: Any) -> r201.TransactionEvent:
            await upstream.handled(self.id, f"TransactionEvent.{kw['event_type']}", kw)
            return r201.TransactionEvent(id_token_info={"status": "Accepted"})

    csms = Csms()
    csms.cp16_class, csms.cp201_class = Cp16, Cp201
    return csms


def csms_frames(csms: Csms, charge_box_id: str) -> list[list[Any]]:
    """Every CALL the CSMS received from `charge_box_id`, over every connection: [2, id, action, payload]."""
    frames = []
    while not csms.connections.empty():
        link = csms.connections.get_nowait()
        if link.charge_box_id == charge_box_id:
            frames += [json.loads(text) for text in link.recorder.received]
    return [frame for frame in frames if frame[0] == 2]


# ---- the gateway as a process that can be killed -------------------------------------------------------


# ---- chargers -----------------------------------------------------------------------------------------


class Load:
    """Chargers sending Heartbeats and MeterValues back to back, reconnecting whenever they lose the gateway."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.boxes = [f"LOAD{n:02}" for n in range(LOAD_CHARGERS)]
        self.acked: Counter[tuple[str, str]] = Counter()
        self.generation = 0  # bumped by the test at each restart
        self.answered_in: dict[str, int] = {}
        self.all_back = asyncio.Event()
        self.stopping = asyncio.Event()
        self.tasks = [asyncio.create_task(self._run(box)) for box in self.boxes]

    def restarted(self) -> None:
        self.generation += 1
        self.all_back.clear()

    async def _run(self, box: str) -> None:
        for n in itertools.count():
            if self.stopping.is_set():
                return
            charger = await connect_retrying(self.url, box)
            try:
                while not self.stopping.is_set():
                    payload: Any = c16.Heartbeat() if n % 2 else c16.MeterValues(
                        connector_id=1, meter_value=[{"timestamp": "2026-01-01T00:00:00Z",
                                                      "sampled_value": [{"value": str(n)}]}])
                    generation = self.generation
                    call = asyncio.create_task(charger.cp.call(payload))
                    try:
                        await asyncio.wait({call, charger.task}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        if not call.done():
                            call.cancel()
                        with contextlib.suppress(BaseException):
                            await call
                    if call.cancelled() or call.exception() is not None or call.result() is None:
                        break  # connection lost or call refused: reconnect, as a charger does
                    self.acked[(box, type(payload).__name__)] += 1
                    self.answered_in[box] = generation
                    if all(self.answered_in.get(b) == self.generation for b in self.boxes):
                        self.all_back.set()
                    n += 1
                    await asyncio.sleep(0.05)  # the load's pace
            finally:
                await charger.close()

    async def stop(self) -> None:
        self.stopping.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# ---- the transaction's charger ------------------------------------------------------------------------


@dataclass
class Env:
    mode: str
    upstream: Upstream
    csms: Csms
    gateway: GatewayProcess
    load: Load
    charger: Charger | None = None
    acked: list[tuple[str, str, Any]] = field(default_factory=list)  # (message id, action, payload) answered
    message_ids: Iterator[str] = field(default_factory=lambda: (f"crash-{n}" for n in itertools.count()))

    async def crash_and_restart(self) -> None:
        await self.gateway.kill()
        self.upstream.release.set()  # a held CSMS handler answers into a connection that is gone
        if self.charger is not None:
            await self.charger.close()
        await self.gateway.start()
        self.load.restarted()
        self.charger = await connect_retrying(self.gateway.url, MAIN)

    async def call(self, payload: Any, *, kill_while_csms_holds: str | None = None) -> Any:
        """Send one call; with `kill_while_csms_holds`, SIGKILL once the CSMS has it, then resend it (same id)."""
        assert self.charger is not None
        message_id = next(self.message_ids)
        if kill_while_csms_holds is not None:
            self.upstream.hold_action = kill_while_csms_holds
            pending = asyncio.create_task(self.charger.cp.call(payload, unique_id=message_id))
            async with asyncio.timeout(10):
                await self.upstream.held.wait()
            assert not pending.done(), "the charger was answered before the CSMS answered"
            await self.crash_and_restart()
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            assert self.charger is not None
        answer = await self.charger.cp.call(payload, unique_id=message_id)
        assert answer is not None, f"{type(payload).__name__} was refused"
        self.acked.append((message_id, type(payload).__name__, payload))
        return answer


@pytest.fixture(params=list(MODES))
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    upstream = Upstream()
    csms = await csms_for(upstream).start()
    gateway = GatewayProcess(tmp_path, csms.url, MODES[request.param])
    load: Load | None = None
    try:
        await gateway.start()
        load = Load(gateway.url)
        async with asyncio.timeout(15):
            await load.all_back.wait()  # the load is running before the transaction starts
        environment = Env(request.param, upstream, csms, gateway, load)
        environment.charger = await connect_retrying(gateway.url, MAIN)
        yield environment
        if environment.charger is not None:
            await environment.charger.close()
    finally:
        upstream.release.set()
        if load is not None:
            await load.stop()
        await gateway.kill()
        await csms.stop()


# ---- one transaction, with a kill at a chosen point ---------------------------------------------------


def meter(transaction_id: int, value: int) -> c16.MeterValues:
    return c16.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[
        {"timestamp": f"2026-01-01T00:0{value}:00Z",
         "sampled_value": [{"value": str(value * 100), "context": "Sample.Periodic"}]}])


async def drive(env: Env, kill_at: str) -> int:
    """Start, four MeterValues, Stop; SIGKILL at `kill_at`. Returns the charger's transactionId."""
    hold = {"translated": "TransactionEvent", "passthrough": ""}[env.mode]
    started = await env.call(c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=0,
                                                  timestamp="2026-01-01T00:00:00Z"))
    if kill_at == "after_start_answered":
        await env.crash_and_restart()
    transaction_id = int(started.transaction_id)
    for value in range(1, 5):
        held = kill_at == "while_csms_holds_meter_values" and value == 3
        action = f"{hold}.Updated" if hold else "MeterValues"
        await env.call(meter(transaction_id, value), kill_while_csms_holds=action if held else None)
        if kill_at == "between_meter_values" and value == 2:
            await env.crash_and_restart()
    held = kill_at == "while_csms_holds_stop"
    action = f"{hold}.Ended" if hold else "StopTransaction"
    await env.call(c16.StopTransaction(transaction_id=transaction_id, meter_stop=500, id_tag="T1",
                                       timestamp="2026-01-01T00:09:00Z", reason="Local"),
                   kill_while_csms_holds=action if held else None)
    async with asyncio.timeout(15):
        await env.load.all_back.wait()  # every load charger was answered after the last restart
    return transaction_id


# ---- what must hold after it --------------------------------------------------------------------------


def wire(payload: Any) -> Any:
    """A call's payload as the `ocpp` package puts it on the wire."""
    return remove_nones(snake_to_camel_case(serialize_as_dict(payload)))


def assert_load_lost_nothing(env: Env) -> None:
    for (box, action), count in env.load.acked.items():
        assert len(env.upstream.of(box, action)) >= count, f"{box}: an acknowledged {action} never reached the CSMS"
    assert env.load.generation >= 1


def assert_translated(env: Env, transaction_id: int) -> None:
    events = [(box, action, payload) for box, action, payload in env.upstream.calls
              if box == MAIN and action.startswith("TransactionEvent")]
    payloads = [payload for _, _, payload in events]
    # every acknowledged call is at the CSMS
    for _, action, call in env.acked:
        if action == "StartTransaction":
            assert any(p["event_type"] == "Started" for p in payloads), "acknowledged Start never reached the CSMS"
        elif action == "MeterValues":
            value = float(call.meter_value[0]["sampled_value"][0]["value"])
            assert any(p["event_type"] == "Updated" and value in [s["value"] for mv in p["meter_value"]
                                                                   for s in mv["sampled_value"]]
                       for p in payloads), f"acknowledged MeterValues {value} never reached the CSMS"
        else:
            assert any(p["event_type"] == "Ended" for p in payloads), "acknowledged Stop never reached the CSMS"
    # one 2.0.1 transactionId across every kill: the one of the charger's 1.6 id, which it kept
    assert {p["transaction_info"]["transaction_id"] for p in payloads} == {
        str(uuid.uuid5(TX_NAMESPACE, f"{MAIN}:{transaction_id}"))}
    # seqNo strictly rises; a repeated seqNo is a recognisable duplicate: the same event again
    seen: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        seq = payload["seq_no"]
        if seq in seen:
            assert payload == seen[seq], f"seqNo {seq} reused for a different event"
        else:
            assert not seen or seq > max(seen), f"seqNo went back: {seq} after {max(seen)}"
            seen[seq] = payload
    assert seen[min(seen)]["event_type"] == "Started"
    # a resent MeterValues is recognisable: the same meter values never come under two seqNos
    updated = [(json.dumps(p["meter_value"], sort_keys=True), p["seq_no"]) for p in payloads
               if p["event_type"] == "Updated"]
    assert len(dict(updated)) == len(set(updated)), f"the same meter values under two seqNos: {updated}"
    ended = [s for s, p in seen.items() if p["event_type"] == "Ended"]
    assert len(ended) == 1, f"the transaction ended more than once: seqNos {ended}"
    assert max(seen) == ended[0], "an event came after Ended"


def assert_passthrough(env: Env, transaction_id: int) -> None:
    assert env.upstream.assigned == [transaction_id], "the charger must keep the CSMS's own transactionId"
    stops = env.upstream.of(MAIN, "StopTransaction")
    assert stops and all(stop == stops[0] for stop in stops), "a repeated Stop must be the same Stop again"
    assert stops[0]["transaction_id"] == transaction_id
    assert all(mv["transaction_id"] == transaction_id for mv in env.upstream.of(MAIN, "MeterValues"))
    # every acknowledged call is at the CSMS, under the charger's own message id and with its content;
    # a message id seen twice is a recognisable duplicate: the same call again
    by_id: dict[str, list[Any]] = {}
    for frame in csms_frames(env.csms, MAIN):
        assert by_id.setdefault(frame[1], frame) == frame, f"message id {frame[1]} reused for another call"
    for message_id, action, call in env.acked:
        assert message_id in by_id, f"acknowledged {action} {message_id} never reached the CSMS"
        assert by_id[message_id][2:] == [action, wire(call)]


def held_call_copies(env: Env) -> int:
    """How often the CSMS got the call it was holding at the kill, identical in content (seqNo included)."""
    assert env.upstream.held_call is not None
    return sum(1 for call in env.upstream.calls if call == (MAIN, *env.upstream.held_call))


def assert_recovered(env: Env, transaction_id: int) -> None:
    assert_load_lost_nothing(env)
    if env.mode == "translated":
        assert_translated(env, transaction_id)
    else:
        assert_passthrough(env, transaction_id)


async def test_kill_right_after_start_answer_keeps_transaction(env: Env) -> None:
    """SIGKILL right after the charger got its StartTransaction answer: the transaction continues under its ids."""
    assert_recovered(env, await drive(env, "after_start_answered"))


async def test_kill_while_csms_holds_meter_values_loses_nothing(env: Env) -> None:
    """SIGKILL after the CSMS got a MeterValues but before the charger's answer: the resend keeps the ids."""
    assert_recovered(env, await drive(env, "while_csms_holds_meter_values"))
    assert held_call_copies(env) == 2, "the resent MeterValues reaches the CSMS again as the same message"


async def test_kill_between_meter_values_continues_seq_no(env: Env) -> None:
    """SIGKILL between two answered MeterValues: the next one continues the transaction's seqNo."""
    assert_recovered(env, await drive(env, "between_meter_values"))


async def test_kill_while_csms_holds_stop_ends_transaction_once(env: Env) -> None:
    """SIGKILL after the charger sent StopTransaction, before its answer: the transaction ends exactly once."""
    assert_recovered(env, await drive(env, "while_csms_holds_stop"))
    assert held_call_copies(env) == 2, "the resent Stop reaches the CSMS again as the same message"
