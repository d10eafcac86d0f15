"""The durable per-charger outbox: transaction messages met by an away CSMS are persisted, answered at once,
and replayed to the CSMS in order when it is back (docs/reliability.md, TRANSLATION.md 1.10).

The CSMS `vanish`es mid-session (no Close frame, nothing listening) and comes back on the same URL
(`csms.start(port=csms.port)`); the `ocpp` package plays charger and CSMS and validates everything it
receives, so a replayed message the CSMS records was schema-valid.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201

from gateway.app import Gateway
from gateway.core.translate.tx16 import TX_NAMESPACE
from gateway.store import open_store
from tests.conftest import GatewayFactory, charger_url
from tests.logwatch import LogWatch, watch_log
from tests.net.scrape import metric
from tests.peers import Charger, Csms, CsmsCp16, CsmsLink, connect_charger

pytestmark = pytest.mark.timeout(30)

LOST = "upstream connection lost"
#: Logged when a charger's outbox has been replayed to the end.
REPLAYED = "outbox replayed"
#: The outbox section every test starts from (the documented defaults, enabled explicitly).
OUTBOX = {"enabled": True, "max_messages": 1000, "max_attempts": 5, "retry_interval": 10}
#: How long an answer "at once" may take; a held call would wait upstream.response_timeout (30 s here).
AT_ONCE = 2.0
ENERGY = "Energy.Active.Import.Register"
T = [f"2026-11-22T10:0{i}:00Z" for i in range(10)]
BOX = "CB1"


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


# ---- set-up -------------------------------------------------------------------------------------------


async def _start(
    csms: Csms, start_gateway: GatewayFactory, upstream: str, *, outbox: dict[str, Any] | None = None,
    **upstream_config: float,
) -> Gateway:
    return await start_gateway(csms.url, upstream, upstream={"response_timeout": 30, **upstream_config},
                               outbox={**OUTBOX, **(outbox or {})})


async def _gone(csms: Csms, log: LogWatch) -> None:
    """The CSMS vanishes (no Close frame) and the gateway has noticed."""
    await csms.vanish()
    await log.wait_for(LOST)


async def _connected_then_csms_gone(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str, upstream: str, *,
    outbox: dict[str, Any] | None = None, **upstream_config: float,
) -> tuple[Gateway, Charger]:
    """A charger connected through the gateway (outbox on), whose CSMS then vanished."""
    gateway = await _start(csms, start_gateway, upstream, outbox=outbox, **upstream_config)
    charger = await connect_charger(charger_url(gateway), BOX, dialect)
    await csms.next_connection()
    await _gone(csms, log)
    return gateway, charger


async def _back(csms: Csms) -> CsmsLink:
    """The CSMS is back on the same URL; the gateway's redial arrives."""
    await csms.start(port=csms.port)
    return await csms.next_connection()


async def _at_once(charger: Charger, call: Any) -> Any:
    """Make a call that must be answered without waiting for the CSMS; return the answer."""
    async with asyncio.timeout(AT_ONCE):
        return await charger.cp.call(call, suppress=False)


def _last_answer(charger: Charger) -> Any:
    """The payload of the last frame the charger received (a CALLRESULT)."""
    frame = json.loads(charger.recorder.received[-1])
    assert frame[0] == 3, f"not a CALLRESULT: {frame}"
    return frame[2]


def _calls(frames: list[str]) -> list[tuple[str, Any]]:
    """The CALLs among raw frames, as (action, wire payload)."""
    return [(frame[2], frame[3]) for frame in map(json.loads, frames) if frame[0] == 2]


def _ids(frames: list[str]) -> list[str]:
    """The message ids of the CALLs among raw frames."""
    return [frame[1] for frame in map(json.loads, frames) if frame[0] == 2]


async def _next_calls(link: CsmsLink, count: int, skip: tuple[str, ...] = ("StatusNotification",)
                      ) -> list[tuple[str, dict[str, Any]]]:
    """The next `count` calls the CSMS handled, ignoring the actions in `skip`."""
    calls: list[tuple[str, dict[str, Any]]] = []
    while len(calls) < count:
        action, payload = await link.next_call()
        if action not in skip:
            calls.append((action, payload))
    return calls


