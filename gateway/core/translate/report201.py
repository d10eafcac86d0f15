"""NotifyReport of a 2.0.1 station behind a 1.6 CSMS: answered locally, kept as the device-model cache (2.11, 4.7.6).

Cache shape, read by the GetConfiguration emulation: the "cache" document's "deviceModel" maps
`Component[:instance][@evse[.connector]]/Variable[:instance]` (`config_keys.variable_key`) to
`{"mutability": "ReadOnly"|"WriteOnly"|"ReadWrite", "value": str}` of the variable's Actual
attribute; `value` is absent when the station reported none (write-only variables), `mutability`
defaults to ReadWrite as in the schema, and `dataType` / `maxLimit` are added when the report
gives variableCharacteristics. Reports are merged into the cache: an entry is replaced, never removed.
"""

from __future__ import annotations

from gateway.core.config_keys import VariableRef, variable_key
from gateway.core.flow import Flow
from gateway.core.ocppj import Call, JsonObject
from gateway.core.translate.context import HandlerContext


def notify_report(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """NotifyReport -> local `{}`; the reported Actual values go into the device-model cache."""
    entries: dict[str, JsonObject] = {}
    for item in call.payload.get("reportData", []):
        actual = next((a for a in item["variableAttribute"] if a.get("type", "Actual") == "Actual"), None)
        if actual is None:
            continue
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        ref = VariableRef(component["name"], variable["name"], component.get("instance"), variable.get("instance"),
                          evse.get("id"), evse.get("connectorId"))
        entry: JsonObject = {"mutability": actual.get("mutability", "ReadWrite")}
        if "value" in actual:
            entry["value"] = actual["value"]
        characteristics = item.get("variableCharacteristics") or {}
        entry.update({k: characteristics[k] for k in ("dataType", "maxLimit") if k in characteristics})
        entries[variable_key(ref)] = entry
    if entries:
        ctx.state.doc("cache").setdefault("deviceModel", {}).update(entries)
    return {}
    yield  # a flow that answers at once
