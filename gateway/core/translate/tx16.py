"""A 1.6 charger behind a 2.0.1 CSMS: transactions and statuses (TRANSLATION.md 2.5.1, 2.5.4, 3.3).

StartTransaction / MeterValues / StopTransaction become TransactionEvent Started / Updated / Ended on
one persisted record per transaction. The charger-facing integer id is the gateway's (a time-floored
per-charger counter); the 2.0.1 id is uuid5(charge box, integer), recomputable if a record is lost.
seqNo is persisted in the record before the event leaves. StatusNotification keeps per-connector
memory: 2.0.1 only hears of changes of connectorStatus, charging-state changes inside a transaction
become TransactionEvent Updated, and error codes and connector 0 become NotifyEvent.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from gateway.core import convert
from gateway.core.flow import Flow, Respond
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.commands import deferred_reset_after_stop
from gateway.core.translate.context import HandlerContext, ask, id_tag_info_of
from gateway.core.translate.tokens import to_id_token

#: Namespace of the 2.0.1 transaction ids the gateway makes up for 1.x transactions.
TX_NAMESPACE: Final = uuid.UUID("5f0c2b1e-8f7a-4d6e-9b0c-3a1d2e4f6a70")
ENERGY: Final = "Energy.Active.Import.Register"

#: Table A: 1.6 ChargePointStatus -> (2.0.1 connectorStatus, chargingState of an open transaction).
TABLE_A: Final[dict[str, tuple[str, str | None]]] = {
    "Available": ("Available", "Idle"),
    "Preparing": ("Occupied", "EVConnected"),
    "Charging": ("Occupied", "Charging"),
    "SuspendedEVSE": ("Occupied", "SuspendedEVSE"),
    "SuspendedEV": ("Occupied", "SuspendedEV"),
    "Finishing": ("Occupied", "EVConnected"),
    "Reserved": ("Reserved", None),
    "Unavailable": ("Unavailable", None),
    "Faulted": ("Faulted", "SuspendedEVSE"),
}
#: Table R1: 1.6 stop reason -> (stoppedReason, triggerReason).
TABLE_R1: Final = {
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "Reboot": ("Reboot", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "Other": ("Other", "AbnormalCondition"),
}
#: Table T1: sample context -> triggerReason, in order of precedence.
TABLE_T1: Final = (
    ("Trigger", "Trigger"),
    ("Sample.Clock", "MeterValueClock"),
    ("Sample.Periodic", "MeterValuePeriodic"),
    ("Interruption.Begin", "AbnormalCondition"),
    ("Interruption.End", "AbnormalCondition"),
)
_ACTIVE_CHARGING: Final = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
#: An ended record is kept this long to recognise a retransmitted StopTransaction (3.2, `tx.keep_closed_h`)...
KEEP_ENDED_S: Final = 24 * 3600
#: ...and only the newest this many: the whole "tx" document is saved with every MeterValues (~2.7 us of
#: JSON per ended record), and a charger retries a Stop before its later transaction messages anyway.
KEEP_ENDED_MAX: Final = 4


def _records(ctx: HandlerContext) -> dict[str, Any]:
    # Only this engine's records: the 2.0.1-charger engine mirrors its own under "201:..." keys, and a
    # charge box may change dialect with a firmware update.
    records: dict[str, Any] = ctx.state.read("tx").get("records", {})
    return {key: record for key, record in records.items() if "id16" in record}


def _record(ctx: HandlerContext, id16: int) -> JsonObject | None:
    # Every MeterValues looks its record up: by key, without copying the whole record table first.
    record: JsonObject | None = ctx.state.read("tx").get("records", {}).get(str(id16))
    return record if record is not None and "id16" in record else None


def _open_on(ctx: HandlerContext, connector: int) -> JsonObject | None:
    for record in _records(ctx).values():
        if record["connector16"] == connector and record["state"] == "active":
            return dict(record)
    return None


def _prune(ctx: HandlerContext) -> None:
    """Forget ended records older than KEEP_ENDED_S or beyond the newest KEEP_ENDED_MAX (docs/translation.md)."""
    now = ctx.wall_clock()
    ended = [(key, record) for key, record in ctx.state.read("tx").get("records", {}).items()
             if "id16" in record and record["state"] == "ended"]
    if not ended:
        return
    records = ctx.state.doc("tx")["records"]
    for _, record in ended:
        if record.get("closedAt") is None:  # ended before records carried the time: kept as if it ended now
            record["closedAt"] = now
    ended.sort(key=lambda item: (item[1]["closedAt"], item[1]["id16"]))
    for position, (key, record) in enumerate(ended):
        if position < len(ended) - KEEP_ENDED_MAX or now - record["closedAt"] > KEEP_ENDED_S:
            del records[key]


def _save(ctx: HandlerContext, record: JsonObject) -> None:
    ctx.state.doc("tx").setdefault("records", {})[str(record["id16"])] = record


def _take_seq(ctx: HandlerContext, record: JsonObject) -> int:
    seq = int(record["seq"])
    record["seq"] = seq + 1
    _save(ctx, record)
    return seq


def _energy_sample(value: int, context: str) -> JsonObject:
    return {"value": value, "context": context, "measurand": ENERGY, "unitOfMeasure": {"unit": "Wh"}}


def _meter_values(meter_values: list[JsonObject]) -> list[JsonObject]:
    converted = []
    for meter_value in meter_values:
        samples = convert.sampled_values_to_201(meter_value.get("sampledValue"))
        if samples is not convert.OMIT:
            converted.append({"timestamp": meter_value["timestamp"], "sampledValue": samples})
    return converted


def _last_status(ctx: HandlerContext, connector: int) -> str | None:
    entry = ctx.state.read("status").get("c16", {}).get(str(connector))
    return str(entry["status"]) if entry else None


def _new_record(ctx: HandlerContext, payload: JsonObject, now: float) -> JsonObject:
    connector = int(payload["connectorId"])
    id16 = ctx.state.next_counter("tx16", ctx.wall_clock(), time_floor=True)
    last = _last_status(ctx, connector)
    charging = TABLE_A[last][1] if last is not None else None
    return {
        "id16": id16,
        "id201": str(uuid.uuid5(TX_NAMESPACE, f"{ctx.charge_box_id}:{id16}")),
        "connector16": connector,
        "idTag": payload.get("idTag"),
        "startTs": payload["timestamp"],
        "meterStart": payload.get("meterStart"),
        "state": "active",
        "seq": 0,
        "chargingState": charging if charging in _ACTIVE_CHARGING else "EVConnected",
        "startedAcked": False,
    }


def _take_remote_start(ctx: HandlerContext, id_tag: str, connector: int) -> int | None:
    pending = ctx.state.read("cache").get("remoteStarts", [])
    now = ctx.wall_clock()
    for index, entry in enumerate(pending):
        fresh = now - float(entry["at"]) <= ctx.settings.remote_start_expiry_s
        if fresh and entry["idTag"].upper() == id_tag.upper() and entry.get("connector") in (None, connector):
            remaining = pending[:index] + pending[index + 1 :]
            ctx.state.doc("cache")["remoteStarts"] = [e for e in remaining if now - float(e["at"]) <= 3600]
            return int(entry["remoteStartId"])
    return None


def _started_event(ctx: HandlerContext, record: JsonObject, payload: JsonObject) -> JsonObject:
    evse, connector = ctx.settings.topology.evse_of(int(record["connector16"]))
    info: JsonObject = {"transactionId": record["id201"], "chargingState": record["chargingState"]}
    if record.get("remoteStartId") is not None:
        info["remoteStartId"] = record["remoteStartId"]
    event: JsonObject = {
        "eventType": "Started",
        "timestamp": record["startTs"],
        "triggerReason": "RemoteStart" if record.get("remoteStartId") is not None else "Authorized",
        "seqNo": 0,
        "transactionInfo": info,
        "meterValue": [{"timestamp": record["startTs"],
                        "sampledValue": [_energy_sample(int(record["meterStart"] or 0), "Transaction.Begin")]}],
    }
    if record["connector16"] > 0:  # unknown for a transaction first seen at its stop
        event["evse"] = {"id": evse, "connectorId": connector}
    if record.get("idTag"):
        event["idToken"] = to_id_token(ctx.state, ctx.settings, str(record["idTag"]))
    if payload.get("reservationId") is not None:
        event["reservationId"] = payload["reservationId"]
    return event


def start_transaction(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """StartTransaction -> TransactionEvent(Started) (3.3.2); a retransmission gets the same id (3.5)."""
    payload = call.payload
    record = next((dict(r) for r in _records(ctx).values() if r["state"] == "active"
                   and r["connector16"] == payload["connectorId"] and r["idTag"] == payload["idTag"]
                   and r["startTs"] == payload["timestamp"] and r["meterStart"] == payload["meterStart"]), None)
    if record is not None and record["startedAcked"]:
        return {"transactionId": record["id16"], "idTagInfo": record.get("idTagInfo", {"status": "Accepted"})}
    if record is None:
        _prune(ctx)  # a new record is the one moment the ended ones can grow in number
        record = _new_record(ctx, payload, now)
        record["remoteStartId"] = _take_remote_start(ctx, str(payload["idTag"]), int(payload["connectorId"]))
        record["seq"] = 1
        _save(ctx, record)  # persisted before the event leaves: the ids and seqNo are now the charger's
    answer = yield from ask(Leg.CSMS, "TransactionEvent", _started_event(ctx, record, payload))
    id_tag_info = id_tag_info_of(ctx, answer.get("idTokenInfo"))
    record.update(startedAcked=True, idTagInfo=id_tag_info)
    _save(ctx, record)
    return {"transactionId": record["id16"], "idTagInfo": id_tag_info}


def meter_values(ctx: HandlerContext, call: Call, now: float) -> Flow | None:
    """MeterValues of a transaction -> TransactionEvent(Updated) (3.3.3); None: not a transaction's."""
    payload = call.payload
    connector = int(payload["connectorId"])
    record: JsonObject | None = None
    if payload.get("transactionId") is not None:
        found = _record(ctx, int(payload["transactionId"]))
        record = dict(found) if found and found["state"] == "active" else None
    elif ctx.settings.attach_untagged_meter_values and connector > 0:
        contexts = {s.get("context") for mv in payload["meterValue"] for s in mv["sampledValue"]}
        if not contexts & {"Transaction.Begin", "Transaction.End"}:
            record = _open_on(ctx, connector)
    if record is None:
        return None
    return _updated_from_samples(ctx, record, payload["meterValue"])


