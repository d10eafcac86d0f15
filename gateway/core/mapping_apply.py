"""Applies a parsed mapping section to one payload: paths, `each`, conditions, defaults, enums, converters, hooks.

Pure: the only outside input is the context's `now_iso` and its hooks. The source payload is never
mutated, and the result shares no objects with it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import fastjsonschema

from gateway.core.convert import CONVERTERS, OMIT, Omit
from gateway.core.mapping_schema import Schema, Segment, at, project
from gateway.core.mapping_spec import Condition, EnumTable, FieldSpec, Section, SourcePath
from gateway.errors import NotSupportedAction


class MappingContext(Protocol):
    """What the engine needs from the translator: the time, and the named stateful hooks.

    Hooks are documented in `gateway.core.mapping` (HOOK_CONTRACTS).
    """

    @property
    def now_iso(self) -> str:
        """The current UTC time as RFC 3339 with `Z`, used for `default: {now: utc}`."""
        ...

    def hook(self, name: str, source: Mapping[str, Any], value: Any) -> Any:
        """Run a named hook on the whole source payload and one value; return a value or `OMIT`."""
        ...


class LocalOutcome(Exception):
    """A field's `on_missing: {local: ...}` fired: the source is answered with `payload`, nothing is sent."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__("answered locally")
        self.payload = payload


# Not frozen: one is built per mapped message, and a frozen dataclass pays a setattr call per field.
@dataclass(slots=True)
class Env:
    """Everything a field may read besides its current object (treat as read-only)."""

    label: str
    root: Mapping[str, Any]
    request: Mapping[str, Any] | None
    ctx: MappingContext
    enums: Mapping[str, EnumTable]


def read(value: Any, segments: tuple[Segment, ...]) -> Any:
    """The value at a path, or OMIT when any step is missing (JSON null counts as missing)."""
    for segment in segments:
        if not isinstance(value, dict) or value.get(segment.name) is None:
            return OMIT
        value = value[segment.name]
        if segment.first:
            if not isinstance(value, list) or not value:
                return OMIT
            value = value[0]
    return value


def _read(path: SourcePath, local: Any, env: Env) -> Any:
    scope = path.scope
    base = local if scope == "local" else env.root if scope == "root" else env.request
    return read(base, path.segments) if base is not None else OMIT


def test(cond: Condition, local: Any, env: Env) -> bool:
    """Evaluate a `when` condition against the current object."""
    if cond.kind == "all":
        return all(test(part, local, env) for part in cond.parts)
    if cond.kind == "any":
        return any(test(part, local, env) for part in cond.parts)
    if cond.kind == "not":
        return not test(cond.parts[0], local, env)
    value = _read(cond.path, local, env) if cond.path is not None else OMIT
    if cond.kind == "hook":
        return env.ctx.hook(str(cond.hook), env.root, None if value is OMIT else value) is True
    if cond.kind == "present":
        return value is not OMIT
    if cond.kind == "absent":
        return value is OMIT
    if cond.kind in ("eq", "in"):
        return value is not OMIT and value in cond.values
    return value is OMIT or value not in cond.values  # ne, not_in


def map_section(section: Section, local: Any, target: Schema, env: Env) -> dict[str, Any]:
    """Build one target object from the section's field specs (the source is `local`)."""
    out: dict[str, Any] = {}
    off = [f.target for f in section.guards if f.when is not None and not test(f.when, local, env)]
    for field in section.producers:
        if off and any(field.target[: len(t)] == t for t in off):
            continue
        value = evaluate(field, local, at(target, field.target) or {}, env)
        if not isinstance(value, Omit):
            _put(out, field.target, value)
    return out


def _put(out: dict[str, Any], segments: tuple[Segment, ...], value: Any) -> None:
    node: Any = out
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment.first:
            items = node.setdefault(segment.name, [])
            if last:
                items[:1] = [value]
                return
            if not items:
                items.append({})
            node = items[0]
        elif last:
            node[segment.name] = value
        else:
            node = node.setdefault(segment.name, {})


def evaluate(field: FieldSpec, local: Any, target: Schema, env: Env) -> Any:
    """The value one field spec produces, or OMIT."""
    held = field.when is None or test(field.when, local, env)
    value = _produce(field, local, target, env) if held else OMIT
    if value is OMIT and held and field.on_missing is not None:
        kind, detail = field.on_missing
        if kind == "local":
            raise LocalOutcome(copy.deepcopy(detail))
        raise NotSupportedAction(f"{env.label}: {detail}")
    if value is OMIT and field.default is not None and not (held and field.on_missing is not None):
        default = field.default
        if default.now:
            return env.ctx.now_iso
        if default.source is not None:
            return copy.deepcopy(_read(default.source, local, env))
        return copy.deepcopy(default.literal)
    return value


def _produce(field: FieldSpec, local: Any, target: Schema, env: Env) -> Any:
    value: Any = OMIT
    # The result must share no objects with the source or the translator's state (callers change it,
    # the session may hold it queued): containers that may come from either are copied below.
    shared = False
    if field.each is not None:
        value = _each(field, local, target, env)
    elif field.sources:
        for path in field.sources:  # the first that is present
            value = _read(path, local, env)
            if value is not OMIT:
                break
        if value is not OMIT and field.hook is None and not field.converts and field.enum is None:
            value = project(value, target)
        else:
            shared = True
    elif field.has_const:
        value = copy.deepcopy(field.const)
    if field.hook is not None and (value is not OMIT or not field.sources):
        value = env.ctx.hook(field.hook, env.root, None if value is OMIT else value)
        shared = True
    if value is not OMIT and field.enum is not None:
        value = _lookup(field, value, env)
    for step in field.converts:
        if value is OMIT:
            break
        value = CONVERTERS[step.name].function(value, step.arg)
    if field.narrowing and value is not OMIT and not _fits(value, target):
        raise NotSupportedAction(f"{env.label}: {field.where}: the value does not fit the target field")
    if value == [] and target.get("minItems", 0) > 0:
        return OMIT
    if shared and isinstance(value, dict | list):
        return copy.deepcopy(value)
    return value


@cache
def _field_validator(schema_text: str) -> Callable[[Any], Any]:
    validate: Callable[[Any], Any] = fastjsonschema.compile(json.loads(schema_text), use_default=False)
    return validate


def _fits(value: Any, target: Schema) -> bool:
    """`narrowing: reject`: the value must satisfy the target field's own schema (length, format)."""
    try:
        _field_validator(json.dumps(target, sort_keys=True))(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _lookup(field: FieldSpec, value: Any, env: Env) -> Any:
    table = field.enum if isinstance(field.enum, EnumTable) else env.enums[str(field.enum)]
    if isinstance(value, str) and value in table.table:
        return table.table[value]
    kind, literal = field.on_unknown or ("not_supported", None)
    if kind == "omit":
        return OMIT
    if kind == "value":
        return copy.deepcopy(literal)
    raise NotSupportedAction(f"{env.label}: {field.where}: the value has no counterpart in the target version")


def _each(field: FieldSpec, local: Any, target: Schema, env: Env) -> Any:
    each = field.each
    assert each is not None
    items = _read(each.source, local, env)
    if not isinstance(items, list):
        return OMIT
    element = target.get("items", {})
    result = []
    for item in items:
        if each.section is not None:
            mapped = map_section(each.section, item, element, env)
            if all(name in mapped for name in each.require):
                result.append(mapped)
        elif each.value is not None:
            value = evaluate(each.value, item, element, env)
            if value is not OMIT:
                result.append(value)
    return result