def _meter16(transaction_id: int, minute: int, value: int) -> c16.MeterValues:
    return c16.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[
        {"timestamp": T[minute], "sampled_value": [
            {"value": str(value), "context": "Sample.Periodic", "measurand": ENERGY, "unit": "Wh"}]}])


def _start16(minute: int, meter_start: int = 100) -> c16.StartTransaction:
    return c16.StartTransaction(connector_id=1, id_tag="T1", meter_start=meter_start, timestamp=T[minute])


def _stop16(transaction_id: int, minute: int, meter_stop: int = 9876) -> c16.StopTransaction:
    return c16.StopTransaction(transaction_id=transaction_id, meter_stop=meter_stop, timestamp=T[minute],
                               id_tag="T1", reason="Local")


def _event(event_type: str, seq_no: int, trigger: str, minute: int, *, tx: str = "tx-a",
           meter: float | None = None, context: str = "Sample.Periodic", **info: Any) -> c201.TransactionEvent:
    """A 2.0.1 TransactionEvent of transaction `tx` on EVSE 1 connector 1; a Started one carries token T1."""
    started = event_type == "Started"
    return c201.TransactionEvent(
        event_type=event_type, timestamp=T[minute], trigger_reason=trigger, seq_no=seq_no,
        transaction_info={"transaction_id": tx, "charging_state": "Charging", **info},
        evse={"id": 1, "connector_id": 1} if started else None,
        id_token={"id_token": "T1", "type": "ISO14443"} if started else None,
        meter_value=None if meter is None else [{"timestamp": T[minute], "sampled_value": [
            {"value": meter, "context": context, "measurand": ENERGY, "unit_of_measure": {"unit": "Wh"}}]}])


def _started(minute: int, tx: str = "tx-a") -> c201.TransactionEvent:
    return _event("Started", 0, "Authorized", minute, tx=tx, meter=100, context="Transaction.Begin")


def _periodic(seq_no: int, minute: int, value: float, tx: str = "tx-a") -> c201.TransactionEvent:
    return _event("Updated", seq_no, "MeterValuePeriodic", minute, tx=tx, meter=value)


def _ended(seq_no: int, minute: int, tx: str = "tx-a") -> c201.TransactionEvent:
    return _event("Ended", seq_no, "StopAuthorized", minute, tx=tx, meter=9876, context="Transaction.End",
                  stopped_reason="Local", charging_state="EVConnected")


def _refusing_cp16(refusals: dict[str, int], refused: asyncio.Queue[str]) -> type[CsmsCp16]:
    """A 1.6 CSMS that answers the first refusals[action] MeterValues / StopTransaction with CALLERROR
    GenericError (every attempt is recorded as a call)."""

    def maybe_refuse(action: str) -> None:
        if refusals.get(action, 0) > 0:
            refusals[action] -= 1
            refused.put_nowait(action)
            raise GenericError(description="the test CSMS refuses this one")

    class RefusingCp16(CsmsCp16):
        @on("MeterValues")
        def meter_values(self, **kw: Any) -> r16.MeterValues:
            self._record("MeterValues", kw)
            maybe_refuse("MeterValues")
            return r16.MeterValues()

        @on("StopTransaction")
        def stop_transaction(self, **kw: Any) -> r16.StopTransaction:
            self._record("StopTransaction", kw)
            maybe_refuse("StopTransaction")
            return r16.StopTransaction()

    return RefusingCp16


# ---- 1. answered at once while the CSMS is away --------------------------------------------------------


async def test_16_stop_and_meter_values_are_answered_at_once_while_csms_away(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 pass-through: StopTransaction and MeterValues with a transactionId are persisted and answered {}
    at once (StopTransaction.conf without idTagInfo is valid); each is counted as queued and appended."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6")
    meter = await _at_once(charger, _meter16(7, 1, 2010))
    assert _last_answer(charger) == {} and meter is not None
    stop = await _at_once(charger, _stop16(7, 2))
    assert stop is not None and set(_last_answer(charger)) <= {"idTagInfo"}
    for action in ("MeterValues", "StopTransaction"):
        assert await metric(gateway, "gateway_csms_away_calls_total", action=action, policy="queued") == 1
        assert await metric(gateway, "gateway_outbox_appended_total", action=action) == 1
    assert await metric(gateway, "gateway_csms_away_calls_total", policy="held") == 0
    await charger.close()