def _updated_from_samples(ctx: HandlerContext, record: JsonObject, raw: list[JsonObject]) -> Flow:
    converted = _meter_values(raw)
    if not converted:
        return {}
    contexts = {s.get("context", "Sample.Periodic") for mv in raw for s in mv["sampledValue"]}
    trigger = next((reason for context, reason in TABLE_T1 if context in contexts), "MeterValuePeriodic")
    last = record.get("lastUpdated")
    if last is not None and last["meterValue"] == raw and int(last["seqNo"]) == int(record["seq"]) - 1:
        seq = int(last["seqNo"])  # the latest event's MeterValues again (its answer lost in a crash): same seqNo
    else:
        seq = int(record["seq"])
        record.update(seq=seq + 1, lastUpdated={"meterValue": raw, "seqNo": seq})
        _save(ctx, record)
    event = {
        "eventType": "Updated",
        "timestamp": max(mv["timestamp"] for mv in converted),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": record["id201"], "chargingState": record["chargingState"]},
        "meterValue": converted,
    }
    yield from ask(Leg.CSMS, "TransactionEvent", event)
    return {}


def stop_transaction(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """StopTransaction -> TransactionEvent(Ended) (3.3.5); unknown ids get a Started first."""
    payload = call.payload
    found = _record(ctx, int(payload["transactionId"]))
    if found is not None and found["state"] == "ended" and "stopAnswer" in found:
        return dict(found["stopAnswer"])  # a retransmitted Stop (3.5)
    # Ended but unanswered (the gateway died before the CSMS's answer was saved): the charger's retransmission
    # resends the same Ended, under the seqNo it already took, a duplicate the CSMS recognises (issue 6).
    resent = found is not None and found["state"] == "ended"
    if found is None:
        _prune(ctx)
        record = _record_for_unknown_stop(ctx, payload)
        _save(ctx, record)
        yield from ask(Leg.CSMS, "TransactionEvent", _started_event(ctx, record, {}))
    else:
        record = dict(found)
    reason = str(payload.get("reason", "Local"))
    stopped, trigger = TABLE_R1.get(reason, ("Other", "AbnormalCondition"))
    samples = _meter_values(payload.get("transactionData", []))
    has_end = any(s.get("context") == "Transaction.End" and s.get("measurand", ENERGY) == ENERGY
                  for mv in samples for s in mv["sampledValue"])
    if not has_end:
        samples.append({"timestamp": payload["timestamp"],
                        "sampledValue": [_energy_sample(int(payload["meterStop"]), "Transaction.End")]})
    event: JsonObject = {
        "eventType": "Ended",
        "timestamp": payload["timestamp"],
        "triggerReason": trigger,
        "seqNo": int(record["seq"]) - 1 if resent else _take_seq(ctx, record),
        "transactionInfo": {"transactionId": record["id201"], "stoppedReason": stopped,
                            "chargingState": "Idle" if reason == "EVDisconnected" else "EVConnected"},
        "meterValue": samples,
    }
    if payload.get("idTag"):
        event["idToken"] = to_id_token(ctx.state, ctx.settings, str(payload["idTag"]))
    record["state"] = "ended"
    record["closedAt"] = ctx.wall_clock()
    _save(ctx, record)
    answer = yield from ask(Leg.CSMS, "TransactionEvent", event)
    stop_answer: JsonObject = {}
    if payload.get("idTag"):
        stop_answer["idTagInfo"] = id_tag_info_of(ctx, answer.get("idTokenInfo"))
    record["stopAnswer"] = stop_answer
    _save(ctx, record)
    yield Respond(stop_answer)  # the charger hears its answer before a deferred Reset is sent (4.4)
    yield from deferred_reset_after_stop(ctx)
    return stop_answer


def _record_for_unknown_stop(ctx: HandlerContext, payload: JsonObject) -> JsonObject:
    # A Stop for a transaction the gateway never saw start (deployed mid-session, record lost): the
    # CSMS gets a short but complete transaction rather than an Ended for an id it never heard of.
    begin = next((mv for mv in payload.get("transactionData", [])
                  for s in mv.get("sampledValue", []) if s.get("context") == "Transaction.Begin"), None)
    id16 = int(payload["transactionId"])
    return {
        "id16": id16,
        "id201": str(uuid.uuid5(TX_NAMESPACE, f"{ctx.charge_box_id}:{id16}")),
        "connector16": 0,
        "idTag": payload.get("idTag"),
        "startTs": begin["timestamp"] if begin else payload["timestamp"],
        "meterStart": payload["meterStop"],
        "state": "active",
        "seq": 1,
        "chargingState": "EVConnected",
        "startedAcked": True,
    }
