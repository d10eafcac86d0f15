"""Property tests: any schema-valid message maps to a schema-valid one, or is refused cleanly (NotSupported)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.core.mapping import Answer, Delegate, Forward, Rule
from gateway.core.mapping_schema import Schema, message_schema
from gateway.core.mapping_spec import FieldSpec, Section, SourcePath
from gateway.errors import NotSupportedAction
from tests.core.test_mapping_examples import FakeContext, builtin

#: Bounds that keep generated payloads small: the suite must stay fast.
_MAX_TEXT = 24
_MAX_ITEMS = 3
_FLAGS = ("security_extension", "forward_connection_settings", "transaction_open", "signed_firmware_job",
          "security_log_job")

_json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
_date_times = st.datetimes().map(lambda d: d.replace(microsecond=0).isoformat() + "Z")
_texts = st.characters(min_codepoint=32, max_codepoint=0x2FFF, categories=("L", "M", "N", "P", "S", "Zs"))
_numeric_texts = st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True)
_uris = st.from_regex(r"https://[a-z]{1,8}\.example/[a-z0-9]{0,8}", fullmatch=True)


def from_schema(schema: Schema) -> st.SearchStrategy[Any]:
    """A strategy for values valid under one (inlined) OCPP JSON schema, with bounded sizes."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return _json_values
    if kind == "string":
        if schema.get("format") == "date-time":
            return _date_times
        if schema.get("format") == "uri":
            return _uris
        limit = schema.get("maxLength", _MAX_TEXT)
        # Free texts often hold numbers or URIs in OCPP (sampled values, locations): generate those too.
        options = [st.text(_texts, max_size=min(limit, _MAX_TEXT))]
        options += [_numeric_texts] if limit >= 11 else []
        options += [_uris] if limit >= 40 else []
        return st.one_of(options)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31 - 1))
    if kind == "number":
        if schema.get("multipleOf") == 0.1:
            return st.integers(-(10**6), 10**6).map(lambda i: round(i / 10, 1))
        return st.floats(schema.get("minimum", -1e9), schema.get("maximum", 1e9), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(from_schema(schema.get("items", {})), min_size=low,
                        max_size=max(low, min(schema.get("maxItems", _MAX_ITEMS), _MAX_ITEMS)))
    props = schema.get("properties", {})
    required = {name: from_schema(props[name]) for name in schema.get("required", ())}
    optional = {name: from_schema(sub) for name, sub in props.items() if name not in required}
    return st.fixed_dictionaries(required, optional=optional)


@cache
def payloads(dialect: Dialect, action: str, direction: schemas.Direction) -> st.SearchStrategy[Any]:
    """Schema-valid payloads of one message, strategy built once."""
    return from_schema(message_schema(dialect, action, direction))


def _reads_request(section: Section | None) -> bool:
    """True when a response mapping reads the original request (`$request.` paths)."""
    def paths(field: FieldSpec) -> list[SourcePath]:
        found = [*field.sources, *([field.default.source] if field.default and field.default.source else [])]
        return found + [p for f in (field.each.section.fields if field.each and field.each.section else ())
                        for p in paths(f)]
    return section is not None and any(p.scope == "request" for f in section.fields for p in paths(f))


def _valid(dialect: Any, action: str, direction: schemas.Direction, payload: dict[str, Any]) -> None:
    schemas.validate(dialect, action, direction, copy.deepcopy(payload))


def _mapped() -> list[Rule]:
    return [r for r in builtin() if r.request is not None]


def _answers() -> list[tuple[Rule, Rule]]:
    return [(r, v) for r in _mapped() for v in [r, *r.variants.values()]]


_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("rule", _mapped(), ids=lambda r: r.label)
@_SETTINGS
@given(data=st.data())
def test_any_valid_request_maps_to_a_valid_target_request(rule: Rule, data: st.DataObject) -> None:
    """A schema-valid request is forwarded schema-valid, answered with a valid local answer, delegated or refused."""
    flags = data.draw(st.fixed_dictionaries({name: st.booleans() for name in _FLAGS}))
    payload = data.draw(payloads(rule.source, rule.action, "request"))
    before = copy.deepcopy(payload)
    try:
        outcome = rule.apply(payload, FakeContext(**flags))
    except NotSupportedAction:
        return
    assert payload == before
    if isinstance(outcome, Forward):
        _valid(rule.target, outcome.action, "request", outcome.payload)
    elif isinstance(outcome, Answer):
        _valid(rule.source, rule.action, "response", outcome.payload)
    else:
        assert isinstance(outcome, Delegate)


def _exchange(data: st.DataObject, rule: Rule, used: Rule) -> tuple[Any, Any]:
    """A schema-valid source request (only when the answer's mapping reads it) and target answer."""
    request = data.draw(payloads(rule.source, rule.action, "request")) if _reads_request(used.response) else None
    return request, data.draw(payloads(rule.target, used.target_action, "response"))


@pytest.mark.parametrize(("rule", "used"), _answers(), ids=lambda r: r.label + "->" + r.target_action)
@_SETTINGS
@given(data=st.data())
def test_any_valid_answer_maps_back_to_a_valid_source_response(rule: Rule, used: Rule, data: st.DataObject) -> None:
    """A schema-valid target answer maps to a schema-valid source response, or is refused NotSupported."""
    request, answer = _exchange(data, rule, used)
    before = copy.deepcopy(answer)
    try:
        mapped = used.map_response(answer, FakeContext(), request)
    except NotSupportedAction:
        return
    assert answer == before
    _valid(rule.source, rule.action, "response", mapped)


def _containers(value: Any) -> set[int]:
    """The ids of every object and array in a JSON value, itself included."""
    found: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


@pytest.mark.parametrize("rule", _mapped(), ids=lambda r: r.label)
@_SETTINGS
@given(data=st.data())
def test_a_mapped_request_shares_no_object_with_the_source(rule: Rule, data: st.DataObject) -> None:
    """What a rule forwards or answers may be changed by its caller without touching the source request."""
    payload = data.draw(payloads(rule.source, rule.action, "request"))
    try:
        outcome = rule.apply(payload, FakeContext(), validate=False)
    except NotSupportedAction:
        return
    if not isinstance(outcome, Delegate):
        assert not _containers(outcome.payload) & _containers(payload)


@pytest.mark.parametrize(("rule", "used"), _answers(), ids=lambda r: r.label + "->" + r.target_action)
@_SETTINGS
@given(data=st.data())
def test_a_mapped_answer_shares_no_object_with_the_target_answer(rule: Rule, used: Rule, data: st.DataObject) -> None:
    """Nor with the target's answer or the source request it may read."""
    request, answer = _exchange(data, rule, used)
    try:
        mapped = used.map_response(answer, FakeContext(), request, validate=False)
    except NotSupportedAction:
        return
    assert not _containers(mapped) & (_containers(answer) | _containers(request))


@pytest.mark.parametrize(("dialect", "action"),
                         [(Dialect.OCPP16, "MeterValues"), (Dialect.OCPP201, "SetChargingProfile")])
@_SETTINGS
@given(data=st.data())
def test_generator_yields_schema_valid_payloads(dialect: Dialect, action: str, data: st.DataObject) -> None:
    """The generator itself only produces payloads the official schema accepts."""
    _valid(dialect, action, "request", data.draw(payloads(dialect, action, "request")))