async def test_16_start_gets_a_gateway_minted_id_at_once_in_passthrough(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 pass-through (TRANSLATION.md 1.10): a StartTransaction is answered at once with an id the gateway
    issues (seconds since 2020, 3.3.1), since the CSMS that assigns ids is away."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6")
    answer = await _at_once(charger, _start16(1))
    assert answer.id_tag_info == {"status": "Accepted"}
    assert answer.transaction_id >= int(time.time()) - 1_577_836_800 - 5
    assert await metric(gateway, "gateway_csms_away_calls_total", action="StartTransaction", policy="queued") == 1
    await charger.close()


async def test_16_minted_passthrough_id_is_mapped_to_the_csms_id_both_ways(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """The replayed Start gets the CSMS's own id; from then on the charger's messages naming the minted id
    reach the CSMS with the CSMS's id, and the CSMS's RemoteStopTransaction reaches the charger with the minted one."""
    _, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6")
    minted = (await _at_once(charger, _start16(1))).transaction_id
    await _at_once(charger, _meter16(minted, 2, 2010))
    link = await _back(csms)
    calls = await _next_calls(link, 2, skip=())
    assert [action for action, _ in calls] == ["StartTransaction", "MeterValues"]
    assert calls[1][1]["transaction_id"] == 1001  # the test CSMS's id
    await log.wait_for(REPLAYED)
    await charger.cp.call(_stop16(minted, 3), suppress=False)
    action, stop = await link.next_call()
    assert (action, stop["transaction_id"]) == ("StopTransaction", 1001)
    await link.cp.call(c16.RemoteStopTransaction(transaction_id=1001), suppress=False)
    assert await asyncio.wait_for(charger.cp.commands.get(), 10) == (
        "RemoteStopTransaction", {"transaction_id": minted})
    await charger.close()


@pytest.mark.parametrize("upstream", ["ocpp2.0.1", "ocpp1.6"], ids=["201-201", "201-16"])
async def test_201_transaction_events_are_answered_at_once_while_csms_away(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, upstream: str
) -> None:
    """2.0.1 charger, either CSMS: TransactionEvent Started, Updated and Ended each get {} at once."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp2.0.1", upstream)
    for event in (_started(1), _periodic(1, 2, 2010), _ended(2, 3)):
        await _at_once(charger, event)
        assert _last_answer(charger) == {}, event.event_type
    assert await metric(gateway, "gateway_csms_away_calls_total", action="TransactionEvent", policy="queued") == 3
    assert await metric(gateway, "gateway_outbox_appended_total") == 3
    await charger.close()


async def test_16_start_gets_a_minted_id_at_once_behind_a_201_csms(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 charger, 2.0.1 CSMS: StartTransaction is answered at once with a gateway-minted integer
    transactionId and Accepted; MeterValues and StopTransaction of that transaction are answered at once."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp2.0.1")
    started = await _at_once(charger, _start16(1))
    assert isinstance(started.transaction_id, int) and started.id_tag_info["status"] == "Accepted"
    await _at_once(charger, _meter16(started.transaction_id, 2, 2010))
    assert _last_answer(charger) == {}
    assert await _at_once(charger, _stop16(started.transaction_id, 3)) is not None
    for action in ("StartTransaction", "MeterValues", "StopTransaction"):
        assert await metric(gateway, "gateway_csms_away_calls_total", action=action, policy="queued") == 1
    assert await metric(gateway, "gateway_outbox_appended_total") == 3
    await charger.close()


@pytest.mark.parametrize(("dialect", "upstream"), [("ocpp1.6", "ocpp1.6"), ("ocpp2.0.1", "ocpp2.0.1"),
                                                   ("ocpp1.6", "ocpp2.0.1"), ("ocpp2.0.1", "ocpp1.6")],
                         ids=["16-16", "201-201", "16-201", "201-16"])
async def test_non_transaction_calls_keep_the_away_policy_with_the_outbox(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str, upstream: str
) -> None:
    """With the outbox on, Heartbeat is still answered locally and Authorize still refused with GenericError;
    neither enters the outbox."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, dialect, upstream)
    v201 = dialect == "ocpp2.0.1"
    beat = await _at_once(charger, c201.Heartbeat() if v201 else c16.Heartbeat())
    assert beat.current_time
    authorize = (c201.Authorize(id_token={"id_token": "T1", "type": "ISO14443"}) if v201
                 else c16.Authorize(id_tag="T1"))
    with pytest.raises(GenericError, match="the CSMS is unreachable"):
        await _at_once(charger, authorize)
    assert await metric(gateway, "gateway_csms_away_calls_total", action="Heartbeat", policy="answered") == 1
    assert await metric(gateway, "gateway_csms_away_calls_total", action="Authorize", policy="refused") == 1
    assert await metric(gateway, "gateway_outbox_appended_total") == 0
    await charger.close()


# ---- 2. replayed in order when the CSMS is back ---------------------------------------------------------


async def test_16_queue_reaches_the_csms_in_order_once_and_unchanged(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 pass-through: what was queued reaches the CSMS when it is back, in order, exactly once, with the
    charger's own payloads (timestamps included), before the charger's next transaction message."""
    gateway = await _start(csms, start_gateway, "ocpp1.6")
    charger = await connect_charger(charger_url(gateway), BOX, "ocpp1.6")
    await csms.next_connection()
    transaction_id = (await charger.cp.call(_start16(0), suppress=False)).transaction_id
    await _gone(csms, log)
    sent_before = len(charger.recorder.sent)
    for call in (_meter16(transaction_id, 1, 2010), _meter16(transaction_id, 2, 3020), _stop16(transaction_id, 3)):
        await _at_once(charger, call)
    queued = _calls(charger.recorder.sent[sent_before:])
    link = await _back(csms)
    assert [action for action, _ in await _next_calls(link, 3, skip=())] == [a for a, _ in queued]
    assert _calls(link.recorder.received) == queued
    await log.wait_for(REPLAYED)
    # exactly once: the charger's next transaction message is the next thing the CSMS gets
    await charger.cp.call(_start16(4), suppress=False)
    assert (await link.next_call())[0] == "StartTransaction" and link.cp.calls.empty()
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="result") == 3
    await charger.close()


async def test_201_queued_events_reach_the_csms_in_order_marked_offline(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """2.0.1 pass-through: queued TransactionEvents reach the CSMS in order, exactly once, as the charger
    sent them (timestamps, seqNo) plus offline: true."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp2.0.1", "ocpp2.0.1")
    for event in (_started(1), _periodic(1, 2, 2010), _ended(2, 3)):
        await _at_once(charger, event)
    queued = _calls(charger.recorder.sent)
    link = await _back(csms)
    events = [payload for _, payload in await _next_calls(link, 3, skip=())]
    assert [(e["event_type"], e["seq_no"], e["timestamp"]) for e in events] == [
        ("Started", 0, T[1]), ("Updated", 1, T[2]), ("Ended", 2, T[3])]
    assert _calls(link.recorder.received) == [(action, {**payload, "offline": True}) for action, payload in queued]
    await log.wait_for(REPLAYED)
    await charger.cp.call(_started(5, tx="tx-b"), suppress=False)
    _, after = await link.next_call()
    assert after["transaction_info"]["transaction_id"] == "tx-b" and link.cp.calls.empty()
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="result") == 3
    await charger.close()


