"""The schema pre-check is never more lenient than fastjsonschema, and passes the payloads that are valid.

For every official 1.6 and 2.0.1 schema (and the 1.5 codec's), a complete valid payload is built
from the schema, then mutated at every position (wrong types, integral floats, bools, bad enum
values and dates, too long strings, missing, extra and renamed keys, empty and duplicated arrays);
so is a minimal payload (required keys only), which takes the generated code's other branch for
optional keys. Whatever the pre-check calls valid must pass fastjsonschema too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from gateway.core import schema_precheck
from gateway.core.dialects import Dialect
from gateway.core.schema_precheck import Precheck, compile_precheck
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


def _example(schema: Schema, root: Schema, complete: bool = True) -> Any:
    """A valid instance with every optional property present (complete) or only the required ones."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {key: _example(sub, root, complete) for key, sub in schema.get("properties", {}).items()
                if complete or key in required}
    if kind == "array":
        if "items" not in schema:
            return []
        return [_example(schema["items"], root, complete)] * max(1, schema.get("minItems", 1))
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
            yield {("unexpectedKey" if k == key else k): v for k, v in value.items()}  # as many keys, one wrong
            for changed in _mutations(value[key]):
                yield {**value, key: changed}
    elif isinstance(value, list) and value:
        yield []
        yield value + [copy.deepcopy(value[0])] * 3
        for changed in _mutations(value[0]):
            yield [changed, *value[1:]]


def _lenient(precheck: Precheck, schema: Schema, example: Any) -> list[tuple[Any, str]]:
    """The mutations of `example` the pre-check accepts and fastjsonschema refuses, with its message."""
    full = fastjsonschema.compile(schema, use_default=False)
    lenient = []
    for candidate in _mutations(example):
        if precheck(candidate):
            try:
                full(candidate)
            except fastjsonschema.JsonSchemaValueException as exc:
                lenient.append((candidate, exc.message))
    return lenient


def _official_precheck(name: str) -> tuple[dict[str, Any], Precheck]:
    """An official schema and its pre-check; the test is skipped for a schema outside the pre-check's subset."""
    schema = SCHEMAS[name]
    precheck = compile_precheck(schema)
    if precheck is None:
        pytest.skip("outside the pre-check's subset: fastjsonschema alone decides")
    return schema, precheck


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "minimal"])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_precheck_never_accepts_what_fastjsonschema_refuses(name: str, complete: bool) -> None:
    """Every mutated payload the pre-check lets through is valid for fastjsonschema as well."""
    schema, precheck = _official_precheck(name)
    assert _lenient(precheck, schema, _example(schema, schema, complete)) == []


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "minimal"])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_precheck_passes_a_valid_payload(name: str, complete: bool) -> None:
    """A payload with every optional field set, or none, is valid for the pre-check (it is the fast path)."""
    schema, precheck = _official_precheck(name)
    example = _example(schema, schema, complete)
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


def test_official_schemas_outside_the_subset_are_only_those_with_unsupported_keywords() -> None:
    """multipleOf (1.6 charging profiles) and format uri: the only schemas left to fastjsonschema alone."""
    assert sorted(name for name, schema in SCHEMAS.items() if compile_precheck(schema) is None) == [
        "1.5/GetDiagnostics.request", "1.5/UpdateFirmware.request", "v16/schemas/GetCompositeScheduleResponse.json",
        "v16/schemas/GetDiagnostics.json", "v16/schemas/RemoteStartTransaction.json",
        "v16/schemas/SetChargingProfile.json", "v16/schemas/UpdateFirmware.json"]


