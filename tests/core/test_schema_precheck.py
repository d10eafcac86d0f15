"""The schema pre-check is never more lenient than fastjsonschema, and passes the payloads that are valid.

For every official 1.6 and 2.0.1 schema (and the 1.5 codec's), a complete valid payload is built
from the schema, then mutated at every position (wrong types, integral floats, bools, bad enum
values and dates, too long strings, missing and extra keys, empty and duplicated arrays). Whatever
the pre-check calls valid must pass fastjsonschema too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from gateway.core.dialects import Dialect
from gateway.core.schema_precheck import compile_precheck
from gateway.soap.json_schema import json_actions, json_schema

Schema = dict[str, Any]
_REPLACEMENTS: tuple[Any, ...] = (None, True, False, 0, 1, 1.0, 1.5, -1, "", "x", "9" * 600, [], {}, [1], {"a": 1},
                                  "2026-13-01T00:00:00Z", "2026-01-01 00:00:00", "Accepted")


def _schemas() -> Iterator[tuple[str, Schema]]:
    for folder in ("v16/schemas", "v201/schemas"):
        for entry in sorted(resources.files("ocpp").joinpath(folder).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                yield f"{folder}/{entry.name}", json.loads(entry.read_text(encoding="utf-8"))
    for action in sorted(json_actions(Dialect.OCPP15_SOAP)):
        for direction in ("request", "response"):
            yield f"1.5/{action}.{direction}", json_schema(Dialect.OCPP15_SOAP, action, direction)


SCHEMAS = dict(_schemas())


def _resolve(schema: Schema, root: Schema) -> Schema:
    while "$ref" in schema:
        schema = root["definitions"][schema["$ref"].removeprefix("#/definitions/")]
    return schema


def _example(schema: Schema, root: Schema) -> Any:
    """A valid instance with every optional property present."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object":
        return {key: _example(sub, root) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema["items"], root)] * max(1, schema.get("minItems", 1)) if "items" in schema else []
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-01-01T00:00:00Z"
        return "v" * min(5, schema.get("maxLength", 5))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1.5, schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    return "anything"


def _mutations(value: Any) -> Iterator[Any]:
    """Copies of `value` with one position changed."""
    yield from _REPLACEMENTS
    if isinstance(value, dict):
        yield {**value, "unexpectedKey": 1}
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for changed in _mutations(value[key]):
                yield {**value, key: changed}
    elif isinstance(value, list) and value:
        yield []
        yield value + [copy.deepcopy(value[0])] * 3
        for changed in _mutations(value[0]):
            yield [changed, *value[1:]]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_precheck_never_accepts_what_fastjsonschema_refuses(name: str) -> None:
    """Every mutated payload the pre-check lets through is valid for fastjsonschema as well."""
    schema = SCHEMAS[name]
    precheck = compile_precheck(schema)
    if precheck is None:
        pytest.skip("outside the pre-check's subset: fastjsonschema alone decides")
    full = fastjsonschema.compile(schema, use_default=False)
    example = _example(schema, schema)
    lenient = []
    for candidate in _mutations(example):
        if precheck(candidate):
            try:
                full(candidate)
            except fastjsonschema.JsonSchemaValueException as exc:
                lenient.append((candidate, exc.message))
    assert lenient == []


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_precheck_passes_a_complete_valid_payload(name: str) -> None:
    """A payload with every optional field set is valid for the pre-check (it is the fast path, not a detour)."""
    schema = SCHEMAS[name]
    precheck = compile_precheck(schema)
    if precheck is None:
        pytest.skip("outside the pre-check's subset")
    example = _example(schema, schema)
    fastjsonschema.compile(schema, use_default=False)(example)  # the example itself is valid
    assert precheck(example) is True


def test_schemas_outside_the_subset_get_no_precheck() -> None:
    """A keyword the pre-check does not implement (here multipleOf) leaves the schema to fastjsonschema."""
    assert compile_precheck({"type": "object", "properties": {"n": {"type": "number", "multipleOf": 0.1}}}) is None


def test_integral_float_goes_to_fastjsonschema() -> None:
    """1.0 for an integer is not judged by the pre-check (draft 6 accepts it, draft 4 does not)."""
    precheck = compile_precheck({"type": "object", "properties": {"n": {"type": "integer"}}})
    assert precheck is not None
    assert precheck({"n": 1}) is True
    assert precheck({"n": 1.0}) is False
