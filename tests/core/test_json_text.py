"""The reusable compact JSON encoder writes what json.dumps writes (frames and store columns)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import json_text, ocppj
from gateway.store.sqlite_schema import dump_json

# Any JSON value, including non-ASCII text, lone surrogates and integers beyond 64 bits.
_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
_exact_scalars = st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | _text
_scalars = _exact_scalars | st.floats(allow_nan=False, allow_infinity=False)


def _documents(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4))


@settings(database=None)
@given(_documents(_scalars), st.booleans())
def test_encoder_writes_the_value_json_dumps_writes(value: Any, ensure_ascii: bool) -> None:
    """For any JSON value, the encoder's text reads back as json.dumps's text does (floats may be spelt otherwise)."""
    encode = json_text.compact_json_encoder(ensure_ascii=ensure_ascii, allow_nan=False)
    text = encode(value)
    assert json.loads(text) == json.loads(json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=False))
    assert text.isascii() or not ensure_ascii


@settings(database=None)
@given(_documents(_exact_scalars), st.booleans())
def test_encoder_text_is_json_dumps_text_for_values_without_floats(value: Any, ensure_ascii: bool) -> None:
    """Without floats the text is json.dumps's compact text, character for character (big integers included)."""
    encode = json_text.compact_json_encoder(ensure_ascii=ensure_ascii, allow_nan=False)
    assert encode(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False)


@pytest.mark.parametrize("number", [0.1, -0.0, 1e-07, 1e16, 1.2345678901234568e17, 5e-324, 1.7976931348623157e308])
def test_a_float_is_written_as_the_shortest_text_that_reads_back_as_it(number: float) -> None:
    """Floats round-trip exactly, in the shortest spelling (orjson writes 1e-7 where json.dumps writes 1e-07)."""
    text = json_text.compact_json_encoder(ensure_ascii=True, allow_nan=False)([number])
    assert json.loads(text) == [number]
    assert len(text) <= len(json.dumps([number], separators=(",", ":")))


def test_a_null_in_a_document_is_written_as_null() -> None:
    """null is JSON: the encoder's NaN guard (orjson writes NaN as null) does not refuse it."""
    assert json_text.compact_json_encoder(ensure_ascii=False, allow_nan=False)({"a": None, "b": "null"}) == \
        '{"a":null,"b":"null"}'


@settings(database=None)
@given(_documents(_scalars))
def test_store_column_reads_back_as_json_dumps_text(value: Any) -> None:
    """dump_json writes a JSON column that reads back as json.dumps(value)'s text, in ASCII."""
    text = dump_json(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    assert text.isascii()


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_store_column_writes_a_non_finite_number_as_null(number: float) -> None:
    """A store column is JSON: a non-finite number (which no parsed frame can carry) is written as null, not refused."""
    assert dump_json({"v": number, "w": None}) == '{"v":null,"w":null}'


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_frame_with_a_non_finite_number_is_refused_as_json_dumps_refuses_it(number: float) -> None:
    """NaN and infinities are no JSON: serialize raises the ValueError json.dumps raises."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        ocppj.serialize(ocppj.CallResult("1", {"value": number}))


def test_a_frame_with_a_value_json_cannot_carry_is_refused_with_a_type_error() -> None:
    """A non-JSON object in a payload is a TypeError, as with json.dumps."""
    with pytest.raises(TypeError, match="not JSON serializable"):
        ocppj.serialize(ocppj.CallResult("1", {"value": object()}))