async def test_16_local_transaction_reaches_a_201_csms_as_one_offline_transaction(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 charger, 2.0.1 CSMS: a transaction made wholly while the CSMS was away reaches it as
    TransactionEvent Started/Updated/Ended, seqNo 0, 1, 2, one transactionId (derived from the minted one),
    offline: true, with the charger's timestamps."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp2.0.1")
    minted = (await _at_once(charger, _start16(1))).transaction_id
    await _at_once(charger, _meter16(minted, 2, 2010))
    await _at_once(charger, _stop16(minted, 3))
    link = await _back(csms)
    events = [payload for _, payload in await _next_calls(link, 3)]
    assert [(e["event_type"], e["seq_no"], e.get("offline")) for e in events] == [
        ("Started", 0, True), ("Updated", 1, True), ("Ended", 2, True)]
    assert {e["transaction_info"]["transaction_id"] for e in events} == {
        str(uuid.uuid5(TX_NAMESPACE, f"{BOX}:{minted}"))}
    assert (events[0]["timestamp"], events[1]["meter_value"][0]["timestamp"], events[2]["timestamp"]) == (
        T[1], T[2], T[3])
    assert events[1]["meter_value"][0]["sampled_value"][0]["value"] == 2010
    await log.wait_for(REPLAYED)
    await charger.cp.call(_start16(5), suppress=False)
    action, after = await link.next_call()
    assert (action, after["event_type"], after["seq_no"]) == ("TransactionEvent", "Started", 0)
    assert link.cp.calls.empty()
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="result") == 3
    await charger.close()