def test_a_missing_required_key_is_a_no_not_an_exception() -> None:
    """Required keys are read without a presence test; the KeyError of a missing one is turned into False."""
    precheck = compile_precheck({"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]})
    assert precheck is not None
    assert precheck({"id": "a"}) is True
    assert precheck({}) is False



def test_a_required_key_without_constraints_must_still_be_present() -> None:
    """A required key whose schema checks nothing (or that is not a property at all) is tested for presence."""
    schema = {"type": "object", "properties": {"blob": {"description": "anything"}}, "required": ["blob", "id"]}
    precheck = compile_precheck(schema)
    assert precheck is not None
    assert precheck({"blob": [1], "id": None}) is True
    assert precheck({"blob": [1]}) is False
    assert precheck({"id": 1}) is False
    assert _lenient(precheck, schema, {"blob": [1], "id": None}) == []


#: A tree: a definition that refers to itself, through another one (Child -> Node -> Child), used twice.
_TREE: Schema = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "definitions": {
        "Label": {"type": "object", "properties": {"text": {"type": "string", "maxLength": 3}},
                  "required": ["text"], "additionalProperties": False},
        "Node": {"type": "object", "additionalProperties": False, "required": ["label"],
                 "properties": {"label": {"$ref": "#/definitions/Label"},
                                "note": {"$ref": "#/definitions/Label"},
                                "children": {"type": "array", "items": {"$ref": "#/definitions/Child"}}}},
        "Child": {"type": "object", "additionalProperties": False,
                  "properties": {"node": {"$ref": "#/definitions/Node"}, "weight": {"type": "integer"}}},
    },
    "type": "object",
    "additionalProperties": False,
    "required": ["root"],
    "properties": {"root": {"$ref": "#/definitions/Node"}, "title": {"$ref": "#/definitions/Label"}},
}
_TREE_PAYLOAD: Any = {
    "root": {"label": {"text": "a"}, "note": {"text": "b"},
             "children": [{"weight": 1, "node": {"label": {"text": "c"},
                                                 "children": [{"node": {"label": {"text": "d"}}}]}}]},
    "title": {"text": "t"},
}


def test_a_recursive_definition_is_checked_at_every_depth() -> None:
    """Definitions that reach themselves stay functions (the others are inlined); both are exact."""
    precheck = compile_precheck(_TREE)
    assert precheck is not None
    fastjsonschema.compile(_TREE, use_default=False)(_TREE_PAYLOAD)
    assert precheck(_TREE_PAYLOAD) is True
    deep = copy.deepcopy(_TREE_PAYLOAD)
    deep["root"]["children"][0]["node"]["children"][0]["node"]["label"]["text"] = "long"
    assert precheck(deep) is False
    assert _lenient(precheck, _TREE, _TREE_PAYLOAD) == []


def test_an_inlined_definition_is_checked_wherever_it_is_used() -> None:
    """A definition used by two properties is inlined at both: a wrong value is found at each."""
    label = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 3}}, "required": ["text"]}
    schema = {"definitions": {"Label": label}, "type": "object",
              "properties": {"a": {"$ref": "#/definitions/Label"}, "b": {"$ref": "#/definitions/Label"}}}
    precheck = compile_precheck(schema)
    assert precheck is not None
    assert precheck({"a": {"text": "x"}, "b": {"text": "y"}}) is True
    assert precheck({"a": {"text": "x"}, "b": {"text": "long"}}) is False
    assert precheck({"a": {"text": "long"}, "b": {"text": "y"}}) is False
    assert _lenient(precheck, schema, {"a": {"text": "x"}, "b": {"text": "y"}}) == []


def test_optional_keys_are_checked_when_only_optional_keys_are_present() -> None:
    """No required key: any key at all sends the object through the optional-key tests."""
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"unit": {"type": "string", "maxLength": 2}, "multiplier": {"type": "integer"}}}
    precheck = compile_precheck(schema)
    assert precheck is not None
    assert precheck({}) is True
    assert precheck({"unit": "Wh"}) is True
    assert precheck({"unit": "kWh"}) is False
    assert precheck({"other": 1}) is False
    assert _lenient(precheck, schema, {"unit": "Wh", "multiplier": 3}) == []


def test_an_object_with_other_keys_allowed_still_checks_its_optional_keys() -> None:
    """additionalProperties true (customData): unknown keys pass, known optional ones are still checked."""
    schema = {"type": "object", "required": ["vendorId"],
              "properties": {"vendorId": {"type": "string"}, "size": {"type": "integer"}}}
    precheck = compile_precheck(schema)
    assert precheck is not None
    assert precheck({"vendorId": "v", "anything": [1]}) is True
    assert precheck({"vendorId": "v", "size": "big"}) is False
    assert _lenient(precheck, schema, {"vendorId": "v", "size": 1}) == []


def test_an_enum_of_strings_for_another_type_accepts_nothing() -> None:
    """An integer schema with an enum of strings: no value is both; the pre-check never says yes."""
    precheck = compile_precheck({"type": "integer", "enum": ["1"]})
    assert precheck is not None
    assert [precheck(value) for value in (1, "1", 1.0, None)] == [False, False, False, False]


_DATE_TIMES = ("2026-01-01T00:00:00Z", "2026-12-07T00:32:24.123+01:00", "2024-02-29T23:59:60z",
               "2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2000-02-29T00:00:00Z",
               "1900-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00",
               "2026-01-01T00:00:00+0100", "\u0662026-01-01T00:00:00Z", "2026-01-01T00:00:00Z\n", "")


@pytest.mark.parametrize("text", _DATE_TIMES)
def test_a_date_time_is_judged_as_fastjsonschema_does_first_and_second_time(text: str) -> None:
    """Date-times the regex accepted are remembered; the answer is the regex's either way."""
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "string", "format": "date-time"}
    precheck = compile_precheck(schema)
    assert precheck is not None
    try:
        fastjsonschema.compile(schema)(text)
        valid = True
    except fastjsonschema.JsonSchemaValueException:
        valid = False
    first = precheck(text)
    assert (first, precheck(text)) == (valid, valid)


def test_remembered_date_times_are_bounded() -> None:
    """However many distinct timestamps are seen, the memory of accepted ones stays small."""
    precheck = compile_precheck({"type": "string", "format": "date-time"})
    assert precheck is not None
    for second in range(3 * schema_precheck._DATES_MAX):
        assert precheck(f"2026-01-01T{second // 3600:02}:{second // 60 % 60:02}:{second % 60:02}Z") is True
    assert 0 < len(schema_precheck._DATES) <= schema_precheck._DATES_MAX
