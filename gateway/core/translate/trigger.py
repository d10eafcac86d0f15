"""TriggerMessage cases that need state (TRANSLATION.md 4.10): transaction meter values and the station status.

A 2.0.1 TransactionEvent trigger becomes a 1.6 MeterValues trigger on the transaction's connector;
a 1.6 MeterValues trigger on a connector with a running transaction becomes a 2.0.1 TransactionEvent
trigger; a 1.6 StatusNotification trigger for connector 0 is answered from the gateway's own memory
(2.5.4), because a 2.0.1 station has no station-level StatusNotification.
"""

from __future__ import annotations

from gateway.core.flow import Flow, Respond
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import status201
from gateway.core.translate.context import HandlerContext, ask
from gateway.core.translate.open_tx import active16, open201_on


def trigger_transaction_event(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16: TriggerMessage(TransactionEvent) -> TriggerMessage(MeterValues) on the transaction's connector.

    With `evse` the transaction on that EVSE (and connector, when named) is meant; without it the
    only open one. None open -> local Rejected. Several open and no `evse` (beyond 4.10, which names
    only the single case) -> MeterValues for every connector, 1.6's reading of an absent connectorId.
    """
    evse = call.payload.get("evse")
    topology = ctx.settings.topology
    candidates = []
    for record in active16(ctx):
        connector16 = int(record.get("connector16", 0))
        if connector16 <= 0:
            continue
        evse_id, connector_id = topology.evse_of(connector16)
        if evse is None or (evse["id"] == evse_id and evse.get("connectorId", connector_id) == connector_id):
            candidates.append(connector16)
    if not candidates:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NoTransaction"}}
    request: JsonObject = {"requestedMessage": "MeterValues"}
    if len(candidates) == 1 or evse is not None:
        request["connectorId"] = candidates[0]
    answer = yield from ask(Leg.CHARGER, "TriggerMessage", request)
    return {"status": answer.get("status", "Rejected")}


def trigger_transaction_meter_values(ctx: HandlerContext, call: Call, now: float) -> Flow | None:
    """U16 -> C201: TriggerMessage(MeterValues) on a connector whose 1.6 transaction runs -> TransactionEvent.

    The station's Updated event with triggerReason Trigger becomes MeterValues with the 1.6
    transactionId in the transaction engine (3.4.3). None (the plain MeterValues mapping) when no
    1.6 transaction runs on the connector's EVSE. Also serves ExtendedTriggerMessage (2.10).
    """
    connector16 = call.payload.get("connectorId")
    if not isinstance(connector16, int) or connector16 <= 0:
        return None
    evse_id, connector_id = ctx.settings.topology.evse_of(connector16)
    if open201_on(ctx, evse_id, with_16_transaction=True) is None:
        return None
    return _trigger_201(evse_id, connector_id)


def _trigger_201(evse_id: int, connector_id: int) -> Flow:
    request = {"requestedMessage": "TransactionEvent", "evse": {"id": evse_id, "connectorId": connector_id}}
    answer = yield from ask(Leg.CHARGER, "TriggerMessage", request)
    return {"status": answer.get("status", "Rejected")}


def trigger_station_status(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U16 -> C201: TriggerMessage(StatusNotification, connectorId 0) -> Accepted, then the station's status.

    The synthesized connector-0 StatusNotification (2.5.4) is the one status201 derives from the
    station's availability and open problems (Available when nothing is known), sent even if unchanged.
    Also serves ExtendedTriggerMessage (2.10).
    """
    yield Respond({"status": "Accepted"})
    yield from status201.refresh(ctx, 0, ctx.utc_now(), repeat=True)
    return None
