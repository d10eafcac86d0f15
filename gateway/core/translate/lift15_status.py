"""StatusNotification of a 1.5 charger lifted to 1.6 (TRANSLATION.md 5.2), and the lift's status memory.

1.5 says Occupied where 1.6 says Preparing, Charging or Finishing. The lift refines it from the
transactions it carried itself: Charging while one is open on the connector, Finishing when one was
stopped there since the connector was last Available, Preparing otherwise. It re-evaluates after a
StartTransaction and a StopTransaction (`reevaluate`), sending the new status only when it differs
from the last one sent.

Memory, in the "status" document of the lift's own ChargerState (per connector, keys are text):
`c15` the last 1.5 status and error code received, `sent16` the last 1.6 status and error code sent,
`stopped` connectors whose transaction ended while the EV was still there, `availableAt` when each
connector was last reported Available (5.4 EVDisconnected).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, Final

from gateway.core.flow import Flow, Reply, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, ask, try_ask
from gateway.core.translate.lift15_open_tx import open_on

log = logging.getLogger(__name__)

#: 1.5 ChargePointErrorCode -> 1.6 where renamed; every other 1.5 code is spelt the same in 1.6.
ERROR_CODE_TO_16: Final = {"Mode3Error": "EVCommunicationError"}
#: 1.6 maxLength of the free texts 1.5 leaves unlimited (5.1): they are truncated, not refused.
TEXT_LIMITS_16: Final = {"info": 50, "vendorId": 255, "vendorErrorCode": 50}


def _memory(ctx: HandlerContext, part: str) -> dict[str, Any]:
    found: dict[str, Any] = ctx.state.read("status").get(part, {})
    return found


def received(ctx: HandlerContext, connector: int) -> JsonObject | None:
    """The last 1.5 status notification received for a connector ({status, errorCode}), or None."""
    entry = _memory(ctx, "c15").get(str(connector))
    return dict(entry) if entry else None


def last_sent(ctx: HandlerContext) -> dict[int, JsonObject]:
    """The last 1.6 StatusNotification sent upstream, by connector (for emulated triggers, 5.5.1)."""
    return {int(key): dict(entry) for key, entry in _memory(ctx, "sent16").items()}


def available_at(ctx: HandlerContext, connector: int) -> float | None:
    """Wall-clock time the connector was last reported Available, or None."""
    value = _memory(ctx, "availableAt").get(str(connector))
    return float(value) if value is not None else None


def connector_count(ctx: HandlerContext) -> int:
    """The number of connectors: from the configured topology, else the highest one the charger reported."""
    seen = [int(key) for key in _memory(ctx, "c15")]
    return max([len(ctx.settings.topology.pairs), *seen, 0])


def mark_stopped(ctx: HandlerContext, connector: int) -> None:
    """A transaction on the connector ended; Occupied now means Finishing, until the connector is Available.

    A connector the charger already reported Available (the EV left before the stop arrived) is not
    marked: the next Occupied there is a new EV, Preparing.
    """
    last = received(ctx, connector)
    if last is not None and last["status"] == "Available":
        return
    ctx.state.doc("status").setdefault("stopped", {})[str(connector)] = True


def refine(ctx: HandlerContext, connector: int, status15: str, transaction_open: bool) -> str:
    """The 1.6 status for a 1.5 status (5.2 table)."""
    if status15 != "Occupied":
        return status15
    if transaction_open:
        return "Charging"
    return "Finishing" if _memory(ctx, "stopped").get(str(connector)) else "Preparing"


def _remember_sent(ctx: HandlerContext, request: JsonObject) -> None:
    sent = ctx.state.doc("status").setdefault("sent16", {})
    sent[str(request["connectorId"])] = {"status": request["status"], "errorCode": request["errorCode"]}


def status_notification(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.5 StatusNotification -> 1.6 (5.1, 5.2): status refined, error code renamed, texts truncated.

    The charger's own notification is always forwarded (it may carry an error or a new text); only
    the gateway's re-evaluations are deduplicated.
    """
    payload = call.payload
    connector = int(payload["connectorId"])
    status15, error15 = str(payload["status"]), str(payload["errorCode"])
    memory = ctx.state.doc("status")
    memory.setdefault("c15", {})[str(connector)] = {"status": status15, "errorCode": error15}
    if status15 == "Available":
        memory.setdefault("stopped", {}).pop(str(connector), None)
        memory.setdefault("availableAt", {})[str(connector)] = ctx.wall_clock()
    request: JsonObject = {
        "connectorId": connector,
        "errorCode": ERROR_CODE_TO_16.get(error15, error15),
        "status": refine(ctx, connector, status15, open_on(ctx, connector) is not None),
    }
    if payload.get("timestamp") is not None:
        request["timestamp"] = payload["timestamp"]
    for name, limit in TEXT_LIMITS_16.items():
        if payload.get(name) is not None:
            request[name] = str(payload[name])[:limit]
            if len(str(payload[name])) > limit:
                log.debug("StatusNotification %s longer than %d characters: truncated", name, limit)
    _remember_sent(ctx, request)
    yield from ask(Leg.CSMS, "StatusNotification", request)
    return {}


def reevaluate(ctx: HandlerContext, connector: int) -> Generator[Step, Reply | None, None]:
    """After StartTransaction / StopTransaction: send the refined status of an Occupied connector if it changed.

    A secondary call (TRANSLATION.md 1.1): its failure is not reported to the charger, which has its
    answer already.
    """
    last = received(ctx, connector)
    if last is None or last["status"] != "Occupied":
        return
    status16 = refine(ctx, connector, "Occupied", open_on(ctx, connector) is not None)
    sent = last_sent(ctx).get(connector)
    if sent is not None and sent["status"] == status16:
        return
    error15 = str(last["errorCode"])
    request = {"connectorId": connector, "errorCode": ERROR_CODE_TO_16.get(error15, error15), "status": status16,
               "timestamp": ctx.utc_now()}
    _remember_sent(ctx, request)
    yield from try_ask(Leg.CSMS, "StatusNotification", request)
