"""A 2.0.1 station's connector and station status toward a 1.6 CSMS (TRANSLATION.md 2.5.2, 2.5.4, 2.11).

The 1.6 status of a connector is derived (table B) from the station's last connectorStatus and the
transaction record on it; errors come from the station's open Problem events. The "status" document
keeps, under "c201", per 1.6 connector `{connectorStatus, endedSinceOccupied}`; under "problems201"
the open Problems `{key: {techCode, techInfo, evse, connectorId, n}}`; under "station201" the
station's availability; under "sent16", per 1.6 connector (0 = the station), the last
`{status, errorCode}` sent upstream, which deduplicates what is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Final

from gateway.core.flow import Flow, Reply, Respond, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import record201
from gateway.core.translate.context import HandlerContext, ask, try_ask

log = logging.getLogger(__name__)

#: The 16 ChargePointErrorCode values of 1.6 (2.5.3).
ERROR_CODES_16: Final = frozenset({
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure", "PowerSwitchFailure",
    "ReaderFailure", "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal",
})
#: Table B, active 1.6 transaction on an Occupied connector: chargingState -> 1.6 status (2.5.2).
_ACTIVE: Final = {"Charging": "Charging", "SuspendedEV": "SuspendedEV", "Idle": "SuspendedEV",
                  "SuspendedEVSE": "SuspendedEVSE"}
#: ChargingStation.AvailabilityState -> connector-0 status (2.5.4).
_STATION: Final = {"Available": "Available", "Unavailable": "Unavailable", "Faulted": "Faulted"}


def connector_memory(ctx: HandlerContext, connector16: int) -> JsonObject:
    """What the station last said about a 1.6 connector (`connectorStatus`, `endedSinceOccupied`)."""
    memory: JsonObject = ctx.state.read("status").get("c201", {}).get(str(connector16), {})
    return memory


def note_transaction_ended(ctx: HandlerContext, connector16: int) -> None:
    """A 1.6 transaction ended on the connector: while it stays Occupied, table B says Finishing."""
    ctx.state.doc("status").setdefault("c201", {}).setdefault(str(connector16), {})["endedSinceOccupied"] = True


def status_16(ctx: HandlerContext, connector16: int) -> str:
    """Table B (2.5.2): the 1.6 status of a connector from its connectorStatus and its transaction."""
    memory = connector_memory(ctx, connector16)
    record = record201.on_connector(ctx, connector16)
    status = memory.get("connectorStatus")
    if status in ("Reserved", "Unavailable", "Faulted"):
        return str(status)
    if status is None:  # no StatusNotification seen yet: the transaction tells whether a vehicle is there
        status = "Occupied" if record is not None and record["evConnected"] else "Available"
    if status == "Available":
        waiting_for_ev = record is not None and record["token"] is not None and not record["evConnected"]
        return "Preparing" if waiting_for_ev else "Available"
    if record is None or record["state"] == "stopping16":
        return "Finishing" if memory.get("endedSinceOccupied") else "Preparing"
    if record["state"] != "active16":
        return "Preparing"  # the 2.0.1 transaction runs, the 1.6 one has not started
    charging = record["chargingState"]
    if charging is None:
        return "Charging"
    if charging == "EVConnected":
        return "SuspendedEVSE" if record["energyFlowed"] else "Preparing"
    return _ACTIVE.get(str(charging), "Charging")


def refresh(ctx: HandlerContext, connector16: int, timestamp: str, *, primary: bool = False,
            repeat: bool = False) -> Generator[Step, Reply | None, None]:
    """Send the connector's 1.6 StatusNotification if (status, errorCode) changed, or if `repeat`.

    Args:
        ctx: the charger's context.
        connector16: the 1.6 connector (0: the station, 2.5.4).
        timestamp: when the status began.
        primary: the source waits for this call: a CALLERROR fails the flow (else it is only logged).
        repeat: send even if unchanged (the station repeated its own StatusNotification).
    """
    if connector16 == 0:
        status, fields = _station_status(ctx)
    else:
        status = status_16(ctx, connector16)
        fields = _error_fields(ctx, connector16) if status == "Faulted" else {"errorCode": "NoError"}
    last = {"status": status, "errorCode": fields["errorCode"]}
    if ctx.state.read("status").get("sent16", {}).get(str(connector16)) == last and not repeat:
        return
    payload: JsonObject = {"connectorId": connector16, "status": status, "timestamp": timestamp, **fields}
    if primary:
        yield from ask(Leg.CSMS, "StatusNotification", payload)
    elif (yield from try_ask(Leg.CSMS, "StatusNotification", payload)) is None:
        return
    ctx.state.doc("status").setdefault("sent16", {})[str(connector16)] = last


def _error_fields(ctx: HandlerContext, connector16: int) -> JsonObject:
    """errorCode, info, vendorErrorCode of a Faulted connector from its last open Problem (2.5.2)."""
    evse, connector = ctx.settings.topology.evse_of(connector16) if connector16 else (None, None)
    problems = ctx.state.read("status").get("problems201", {}).values()
    mine = [p for p in problems if p["evse"] is None or (p["evse"] == evse and p["connectorId"] in (None, connector))]
    if connector16:  # a connector's own problems come before the station's
        mine = [p for p in mine if p["evse"] is not None] or mine
    if not mine:
        return {"errorCode": "OtherError"}
    last = max(mine, key=lambda p: int(p["n"]))
    code, info = last.get("techCode"), last.get("techInfo")
    fields: JsonObject = {"errorCode": code if code in ERROR_CODES_16 and code != "NoError" else "OtherError"}
    if info:
        fields["info"] = str(info)[:50]
    if code and code not in ERROR_CODES_16:
        fields["vendorErrorCode"] = str(code)[:50]
    return fields


def _station_status(ctx: HandlerContext) -> tuple[str, JsonObject]:
    station = ctx.state.read("status").get("station201", {})
    if any(p["evse"] is None for p in ctx.state.read("status").get("problems201", {}).values()):
        return "Faulted", _error_fields(ctx, 0)
    status = str(station.get("availability", "Available"))
    return status, {"errorCode": "OtherError" if status == "Faulted" else "NoError"}


def status_notification(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """C201 StatusNotification -> 1.6 StatusNotification per table B, deduplicated (2.5.2).

    Deviation: a StatusNotification that repeats the station's previous connectorStatus is always
    forwarded. A station repeats one only when asked (TriggerMessage from the 1.6 CSMS) or after a
    reconnect; suppressing it would leave a 1.6 TriggerMessage(StatusNotification) unanswered.
    """
    payload = call.payload
    connector16 = ctx.settings.topology.connector_of(int(payload["evseId"]), int(payload["connectorId"]))
    entry = ctx.state.doc("status").setdefault("c201", {}).setdefault(str(connector16), {})
    status = payload["connectorStatus"]
    repeated = entry.get("connectorStatus") == status
    if status == "Occupied" and not repeated:
        entry["endedSinceOccupied"] = False  # a new occupation: no transaction has ended in it yet
    entry["connectorStatus"] = status
    yield from refresh(ctx, connector16, str(payload["timestamp"]), primary=True, repeat=repeated)
    return {}


def notify_event(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """NotifyEvent: answered `{}` at once (2.11); availability and Problems become 1.6 statuses (2.5.4)."""
    yield Respond({})
    touched: dict[int, str] = {}
    for data in call.payload["eventData"]:
        component, variable = data["component"], data["variable"]["name"]
        evse = component.get("evse")
        station = component["name"] == "ChargingStation" and evse is None
        if station and variable == "AvailabilityState":
            value = _STATION.get(str(data["actualValue"]), "Available")  # Occupied, Reserved: Available
            ctx.state.doc("status").setdefault("station201", {})["availability"] = value
            touched[0] = str(data["timestamp"])
        elif variable == "Problem":
            for connector16 in _remember_problem(ctx, data, component, station):
                touched[connector16] = str(data["timestamp"])
        else:
            log.debug("NotifyEvent %s.%s not translated", component["name"], variable)
    for connector16, timestamp in touched.items():
        yield from refresh(ctx, connector16, timestamp)
    return None


def after_boot(ctx: HandlerContext, boot_answer: JsonObject) -> Generator[Step, Reply | None, None]:
    """After an accepted BootNotification of the station: connector 0 `Available` upstream (2.5.4).

    The rebooted station reports its availability and problems afresh, so the remembered station
    state is reset. Meant to run after the station got its BootNotification answer.
    """
    if boot_answer.get("status") != "Accepted":
        return
    memory = ctx.state.doc("status")
    memory["station201"] = {"availability": "Available"}
    problems = memory.setdefault("problems201", {})
    for key in [k for k, p in problems.items() if p["evse"] is None]:
        del problems[key]
    yield from refresh(ctx, 0, ctx.utc_now(), repeat=True)


def _remember_problem(ctx: HandlerContext, data: JsonObject, component: JsonObject, station: bool) -> list[int]:
    """Open or clear one Problem; the 1.6 connectors whose status may change."""
    evse = component.get("evse") or {}
    key = f"{component['name']}:{component.get('instance', '')}@{evse.get('id', '')}.{evse.get('connectorId', '')}"
    problems = ctx.state.doc("status").setdefault("problems201", {})
    if str(data["actualValue"]).lower() == "true" and not data.get("cleared"):
        counter = max((int(p["n"]) for p in problems.values()), default=0) + 1
        problems[key] = {"techCode": data.get("techCode"), "techInfo": data.get("techInfo"), "n": counter,
                         "evse": None if station else evse.get("id"), "connectorId": evse.get("connectorId")}
    else:
        problems.pop(key, None)
    if station:
        return [0]
    topology = ctx.settings.topology
    if "connectorId" in evse:
        return [topology.connector_of(int(evse["id"]), int(evse["connectorId"]))]
    if "id" in evse:
        pairs = topology.pairs or ((int(evse["id"]), 1),)
        return [topology.connector_of(e, c) for e, c in pairs if e == evse["id"]]
    return []
