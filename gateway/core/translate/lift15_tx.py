"""StartTransaction and StopTransaction of a 1.5 charger lifted to 1.6 (TRANSLATION.md 5.1, 5.2, 5.4).

Both keep their fields; the lift adds what 1.5 cannot say. StartTransaction opens a record (5.2:
Occupied is Charging while it is open). StopTransaction gets its 1.6 shape (transactionData without
the 1.5 wrapper, 5.3) and a `reason` inferred from what the gateway itself did lately (5.4). After each
is answered, the connector's refined status is re-evaluated and sent when it changed.

Stop causes are kept in the lift's "tx" and "cache" documents (`remoteStops` by transactionId,
`reset`, `unlocks` by connector), each with the wall-clock time the charger accepted the command.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from gateway.core.flow import Flow, Respond
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import lift15_open_tx, lift15_status
from gateway.core.translate.context import HandlerContext, ask
from gateway.core.translate.lift15_meter import transaction_data_16

log = logging.getLogger(__name__)

#: How long something the gateway did counts as the cause of a stop (5.4).
STOP_CAUSE_WINDOW_S: Final = 120.0
_STOP_FIELDS: Final = ("transactionId", "idTag", "timestamp", "meterStop")


def start_transaction(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.5 StartTransaction -> 1.6 (same fields, 5.1); then Charging upstream if the connector is Occupied (5.2)."""
    connector = int(call.payload["connectorId"])
    answer = yield from ask(Leg.CSMS, "StartTransaction", dict(call.payload))
    id_tag_status = str(answer.get("idTagInfo", {}).get("status", "Accepted"))
    lift15_open_tx.started(ctx, int(answer["transactionId"]), connector, id_tag_status)
    yield Respond(answer)  # 1.5 and 1.6 StartTransaction.conf have the same fields
    yield from lift15_status.reevaluate(ctx, connector)
    return answer


def stop_transaction(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.5 StopTransaction -> 1.6 (5.1): transactionData restructured, reason inferred (5.4); then Finishing (5.2)."""
    payload = call.payload
    transaction_id = int(payload["transactionId"])
    record = lift15_open_tx.record_of(ctx, transaction_id)
    request: JsonObject = {name: payload[name] for name in _STOP_FIELDS if payload.get(name) is not None}
    reason = infer_stop_reason(ctx, transaction_id, record)
    log.debug("1.5 StopTransaction %d: reason %s", transaction_id, reason or "unknown (left out)")
    if reason is not None:
        request["reason"] = reason
    transaction_data = transaction_data_16(payload.get("transactionData") or [])
    if transaction_data:
        request["transactionData"] = transaction_data
    answer = yield from ask(Leg.CSMS, "StopTransaction", request)
    lift15_open_tx.stopped(ctx, transaction_id)
    ctx.state.doc("tx").setdefault("remoteStops", {}).pop(str(transaction_id), None)
    if record is not None:
        lift15_status.mark_stopped(ctx, int(record["connector"]))
    yield Respond(answer)  # 1.5 and 1.6 StopTransaction.conf have the same fields
    if record is not None:
        yield from lift15_status.reevaluate(ctx, int(record["connector"]))
    return answer


def _recent(ctx: HandlerContext, at: Any) -> bool:
    return at is not None and 0 <= ctx.wall_clock() - float(at) <= STOP_CAUSE_WINDOW_S


def infer_stop_reason(ctx: HandlerContext, transaction_id: int, record: JsonObject | None) -> str | None:
    """The 1.6 stop reason of a 1.5 StopTransaction (5.4), None when nothing the gateway saw explains it.

    Checked in the order of the 5.4 table. Without a record (a start the lift never saw) only the
    charger-wide cause, a reset, can be known. None is sent as no reason, which 1.6 reads as Local.
    """
    if _recent(ctx, ctx.state.read("tx").get("remoteStops", {}).get(str(transaction_id))):
        return "Remote"
    cache = ctx.state.read("cache")
    reset = cache.get("reset")
    if isinstance(reset, dict) and _recent(ctx, reset.get("at")):
        return "HardReset" if reset.get("type") == "Hard" else "SoftReset"
    if record is None:
        return None
    connector = int(record["connector"])
    if _recent(ctx, cache.get("unlocks", {}).get(str(connector))):
        return "UnlockCommand"
    if record.get("idTagStatus") != "Accepted" and _recent(ctx, record.get("startedAt")):
        return "DeAuthorized"
    available = lift15_status.available_at(ctx, connector)
    if available is not None and available >= float(record["startedAt"]) and _recent(ctx, available):
        return "EVDisconnected"
    return None


def _prune(entries: dict[str, Any], now: float) -> None:
    # Causes older than the window can never count again; dropping them keeps the document small.
    for key in [k for k, at in entries.items() if now - float(at) > STOP_CAUSE_WINDOW_S]:
        del entries[key]


def remember_remote_stop(ctx: HandlerContext, transaction_id: int) -> None:
    """The charger accepted a RemoteStopTransaction for this transaction (5.4 Remote)."""
    now = ctx.wall_clock()
    stops = ctx.state.doc("tx").setdefault("remoteStops", {})
    _prune(stops, now)
    stops[str(transaction_id)] = now


def remember_reset(ctx: HandlerContext, reset_type: str) -> None:
    """The charger accepted a Reset (5.4 HardReset / SoftReset)."""
    ctx.state.doc("cache")["reset"] = {"type": reset_type, "at": ctx.wall_clock()}


def remember_unlock(ctx: HandlerContext, connector: int) -> None:
    """The charger unlocked a connector (5.4 UnlockCommand)."""
    now = ctx.wall_clock()
    unlocks = ctx.state.doc("cache").setdefault("unlocks", {})
    _prune(unlocks, now)
    unlocks[str(connector)] = now
