"""The reusable compact JSON encoder writes exactly what json.dumps writes (frames and store columns)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import ocppj
from gateway.store.sqlite_schema import dump_json

# Any JSON value, including non-ASCII text, lone surrogates and integers beyond 64 bits.
_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))
_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
            | st.floats(allow_nan=False, allow_infinity=False) | _text)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4))


@settings(database=None)
@given(_json, st.booleans())
def test_encoder_text_is_json_dumps_text(value: Any, ensure_ascii: bool) -> None:
    """For any JSON value, the encoder gives json.dumps's compact text."""
    encode = ocppj.compact_json_encoder(ensure_ascii=ensure_ascii, allow_nan=False)
    assert encode(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=False)


@settings(database=None)
@given(_json)
def test_store_column_text_is_json_dumps_text(value: Any) -> None:
    """dump_json writes a JSON column as json.dumps(value, separators=(",", ":")) does."""
    assert dump_json(value) == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_frame_with_a_non_finite_number_is_refused_as_json_dumps_refuses_it(number: float) -> None:
    """NaN and infinities are no JSON: serialize raises the ValueError json.dumps raises."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        ocppj.serialize(ocppj.CallResult("1", {"value": number}))


def test_a_frame_with_a_value_json_cannot_carry_is_refused_with_a_type_error() -> None:
    """A non-JSON object in a payload is a TypeError, as with json.dumps."""
    with pytest.raises(TypeError, match="not JSON serializable"):
        ocppj.serialize(ocppj.CallResult("1", {"value": object()}))
