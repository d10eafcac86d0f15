"""A 1.6 CSMS configuring a 2.0.1 station: GetConfiguration / ChangeConfiguration as Get/SetVariables (4.7.2, 4.7.3).

Each 1.6 key is looked up in the key table (or read in the escape form); the station is asked for
the variables behind the keys in batches, "local" keys are computed, "report" keys come from the
device-model cache, and the answers are turned back into 1.6 `configurationKey` entries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Final

from gateway.core.config_keys import ConfigKey, ConfigKeyTable, VariableRef, parse_variable_key, variable_key
from gateway.core.flow import Flow, Reply, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, ask
from gateway.core.translate.device_model import (
    at,
    cached,
    cached_int,
    component_of,
    config_keys,
    device_model,
    guards_connection,
    phase_rotation_parts,
    phase_rotation_ref,
    ref_of,
    remember_value,
    setting,
    station_connectors,
    variable_of,
)

log = logging.getLogger(__name__)

#: 1.6 GetConfiguration limits (schema: key 50, value 500).
KEY_MAX: Final = 50
VALUE_MAX: Final = 500
#: 2.0.1 SetVariables attributeValue maxLength.
SET_VALUE_MAX: Final = 1000
#: 4.7.2 step 3: batch size when the station's DeviceDataCtrlr.ItemsPerMessage[GetVariables] is not cached.
DEFAULT_ITEMS: Final = 20
#: The profiles the gateway carries between a 1.6 CSMS and a 2.0.1 station (4.7.1 SupportedFeatureProfiles).
PROFILES: Final = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
_ITEMS: Final = VariableRef("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetVariables")
_BYTES: Final = VariableRef("DeviceDataCtrlr", "BytesPerMessage", variable_instance="GetVariables")
#: 4.7.3: the primary entry's attributeStatus -> 1.6 ConfigurationStatus.
SET_STATUS_TO_16: Final = {"Accepted": "Accepted", "RebootRequired": "RebootRequired", "Rejected": "Rejected",
                           "UnknownComponent": "NotSupported", "UnknownVariable": "NotSupported",
                           "NotSupportedAttributeType": "NotSupported"}


def _count(ctx: HandlerContext) -> str | None:
    return str(len(station_connectors(ctx))) if station_connectors(ctx) else None


def _rotation_length(ctx: HandlerContext) -> str | None:
    evses = {evse for evse, _ in station_connectors(ctx)}
    return str(len(evses) + 1) if evses else None


#: "local" keys: the gateway computes the answer (4.7.1).
LOCAL_VALUES: Final[dict[str, Callable[[HandlerContext], str | None]]] = {
    "numberofconnectors": _count,
    "connectorphaserotationmaxlength": _rotation_length,
    "supportedfeatureprofiles": lambda _ctx: PROFILES,
    "supportedfeatureprofilesmaxlength": lambda _ctx: "6",
    "getconfigurationmaxkeys": lambda ctx: str(setting(ctx, "config_max_keys")),
}


@dataclass(slots=True)
class _Read:
    """One 1.6 key being read: its local value, or the variables (by 1.6 connector for phase rotation) to ask."""

    key: str
    readonly: bool
    entry: ConfigKey | None = None
    value: str | None = None
    refs: list[tuple[int | None, VariableRef]] = field(default_factory=list)


def get_configuration(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U16 -> C201 GetConfiguration (4.7.2): batches of GetVariables, local and cached keys, unknownKey."""
    table = config_keys()
    keys: dict[str, str] = {}
    for key in call.payload.get("key") or []:
        keys.setdefault(str(key).lower(), str(key))  # 1.6 keys are case-insensitive (CiString50)
    explicit = bool(keys)
    reads = [_plan(ctx, table, key) for key in (keys.values() if explicit else _all_keys(ctx, table))]
    wanted = {variable_key(ref): ref for read in reads for _, ref in read.refs}
    results: dict[str, JsonObject] = {}
    for batch in _batches(ctx, list(wanted.values())):
        answer = yield from ask(Leg.CHARGER, "GetVariables", {"getVariableData": batch})
        for result in answer.get("getVariableResult", []):
            results[variable_key(ref_of(result["component"], result["variable"]))] = result
    found: list[JsonObject] = []
    unknown: list[str] = []
    for read in reads:
        known, value = _value_of(read, results) if read.refs else (read.value is not None, read.value)
        if not known:
            if explicit:  # 4.7.2 step 4: dropped from an "all" answer
                unknown.append(read.key)
            continue
        item: JsonObject = {"key": read.key, "readonly": read.readonly}
        if value is not None and len(value) > VALUE_MAX:
            log.debug("value of %s longer than %d characters: omitted", read.key, VALUE_MAX)
        elif value is not None:
            item["value"] = value
        found.append(item)
    answer16: JsonObject = {"configurationKey": found}
    if unknown:
        answer16["unknownKey"] = unknown
    return answer16


