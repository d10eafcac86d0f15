"""Stateful CSMS-initiated commands between 1.6 and 2.0.1 (TRANSLATION.md 4.4-4.6, 4.10, 4.14, 4.15, 2.10).

Reset OnIdle, ChangeAvailability of a whole EVSE and the 2.0.1-only queries toward a 1.6 charger
live here; UnlockConnector and the stateful TriggerMessage cases have their own modules. HANDLERS
lists them all for the translator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Final

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, ask, try_ask
from gateway.core.translate.hooks import call_hook
from gateway.core.translate.open_tx import active16, find16
from gateway.core.translate.trigger import (
    trigger_station_status,
    trigger_transaction_event,
    trigger_transaction_meter_values,
)
from gateway.core.translate.unlock import unlock_from_16, unlock_from_201
from gateway.errors import NotSupportedAction

#: Certificate types a 1.6 charger with the security extension knows (2.10), 2.0.1 name -> 1.6 name.
CERTIFICATE_TYPE_TO_16: Final = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def reset_on_idle(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 Reset OnIdle (4.4): Soft now when no transaction runs, else Scheduled and Soft later.

    The pending reset is kept in the "cache" document (`pendingReset`) and sent by
    `deferred_reset_after_stop` once the charger's last transaction has stopped.
    """
    if active16(ctx):
        ctx.state.doc("cache")["pendingReset"] = {"type": "Soft", "at": ctx.wall_clock()}
        return {"status": "Scheduled"}
    answer = yield from _soft_reset(ctx, ask)
    return {"status": answer.get("status", "Rejected")}


def deferred_reset_after_stop(ctx: HandlerContext) -> Generator[Step, Reply | None, None]:
    """Send the pending OnIdle reset (4.4) if no transaction is left open; a step of StopTransaction's flow.

    Call it (`yield from`) after the charger's StopTransaction was answered and its record closed.
    The pending entry is removed before the Reset leaves, so a failed or refused Reset is not
    repeated at the next stop; the 2.0.1 CSMS was answered Scheduled long ago and hears nothing.
    """
    if "pendingReset" not in ctx.state.read("cache") or active16(ctx):
        return
    del ctx.state.doc("cache")["pendingReset"]
    yield from _soft_reset(ctx, try_ask)


def _soft_reset(ctx: HandlerContext, send: Callable[..., Generator[Step, Reply | None, JsonObject | None]],
                ) -> Generator[Step, Reply | None, JsonObject]:
    call_hook(ctx, "remember_reset", {"type": "Soft"}, None)  # boot reason RemoteReset (2.2)
    answer = yield from send(Leg.CHARGER, "Reset", {"type": "Soft"})
    return answer or {}


def connectors16_of_evse(ctx: HandlerContext, evse_id: int) -> list[int]:
    """Every 1.6 connector of one EVSE per the topology (1.7); empty when the topology has no such EVSE."""
    topology = ctx.settings.topology
    if evse_id == 0:
        return [0]
    listed = [k for k, (evse, _) in enumerate(topology.pairs, start=1) if evse == evse_id]
    if listed:
        return listed
    connector16 = topology.connector_of(evse_id)
    return [connector16] if evse_id > 0 and topology.evse_of(connector16)[0] == evse_id else []


def change_availability_fan_out(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 ChangeAvailability of a whole EVSE (4.5): one call per 1.6 connector, statuses combined.

    All Accepted -> Accepted, any Rejected -> Rejected, else Scheduled. The first call is primary
    (its CALLERROR is the answer); a later call that fails counts as Rejected.
    """
    connectors = connectors16_of_evse(ctx, int(call.payload["evse"]["id"]))
    if not connectors:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
    statuses = []
    for index, connector16 in enumerate(connectors):
        request = {"connectorId": connector16, "type": call.payload["operationalStatus"]}
        answer = yield from (ask if index == 0 else try_ask)(Leg.CHARGER, "ChangeAvailability", request)
        statuses.append((answer or {}).get("status", "Rejected"))
    if all(s == "Accepted" for s in statuses):
        return {"status": "Accepted"}
    return {"status": "Rejected" if "Rejected" in statuses else "Scheduled"}


def get_transaction_status(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetTransactionStatus (4.15), answered from the 1.6 charger's transaction records.

    `messagesInQueue` is false here; the session sets it while the charger's outbox holds entries (1.10).
    """
    answer: JsonObject = {"messagesInQueue": False}
    transaction_id = call.payload.get("transactionId")
    if transaction_id is not None:
        record = find16(ctx, str(transaction_id))
        answer["ongoingIndicator"] = record is not None and record.get("state") == "active"
    return answer
    yield  # a flow that answers at once


def get_charging_profiles(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetChargingProfiles (4.14): always NoProfiles.

    Deviation: 4.14 wants a store of the profiles forwarded and accepted, reported with
    ReportChargingProfiles. The gateway keeps none yet, so it knows of no profile, which is what
    4.14 already says of profiles set before the gateway was deployed.
    """
    return {"status": "NoProfiles"}
    yield  # a flow that answers at once


def get_installed_certificate_ids(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetInstalledCertificateIds (2.10): CALLERROR NotSupported without the security extension.

    With it: one 1.6 call per requested type that 1.6 knows (none requested = both), one after
    another; hashes concatenated; NotFound only when no call found any.

    Raises:
        NotSupportedAction: the charger lacks the 1.6 security extension (policy 1.3 c).
    """
    if not call_hook(ctx, "security_extension", call.payload, None):
        raise NotSupportedAction("GetInstalledCertificateIds needs the 1.6 security extension on the charger")
    return installed_certificate_ids(call.payload)


def installed_certificate_ids(payload: JsonObject) -> Flow:
    """The security-extension translation of GetInstalledCertificateIds (2.10), as a flow over the request."""
    requested = payload.get("certificateType") or list(CERTIFICATE_TYPE_TO_16)
    chain: list[JsonObject] = []
    for certificate_type in requested:
        if certificate_type not in CERTIFICATE_TYPE_TO_16:
            continue  # V2G and MO types have no 1.6 counterpart
        answer = yield from ask(Leg.CHARGER, "GetInstalledCertificateIds",
                                {"certificateType": CERTIFICATE_TYPE_TO_16[certificate_type]})
        chain += [{"certificateType": certificate_type, "certificateHashData": hash_data}
                  for hash_data in answer.get("certificateHashData", [])]
    if not chain:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashDataChain": chain}


#: Code handlers by (name used in the mapping files, source dialect family).
HANDLERS: Final[dict[tuple[str, Dialect], Callable[[HandlerContext, Call, float], Flow | None]]] = {
    ("unlock_connector", Dialect.OCPP201): unlock_from_201,
    ("unlock_connector", Dialect.OCPP16): unlock_from_16,
    ("reset_on_idle", Dialect.OCPP201): reset_on_idle,
    ("change_availability_fan_out", Dialect.OCPP201): change_availability_fan_out,
    ("trigger_station_status", Dialect.OCPP16): trigger_station_status,
    ("trigger_transaction_meter_values", Dialect.OCPP16): trigger_transaction_meter_values,
    ("trigger_transaction_event", Dialect.OCPP201): trigger_transaction_event,
    ("get_transaction_status", Dialect.OCPP201): get_transaction_status,
    ("get_charging_profiles", Dialect.OCPP201): get_charging_profiles,
    ("get_installed_certificate_ids", Dialect.OCPP201): get_installed_certificate_ids,
}
