"""UnlockConnector between 1.6 and 2.0.1 (TRANSLATION.md 4.6): the versions disagree on unlocking mid-transaction.

A 1.6 charger stops a running transaction and unlocks; a 2.0.1 station refuses. So toward a 1.6
charger the gateway refuses itself while it knows a transaction runs there, and toward a 2.0.1
station it stops the transaction first, as a 1.6 CSMS expects.
"""

from __future__ import annotations

from typing import Final

from gateway.core.flow import Flow
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, ask, try_ask
from gateway.core.translate.open_tx import active16_on, open201_on
from gateway.core.translate.settings import Topology

#: 2.0.1 UnlockStatus -> 1.6 (4.6); (spec) 1.6 says NotSupported for "no lock, or unknown connector".
STATUS_TO_16: Final = {
    "Unlocked": "Unlocked",
    "UnlockFailed": "UnlockFailed",
    "OngoingAuthorizedTransaction": "UnlockFailed",
    "UnknownConnector": "NotSupported",
}
#: 1.6 UnlockStatus -> 2.0.1 response (4.6); 2.0.1 has no NotSupported, so it is given as the reason.
STATUS_TO_201: Final[dict[str, JsonObject]] = {
    "Unlocked": {"status": "Unlocked"},
    "UnlockFailed": {"status": "UnlockFailed"},
    "NotSupported": {"status": "UnlockFailed", "statusInfo": {"reasonCode": "NotSupported"}},
}


def connector16_of(topology: Topology, evse_id: int, connector_id: int) -> int | None:
    """The 1.6 connector of a 2.0.1 (EVSE, connector) pair, or None when the topology has no such pair.

    The pair is known when it maps to a 1.6 connector that maps back to the same pair, so the
    default topology (1.6 connector k = EVSE k, connector 1) knows only connector 1 of each EVSE.
    """
    if evse_id <= 0:
        return None
    connector16 = topology.connector_of(evse_id, connector_id)
    return connector16 if topology.evse_of(connector16) == (evse_id, connector_id) else None


def unlock_from_201(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16: refuse locally for an unknown pair or a running transaction, else forward."""
    connector16 = connector16_of(ctx.settings.topology, int(call.payload["evseId"]), int(call.payload["connectorId"]))
    if connector16 is None:
        return {"status": "UnknownConnector"}
    if active16_on(ctx, connector16) is not None:
        # Forwarding would make the 1.6 charger end the session, which the 2.0.1 CSMS did not ask for.
        return {"status": "OngoingAuthorizedTransaction"}
    answer = yield from ask(Leg.CHARGER, "UnlockConnector", {"connectorId": connector16})
    return dict(STATUS_TO_201.get(str(answer.get("status")), {"status": "UnlockFailed"}))


def unlock_from_16(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U16 -> C201: stop an open transaction on the EVSE first (RequestStopTransaction), then unlock.

    Deviation from 4.6: the unlock follows the accepted stop at once instead of waiting (up to 20 s)
    for the transaction's end, because a flow cannot wait for an event of another flow. A station
    that still counts the transaction as authorized answers OngoingAuthorizedTransaction, which the
    1.6 CSMS hears as UnlockFailed and may retry. The stop is noted in the "cache" document
    (`unlockStops`), where record201.stop_reason finds it to report the end as UnlockCommand (R2).
    """
    connector16 = int(call.payload["connectorId"])
    if connector16 <= 0:
        return {"status": "NotSupported"}  # (spec) 1.6 never unlocks connector 0
    evse_id, connector_id = ctx.settings.topology.evse_of(connector16)
    record = open201_on(ctx, evse_id)
    if record is not None:
        transaction_id = str(record["transactionId"])
        # Noted before the stop leaves: the station may send its Ended before it answers the request.
        _note_unlock_stop(ctx, transaction_id, True)
        stop = yield from try_ask(Leg.CHARGER, "RequestStopTransaction", {"transactionId": transaction_id})
        if stop is None or stop.get("status") != "Accepted":
            _note_unlock_stop(ctx, transaction_id, False)
            return {"status": "UnlockFailed"}  # the transaction goes on, so the connector stays locked
    answer = yield from ask(Leg.CHARGER, "UnlockConnector", {"evseId": evse_id, "connectorId": connector_id})
    return {"status": STATUS_TO_16.get(str(answer.get("status")), "UnlockFailed")}


def _note_unlock_stop(ctx: HandlerContext, transaction_id: str, stopping: bool) -> None:
    cache = ctx.state.doc("cache")
    stops = [t for t in cache.get("unlockStops", []) if t != transaction_id]
    cache["unlockStops"] = ([*stops, transaction_id] if stopping else stops)[-16:]
