"""Field paths over the official OCPP JSON schemas: lookup, requiredness, copy compatibility, projection.

The mapping loader uses these to check a mapping file against the schemas of the `ocpp` package
(read as package data, `$ref`s inlined once; OCPP 1.5 ones come from the SOAP codec, see
`gateway.core.schemas.soap15_schema`), and the engine uses `project` to copy a whole object
into a target shape that lacks some of its optional parts (2.0.1 `customData` toward 1.6).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

from gateway.core.dialects import Dialect
from gateway.core.schemas import soap15_schema

Schema = dict[str, Any]
Direction = Literal["request", "response"]

_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[0\])?")
#: 2.0.1 lets every object carry vendor data; TRANSLATION.md 1.6 drops it toward 1.x.
CUSTOM_DATA: Final = "customData"
_PACKAGE_DIRS: Final = {Dialect.OCPP16: "v16/schemas", Dialect.OCPP201: "v201/schemas"}


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a field path: a property name, optionally followed by `[0]` (first array element)."""

    name: str
    first: bool = False

    def __str__(self) -> str:
        return f"{self.name}[0]" if self.first else self.name


def parse_path(text: str) -> tuple[Segment, ...] | None:
    """Split `a.b[0].c` into segments, or None when the text is not a path."""
    parts = text.split(".")
    segments = []
    for part in parts:
        match = _SEGMENT.fullmatch(part)
        if match is None:
            return None
        segments.append(Segment(match.group(1), match.group(2) is not None))
    return tuple(segments)


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items() if key != "definitions"}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


@cache
def _load(family: Dialect, action: str, direction: Direction) -> Schema:
    if family is Dialect.OCPP15_SOAP:
        raw = soap15_schema(action, direction)
    else:
        suffix = "Response" if direction == "response" else ("Request" if family is Dialect.OCPP201 else "")
        path = resources.files("ocpp").joinpath(_PACKAGE_DIRS[family], f"{action}{suffix}.json")
        raw = json.loads(path.read_text(encoding="utf-8"))
    inlined: Schema = _inline(raw, raw.get("definitions", {}))
    return inlined


def message_schema(dialect: Dialect, action: str, direction: Direction) -> Schema:
    """The official schema of one payload with every `$ref` inlined (a fresh copy; callers may keep it)."""
    return copy.deepcopy(_load(dialect.json_family, action, direction))


def at(schema: Schema, segments: tuple[Segment, ...]) -> Schema | None:
    """The sub-schema a path leads to, or None when the schema has no such field."""
    node = schema
    for segment in segments:
        properties = node.get("properties")
        if node.get("type") != "object" or not isinstance(properties, dict) or segment.name not in properties:
            return None
        node = properties[segment.name]
        if segment.first:
            if node.get("type") != "array":
                return None
            node = node.get("items", {})
    return node


def always_present(schema: Schema, segments: tuple[Segment, ...]) -> bool:
    """True when a schema-valid payload always has this field: every step is required (and `[0]` exists)."""
    node = schema
    for segment in segments:
        if segment.name not in node.get("required", ()):
            return False
        node = node["properties"][segment.name]
        if segment.first:
            if node.get("minItems", 0) < 1:
                return False
            node = node.get("items", {})
    return True


def leaf_paths(schema: Schema, prefix: str = "") -> list[tuple[str, Schema]]:
    """Every field under an object schema as (`a.b`, schema), arrays of objects as `a[].b`; objects too."""
    found: list[tuple[str, Schema]] = []
    for name, sub in schema.get("properties", {}).items():
        if name == CUSTOM_DATA:
            continue
        path = f"{prefix}{name}"
        found.append((path, sub))
        if sub.get("type") == "object":
            found.extend(leaf_paths(sub, path + "."))
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            found.extend(leaf_paths(sub["items"], path + "[]."))
    return found


def compatibility(source: Schema, target: Schema, *, narrowing: bool = False, where: str = "") -> list[str]:
    """Why a value valid under `source` may be invalid under `target` when copied; empty when it fits.

    Args:
        source: schema of the value as produced (after enum tables and converters).
        target: schema of the target field.
        narrowing: the mapping declared `narrowing: reject`, so longer texts are refused at run time.
        where: path prefix for the messages.
    """
    label = where or "value"
    if source.get("x-trusted") or "type" not in target:
        return []
    kind, wanted = source.get("type"), target["type"]
    if kind is None:
        return [f"{label} may be any JSON value but the target wants {wanted}; add a converter (e.g. json_text)"]
    if kind != wanted and not (kind == "integer" and wanted == "number"):
        return [f"{label} is {kind} but the target wants {wanted}"]
    problems: list[str] = []
    if "enum" in target:
        missing = [v for v in source.get("enum", ()) if v not in target["enum"]]
        if "enum" not in source:
            problems.append(f"{label} is free text but the target is an enum; add an enum table")
        elif missing:
            problems.append(f"{label} may be {', '.join(map(str, missing))}, not valid in the target; "
                            "add an enum table")
    limit = target.get("maxLength")
    if limit is not None and not narrowing and source.get("maxLength", limit + 1) > limit and "enum" not in source:
        problems.append(f"{label} may be longer than the target's {limit} characters; "
                        "add `convert: truncate:N` or `narrowing: reject`")
    if "multipleOf" in target and source.get("multipleOf") != target["multipleOf"] and kind != "integer":
        problems.append(f"{label} must be a multiple of {target['multipleOf']}; add `convert: round`")
    if kind == "array":
        problems += compatibility(source.get("items", {}), target.get("items", {}), narrowing=narrowing,
                                  where=f"{label}[]")
    if kind == "object":
        problems += _object_compatibility(source, target, narrowing, label)
    return problems


def _object_compatibility(source: Schema, target: Schema, narrowing: bool, label: str) -> list[str]:
    problems = []
    target_props = target.get("properties", {})
    for name, sub in source.get("properties", {}).items():
        if name in target_props:
            problems += compatibility(sub, target_props[name], narrowing=narrowing, where=f"{label}.{name}")
        elif name != CUSTOM_DATA:
            problems.append(f"{label}.{name} has no place in the target; map the fields one by one")
    problems += [f"{label}.{name} is required by the target but optional in the source"
                 for name in target.get("required", ()) if name not in source.get("required", ())]
    return problems


def project(value: Any, target: Schema) -> Any:
    """A deep copy of `value` keeping only what the target schema has room for (drops `customData`)."""
    if isinstance(value, dict):
        props = target.get("properties")
        if not isinstance(props, dict):
            return copy.deepcopy(value)
        return {key: project(item, props[key]) for key, item in value.items() if key in props}
    if isinstance(value, list):
        return [project(item, target.get("items", {})) for item in value]
    return value
