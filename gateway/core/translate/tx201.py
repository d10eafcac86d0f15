"""A 2.0.1 station behind a 1.6 CSMS: TransactionEvent -> StartTransaction / MeterValues / StopTransaction (3.4).

Each 2.0.1 transaction has a persisted record (record201.py). Inside it runs a 1.6 transaction
window (3.4.2): StartTransaction once the record has a token and the EV is connected, StopTransaction
at Ended or by the deauthorization rule. Statuses, NotifyEvent and NotifyReport live in status201.py
and report201.py; HANDLERS below lists all of them for the translator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Final
from weakref import WeakKeyDictionary

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import record201, report201, status201
from gateway.core.translate.context import HandlerContext, ask, id_token_info_of, try_ask
from gateway.core.translate.state import ChargerState
from gateway.errors import GatewayError

_Sub = Generator[Step, Reply | None, JsonObject | None]

#: Transactions whose StartTransaction or StopTransaction a live flow of this process awaits. Not persisted
#: on purpose: a record left in starting16/stopping16 without an entry here lost its flow to a restart (3.5).
_BUSY: WeakKeyDictionary[ChargerState, set[str]] = WeakKeyDictionary()


def transaction_event(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """Translate one TransactionEvent (3.4.3); the station's answer waits for the 1.6 calls it needs.

    Ordering (3.4.3, 3.5): a 1.6 call that needs the CSMS's transactionId is only built after the
    StartTransaction.conf brought it, because this flow waits for that conf before it goes on, and
    the station waits for this flow's answer before its next TransactionEvent (OCPP-J allows one
    CALL in flight). So the record's `waiting` list only fills when a station gives up waiting, and
    the flow that awaits the conf releases it. `tx.hold_response_s` is not a separate timer: the
    station's answer is held until the conf arrives or the session's response timeout fails it.
    """
    event = call.payload
    id201, seq_no = str(event["transactionInfo"]["transactionId"]), int(event["seqNo"])
    record = record201.find(ctx, id201)
    if record is not None and seq_no in record["seen"]:
        return dict(record["answers"].get(str(seq_no), {}))  # a retransmission (3.5)
    if record is None:
        record = record201.create(ctx, id201)
    if record["state"] in ("starting16", "stopping16") and id201 not in _BUSY.get(ctx.state, set()):
        # The flow that sent the call died with the gateway (3.5): this event (usually the station's
        # retry of the same one) carries the call again.
        record["state"] = "open201" if record["state"] == "starting16" else "active16"
    record201.absorb(ctx, record, event)
    record["ended201"] = record["ended201"] or event["eventType"] == "Ended"
    ending = _ends_16(ctx, event)
    record201.save(ctx, record)
    if record["state"] == "closed":  # late or duplicate, or after an early end (3.4.2)
        record201.finish(ctx, record, seq_no, {})
        return {}
    if record["state"] == "starting16":
        _wait_for_id(ctx, record, event, ending)
        record201.finish(ctx, record, seq_no, {})
        return {}
    judged: list[JsonObject | None] = []
    if record["state"] == "open201":
        if not _start_condition(ctx, record):
            if event["eventType"] == "Ended":
                _close(ctx, record)  # nobody authorized: the 1.6 CSMS only sees the statuses (3.4.2)
            record201.finish(ctx, record, seq_no, {})
            yield from _refresh(ctx, record, event)
            return {}
        judged.append((yield from _start(ctx, record, seq_no, record201.start_payload(record, event))))
    if ending:
        payload = {**record201.stop_payload(ctx, record, event), "transactionId": record["upstream16"]}
        conf = yield from _stop(ctx, record, payload, _ended_by(event), primary=True)
        if "idTag" in payload:
            # 1.6 makes StopTransaction.conf's idTagInfo optional: a CSMS that leaves it out did not
            # refuse the token (as `tx.accept_without_id_token_info` reads the other direction, 3.3.2).
            judged.append((conf or {}).get("idTagInfo", {"status": "Accepted"}))
    answer = _answer(ctx, record, event, judged)
    record201.finish(ctx, record, seq_no, answer)  # the primary calls are done: a retry is answered from here
    yield from _refresh(ctx, record, event)
    meter_values = None if ending else record201.meter_values_payload(record, event)
    if meter_values is not None:
        yield from try_ask(Leg.CSMS, "MeterValues", {**meter_values, "transactionId": record["upstream16"]})
    return answer


def _ends_16(ctx: HandlerContext, event: JsonObject) -> bool:
    """The end condition of the 1.6 window (3.4.2)."""
    if event["eventType"] == "Ended":
        return True
    return (ctx.settings.end_on_deauthorization and event["eventType"] == "Updated"
            and event["triggerReason"] in record201.DEAUTHORIZATION_TO_16
            and event["transactionInfo"].get("chargingState") != "Charging")


def _ended_by(event: JsonObject) -> str:
    return "Ended" if event["eventType"] == "Ended" else str(event["triggerReason"])


def _start_condition(ctx: HandlerContext, record: JsonObject) -> bool:
    """A token and a connected EV (setting `tx.start16_requires_ev_connected`), on a known connector (3.4.2)."""
    if record["token"] is None or not record["connector16"]:
        return False
    if record["evConnected"] or not ctx.settings.start16_requires_ev_connected:
        return True
    return status201.connector_memory(ctx, record["connector16"]).get("connectorStatus") == "Occupied"


def _answer(ctx: HandlerContext, record: JsonObject, event: JsonObject, judged: list[JsonObject | None]) -> JsonObject:
    """`idTokenInfo` for an event that carried an idToken the 1.6 CSMS judged (3.4.3, 3.4.4)."""
    token = event.get("idToken")
    if not isinstance(token, dict):
        return {}
    verdicts = [info for info in judged if info is not None]
    if verdicts:
        return {"idTokenInfo": id_token_info_of(ctx, verdicts[-1])}
    if token == record["token"] and record["idTagInfo"] is not None:
        return {"idTokenInfo": id_token_info_of(ctx, record["idTagInfo"])}
    return {}


def _start(ctx: HandlerContext, record: JsonObject, seq_no: int, payload: JsonObject) -> _Sub:
    """StartTransaction; its conf makes the record active16 and releases the waiting calls. Returns idTagInfo."""
    record.update(state="starting16", startSeq=seq_no)
    record201.save(ctx, record)
    busy = _BUSY.setdefault(ctx.state, set())
    busy.add(record["id201"])
    try:
        conf = yield from ask(Leg.CSMS, "StartTransaction", payload)
    except GatewayError:
        record["state"] = "open201"  # the station hears the error and retries the event
        record201.save(ctx, record)
        raise
    finally:
        busy.discard(record["id201"])
    record.update(state="active16", upstream16=int(conf["transactionId"]), idTagInfo=conf["idTagInfo"])
    record201.save(ctx, record)
    while record["waiting"]:
        entry = record["waiting"].pop(0)
        record201.save(ctx, record)
        payload = {**entry["payload"], "transactionId": record["upstream16"]}
        if entry["action"] == "StopTransaction":
            yield from _stop(ctx, record, payload, str(entry["endedBy"]), primary=False)
        else:
            yield from try_ask(Leg.CSMS, str(entry["action"]), payload)
    info: JsonObject = conf["idTagInfo"]
    return info


def _stop(ctx: HandlerContext, record: JsonObject, payload: JsonObject, ended_by: str, *, primary: bool) -> _Sub:
    """StopTransaction; closes the 1.6 window. Returns the conf (None if a secondary call failed)."""
    record.update(state="stopping16", endedBy=ended_by)
    record201.save(ctx, record)
    busy = _BUSY.setdefault(ctx.state, set())
    busy.add(record["id201"])
    try:
        if primary:
            conf: JsonObject | None = yield from ask(Leg.CSMS, "StopTransaction", payload)
        else:
            conf = yield from try_ask(Leg.CSMS, "StopTransaction", payload)
    except GatewayError:
        record["state"] = "active16"
        record201.save(ctx, record)
        raise
    finally:
        busy.discard(record["id201"])
    _close(ctx, record)
    status201.note_transaction_ended(ctx, int(record["connector16"]))
    return conf


def _close(ctx: HandlerContext, record: JsonObject) -> None:
    record.update(state="closed", closedAt=ctx.wall_clock())
    record201.save(ctx, record)


def _wait_for_id(ctx: HandlerContext, record: JsonObject, event: JsonObject, ending: bool) -> None:
    """Queue this event's 1.6 calls until the StartTransaction.conf another flow awaits (3.4.3)."""
    if any(entry["action"] == "StopTransaction" for entry in record["waiting"]):
        return  # the 1.6 window already ends
    if ending:
        entry = {"action": "StopTransaction", "payload": record201.stop_payload(ctx, record, event),
                 "endedBy": _ended_by(event)}
        record["waiting"].append(entry)
    elif (meter_values := record201.meter_values_payload(record, event)) is not None:
        record["waiting"].append({"action": "MeterValues", "payload": meter_values})
    record201.save(ctx, record)


def _refresh(ctx: HandlerContext, record: JsonObject, event: JsonObject) -> Generator[Step, Reply | None, None]:
    """Re-evaluate table B for the transaction's connector (2.5.2); sent only when it changed."""
    if record["connector16"]:
        yield from status201.refresh(ctx, int(record["connector16"]), str(event["timestamp"]))


#: Code handlers by (name used in the mapping files, source dialect family).
HANDLERS: Final[dict[tuple[str, Dialect], Callable[[HandlerContext, Call, float], Flow | None]]] = {
    ("transaction_event", Dialect.OCPP201): transaction_event,
    ("status_notification", Dialect.OCPP201): status201.status_notification,
    ("notify_event", Dialect.OCPP201): status201.notify_event,
    ("notify_report", Dialect.OCPP201): report201.notify_report,
}
