"""A 2.0.1 CSMS configuring a 1.6 charger: GetVariables / SetVariables as Get/ChangeConfiguration (4.7.4, 4.7.5).

Each requested variable is traced back through the key table to a 1.6 key (or to the legacy
component, whose variables are the charger's own keys); variables the gateway knows itself (4.8)
are answered locally; whatever has no 1.6 key is UnknownVariable or UnknownComponent.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Final

from gateway.core.config_keys import ConfigKey, VariableRef, variable_key
from gateway.core.flow import Flow, Reply, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, try_ask
from gateway.core.translate.device_model import (
    config_keys,
    guards_connection,
    is_standard_component,
    phase_rotation_parts,
    ref_of,
    setting,
)
from gateway.core.translate.report16 import EMULATED, emulated_entries

#: 4.7.5: 1.6 ConfigurationStatus -> 2.0.1 SetVariableStatus.
CHANGE_STATUS_TO_201: Final = {"Accepted": "Accepted", "Rejected": "Rejected", "RebootRequired": "RebootRequired",
                               "NotSupported": "UnknownVariable"}
#: 1.6 ChangeConfiguration value maxLength.
VALUE_MAX_16: Final = 500
_DEVICES: Final = ("ChargingStation", "EVSE", "Connector")


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a 2.0.1 variable lives for a 1.6 charger: a local status (and value), or a 1.6 key."""

    status: str | None = None
    value: str | None = None
    key: str | None = None
    entry: ConfigKey | None = None
    connector: int | None = None


