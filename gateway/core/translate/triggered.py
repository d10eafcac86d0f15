"""What a 2.0.1 CSMS triggered from a 1.6 charger: TriggerMessage BootNotification and StatusNotification.

A triggered BootNotification carries reason `Triggered` (TRANSLATION.md 2.2, boot_reason rule 1); a
triggered StatusNotification reaches the CSMS even when its connectorStatus is unchanged, which the
2.5.1 dedup would otherwise swallow while the CSMS waits for it (4.10). The trigger is marked as it
goes to the charger, dropped if the charger refuses it, and consumed by the first message it asked
for; a mark left unused lapses after WINDOW_S. It is marked before the answer because a 1.5 charger's
emulated message (5.5.1) reaches this stage before the trigger's answer does (`Chain`).

All marks of a charger are one entry, `triggered`, of its `cache` document, so they survive restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.core.ocppj import JsonObject
from gateway.core.translate.context import HandlerContext

#: TRANSLATION.md 2.2 rule 1: "accepted in the last 5 minutes"; the status mark shares the bound.
WINDOW_S: Final = 300.0
_KEY: Final = "triggered"


def requested(ctx: HandlerContext, request: Mapping[str, Any]) -> None:
    """Mark a 2.0.1 TriggerMessage on its way to the charger (other requested messages need no mark)."""
    message = request.get("requestedMessage")
    if message not in ("BootNotification", "StatusNotification"):
        return
    now = ctx.wall_clock()
    marks = _live(ctx, now)
    if message == "BootNotification":
        marks["boot"] = {"at": now}
    else:
        connector = _connector(ctx, request)
        previous = marks.get("status")
        if connector is None:
            # Every connector was asked: each one's next status goes through once.
            marks["status"] = {"at": now, "connectors": None, "seen": []}
        elif previous is not None and previous["connectors"] is None:
            # Still waiting for every connector; this one is owed a status again.
            seen = [c for c in previous["seen"] if c != connector]
            marks["status"] = {"at": now, "connectors": None, "seen": seen}
        else:
            asked = set(previous["connectors"]) if previous is not None else set()
            marks["status"] = {"at": now, "connectors": sorted(asked | {connector})}
    _store(ctx, marks)


def answered(ctx: HandlerContext, response: Mapping[str, Any], request: Mapping[str, Any] | None) -> None:
    """Drop the mark of a trigger the charger did not accept: nothing is coming."""
    if request is None or response.get("status") == "Accepted":
        return
    marks = _live(ctx, ctx.wall_clock())
    if request.get("requestedMessage") == "BootNotification":
        marks.pop("boot", None)
    elif request.get("requestedMessage") == "StatusNotification" and "status" in marks:
        connector = _connector(ctx, request)
        asked = marks["status"]["connectors"]
        if connector is None or asked is None:
            del marks["status"]
        else:
            left = [c for c in asked if c != connector]
            if left:
                marks["status"]["connectors"] = left
            else:
                del marks["status"]
    else:
        return
    _store(ctx, marks)


def boot_pending(ctx: HandlerContext) -> bool:
    """A BootNotification now would be the triggered one."""
    return "boot" in _live(ctx, ctx.wall_clock())


def take_boot(ctx: HandlerContext) -> None:
    """The BootNotification arrived: a trigger it answered is used up."""
    if _KEY in ctx.state.read("cache"):
        marks = _live(ctx, ctx.wall_clock())
        marks.pop("boot", None)
        _store(ctx, marks)


def take_status(ctx: HandlerContext, connector: int) -> bool:
    """True if this StatusNotification of a 1.6 connector is one the CSMS triggered; the mark is used up."""
    if _KEY not in ctx.state.read("cache"):
        return False
    marks = _live(ctx, ctx.wall_clock())
    mark = marks.get("status")
    if mark is None:
        return False
    if mark["connectors"] is None:
        if connector in mark["seen"]:
            return False
        mark["seen"] = [*mark["seen"], connector]
    elif connector in mark["connectors"]:
        left = [c for c in mark["connectors"] if c != connector]
        if left:
            mark["connectors"] = left
        else:
            del marks["status"]
    else:
        return False
    _store(ctx, marks)
    return True


def _connector(ctx: HandlerContext, request: Mapping[str, Any]) -> int | None:
    # The same 1.6 connector the TriggerMessage mapping names (hook connector_of_evse); None: all of them.
    evse = request.get("evse")
    if not isinstance(evse, Mapping):
        return None
    return ctx.settings.topology.connector_of(int(evse["id"]), evse.get("connectorId"))


def _live(ctx: HandlerContext, now: float) -> JsonObject:
    """A copy of the marks not older than WINDOW_S; `_store` saves it."""
    stored = ctx.state.read("cache").get(_KEY) or {}
    return {name: dict(mark) for name, mark in stored.items() if now - float(mark["at"]) <= WINDOW_S}


def _store(ctx: HandlerContext, marks: JsonObject) -> None:
    cache = ctx.state.doc("cache")
    if marks:
        cache[_KEY] = marks
    else:
        cache.pop(_KEY, None)