def _all_keys(ctx: HandlerContext, table: ConfigKeyTable) -> list[str]:
    # 4.7.2 step 2: every usable standard key; with config.expose_all_variables also every cached variable.
    keys = [e.key for e in table if not e.unsupported and e.access != "W"]
    if setting(ctx, "config_expose_all_variables"):
        mapped = {variable_key(e.variable) for e in table if e.variable is not None}
        keys += [k for k in device_model(ctx) if k not in mapped and len(k) <= KEY_MAX]
    return keys


def _plan(ctx: HandlerContext, table: ConfigKeyTable, key: str) -> _Read:
    entry = table.by_key(key)
    if entry is None:
        ref = parse_variable_key(key)
        if ref is None:
            return _Read(key, True)
        return _Read(key, _readonly(ctx, ref, False), refs=[(None, ref)])
    read = _Read(key, entry.readonly, entry)
    if entry.unsupported or entry.access == "W":
        return read
    if entry.local:
        compute = LOCAL_VALUES.get(entry.key.lower())
        read.value = compute(ctx) if compute is not None else None
    elif entry.report:
        # The value is the variable's maxLimit, which GetVariables cannot read (4.7.1 "report").
        limit = cached_int(ctx, entry.variable, "maxLimit") if entry.variable is not None else None
        read.value = str(limit) if limit is not None else None
    elif entry.variable is not None and entry.per_connector:
        connectors = range(len(station_connectors(ctx)) + 1)
        read.refs = [(k, phase_rotation_ref(ctx, entry.variable, k)) for k in connectors]
    elif entry.variable is not None:
        read.refs = [(None, at(entry.variable))]
        read.readonly = _readonly(ctx, entry.variable, entry.readonly)
    return read


def _readonly(ctx: HandlerContext, ref: VariableRef, default: bool) -> bool:
    # 4.7.2 step 4: the cached mutability wins over the 1.6 R/RW column.
    mutability = cached(ctx, ref).get("mutability")
    return default if mutability is None else mutability != "ReadWrite"


def _value_of(read: _Read, results: dict[str, JsonObject]) -> tuple[bool, str | None]:
    """(known, value) of a key read from the station; an Accepted result may carry no value."""
    parts = []
    for connector, ref in read.refs:
        result = results.get(variable_key(ref), {})
        if result.get("attributeStatus") != "Accepted":
            continue
        text = result.get("attributeValue")
        if connector is not None:
            if text:
                parts.append(f"{connector}.{text}")  # 4.7.2 step 5: ConnectorPhaseRotation reassembled
        elif text is None:
            return True, None
        else:
            return True, read.entry.to_16(str(text)) if read.entry is not None else str(text)
    return (True, ",".join(parts)) if parts else (False, None)