async def test_16_minted_id_keeps_naming_the_transaction_after_the_csms_is_back(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 charger, 2.0.1 CSMS: the transactionId the gateway minted while the CSMS was away is the one the
    charger goes on using once it is back; its later messages continue the same 2.0.1 transaction."""
    _, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp2.0.1")
    minted = (await _at_once(charger, _start16(1))).transaction_id
    link = await _back(csms)
    _, started = await link.next_call()
    await charger.cp.call(_meter16(minted, 2, 2010), suppress=False)
    stopped = await charger.cp.call(_stop16(minted, 3), suppress=False)
    events = [started] + [payload for _, payload in await _next_calls(link, 2)]
    assert [(e["event_type"], e["seq_no"]) for e in events] == [("Started", 0), ("Updated", 1), ("Ended", 2)]
    assert {e["transaction_info"]["transaction_id"] for e in events} == {
        str(uuid.uuid5(TX_NAMESPACE, f"{BOX}:{minted}"))}
    assert started.get("offline") is True and stopped is not None
    await charger.close()


async def test_16_start_retransmitted_while_away_is_one_transaction(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 charger, 2.0.1 CSMS: a StartTransaction the charger repeats while the CSMS is away (it missed the
    answer) gets the same minted id and reaches the CSMS as one Started event, not two."""
    _, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp2.0.1")
    first = (await _at_once(charger, _start16(1))).transaction_id
    again = (await _at_once(charger, _start16(1))).transaction_id
    assert again == first
    await _at_once(charger, _stop16(first, 2))
    link = await _back(csms)
    events = [payload for _, payload in await _next_calls(link, 2)]
    assert [(e["event_type"], e["seq_no"]) for e in events] == [("Started", 0), ("Ended", 1)]
    await charger.close()


async def test_201_queued_events_reach_a_16_csms_under_the_id_it_assigns(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """2.0.1 charger, 1.6 CSMS: queued events reach the CSMS as StartTransaction, then MeterValues and
    StopTransaction carrying the transactionId the CSMS assigned in its StartTransaction answer, with the
    charger's timestamps."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp2.0.1", "ocpp1.6")
    for event in (_started(1), _periodic(1, 2, 2010), _ended(2, 3)):
        await _at_once(charger, event)
    link = await _back(csms)
    (start_action, start), (meter_action, meter), (stop_action, stop) = await _next_calls(link, 3)
    assert (start_action, meter_action, stop_action) == ("StartTransaction", "MeterValues", "StopTransaction")
    assigned = 1001  # the test CSMS's first id on this connection
    assert (start["connector_id"], start["id_tag"], start["meter_start"], start["timestamp"]) == (1, "T1", 100, T[1])
    assert (meter["transaction_id"], meter["meter_value"][0]["timestamp"]) == (assigned, T[2])
    assert meter["meter_value"][0]["sampled_value"][0]["value"] == "2010"
    assert (stop["transaction_id"], stop["meter_stop"], stop["timestamp"]) == (assigned, 9876, T[3])
    await log.wait_for(REPLAYED)
    await charger.cp.call(_started(5, tx="tx-b"), suppress=False)
    assert (await _next_calls(link, 1))[0][0] == "StartTransaction"
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="result") == 3
    await charger.close()


# ---- 3. later transaction messages go behind the queue -------------------------------------------------


@pytest.mark.parametrize("later", ["StopTransaction", "StartTransaction"])
async def test_transaction_message_sent_during_the_replay_goes_behind_the_queue(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, later: str
) -> None:
    """A transaction message the charger sends once the CSMS is back, while the replay is still under way
    (here: waiting outbox.retry_interval after the CSMS refused the first replayed entry), reaches the CSMS
    after every queued one; a pass-through StartTransaction is itself answered from the outbox."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       outbox={"retry_interval": 1})
    await _at_once(charger, _meter16(7, 1, 2010))
    await _at_once(charger, _meter16(7, 2, 3020))
    refused: asyncio.Queue[str] = asyncio.Queue()
    csms.cp16_class = _refusing_cp16({"MeterValues": 1}, refused)
    link = await _back(csms)
    assert (await link.next_call())[0] == "MeterValues"
    async with asyncio.timeout(5):
        await refused.get()
    call = _stop16(7, 3) if later == "StopTransaction" else _start16(3)
    live = asyncio.create_task(charger.cp.call(call, suppress=False))
    calls = await _next_calls(link, 3, skip=())
    assert [(action, p.get("meter_value", [{}])[0].get("timestamp")) for action, p in calls] == [
        ("MeterValues", T[1]), ("MeterValues", T[2]), (later, None)]
    async with asyncio.timeout(10):
        answer = await live
    if later == "StartTransaction":
        assert answer.transaction_id != 1001  # answered from the outbox: the gateway's id, not the CSMS's
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="error") == 1
    await charger.close()


async def test_entry_in_flight_when_the_csms_is_lost_again_is_replayed_again(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """The CSMS vanishes again while a replayed entry waits for its answer: the entry stays in the outbox
    and, when the CSMS is back once more, is sent again, followed by the rest of the queue in order."""
    _, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6")
    await _at_once(charger, _stop16(7, 1))
    await _at_once(charger, _meter16(8, 2, 2010))
    received, release = asyncio.Event(), asyncio.Event()

    class SilentCp16(CsmsCp16):
        @on("StopTransaction")
        async def stop_transaction(self, **kw: Any) -> r16.StopTransaction:
            self._record("StopTransaction", kw)
            received.set()
            await release.wait()
            return r16.StopTransaction()

    csms.cp16_class = SilentCp16
    link = await _back(csms)
    async with asyncio.timeout(10):
        await received.wait()
    link.ws.transport.abort()  # gone before it answers
    release.set()
    await csms.vanish()
    await log.wait_for(LOST, count=2)
    csms.cp16_class = CsmsCp16
    first_attempt = _ids(link.recorder.received)
    link = await _back(csms)
    calls = await _next_calls(link, 2, skip=())
    assert [(action, p["transaction_id"]) for action, p in calls] == [("StopTransaction", 7), ("MeterValues", 8)]
    assert _ids(link.recorder.received)[0] == first_attempt[0], "a resent entry keeps its message id"
    await charger.close()


async def test_replayed_message_is_dropped_after_max_attempts_callerrors(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """A queued message the CSMS answers with CALLERROR outbox.max_attempts times is dropped (counted), and
    the replay goes on with the next one."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       outbox={"max_attempts": 2, "retry_interval": 0.2})
    await _at_once(charger, _stop16(7, 1))
    await _at_once(charger, _meter16(8, 2, 2010))
    csms.cp16_class = _refusing_cp16({"StopTransaction": 100}, asyncio.Queue())
    link = await _back(csms)
    assert [action for action, _ in await _next_calls(link, 3, skip=())] == [
        "StopTransaction", "StopTransaction", "MeterValues"]
    assert await metric(gateway, "gateway_outbox_replayed_total", outcome="error") == 2
    assert await metric(gateway, "gateway_outbox_dropped_total", reason="refused") == 1
    assert await metric(gateway, "gateway_outbox_dropped_total") == 1
    await charger.close()


# ---- 4. the grace close keeps the queue --------------------------------------------------------------


async def test_queue_survives_the_1013_close_and_is_replayed_when_the_charger_reconnects(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """After upstream.offline_close_after the charger is closed with 1013; what it had queued stays in the
    outbox and reaches the CSMS once it is back and the charger has reconnected."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       offline_close_after=1)
    await _at_once(charger, _stop16(7, 1))
    queued = _calls(charger.recorder.sent)
    async with asyncio.timeout(10):
        await charger.ws.wait_closed()
    assert charger.ws.close_code == 1013
    await charger.close()
    await csms.start(port=csms.port)
    again = await connect_charger(charger_url(gateway), BOX, "ocpp1.6")
    link = await csms.next_connection()
    assert (await link.next_call())[0] == "StopTransaction"
    assert _calls(link.recorder.received) == queued
    await again.close()


async def test_reconnected_charger_new_transaction_message_goes_behind_its_stored_queue(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """A charger closed with 1013 that reconnects once the CSMS is back and at once sends a new transaction
    message: the CSMS gets what was stored first, then the new message."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       offline_close_after=1)
    await _at_once(charger, _stop16(7, 1))
    async with asyncio.timeout(10):
        await charger.ws.wait_closed()
    await charger.close()
    await csms.start(port=csms.port)
    again = await connect_charger(charger_url(gateway), BOX, "ocpp1.6")
    new = asyncio.create_task(again.cp.call(_stop16(8, 2), suppress=False))
    link = await csms.next_connection()
    calls = await _next_calls(link, 2, skip=())
    assert [(action, p["transaction_id"]) for action, p in calls] == [("StopTransaction", 7), ("StopTransaction", 8)]
    async with asyncio.timeout(10):
        assert await new is not None
    await again.close()


# ---- 6. the bound ------------------------------------------------------------------------------------


async def test_full_outbox_drops_the_oldest_meter_values_never_start_or_end(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """With outbox.max_messages 3, periodic meter values beyond the bound push out the oldest periodic ones
    (counted as dropped, reason full); Started and Ended are kept and everything was answered at once."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp2.0.1", "ocpp2.0.1",
                                                       outbox={"max_messages": 3})
    await _at_once(charger, _started(0))
    for seq_no in range(1, 5):
        await _at_once(charger, _periodic(seq_no, seq_no, 1000 + seq_no))
    await _at_once(charger, _ended(5, 5))
    assert await metric(gateway, "gateway_outbox_dropped_total", reason="full") == 3
    link = await _back(csms)
    events = [payload for _, payload in await _next_calls(link, 3, skip=())]
    assert [(e["event_type"], e["seq_no"]) for e in events] == [("Started", 0), ("Updated", 4), ("Ended", 5)]
    await charger.close()


async def test_full_outbox_drops_the_oldest_16_meter_values_never_a_stop(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """1.6 pass-through with outbox.max_messages 2: a StopTransaction arriving at a full outbox pushes out the
    oldest MeterValues (a meter sample); the CSMS gets the newer MeterValues, then the StopTransaction."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       outbox={"max_messages": 2})
    await _at_once(charger, _meter16(7, 1, 2010))
    await _at_once(charger, _meter16(7, 2, 3020))
    await _at_once(charger, _stop16(7, 3))
    assert await metric(gateway, "gateway_outbox_dropped_total", reason="full") == 1
    link = await _back(csms)
    calls = await _next_calls(link, 2, skip=())
    assert [(action, p.get("meter_value", [{}])[0].get("timestamp")) for action, p in calls] == [
        ("MeterValues", T[2]), ("StopTransaction", None)]
    await charger.close()


@pytest.mark.parametrize("dialect", ["ocpp1.6", "ocpp2.0.1"], ids=["16-stops", "201-starts"])
async def test_full_outbox_of_undroppable_entries_refuses_the_next_transaction_message(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str
) -> None:
    """With outbox.max_messages 3 holding only entries that may not be dropped (1.6 StopTransactions, 2.0.1
    Started events), the next transaction message gets CALLERROR GenericError at once, counted as an
    overload refusal of outbox.max_messages."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, dialect, dialect,
                                                       outbox={"max_messages": 3})

    def undroppable(n: int) -> Any:
        return _started(n, tx=f"tx-{n}") if dialect == "ocpp2.0.1" else _stop16(100 + n, n)

    for n in range(3):
        await _at_once(charger, undroppable(n))
    with pytest.raises(GenericError):
        await _at_once(charger, undroppable(3))
    assert await metric(gateway, "gateway_overload_refusals_total", limit="outbox.max_messages") == 1
    assert await metric(gateway, "gateway_outbox_dropped_total") == 0
    await charger.close()


async def test_outbox_bound_is_per_charger(csms: Csms, start_gateway: GatewayFactory, log: LogWatch) -> None:
    """outbox.max_messages bounds each charger's outbox on its own: one charger's full outbox refuses only
    that charger, and each outbox is replayed on its own charger's connection."""
    gateway = await _start(csms, start_gateway, "ocpp1.6", outbox={"max_messages": 2})
    first = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    second = await connect_charger(charger_url(gateway), "CB2", "ocpp1.6")
    await csms.next_connection()
    await csms.next_connection()
    await _gone(csms, log)
    await log.wait_for(LOST, count=2)
    for n in range(2):
        await _at_once(first, _stop16(100 + n, n))
    with pytest.raises(GenericError):
        await _at_once(first, _stop16(102, 2))
    for n in range(2):
        await _at_once(second, _stop16(200 + n, n))
    await csms.start(port=csms.port)
    links = {link.charge_box_id: link for link in [await csms.next_connection(), await csms.next_connection()]}
    for box, ids in (("CB1", [100, 101]), ("CB2", [200, 201])):
        calls = await _next_calls(links[box], 2, skip=())
        assert [(action, p["transaction_id"]) for action, p in calls] == [("StopTransaction", i) for i in ids]
    assert await metric(gateway, "gateway_overload_refusals_total", limit="outbox.max_messages") == 1
    await first.close()
    await second.close()


# ---- 8. outbox off -------------------------------------------------------------------------------------


async def test_outbox_disabled_keeps_transaction_messages_held(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """outbox.enabled false: a StopTransaction made while the CSMS is away waits in memory (held) and is
    answered by the CSMS when it is back; nothing enters the outbox."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       outbox={"enabled": False})
    reply = asyncio.create_task(charger.cp.call(_stop16(7, 1), suppress=False))
    await log.wait_for("StopTransaction waits for it")
    assert not reply.done()
    link = await _back(csms)
    assert (await link.next_call())[0] == "StopTransaction"
    async with asyncio.timeout(10):
        assert await reply is not None
    assert await metric(gateway, "gateway_csms_away_calls_total", action="StopTransaction", policy="held") == 1
    assert await metric(gateway, "gateway_outbox_appended_total") == 0
    await charger.close()


async def test_a_csms_back_behind_a_503_keeps_the_charger_connected_and_its_queue_until_it_accepts(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """While a proxy answers 503 for the restarting CSMS, the gateway keeps redialing (not a refusal): the
    charger stays connected, its transaction messages keep going to the outbox, and all of them reach the
    CSMS once it accepts connections again."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6",
                                                       offline_close_after=0)
    csms.refuse_with = HTTPStatus.SERVICE_UNAVAILABLE
    await csms.start(port=csms.port)
    await log.wait_for("HTTP 503", count=2)
    transaction_id = (await _at_once(charger, _start16(1))).transaction_id
    await _at_once(charger, _stop16(transaction_id, 2))
    assert charger.ws.close_code is None
    csms.refuse_with = None
    link = await csms.next_connection()
    assert [action for action, _ in await _next_calls(link, 2, skip=())] == ["StartTransaction", "StopTransaction"]
    assert await metric(gateway, "gateway_upstream_connect_failures_total", reason="unavailable") >= 2
    await charger.close()


async def test_the_outbox_entries_gauge_follows_the_queue(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """gateway_outbox_entries: what waits in all outboxes, up while the CSMS is away, down as it takes them."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, "ocpp1.6", "ocpp1.6")
    await _at_once(charger, _meter16(7, 1, 2010))
    await _at_once(charger, _stop16(7, 2))
    assert await metric(gateway, "gateway_outbox_entries") == 2
    await _back(csms)
    await log.wait_for(REPLAYED)
    assert await metric(gateway, "gateway_outbox_entries") == 0
    await charger.close()


async def test_the_outbox_entries_gauge_starts_from_what_the_store_holds(
    csms: Csms, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Entries left by an earlier process (of chargers not connected yet) are counted from the start."""
    store = await open_store(str(tmp_path / "state.sqlite"))
    await store.outbox_append("CB9", "StopTransaction", {"transactionId": 1}, time.time(), False, "up:ocpp1.6")
    await store.close()
    gateway = await start_gateway(csms.url, "ocpp1.6")
    assert await metric(gateway, "gateway_outbox_entries") == 1
