"""The persisted record of a 2.0.1 station's transaction behind a 1.6 CSMS, and the 1.6 payloads built from it.

One record per 2.0.1 transaction (TRANSLATION.md 3.2, C201 column) lives in the "tx" document under
"records201", keyed by the station's transactionId. Fields: `id201`, `evse` (the event's `{id,
connectorId}`), `connector16`, `state` (open201, starting16, active16, stopping16, closed: 3.4.2),
`ended201` (the 2.0.1 Ended was seen), `token`/`idTag`, `evConnected`, `energyFlowed`,
`chargingState`, `meterStartWh`, `lastRegisterWh`, `meterStart16`, `upstream16` (the CSMS's int),
`idTagInfo` (StartTransaction.conf), `seen` (seqNos processed) and `answers` (their non-empty
answers, 3.5), `remoteStartId`, `reservationId`, `waiting` (1.6 calls waiting for `upstream16`),
`endedBy`, `startSeq`, `closedAt`. While the CSMS knows the transaction, a mirror entry
`{id201, upstream16, connector16, state: active|closed}` under "records" (key "201:<id201>") lets the
mapping hooks (tx_id_to_2x, tx_id_for_profile, transaction_open) find it as they find 1.6 records.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from gateway.core.convert import OMIT, sampled_values_to_16
from gateway.core.ocppj import JsonObject
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.tokens import to_id_tag

log = logging.getLogger(__name__)

REGISTER: Final = "Energy.Active.Import.Register"
#: chargingState values that mean a vehicle is plugged in (3.4.2, start condition).
EV_CONNECTED_STATES: Final = frozenset({"EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE"})
EV_CONNECTED_TRIGGERS: Final = frozenset({"CablePluggedIn", "EVDetected"})
#: Table R2: 2.0.1 stoppedReason -> 1.6 reason (3.4.4); any other value is Other.
STOPPED_TO_16: Final = {
    "Local": "Local", "Remote": "Remote", "DeAuthorized": "DeAuthorized", "EVDisconnected": "EVDisconnected",
    "EmergencyStop": "EmergencyStop", "ImmediateReset": "HardReset", "PowerLoss": "PowerLoss", "Reboot": "Reboot",
    "MasterPass": "Local", "LocalOutOfCredit": "Local",
}
#: Table R2, last row: an end by the deauthorization rule (3.4.2), by triggerReason.
DEAUTHORIZATION_TO_16: Final = {"StopAuthorized": "Local", "Deauthorized": "DeAuthorized", "RemoteStop": "Remote"}
#: Closed records are kept this long to recognise retransmissions (setting `tx.keep_closed_h`, default 24).
KEEP_CLOSED_S: Final = 24 * 3600
_BEGIN_END: Final = frozenset({"Transaction.Begin", "Transaction.End"})


def find(ctx: HandlerContext, id201: str) -> JsonObject | None:
    """The live record of a station transaction, or None; change it, then call `save`."""
    record: JsonObject | None = ctx.state.read("tx").get("records201", {}).get(id201)
    return record


def create(ctx: HandlerContext, id201: str) -> JsonObject:
    """A new record in state open201 (first event of a transaction, or one the gateway lost)."""
    now = ctx.wall_clock()
    _prune(ctx, now)
    record: JsonObject = {
        "id201": id201, "evse": None, "connector16": None, "state": "open201", "ended201": False,
        "token": None, "idTag": None, "evConnected": False, "energyFlowed": False, "chargingState": None,
        "meterStartWh": None, "lastRegisterWh": None, "meterStart16": None, "upstream16": None,
        "idTagInfo": None, "seen": [], "answers": {}, "remoteStartId": None, "reservationId": None,
        "waiting": [], "endedBy": None, "startSeq": None, "closedAt": None, "createdAt": now,
    }
    save(ctx, record)
    return record


def save(ctx: HandlerContext, record: JsonObject) -> None:
    """Mark the record changed (saved before the next frame leaves) and refresh its hook mirror."""
    tx = ctx.state.doc("tx")
    tx.setdefault("records201", {})[record["id201"]] = record
    if record.get("upstream16") is not None:
        state = "active" if record["state"] in ("active16", "stopping16") else "closed"
        tx.setdefault("records", {})["201:" + record["id201"]] = {
            "id201": record["id201"], "upstream16": record["upstream16"], "connector16": record["connector16"],
            "state": state}


def finish(ctx: HandlerContext, record: JsonObject, seq_no: int, answer: JsonObject) -> None:
    """Remember that an event was processed and what it was answered (3.5: retransmissions)."""
    if seq_no not in record["seen"]:
        record["seen"].append(seq_no)
    if answer:
        record["answers"][str(seq_no)] = answer
    save(ctx, record)


def _prune(ctx: HandlerContext, now: float) -> None:
    records = ctx.state.read("tx").get("records201", {})
    old = [key for key, r in records.items() if r.get("closedAt") is not None and now - r["closedAt"] > KEEP_CLOSED_S]
    if old:
        tx = ctx.state.doc("tx")
        for key in old:
            del tx["records201"][key]
            tx.get("records", {}).pop("201:" + key, None)


def on_connector(ctx: HandlerContext, connector16: int) -> JsonObject | None:
    """The newest record on a 1.6 connector whose 1.6 window is not closed (table B's "transaction state")."""
    found = None
    for record in ctx.state.read("tx").get("records201", {}).values():
        if record.get("connector16") == connector16 and record.get("state") != "closed":
            found = record
    return found


def absorb(ctx: HandlerContext, record: JsonObject, event: JsonObject) -> None:
    """Take what an event tells about the transaction: EVSE, token, EV, charging state, ids, registers (3.4.3)."""
    evse = event.get("evse")
    if isinstance(evse, dict) and (record["evse"] is None or "connectorId" not in record["evse"]):
        record["evse"] = dict(evse)
        record["connector16"] = ctx.settings.topology.connector_of(int(evse["id"]), evse.get("connectorId"))
    token = event.get("idToken")
    if isinstance(token, dict):
        if record["token"] is None or record["state"] == "open201":
            record["token"] = dict(token)
            record["idTag"] = to_id_tag(ctx.state, ctx.settings, token)
        elif (token.get("idToken"), token.get("type")) != (record["token"]["idToken"], record["token"]["type"]):
            log.info("transaction %s: new idToken after the 1.6 start is lost (1.6 cannot change it)", record["id201"])
    info = event["transactionInfo"]
    state = info.get("chargingState")
    if state is not None:
        record["chargingState"] = state
        record["evConnected"] = record["evConnected"] or state in EV_CONNECTED_STATES
        record["energyFlowed"] = record["energyFlowed"] or state == "Charging"
    if event.get("triggerReason") in EV_CONNECTED_TRIGGERS:
        record["evConnected"] = True
    for field, value in (("remoteStartId", info.get("remoteStartId")), ("reservationId", event.get("reservationId"))):
        if value is not None:
            record[field] = value
    for meter_value in event.get("meterValue", []):
        for sample in meter_value["sampledValue"]:
            wh = register_wh(sample)
            if wh is None:
                continue
            if sample.get("context") == "Transaction.Begin" and record["meterStartWh"] is None:
                record["meterStartWh"] = wh
            record["lastRegisterWh"] = wh
            begin = record["meterStartWh"]
            record["energyFlowed"] = record["energyFlowed"] or (begin is not None and wh > begin)


def register_wh(sample: JsonObject) -> int | None:
    """The Wh register reading of a 2.0.1 sample, or None (TRANSLATION.md 1.6, "Wh register from 2.0.1 samples")."""
    if sample.get("measurand", REGISTER) != REGISTER or "phase" in sample:
        return None
    if sample.get("location", "Outlet") != "Outlet":
        return None
    unit = sample.get("unitOfMeasure", {})
    scale = {"Wh": 1, "kWh": 1000}.get(unit.get("unit", "Wh"))
    if scale is None:
        return None
    return round(float(sample["value"]) * scale * 10.0 ** int(unit.get("multiplier", 0)))


def start_payload(record: JsonObject, event: JsonObject) -> JsonObject:
    """StartTransaction (3.4.4); also fixes the record's `meterStart16`."""
    meter_start = record["meterStartWh"] if record["meterStartWh"] is not None else record["lastRegisterWh"]
    if meter_start is None:
        log.warning("transaction %s: no energy register reading, meterStart 0", record["id201"])
        meter_start = 0
    record["meterStart16"] = meter_start
    payload: JsonObject = {"connectorId": record["connector16"], "idTag": record["idTag"], "meterStart": meter_start,
                           "timestamp": event["timestamp"]}
    if record["reservationId"] is not None:
        payload["reservationId"] = record["reservationId"]
    return payload


def stop_payload(ctx: HandlerContext, record: JsonObject, event: JsonObject) -> JsonObject:
    """StopTransaction without `transactionId` (it may not be known yet): 3.4.4 and table R2."""
    ends = [wh for mv in event.get("meterValue", []) for s in mv["sampledValue"]
            if s.get("context") == "Transaction.End" and (wh := register_wh(s)) is not None]
    meter_stop = ends[-1] if ends else record["lastRegisterWh"]
    payload: JsonObject = {
        "meterStop": meter_stop if meter_stop is not None else record["meterStart16"],
        "timestamp": event["timestamp"],
        "reason": stop_reason(ctx, record, event),
    }
    token = event.get("idToken")
    if isinstance(token, dict):
        payload["idTag"] = to_id_tag(ctx.state, ctx.settings, token)
    data = _converted(event.get("meterValue", []), "no_hertz", keep_begin_end=True)
    if data:
        payload["transactionData"] = data
    return payload


def stop_reason(ctx: HandlerContext, record: JsonObject, event: JsonObject) -> str:
    """Table R2: the 1.6 reason of an Ended event or of an end by the deauthorization rule."""
    if event["eventType"] == "Ended":
        reason = STOPPED_TO_16.get(event["transactionInfo"].get("stoppedReason", "Local"), "Other")
    else:
        reason = DEAUTHORIZATION_TO_16[event["triggerReason"]]
    cache = ctx.state.read("cache")
    if reason == "Remote" and record["id201"] in cache.get("unlockStops", []):
        return "UnlockCommand"  # the gateway stopped it to carry out an UnlockConnector (4.6)
    if reason == "HardReset" and cache.get("lastResetType") == "Soft":
        return "SoftReset"
    return reason


def meter_values_payload(record: JsonObject, event: JsonObject) -> JsonObject | None:
    """MeterValues without `transactionId` for the event's non-Begin/End samples (3.4.3), or None."""
    converted = _converted(event.get("meterValue", []), None, keep_begin_end=False)
    if not converted:
        return None
    return {"connectorId": record["connector16"], "meterValue": converted}


def _converted(meter_values: list[Any], arg: str | None, *, keep_begin_end: bool) -> list[JsonObject]:
    out = []
    for meter_value in meter_values:
        samples = [s for s in meter_value["sampledValue"] if keep_begin_end or s.get("context") not in _BEGIN_END]
        converted = sampled_values_to_16(samples, arg)
        if converted is not OMIT:
            out.append({"timestamp": meter_value["timestamp"], "sampledValue": converted})
    return out
