"""GetBaseReport / GetReport for a 1.6 charger (TRANSLATION.md 4.8): NotifyReport built from GetConfiguration.

The 2.0.1 CSMS expects the station to describe itself. The gateway asks the 1.6 charger for all its
keys, maps each to its standard variable (or to the legacy component), adds the variables it knows
itself (identity from the boot cache, availability and problems from the status cache, its own
message limits, the 1.6 transaction points) and sends the result in NotifyReport chunks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Mapping
from typing import Any, Final

from gateway.core.config_keys import ConfigKey, VariableRef
from gateway.core.flow import Flow, Reply, Respond, Step
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext, try_ask
from gateway.core.translate.device_model import (
    at,
    component_of,
    config_keys,
    phase_rotation_parts,
    phase_rotation_ref,
    setting,
    variable_of,
)
from gateway.core.translate.tx16 import TABLE_A

#: The gateway's own message limits toward a 2.0.1 CSMS (4.8 DeviceDataCtrlr): SetVariables becomes one
#: 1.6 call per entry, so it takes fewer; frames stay well below the default max_frame_bytes.
ITEMS_PER_MESSAGE: Final = {"GetVariables": 100, "SetVariables": 20, "GetReport": 100}
BYTES_PER_MESSAGE: Final = 65_536
#: 1.6 transactions start when EV and driver are both there and end when either goes (4.8, 3.4.5).
TX_POINTS: Final = {"TxStartPoint": "PowerPathClosed", "TxStopPoint": "EVConnected,Authorized"}
#: Boot-cache field (1.6 BootNotification) of each emulated ChargingStation variable.
BOOT_FIELDS: Final = {"VendorName": ("chargePointVendor",), "Model": ("chargePointModel",),
                      "SerialNumber": ("chargePointSerialNumber", "chargeBoxSerialNumber"),
                      "FirmwareVersion": ("firmwareVersion",)}
#: (component, variable) pairs the gateway answers itself (4.7.4 "emulated variables").
EMULATED: Final = frozenset({("ChargingStation", name) for name in BOOT_FIELDS}
                            | {(c, v) for c in ("ChargingStation", "EVSE", "Connector")
                               for v in ("AvailabilityState", "Problem")}
                            | {("DeviceDataCtrlr", "ItemsPerMessage"), ("DeviceDataCtrlr", "BytesPerMessage")}
                            | {("TxCtrlr", name) for name in TX_POINTS})
_SUMMARY: Final = frozenset({"AvailabilityState", "Problem"})


def get_base_report(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetBaseReport (4.8): Accepted at once, then GetConfiguration, then NotifyReport chunks."""
    yield Respond({"status": "Accepted"})
    entries = yield from inventory(ctx)
    if call.payload.get("reportBase") == "SummaryInventory":
        entries = [e for e in entries if e["variable"]["name"] in _SUMMARY]
    yield from _send_report(ctx, int(call.payload["requestId"]), entries)
    return None