def get_variables(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetVariables (4.7.4): one GetConfiguration for every needed key, results in request order."""
    items = call.payload["getVariableData"]
    targets = [_resolve(ctx, item, writing=False) for item in items]
    keys = list({t.key.lower(): t.key for t in targets if t.key is not None}.values())
    values: dict[str, str | None] = {}
    failed: set[str] = set()
    for batch in _key_batches(ctx, keys):
        answer = yield from try_ask(Leg.CHARGER, "GetConfiguration", {"key": batch})
        if answer is None:
            failed.update(k.lower() for k in batch)
            continue
        for found in answer.get("configurationKey", []):
            values[str(found["key"]).lower()] = found.get("value")
    results = []
    for item, target in zip(items, targets, strict=True):
        status, value = _read(target, values, failed)
        result = _echo(item, status)
        if value is not None:
            result["attributeValue"] = value
        results.append(result)
    return {"getVariableResult": results}


def set_variables(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 SetVariables (4.7.5): one ChangeConfiguration per entry, one after another."""
    results = []
    for item in call.payload["setVariableData"]:
        status = yield from _change(ctx, item)
        results.append(_echo(item, status))
    return {"setVariableResult": results}


def _echo(item: JsonObject, status: str) -> JsonObject:
    # The component and variable of each result echo the request (4.7.4).
    result: JsonObject = {"attributeStatus": status, "component": item["component"], "variable": item["variable"]}
    if "attributeType" in item:
        result["attributeType"] = item["attributeType"]
    return result


def _resolve(ctx: HandlerContext, item: JsonObject, *, writing: bool) -> _Target:
    if item.get("attributeType", "Actual") != "Actual":
        return _Target("NotSupportedAttributeType")
    ref = ref_of(item["component"], item["variable"])
    if (ref.component, ref.variable) in EMULATED:
        return _emulated(ctx, ref, writing=writing)
    if ref.component == setting(ctx, "config_legacy_component"):
        if ref.evse is not None or ref.component_instance is not None or ref.variable_instance is not None:
            return _Target("UnknownVariable")
        if writing and guards_connection(ctx, ref.variable):
            return _Target("Rejected")  # policy 1.9, also under the legacy component's name
        return _Target(key=ref.variable)
    if ref.variable == "PhaseRotation" and ref.component in _DEVICES:
        return _phase_rotation(ctx, ref)
    entry = config_keys().by_variable(ref.component, ref.variable, ref.variable_instance,
                                      component_instance=ref.component_instance)
    if entry is None or ref.evse is not None:
        return _Target("UnknownVariable" if is_standard_component(ref.component) else "UnknownComponent")
    if entry.report:
        # The 1.6 key holds this variable's maxLimit, not its Actual value (4.7.1 "report").
        return _Target("Rejected" if writing else "UnknownVariable")
    if writing and (entry.local or entry.access == "R"):
        return _Target("Rejected")
    if writing and guards_connection(ctx, entry.key, ref):
        return _Target("Rejected")  # policy 1.9: it would configure the charger-gateway link
    if not writing and entry.access == "W":
        return _Target("Rejected")  # write-only on both sides
    return _Target(key=entry.key, entry=entry)


def _emulated(ctx: HandlerContext, ref: VariableRef, *, writing: bool) -> _Target:
    # 4.7.4/4.7.5: emulated variables are answered locally and are read-only.
    if writing:
        return _Target("Rejected")
    wanted = variable_key(ref)
    for entry in emulated_entries(ctx):
        if variable_key(ref_of(entry["component"], entry["variable"])) == wanted:
            return _Target("Accepted", entry["variableAttribute"][0].get("value"))
    # Known variable, value not known yet (no boot or status seen) vs. an instance the gateway lacks.
    return _Target("Rejected" if ref.component in _DEVICES else "UnknownVariable")


def _phase_rotation(ctx: HandlerContext, ref: VariableRef) -> _Target:
    # Entry k of 1.6 ConnectorPhaseRotation (4.7.1): 0 the station, else the EVSE or connector of k.
    entry = next((e for e in config_keys() if e.per_connector and e.variable is not None
                  and e.variable.variable == "PhaseRotation"), None)
    topology = ctx.settings.topology
    connector: int | None = None
    if ref.component == "ChargingStation" and ref.evse is None:
        connector = 0
    elif ref.evse is not None and ref.evse > 0:
        candidate = topology.connector_of(ref.evse, ref.connector if ref.component == "Connector" else None)
        evse, conn = topology.evse_of(candidate)
        if evse == ref.evse and (ref.component == "EVSE" or conn == ref.connector):
            connector = candidate
    if entry is None or connector is None:
        return _Target("UnknownVariable")
    return _Target(key=entry.key, entry=entry, connector=connector)


def _read(target: _Target, values: dict[str, str | None], failed: set[str]) -> tuple[str, str | None]:
    if target.key is None:
        return target.status or "UnknownVariable", target.value
    key = target.key.lower()
    if key in failed:
        return "Rejected", None  # the charger answered CALLERROR or did not answer
    if key not in values:
        return "UnknownVariable", None
    raw = values[key]
    if raw is None:
        return "Accepted", None
    if target.connector is not None:
        rotation = dict(phase_rotation_parts(raw) or ()).get(target.connector)
        return ("Accepted", rotation) if rotation is not None else ("UnknownVariable", None)
    return "Accepted", target.entry.to_201(raw) if target.entry is not None else raw


def _key_batches(ctx: HandlerContext, keys: list[str]) -> list[list[str]]:
    # Split by the charger's GetConfigurationMaxKeys when a full GetConfiguration showed it (4.7.4).
    known = ctx.state.read("cache").get("config16", {})
    limit = next((v.get("value") for k, v in known.items() if k.lower() == "getconfigurationmaxkeys"), None)
    size = int(limit) if isinstance(limit, str) and limit.isdigit() and int(limit) > 0 else max(len(keys), 1)
    return [keys[i:i + size] for i in range(0, len(keys), size)]


def _change(ctx: HandlerContext, item: JsonObject) -> Generator[Step, Reply | None, str]:
    target = _resolve(ctx, item, writing=True)
    if target.key is None:
        return target.status or "UnknownVariable"
    value = str(item["attributeValue"])
    if target.entry is not None and target.connector is None:
        value = target.entry.to_16(value)
    if target.connector is not None:
        value = f"{target.connector}.{value}"
    if len(value) > VALUE_MAX_16:
        return "Rejected"
    answer = yield from try_ask(Leg.CHARGER, "ChangeConfiguration", {"key": target.key, "value": value})
    if answer is None:
        return "Rejected"  # 4.7.5: a CALLERROR (or no answer) is Rejected
    status = CHANGE_STATUS_TO_201.get(str(answer.get("status")), "Rejected")
    known = ctx.state.read("cache").get("config16")
    if status in ("Accepted", "RebootRequired") and isinstance(known, dict) and target.key in known:
        ctx.state.doc("cache")["config16"][target.key]["value"] = value
    return status
