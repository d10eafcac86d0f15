"""What the configuration handlers share: the key table, their settings, and reads of the device-model cache.

TRANSLATION.md 4.7 addresses a 2.0.1 variable as component{name, instance, evse} + variable{name,
instance}; here that address is a `VariableRef`, its wire form a pair of JSON objects, and its cache
key the escape-form text of `variable_key` (4.7.1, 4.7.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from gateway.core.config_keys import ConfigKeyTable, VariableRef, parse_variable_key, variable_key
from gateway.core.ocppj import JsonObject
from gateway.core.translate.context import HandlerContext

#: Settings of TRANSLATION.md 6.4 that TranslationSettings does not carry yet: read with these defaults.
DEFAULTS: Final[Mapping[str, Any]] = {
    "config_max_keys": 100,
    "config_sampled_data_sets_started": True,
    "config_expose_all_variables": False,
    "config_legacy_component": "OCPP16Config",
    "config_report_chunk": 50,
    "forward_connection_settings": False,
}
#: Components a 2.0.1 station always knows: an unmapped variable of one is UnknownVariable (4.7.4).
_STANDARD: Final = frozenset({"ChargingStation", "EVSE", "Connector"})

#: 2.0.1 variables that configure the charger-gateway link (policy 1.9), however they are addressed.
CONNECTION_VARIABLES: Final = frozenset({
    ("SecurityCtrlr", "SecurityProfile"), ("SecurityCtrlr", "BasicAuthPassword"), ("SecurityCtrlr", "Identity"),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority"), ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"),
})

_table: ConfigKeyTable = ConfigKeyTable.of(())


def use_config_keys(table: ConfigKeyTable) -> None:
    """Set the 1.6 key <-> 2.0.1 variable table the configuration handlers use.

    The edge calls this once at start-up with `RuleSet.config_keys(Dialect.OCPP16, Dialect.OCPP201)`
    (the core reads no files); until then every 1.6 key is unknown to the handlers.
    """
    global _table
    _table = table


def config_keys() -> ConfigKeyTable:
    """The table set by `use_config_keys` (empty before that)."""
    return _table


def setting(ctx: HandlerContext, name: str) -> Any:
    """A 4.7/4.8 setting: the TranslationSettings field of that name once it exists, else its default."""
    return getattr(ctx.settings, name, DEFAULTS.get(name, True))


def guards_connection(ctx: HandlerContext, key: str | None = None, ref: VariableRef | None = None) -> bool:
    """True when writing this 1.6 key or 2.0.1 variable must be refused in-band (policy 1.9).

    Both names are checked, so neither the escape form nor the legacy component gets around it.
    """
    if setting(ctx, "forward_connection_settings"):
        return False
    entry = _table.by_key(key) if key is not None else None
    if entry is not None and entry.connection_setting:
        return True
    return ref is not None and (ref.component, ref.variable) in CONNECTION_VARIABLES


def is_standard_component(name: str) -> bool:
    """True for the components every station has (`*Ctrlr`, ChargingStation, EVSE, Connector)."""
    return name.endswith("Ctrlr") or name in _STANDARD


def component_of(ref: VariableRef) -> JsonObject:
    """The 2.0.1 `component` object of an address."""
    component: JsonObject = {"name": ref.component}
    if ref.component_instance is not None:
        component["instance"] = ref.component_instance
    if ref.evse is not None:
        component["evse"] = {"id": ref.evse} if ref.connector is None else {"id": ref.evse,
                                                                           "connectorId": ref.connector}
    return component


def variable_of(ref: VariableRef) -> JsonObject:
    """The 2.0.1 `variable` object of an address."""
    variable: JsonObject = {"name": ref.variable}
    if ref.variable_instance is not None:
        variable["instance"] = ref.variable_instance
    return variable


def ref_of(component: Mapping[str, Any], variable: Mapping[str, Any]) -> VariableRef:
    """The address of a 2.0.1 `component` / `variable` pair (as requests and results carry them)."""
    evse = component.get("evse") or {}
    return VariableRef(str(component["name"]), str(variable["name"]), component.get("instance"),
                       variable.get("instance"), evse.get("id"), evse.get("connectorId"))


def at(ref: VariableRef, evse: int | None = None, connector: int | None = None) -> VariableRef:
    """The same variable on another EVSE / connector (and without a fan-out `setting`)."""
    return replace(ref, evse=evse, connector=connector, setting=None)


def device_model(ctx: HandlerContext) -> Mapping[str, Any]:
    """The C201 device-model cache (4.7.6): variable_key -> {"value", "mutability", ...}; may be empty."""
    model = ctx.state.read("cache").get("deviceModel")
    return model if isinstance(model, dict) else {}


def cached(ctx: HandlerContext, ref: VariableRef) -> Mapping[str, Any]:
    """The cache entry of one variable, or an empty mapping."""
    entry = device_model(ctx).get(variable_key(ref))
    return entry if isinstance(entry, dict) else {}


def cached_int(ctx: HandlerContext, ref: VariableRef, field: str = "value") -> int | None:
    """A cached number (a value text or a maxLimit) as an int, or None."""
    try:
        return int(float(cached(ctx, ref)[field]))
    except (KeyError, TypeError, ValueError):
        return None


def remember_value(ctx: HandlerContext, ref: VariableRef, value: str) -> None:
    """Record a value the station accepted (4.7.3: an Accepted write updates the device-model cache)."""
    model = ctx.state.doc("cache").setdefault("deviceModel", {})
    model.setdefault(variable_key(ref), {})["value"] = value


def station_connectors(ctx: HandlerContext) -> list[tuple[int, int]]:
    """(EVSE, connector) pairs of a 2.0.1 station: the configured topology, else what its report showed."""
    if ctx.settings.topology.pairs:
        return list(ctx.settings.topology.pairs)
    connectors: set[tuple[int, int]] = set()
    evses: set[int] = set()
    for key in device_model(ctx):
        ref = parse_variable_key(key)
        if ref is None or ref.evse is None or ref.evse == 0:
            continue
        evses.add(ref.evse)
        if ref.component == "Connector" and ref.connector is not None:
            connectors.add((ref.evse, ref.connector))
    # An EVSE reported without any Connector component has one connector (1.7 default).
    connectors |= {(evse, 1) for evse in evses if not any(e == evse for e, _ in connectors)}
    return sorted(connectors)


def phase_rotation_ref(ctx: HandlerContext, base: VariableRef, connector16: int) -> VariableRef:
    """Where entry k of 1.6 ConnectorPhaseRotation lives (4.7.1): station, EVSE, or Connector if shared."""
    if connector16 == 0:
        return at(base)
    pairs = station_connectors(ctx)  # a 1.6 charger has no device model: its topology or the default
    evse, connector = pairs[connector16 - 1] if connector16 <= len(pairs) else ctx.settings.topology.evse_of(
        connector16)
    shared = sum(1 for e, _ in pairs if e == evse) > 1
    if shared:
        return replace(at(base, evse, connector), component="Connector")
    return replace(at(base, evse), component="EVSE")


def phase_rotation_parts(value: str) -> list[tuple[int, str]] | None:
    """Split a 1.6 ConnectorPhaseRotation value (`0.RST, 1.RST, 2.RTS`) into (connector, rotation); None if bad."""
    parts = []
    for item in value.split(","):
        number, dot, rotation = item.strip().partition(".")
        if not item.strip():
            continue
        if not dot or not number.isdigit() or not rotation:
            return None
        parts.append((int(number), rotation))
    return parts