def get_report(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """U201 -> C16 GetReport (4.8): like GetBaseReport, filtered; EmptyResultSet when nothing matches.

    Whether anything matches is known only from the charger's keys, so the GetConfiguration goes
    out before the CSMS is answered.
    """
    entries = yield from inventory(ctx)
    wanted = call.payload.get("componentVariable")
    if wanted:
        entries = [e for e in entries if any(_matches(e, cv) for cv in wanted)]
    criteria = set(call.payload.get("componentCriteria") or ())
    if criteria and criteria <= {"Problem"}:  # Active, Available, Enabled: every entry (4.8 step 4)
        faulted = _faulted_components(entries)
        entries = [e for e in entries if _component_id(e["component"]) in faulted]
    if not entries:
        return {"status": "EmptyResultSet"}
    yield Respond({"status": "Accepted"})
    yield from _send_report(ctx, int(call.payload["requestId"]), entries)
    return None


def inventory(ctx: HandlerContext) -> Generator[Step, Reply | None, list[JsonObject]]:
    """Every report entry of the charger: emulated variables first, then its configuration keys (4.8 step 3).

    A charger that does not answer GetConfiguration is described by the emulated variables alone.
    """
    answer = yield from try_ask(Leg.CHARGER, "GetConfiguration", {})
    keys = (answer or {}).get("configurationKey", [])
    if answer is not None:
        remember_configuration(ctx, keys)
    entries = emulated_entries(ctx)
    seen = {_entry_id(e) for e in entries}
    for item in keys:
        for entry in _key_entries(ctx, item):
            if _entry_id(entry) not in seen:
                seen.add(_entry_id(entry))
                entries.append(entry)
    return entries


def remember_configuration(ctx: HandlerContext, keys: list[JsonObject]) -> None:
    """Keep a 1.6 charger's full key list in the cache (4.7.6 C16), under "config16": key -> value, readonly."""
    ctx.state.doc("cache")["config16"] = {
        str(k["key"]): {"value": k.get("value"), "readonly": bool(k.get("readonly"))} for k in keys}


def emulated_entries(ctx: HandlerContext) -> list[JsonObject]:
    """The variables the gateway reports itself (4.8 step 3), in report-entry form."""
    station = VariableRef("ChargingStation", "")
    boot = ctx.state.read("cache").get("boot") or {}
    entries = []
    for name, fields in BOOT_FIELDS.items():
        value = next((str(boot[f]) for f in fields if boot.get(f)), None)
        if value is not None:
            entries.append(report_entry(_named(station, name), value, "ReadOnly", "string"))
    entries += _status_entries(ctx)
    for variable, limits in (("ItemsPerMessage", ITEMS_PER_MESSAGE),
                             ("BytesPerMessage", dict.fromkeys(ITEMS_PER_MESSAGE, BYTES_PER_MESSAGE))):
        for instance, limit in limits.items():
            ref = VariableRef("DeviceDataCtrlr", variable, variable_instance=instance)
            entries.append(report_entry(ref, str(limit), "ReadOnly", "integer"))
    for name, value in TX_POINTS.items():
        entries.append(report_entry(VariableRef("TxCtrlr", name), value, "ReadOnly", "MemberList"))
    return entries


def _named(ref: VariableRef, variable: str) -> VariableRef:
    return VariableRef(ref.component, variable, evse=ref.evse, connector=ref.connector)


def _status_entries(ctx: HandlerContext) -> list[JsonObject]:
    # Status cache of the 1.6 charger (status16): AvailabilityState in 2.0.1 values (table A), Problem.
    statuses: Mapping[str, Any] = ctx.state.read("status").get("c16", {})
    entries = []
    evse_states: dict[int, list[str]] = {}
    for number in sorted(statuses, key=int):
        last = statuses[number]
        connector = int(number)
        if connector == 0:
            ref = VariableRef("ChargingStation", "")
            state = last["status"] if last.get("status") in ("Available", "Unavailable", "Faulted") else "Available"
        else:
            evse, conn = ctx.settings.topology.evse_of(connector)
            ref = VariableRef("Connector", "", evse=evse, connector=conn)
            state = TABLE_A.get(str(last.get("status")), ("Unavailable", None))[0]
            evse_states.setdefault(evse, []).append(state)
        entries.append(report_entry(_named(ref, "AvailabilityState"), state, "ReadOnly", "OptionList"))
        problem = "false" if last.get("errorCode", "NoError") == "NoError" else "true"
        entries.append(report_entry(_named(ref, "Problem"), problem, "ReadOnly", "boolean"))
    for evse, states in sorted(evse_states.items()):
        state = next((s for s in ("Occupied", "Reserved", "Available") if s in states), states[0])
        entries.append(report_entry(VariableRef("EVSE", "AvailabilityState", evse=evse), state, "ReadOnly",
                                    "OptionList"))
    return entries


def _key_entries(ctx: HandlerContext, item: JsonObject) -> list[JsonObject]:
    """The report entries of one 1.6 configurationKey: its standard variable(s), else the legacy component."""
    key, value, readonly = str(item["key"]), item.get("value"), bool(item.get("readonly"))
    entry = config_keys().by_key(key)
    mutability = "ReadOnly" if readonly else "ReadWrite"
    if entry is not None and entry.variable is not None and not (entry.local or entry.unsupported):
        mapped = _mapped_entries(ctx, entry, entry.variable, None if value is None else str(value), mutability)
        if mapped is not None:
            return mapped
    legacy = VariableRef(str(setting(ctx, "config_legacy_component")), key)
    return [report_entry(legacy, None if value is None else str(value), mutability, "string")]


def _mapped_entries(ctx: HandlerContext, entry: ConfigKey, ref: VariableRef, value: str | None,
                    mutability: str) -> list[JsonObject] | None:
    if entry.access == "W":
        return [report_entry(at(ref), None, "WriteOnly", entry.data_type)]  # never report a secret
    if entry.report:
        # The 1.6 value is the variable's maxLimit (4.7.1 "report"), not its Actual value.
        try:
            limit = float(value or "")
        except ValueError:
            return None
        if not math.isfinite(limit):
            return None
        found = report_entry(at(ref), None, "ReadOnly", entry.data_type)
        found["variableCharacteristics"]["maxLimit"] = int(limit) if limit.is_integer() else limit
        return [found]
    if entry.per_connector:
        parts = phase_rotation_parts(value or "")
        if not parts:
            return None
        return [report_entry(phase_rotation_ref(ctx, ref, k), rotation, mutability, entry.data_type)
                for k, rotation in parts]
    return [report_entry(at(ref), None if value is None else entry.to_201(value), mutability, entry.data_type)]


def report_entry(ref: VariableRef, value: str | None, mutability: str, data_type: str) -> JsonObject:
    """One NotifyReport `reportData` entry with its Actual attribute (value only if any, max 2500)."""
    attribute: JsonObject = {"type": "Actual", "mutability": mutability}
    if value is not None and len(value) <= 2500:
        attribute["value"] = value
    return {"component": component_of(ref), "variable": variable_of(ref), "variableAttribute": [attribute],
            "variableCharacteristics": {"dataType": data_type, "supportsMonitoring": False}}


def _component_id(component: Mapping[str, Any]) -> str:
    return json.dumps(component, sort_keys=True)


def _entry_id(entry: JsonObject) -> str:
    return json.dumps([entry["component"], entry["variable"]], sort_keys=True)


def _faulted_components(entries: list[JsonObject]) -> set[str]:
    faulted = set()
    for entry in entries:
        value = entry["variableAttribute"][0].get("value")
        name = entry["variable"]["name"]
        if (name, value) in (("Problem", "true"), ("AvailabilityState", "Faulted")):
            faulted.add(_component_id(entry["component"]))
    return faulted


def _matches(entry: JsonObject, wanted: Mapping[str, Any]) -> bool:
    """GetReport componentVariable: what the filter names must match; what it leaves out matches anything."""
    component, want = entry["component"], wanted["component"]
    if component["name"] != want["name"] or ("instance" in want and component.get("instance") != want["instance"]):
        return False
    if "evse" in want:
        evse = component.get("evse") or {}
        if evse.get("id") != want["evse"]["id"]:
            return False
        if "connectorId" in want["evse"] and evse.get("connectorId") != want["evse"]["connectorId"]:
            return False
    variable = wanted.get("variable")
    if variable is None:
        return True
    if entry["variable"]["name"] != variable["name"]:
        return False
    return "instance" not in variable or entry["variable"].get("instance") == variable["instance"]


def _send_report(ctx: HandlerContext, request_id: int, entries: list[JsonObject]) -> Generator[Step, Reply | None,
                                                                                                 None]:
    # 4.8 step 5: seqNo 0, 1, ...; tbc on all but the last; an empty report is one message without data.
    size = max(1, int(setting(ctx, "config_report_chunk")))
    chunks = [entries[i:i + size] for i in range(0, len(entries), size)] or [[]]
    generated_at = ctx.utc_now()
    for seq_no, chunk in enumerate(chunks):
        payload: JsonObject = {"requestId": request_id, "generatedAt": generated_at, "seqNo": seq_no,
                               "tbc": seq_no < len(chunks) - 1}
        if chunk:
            payload["reportData"] = chunk
        if (yield from try_ask(Leg.CSMS, "NotifyReport", payload)) is None:
            return  # the CSMS refused or did not answer: the rest of the report would make no sense to it
