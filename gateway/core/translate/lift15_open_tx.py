"""The transactions a 1.5 charger has open, as the lift saw them start (TRANSLATION.md 5.2, 5.4).

Kept in the "tx" document of the lift's own ChargerState: `open` maps the transactionId (as text)
to `{connector, startedAt, idTagStatus}`: startedAt is when the CSMS answered the start (wall clock),
idTagStatus what it answered. The lift needs no more:
the CSMS numbers the transactions, and the 1.5 and 1.6 messages carry the same ids.
"""

from __future__ import annotations

from typing import Any

from gateway.core.ocppj import JsonObject
from gateway.core.translate.context import HandlerContext


def _open(ctx: HandlerContext) -> dict[str, Any]:
    found: dict[str, Any] = ctx.state.read("tx").get("open", {})
    return found


def record_of(ctx: HandlerContext, transaction_id: int) -> JsonObject | None:
    """The open transaction with this id, or None (never seen start, or stopped already)."""
    record = _open(ctx).get(str(transaction_id))
    return dict(record) if record else None


def open_on(ctx: HandlerContext, connector: int) -> JsonObject | None:
    """The transaction open on a connector, or None."""
    return next((dict(r) for r in _open(ctx).values() if int(r["connector"]) == connector), None)


def started(ctx: HandlerContext, transaction_id: int, connector: int, id_tag_status: str) -> None:
    """Record a transaction the CSMS answered; it replaces any older one still open on that connector.

    A connector carries one transaction at a time, so an older record there is a stop the lift never
    saw (lost, or sent while the gateway was away); keeping it would make the connector look busy forever.
    """
    records = ctx.state.doc("tx").setdefault("open", {})
    for key in [k for k, r in records.items() if int(r["connector"]) == connector]:
        del records[key]
    records[str(transaction_id)] = {"connector": connector, "startedAt": ctx.wall_clock(),
                                    "idTagStatus": id_tag_status}


def stopped(ctx: HandlerContext, transaction_id: int) -> None:
    """Forget a transaction the CSMS confirmed stopped."""
    if str(transaction_id) in _open(ctx):
        del ctx.state.doc("tx")["open"][str(transaction_id)]
