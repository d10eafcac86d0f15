"""StatusNotification of a 1.6 charger toward a 2.0.1 CSMS (TRANSLATION.md 2.5.1, 2.5.4, 3.3.4).

The gateway remembers, per connector, the last 1.6 status and error code received and the last 2.0.1
connectorStatus sent. A change of connectorStatus is sent as StatusNotification (others are
answered locally: Preparing -> Charging stays Occupied), and so is the first status of a connector
after the CSMS triggered it (`triggered`), changed or not; a change of the charging state inside a
transaction becomes TransactionEvent Updated (ChargingStateChanged); error codes and the station's
own status (connector 0) become NotifyEvent.
"""

from __future__ import annotations

from typing import Any

from gateway.core.flow import Flow
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import triggered
from gateway.core.translate.context import HandlerContext, ask, try_ask
from gateway.core.translate.tx16 import TABLE_A, _open_on, _save, _take_seq


def status_notification(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """Translate one 1.6 StatusNotification into zero to three 2.0.1 calls; the first is primary."""
    payload = call.payload
    connector = int(payload["connectorId"])
    status, error = str(payload["status"]), str(payload["errorCode"])
    timestamp = str(payload.get("timestamp") or ctx.utc_now())
    memory = ctx.state.doc("status")
    previous: dict[str, Any] = memory.setdefault("c16", {}).get(str(connector), {})
    memory["c16"][str(connector)] = {"status": status, "errorCode": error}
    primary_sent = False
    if connector == 0:
        if previous.get("status") != status:
            yield from ask(Leg.CSMS, "NotifyEvent", _availability_event(ctx, status, timestamp))
            primary_sent = True
    else:
        evse, conn = ctx.settings.topology.evse_of(connector)
        connector_status, charging_state = TABLE_A[status]
        sent = memory.setdefault("sent201", {})
        key = f"{evse}.{conn}"
        # A status the CSMS triggered goes through even unchanged: it is waiting for it (4.10).
        if triggered.take_status(ctx, connector) or sent.get(key) != connector_status:
            yield from ask(Leg.CSMS, "StatusNotification", {"timestamp": timestamp, "connectorStatus": connector_status,
                                                            "evseId": evse, "connectorId": conn})
            ctx.state.doc("status")["sent201"][key] = connector_status
            primary_sent = True
        record = _open_on(ctx, connector)
        if record is not None and charging_state is not None and charging_state != record["chargingState"]:
            record["chargingState"] = charging_state
            event = {"eventType": "Updated", "timestamp": timestamp, "triggerReason": "ChargingStateChanged",
                     "seqNo": _take_seq(ctx, record),
                     "transactionInfo": {"transactionId": record["id201"], "chargingState": charging_state}}
            _save(ctx, record)
            call_ = ask if not primary_sent else try_ask
            yield from call_(Leg.CSMS, "TransactionEvent", event)
    if error != previous.get("errorCode", "NoError") and (error != "NoError" or previous):
        yield from try_ask(Leg.CSMS, "NotifyEvent", _problem_event(ctx, connector, payload, timestamp))
    return {}


def _event(ctx: HandlerContext, timestamp: str, data: JsonObject) -> JsonObject:
    event_id = ctx.state.next_counter("notifyEvent", ctx.wall_clock(), time_floor=True)
    entry = {"eventId": event_id, "timestamp": timestamp, "trigger": "Delta",
             "eventNotificationType": "HardWiredNotification", **data}
    return {"generatedAt": timestamp, "seqNo": 0, "eventData": [entry]}


def _availability_event(ctx: HandlerContext, status: str, timestamp: str) -> JsonObject:
    value = status if status in ("Available", "Unavailable", "Faulted") else "Available"
    return _event(ctx, timestamp, {"actualValue": value, "component": {"name": "ChargingStation"},
                                   "variable": {"name": "AvailabilityState"}})


def _problem_event(ctx: HandlerContext, connector: int, payload: JsonObject, timestamp: str) -> JsonObject:
    if connector == 0:
        component: JsonObject = {"name": "ChargingStation"}
    else:
        evse, conn = ctx.settings.topology.evse_of(connector)
        component = {"name": "Connector", "evse": {"id": evse, "connectorId": conn}}
    error = str(payload["errorCode"])
    data: JsonObject = {"component": component, "variable": {"name": "Problem"}}
    if error == "NoError":
        data.update(actualValue="false", cleared=True)
    else:
        tech_info = " ".join(str(payload[k]) for k in ("info", "vendorErrorCode") if payload.get(k))
        data.update(actualValue="true", techCode=error)
        if tech_info:
            data["techInfo"] = tech_info[:500]
    return _event(ctx, timestamp, data)
