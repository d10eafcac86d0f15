"""The 1.6 configuration key <-> 2.0.1 component/variable table (TRANSLATION.md 4.7.1) as data, and its lookups.

Entries come from the `config_keys:` section of mapping files, so operators can add vendor keys.
Each entry says how the key is reached (a variable, a fan-out of extra writes, a value the gateway
computes itself, a value only the device-model report holds) and how its value text converts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.core.convert import MEASURANDS_ONLY_16, MEASURANDS_ONLY_201
from gateway.core.mapping_yaml import Node

#: Value kinds and the 2.0.1 `dataType` each reports as (TRANSLATION.md 4.8).
KINDS: Final[Mapping[str, str]] = {
    "boolean": "boolean", "integer": "integer", "seconds": "integer", "decimal": "decimal", "string": "string",
    "csl": "SequenceList", "measurand_list": "MemberList", "rate_unit_list": "MemberList",
    "phase_rotation": "string",
}
ACCESS: Final = ("R", "RW", "W")
_PHASES: Final = frozenset({"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"})
_RATE_UNITS: Final = {"Current": "A", "Power": "W"}
#: 2.0.1 name lengths (ComponentType.name, VariableType.name and instances are string(50)).
_NAME_MAX: Final = 50
_ESCAPE: Final = re.compile(
    r"(?P<component>[^:@/]+)(?::(?P<component_instance>[^@/]+))?(?:@(?P<evse>\d+)(?:\.(?P<connector>\d+))?)?"
    r"/(?P<variable>[^:/]+)(?::(?P<variable_instance>[^/]+))?"
)
_ENTRY_KEYS: Final = ("access", "component", "component_instance", "variable", "instance", "kind", "also_write",
                      "local", "report", "unsupported", "connection_setting", "security_extension",
                      "per_connector", "note")
_WRITE_KEYS: Final = ("component", "component_instance", "variable", "instance", "setting")


@dataclass(frozen=True, slots=True)
class VariableRef:
    """A 2.0.1 variable address: component (instance, EVSE, connector) and variable (instance)."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One 1.6 key: its access, where it lives in 2.0.1, its value kind, and how the gateway treats it."""

    key: str
    access: str
    kind: str
    variable: VariableRef | None = None
    also_write: tuple[VariableRef, ...] = ()
    local: bool = False
    report: bool = False
    unsupported: bool = False
    connection_setting: bool = False
    security_extension: bool = False
    per_connector: bool = False
    note: str | None = None

    @property
    def readonly(self) -> bool:
        """1.6 `readonly` flag of a GetConfiguration answer."""
        return self.access == "R"

    @property
    def data_type(self) -> str:
        """The 2.0.1 `variableCharacteristics.dataType` this key reports as."""
        return KINDS[self.kind]

    def to_201(self, value: str) -> str:
        """Convert a 1.6 value text for a 2.0.1 write (TRANSLATION.md 4.7.1: lists, booleans)."""
        if self.kind == "boolean":
            return value.strip().lower() if value.strip().lower() in ("true", "false") else value
        if self.kind == "measurand_list":
            names = [_strip_phase(item.strip()) for item in value.split(",") if item.strip()]
            return ",".join(dict.fromkeys(n for n in names if n not in MEASURANDS_ONLY_16))
        if self.kind == "rate_unit_list":
            return ",".join(_RATE_UNITS.get(item.strip(), item.strip()) for item in value.split(",") if item.strip())
        return value

    def to_16(self, value: str) -> str:
        """Convert a 2.0.1 value text for a 1.6 answer."""
        if self.kind == "boolean":
            return value.strip().lower() if value.strip().lower() in ("true", "false") else value
        if self.kind == "measurand_list":
            return ",".join(i.strip() for i in value.split(",") if i.strip() and i.strip() not in MEASURANDS_ONLY_201)
        if self.kind == "rate_unit_list":
            back = {v: k for k, v in _RATE_UNITS.items()}
            return ",".join(back.get(item.strip(), item.strip()) for item in value.split(",") if item.strip())
        return value


def _strip_phase(item: str) -> str:
    # 1.6 list items may carry a phase suffix (`Voltage.L1`); 2.0.1 lists have none.
    base, _, suffix = item.rpartition(".")
    return base if base and suffix in _PHASES else item


