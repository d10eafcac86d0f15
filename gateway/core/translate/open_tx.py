"""Read-only views of the transaction records that CSMS-initiated commands consult (TRANSLATION.md 6.2).

The records belong to the transaction engines (tx16.py: "records" of a 1.6 charger; record201.py:
"records201" of a 2.0.1 station, keyed by its transactionId); commands only look, and read the
2.0.1 records defensively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.core.ocppj import JsonObject
from gateway.core.translate.context import HandlerContext

#: States of a 2.0.1 record (TRANSLATION.md 3.4.2) in which no 1.6 transaction runs.
_NO_16_TX: Final = frozenset({"open201", "closed"})


def active16(ctx: HandlerContext) -> list[JsonObject]:
    """The open transactions of a 1.6 charger (tx16 records in state `active`), oldest id first."""
    records: Mapping[str, Any] = ctx.state.read("tx").get("records", {})
    found = [r for r in records.values() if isinstance(r, dict) and r.get("state") == "active"]
    return sorted(found, key=lambda r: int(r.get("id16", 0)))


def active16_on(ctx: HandlerContext, connector16: int) -> JsonObject | None:
    """The open transaction on one 1.6 connector, or None."""
    return next((r for r in active16(ctx) if r.get("connector16") == connector16), None)


def find16(ctx: HandlerContext, id201: str) -> JsonObject | None:
    """The 1.6 charger's record (open or ended) known upstream as `id201`, or None."""
    records: Mapping[str, Any] = ctx.state.read("tx").get("records", {})
    return next((r for r in records.values() if isinstance(r, dict) and r.get("id201") == id201), None)


def open201_on(ctx: HandlerContext, evse_id: int, *, with_16_transaction: bool = False) -> JsonObject | None:
    """An open 2.0.1 transaction of a station on one EVSE, or None; optionally one the 1.6 CSMS knows.

    Any record under "records201" with that EVSE and a state other than `closed` counts (`ended`
    too is read as closed). The result is a copy with `transactionId` filled in from `id201`,
    `transactionId` or the record's key, whichever the record has.
    """
    records: Mapping[str, Any] = ctx.state.read("tx").get("records201", {})
    for key, record in records.items():
        if not isinstance(record, dict) or _evse_id(record.get("evse")) != evse_id:
            continue
        state = record.get("state")
        if state in ("closed", "ended") or (with_16_transaction and state in _NO_16_TX):
            continue
        found = dict(record)
        found["transactionId"] = str(record.get("id201") or record.get("transactionId") or key)
        return found
    return None


def _evse_id(value: Any) -> int | None:
    # The record may keep the EVSE as an id or as the event's `evse` object {id, connectorId}.
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else None
