"""The outbox is durable: what the gateway acknowledged while the CSMS was away survives a SIGKILL.

A 1.6 charger's transaction messages meet a vanished CSMS and are answered at once by the gateway (run as
a subprocess); the gateway is SIGKILLed right after the last answer and restarted on the same state file
with the CSMS back; when the charger reconnects every acknowledged message reaches the CSMS, in order.
The moments are chosen by events (the gateway's own log lines on stderr, the peers' records), not timers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16

from gateway.core.translate.tx16 import TX_NAMESPACE
from tests.crash.process import GatewayProcess, connect_retrying
from tests.peers import Csms, CsmsCp16, CsmsLink

pytestmark = pytest.mark.timeout(45)

BOX = "OUTBOX1"
MODES = {"translated": "ocpp2.0.1", "passthrough": "ocpp1.6"}
OUTBOX = {"enabled": True, "max_messages": 1000, "max_attempts": 5, "retry_interval": 10}
T = [f"2026-11-22T10:0{i}:00Z" for i in range(10)]


@dataclass
class Env:
    mode: str
    csms: Csms
    gateway: GatewayProcess


@pytest.fixture(params=list(MODES))
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    csms = await Csms().start()
    gateway = GatewayProcess(tmp_path, csms.url, MODES[request.param], outbox=OUTBOX,
                             upstream={"response_timeout": 30})
    try:
        await gateway.start()
        yield Env(request.param, csms, gateway)
    finally:
        await gateway.kill()
        await csms.stop()


def meter(transaction_id: int, minute: int, value: int) -> c16.MeterValues:
    return c16.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[
        {"timestamp": T[minute], "sampled_value": [{"value": str(value), "context": "Sample.Periodic"}]}])


def calls(frames: list[str]) -> list[tuple[str, Any]]:
    return [(frame[2], frame[3]) for frame in map(json.loads, frames) if frame[0] == 2]


async def next_calls(link: CsmsLink, count: int) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    while len(found) < count:
        action, payload = await link.next_call()
        if action != "StatusNotification":
            found.append((action, payload))
    return found


async def test_sigkill_after_acknowledged_queued_messages_loses_none_of_them(env: Env) -> None:
    """SIGKILL right after the gateway acknowledged queued transaction messages (CSMS away); restarted on
    the same state with the CSMS back, it delivers every one of them, in order, once the charger is back."""
    charger = await connect_retrying(env.gateway.url, BOX)
    await env.csms.next_connection()
    if env.mode == "passthrough":  # the CSMS owns the id: the transaction starts while it is there
        transaction_id = (await charger.cp.call(c16.StartTransaction(
            connector_id=1, id_tag="T1", meter_start=100, timestamp=T[0]), suppress=False)).transaction_id
    await env.csms.vanish()
    await env.gateway.wait_for_log("upstream connection lost")
    sent_before = len(charger.recorder.sent)
    async with asyncio.timeout(5):  # each is answered at once, from the outbox
        if env.mode == "translated":
            transaction_id = (await charger.cp.call(c16.StartTransaction(
                connector_id=1, id_tag="T1", meter_start=100, timestamp=T[0]), suppress=False)).transaction_id
        for call in (meter(transaction_id, 1, 2010), meter(transaction_id, 2, 3020),
                     c16.StopTransaction(transaction_id=transaction_id, meter_stop=9876, timestamp=T[3],
                                         id_tag="T1", reason="Local")):
            assert await charger.cp.call(call, suppress=False) is not None
    acknowledged = calls(charger.recorder.sent[sent_before:])

    await env.gateway.kill()
    await charger.close()
    await env.csms.start(port=env.csms.port)
    await env.gateway.start()
    charger = await connect_retrying(env.gateway.url, BOX)
    link = await env.csms.next_connection()
    arrived = await next_calls(link, len(acknowledged))
    if env.mode == "passthrough":
        assert calls(link.recorder.received)[:len(acknowledged)] == acknowledged
    else:
        events = [payload for _, payload in arrived]
        assert [(e["event_type"], e["seq_no"]) for e in events] == [
            ("Started", 0), ("Updated", 1), ("Updated", 2), ("Ended", 3)]
        assert {e["transaction_info"]["transaction_id"] for e in events} == {
            str(uuid.uuid5(TX_NAMESPACE, f"{BOX}:{transaction_id}"))}
        assert [e["timestamp"] for e in (events[0], events[3])] == [T[0], T[3]]
        assert [e["meter_value"][0]["timestamp"] for e in events[1:3]] == [T[1], T[2]]
    # exactly once: the charger's next transaction message comes right after them
    await charger.cp.call(c16.StartTransaction(connector_id=1, id_tag="T2", meter_start=9876, timestamp=T[5]),
                          suppress=False)
    action, _ = (await next_calls(link, 1))[0]
    assert action == ("TransactionEvent" if env.mode == "translated" else "StartTransaction")
    assert link.cp.calls.empty()
    await charger.close()


def ids(frames: list[str]) -> list[str]:
    return [frame[1] for frame in map(json.loads, frames) if frame[0] == 2]


async def test_sigkill_during_the_replay_resends_the_unanswered_entry(tmp_path: Path) -> None:
    """SIGKILL while the CSMS holds a replayed entry unanswered: after the restart the entry is sent again,
    under the same message id (a recognisable duplicate), and the rest of the queue follows in order."""
    held, release = asyncio.Event(), asyncio.Event()

    class HoldingCp16(CsmsCp16):
        @on("StopTransaction")
        async def stop_transaction(self, **kw: Any) -> r16.StopTransaction:
            self._record("StopTransaction", kw)
            if not held.is_set():
                held.set()
                await release.wait()  # the gateway dies meanwhile
            return r16.StopTransaction()

    csms = Csms()
    csms.cp16_class = HoldingCp16
    await csms.start()
    gateway = GatewayProcess(tmp_path, csms.url, "ocpp1.6", outbox=OUTBOX, upstream={"response_timeout": 30})
    try:
        await gateway.start()
        charger = await connect_retrying(gateway.url, BOX)
        await csms.next_connection()
        await csms.vanish()
        await gateway.wait_for_log("upstream connection lost")
        async with asyncio.timeout(5):
            await charger.cp.call(c16.StopTransaction(transaction_id=7, meter_stop=9876, timestamp=T[1]),
                                  suppress=False)
            await charger.cp.call(meter(8, 2, 2010), suppress=False)
        await csms.start(port=csms.port)
        replaying = await csms.next_connection()
        async with asyncio.timeout(10):
            await held.wait()
        await gateway.kill()
        release.set()
        await charger.close()
        await gateway.start()
        charger = await connect_retrying(gateway.url, BOX)
        link = await csms.next_connection()
        arrived = await next_calls(link, 2)
        assert [(action, payload["transaction_id"]) for action, payload in arrived] == [
            ("StopTransaction", 7), ("MeterValues", 8)]
        assert ids(link.recorder.received)[0] == ids(replaying.recorder.received)[0]
        await charger.close()
    finally:
        release.set()
        await gateway.kill()
        await csms.stop()