@dataclass(frozen=True, slots=True)
class ConfigKeyTable:
    """All configuration keys of one dialect pair; lookups are case-insensitive on the 1.6 key (CiString50)."""

    entries: tuple[ConfigKey, ...] = ()
    _by_key: Mapping[str, ConfigKey] = field(default_factory=dict, repr=False, compare=False)
    _by_variable: Mapping[tuple[str, str | None, str, str | None], ConfigKey] = field(
        default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, entries: tuple[ConfigKey, ...]) -> ConfigKeyTable:
        """Build a table with its indexes."""
        by_variable: dict[tuple[str, str | None, str, str | None], ConfigKey] = {}
        for entry in entries:
            ref = entry.variable
            if ref is not None and not entry.unsupported:
                by_variable.setdefault((ref.component, ref.component_instance, ref.variable, ref.variable_instance),
                                       entry)
        return cls(entries, {e.key.lower(): e for e in entries}, by_variable)

    def __iter__(self) -> Iterator[ConfigKey]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def by_key(self, key: str) -> ConfigKey | None:
        """The entry of a 1.6 key (any letter case), or None."""
        return self._by_key.get(key.lower())

    def by_variable(self, component: str, variable: str, instance: str | None = None, *,
                    component_instance: str | None = None) -> ConfigKey | None:
        """The 1.6 key whose primary variable is this one (fan-out targets are not reverse-mapped), or None.

        Args:
            component: 2.0.1 component name, e.g. "OCPPCommCtrlr".
            variable: 2.0.1 variable name, e.g. "MessageAttempts".
            instance: the variable's instance, e.g. "TransactionEvent".
            component_instance: the component's instance, if any.
        """
        return self._by_variable.get((component, component_instance, variable, instance))


def parse_variable_key(key: str) -> VariableRef | None:
    """Read the escape form `<component>[:<inst>][@<evse>[.<connector>]]/<variable>[:<inst>]` (4.7.1)."""
    match = _ESCAPE.fullmatch(key)
    if match is None:
        return None
    parts = match.groupdict()
    return VariableRef(parts["component"], parts["variable"], parts["component_instance"], parts["variable_instance"],
                       int(parts["evse"]) if parts["evse"] else None,
                       int(parts["connector"]) if parts["connector"] else None)


def variable_key(ref: VariableRef) -> str:
    """The escape-form 1.6 key that addresses a 2.0.1 variable (inverse of parse_variable_key)."""
    key = ref.component + (f":{ref.component_instance}" if ref.component_instance else "")
    if ref.evse is not None:
        key += f"@{ref.evse}" + (f".{ref.connector}" if ref.connector is not None else "")
    return key + "/" + ref.variable + (f":{ref.variable_instance}" if ref.variable_instance else "")


def parse_config_keys(node: Node) -> list[ConfigKey]:
    """Read a `config_keys:` section (key -> entry) into entries, refusing unknown keys and bad values."""
    entries = []
    for key, entry in node.items():
        if len(key) > _NAME_MAX or "/" in key:
            raise entry.error("a 1.6 key has at most 50 characters and no '/' (that form addresses variables)")
        entries.append(_entry(entry, key))
    return entries


def _flag(node: Node, name: str) -> bool:
    value = node.child(name).value
    if value is None:
        return False
    if not isinstance(value, bool):
        raise node.child(name).error("expected true or false")
    return value


def _choice(node: Node, choices: tuple[str, ...] | Mapping[str, str]) -> str:
    value = node.string()
    if value not in choices:
        raise node.error(f"expected one of: {', '.join(choices)}, got {value!r}")
    return value


def _entry(node: Node, key: str) -> ConfigKey:
    raw = node.mapping(_ENTRY_KEYS, required=("access",))
    unsupported = _flag(node, "unsupported")
    kind = _choice(node.child("kind"), KINDS) if "kind" in raw else "string"
    if unsupported and set(raw) - {"access", "unsupported", "note", "kind"}:
        raise node.error("an unsupported key has only access, kind and note")
    variable = _ref(node, raw) if "component" in raw or "variable" in raw else None
    local, report = _flag(node, "local"), _flag(node, "report")
    if variable is None and not (unsupported or local or report):
        raise node.error("give component and variable, or mark the key local, report or unsupported")
    writes = node.child("also_write")
    if "also_write" in raw and not isinstance(writes.value, list):
        raise writes.error("expected a list of {component, variable}")
    also = tuple(_ref(writes.element(i), writes.element(i).mapping(_WRITE_KEYS, required=("component", "variable")))
                 for i in range(len(writes.value or [])))
    note = node.child("note").string() if "note" in raw else None
    return ConfigKey(key, _choice(node.child("access"), ACCESS), kind, variable, also, local, report, unsupported,
                     _flag(node, "connection_setting"), _flag(node, "security_extension"),
                     _flag(node, "per_connector"), note)


def _ref(node: Node, raw: Mapping[str, object]) -> VariableRef:
    for name in ("component", "variable"):
        if name not in raw:
            raise node.child(name).error("is required together with " + ("variable" if name == "component" else
                                                                           "component"))
    names = {}
    for name in ("component", "component_instance", "variable", "instance", "setting"):
        if name in raw:
            text = node.child(name).string()
            if len(text) > _NAME_MAX:
                raise node.child(name).error(f"at most {_NAME_MAX} characters (2.0.1 name length)")
            names[name] = text
    return VariableRef(names["component"], names["variable"], names.get("component_instance"),
                       names.get("instance"), setting=names.get("setting"))