def _batches(ctx: HandlerContext, refs: list[VariableRef]) -> Iterator[list[JsonObject]]:
    # 4.7.2 step 3: at most ItemsPerMessage entries, and within BytesPerMessage when the station told it.
    items = cached_int(ctx, _ITEMS) or DEFAULT_ITEMS
    max_bytes = cached_int(ctx, _BYTES)
    batch: list[JsonObject] = []
    for ref in refs:
        entry: JsonObject = {"component": component_of(ref), "variable": variable_of(ref), "attributeType": "Actual"}
        too_big = max_bytes is not None and _frame_size([*batch, entry]) > max_bytes
        if batch and (len(batch) >= items or too_big):
            yield batch
            batch = []
        batch.append(entry)
    if batch:
        yield batch


def _frame_size(batch: list[JsonObject]) -> int:
    # The CALL frame around the payload: [2,"<36-char id>","GetVariables",...].
    return len(json.dumps({"getVariableData": batch}, separators=(",", ":"))) + 60


def change_configuration(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U16 -> C201 ChangeConfiguration (4.7.3): one SetVariables with the primary entry and its fan-out."""
    key, value = str(call.payload["key"]), str(call.payload["value"])
    entry = config_keys().by_key(key)
    writes = _writes(ctx, key, value, entry)
    if isinstance(writes, str):
        return {"status": writes}
    if any(len(text) > SET_VALUE_MAX for _, text in writes):
        return {"status": "Rejected"}
    statuses = yield from _set(ctx, writes)
    return {"status": _combined(statuses, per_connector=entry is not None and entry.per_connector)}


def _writes(ctx: HandlerContext, key: str, value: str, entry: ConfigKey | None) -> list[tuple[VariableRef, str]] | str:
    """The (variable, value) entries a 1.6 write becomes, primary first; or the local answer's status."""
    ref = entry.variable if entry is not None else parse_variable_key(key)
    if (entry is None and ref is None) or (entry is not None and entry.unsupported):
        return "NotSupported"
    if guards_connection(ctx, key, ref):
        log.info("ChangeConfiguration of %s refused: it configures the charger-gateway link (1.9)", key)
        return "Rejected"
    if entry is None and ref is not None:
        return [(ref, value)]
    if entry is None or ref is None or entry.local or entry.report or entry.access == "R":
        return "Rejected"
    if entry.per_connector:
        parts = phase_rotation_parts(value)
        return [(phase_rotation_ref(ctx, ref, k), rotation) for k, rotation in parts] if parts else "Rejected"
    converted = entry.to_201(value)
    return [(at(ref), converted)] + [(at(extra), converted) for extra in entry.also_write
                                     if extra.setting is None or setting(ctx, extra.setting.replace(".", "_"))]


def _set(ctx: HandlerContext, writes: list[tuple[VariableRef, str]]) -> Generator[Step, Reply | None, list[str]]:
    data = [{"component": component_of(ref), "variable": variable_of(ref), "attributeType": "Actual",
             "attributeValue": text} for ref, text in writes]
    answer = yield from ask(Leg.CHARGER, "SetVariables", {"setVariableData": data})
    by_address = {variable_key(ref_of(r["component"], r["variable"])): str(r["attributeStatus"])
                  for r in answer.get("setVariableResult", [])}
    statuses = [by_address.get(variable_key(ref), "Rejected") for ref, _ in writes]
    for (ref, text), status in zip(writes, statuses, strict=True):
        if status in ("Accepted", "RebootRequired"):
            remember_value(ctx, ref, text)
    for (ref, _), status in zip(writes[1:], statuses[1:], strict=True):
        if status != "Accepted":
            log.debug("fan-out write of %s answered %s", variable_key(ref), status)
    return statuses


def _combined(statuses: list[str], *, per_connector: bool) -> str:
    # 4.7.3: the primary entry decides; a phase rotation is one value split over several equal entries.
    if not per_connector:
        return SET_STATUS_TO_16.get(statuses[0], "Rejected")
    mapped = [SET_STATUS_TO_16.get(s, "Rejected") for s in statuses]
    for status in ("NotSupported", "Rejected", "RebootRequired"):
        if status in mapped:
            return status
    return "Accepted"
