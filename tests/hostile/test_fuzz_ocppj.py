"""Fuzzing OCPP-J framing: `ocppj.parse` over hostile text, and the parse -> serialize -> parse round trip.

tests/core/test_ocppj.py already checks serialize -> parse for generated messages and that parse
raises only RemoteErrors on loosely generated text. Here the text comes first: JSON documents built to
sit near the frame grammar (numbers at the edge of what a float holds, escapes, lone surrogates, deep
nesting, odd whitespace), and valid frames cut, spliced and byte-mutated. Whatever parse accepts must
survive the trip a relayed frame takes (serialize, then parse at the peer) unchanged, and whatever it
refuses must be refused with the gateway's own error family, naming an id only when one was readable.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.core import ocppj
from gateway.core.dialects import Dialect
from gateway.core.ocppj import Call, CallError, CallResult
from gateway.errors import RemoteError

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- JSON text near the frame grammar ----------------------------------------------------------

#: Number spellings a float cannot hold exactly, or at all: overflow, underflow, huge exponents and digits.
_edgy_numbers = st.sampled_from([
    "1e999", "-1e999", "1E+400", "1e-999", "-0", "-0.0", "0e0", "1.7976931348623157e308", "4.9e-324",
    "123456789012345678901234567890", "9" * 400, "1" + "0" * 4400, "0." + "0" * 400 + "1",
])
_escapes = st.sampled_from([r"\ud800", r"\udfff", r"\ud83d\ude00", r"\u0000", r"\"", "\\\\", r"\/", r"\b\f\n\r\t",
                            "\u2028", "\ufeff", "\x7f"])
_strings = st.one_of(
    st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.lists(st.one_of(_escapes, st.text(alphabet="ab-_ é", max_size=3)), max_size=4).map(lambda p: '"' + "".join(p)
                                                                                        + '"'),
)
_scalar_texts = st.one_of(
    _strings, _edgy_numbers, st.integers().map(str), st.floats(allow_nan=False).map(json.dumps),
    st.sampled_from(["true", "false", "null", "NaN", "Infinity", "-Infinity"]),
)
_spaces = st.sampled_from(["", " ", "\n", "\t", "\r\n", "  "])


def _array(items: list[str], space: str) -> str:
    return "[" + space + ("," + space).join(items) + space + "]"


def _object(pairs: list[tuple[str, str]], space: str) -> str:
    return "{" + ",".join(f"{k}{space}:{space}{v}" for k, v in pairs) + "}"


_values: st.SearchStrategy[str] = st.recursive(
    _scalar_texts,
    lambda inner: st.builds(_array, st.lists(inner, max_size=4), _spaces)
    | st.builds(_object, st.lists(st.tuples(_strings, inner), max_size=4), _spaces),
    max_leaves=10,
)
_type_ids = st.one_of(st.sampled_from(["2", "3", "4"]), st.sampled_from(["0", "5", "-1", "2.0", "2e0", '"2"',
                                                                         "true", "null", "1e999"]))
_ids = st.one_of(st.text(min_size=1, max_size=36).map(json.dumps), _strings, st.just('"' + "x" * 37 + '"'),
                 _scalar_texts)
_actions = st.one_of(st.sampled_from(['"Heartbeat"', '"BootNotification"', '""', '"FlyToTheMoon"']), _strings)
_objects = st.builds(_object, st.lists(st.tuples(_strings, _values), max_size=4), _spaces)
#: Frame-shaped text: [type, id, ...] with 0 to 4 further elements of any kind, or well-formed frames
#: (a CALL, CALLRESULT or CALLERROR whose payload or details object holds any values).
_frames = st.one_of(
    st.builds(lambda t, i, rest, space: _array([t, i, *rest], space),
              _type_ids, _ids, st.one_of(st.tuples(_actions, _values).map(list), st.lists(_values, max_size=4)),
              _spaces),
    st.builds(lambda i, a, p: _array(["2", i, a, p], ""), _ids, _actions, _objects),
    st.builds(lambda i, p: _array(["3", i, p], ""), _ids, _objects),
    st.builds(lambda i, c, d, p: _array(["4", i, c, d, p], ""), _ids, _actions, _strings, _objects),
)


def _mutate(text: str, data: st.DataObject) -> str:
    """One edit to a frame's text: cut it, splice characters in, delete a span, or duplicate a span."""
    at = data.draw(st.integers(0, len(text)), label="at")
    to = data.draw(st.integers(at, min(len(text), at + 8)), label="to")
    match data.draw(st.sampled_from(["cut", "insert", "delete", "repeat"]), label="edit"):
        case "cut":
            return text[:at]
        case "insert":
            return text[:at] + data.draw(st.one_of(st.text(max_size=4), st.sampled_from(list('[]{}",:\\'))),
                                         label="inserted") + text[at:]
        case "delete":
            return text[:at] + text[to:]
        case _:
            return text[:to] + text[at:to] * data.draw(st.integers(2, 50), label="times") + text[to:]


_valid_frames = st.sampled_from([
    '[2,"a1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
    '[2,"a2","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2024-05-01T10:00:00Z",'
    '"sampledValue":[{"value":"12.5"}]}]}]',
    '[3,"a3",{"currentTime":"2024-05-01T10:00:00Z"}]',
    '[4,"a4","GenericError","broken",{"detail":[1,2.5,null]}]',
    '[2,"a5","SetChargingProfile",{"evseId":1,"chargingProfile":{"chargingSchedule":[{"chargingSchedulePeriod":'
    '[{"startPeriod":0,"limit":16.0}]}]}}]',
])


# ---- properties --------------------------------------------------------------------------------


def _parse_or_refuse(text: str) -> ocppj.Message | RemoteError:
    try:
        return ocppj.parse(text)
    except RemoteError as error:
        return error


def _check(text: str) -> None:
    """Parse `text`; a frame must survive serialize -> parse unchanged, a refusal must name a readable id only."""
    outcome = _parse_or_refuse(text)
    if isinstance(outcome, RemoteError):
        assert outcome.unique_id is None or 0 < len(outcome.unique_id) <= ocppj.MAX_UNIQUE_ID
        assert ocppj.serialize(ocppj.call_error_for(outcome, None, Dialect.OCPP201)).encode("utf-8")
        return
    assert isinstance(outcome, Call | CallResult | CallError)
    again = ocppj.serialize(outcome)
    again.encode("utf-8")  # what a WebSocket text frame must be
    assert _same(ocppj.parse(again), outcome)


def _same(left: Any, right: Any) -> bool:
    """Equality that also holds for -0.0 against 0.0 spelled differently, and checks float bits otherwise."""
    if isinstance(left, float) and isinstance(right, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Call | CallResult | CallError):
        return type(left) is type(right) and _same(ocppj.serialize(left), ocppj.serialize(right))
    return type(left) is type(right) and bool(left == right)


@SETTINGS
@given(_frames)
@example('[2,"a","DataTransfer",{"vendorId":"V","data":1e999}]')
@example('[4,"a","GenericError","",{"limit":-1e999}]')
@example('[2,"a","DataTransfer",{"vendorId":"V","n":' + "1" + "0" * 4400 + "}]")
@example("[" * 100_000)
def test_frame_shaped_text_parses_to_a_frame_that_survives_the_round_trip(text: str) -> None:
    """Frame-shaped JSON text either parses to a frame that serializes and parses back equal, or is refused."""
    _check(text)


@SETTINGS
@given(_valid_frames, st.data())
def test_mutated_valid_frames_parse_and_round_trip_or_are_refused(frame: str, data: st.DataObject) -> None:
    """Valid frames cut, spliced or repeated: parsed and round-tripped unchanged, or refused as RemoteError."""
    text = frame
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        text = _mutate(text, data)
    _check(text)


@SETTINGS
@given(st.binary(max_size=64).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_arbitrary_decoded_bytes_are_refused_or_round_trip(text: str) -> None:
    """Bytes decoded as a WebSocket library might hand them over (lone surrogates included): no other error."""
    _check(text)
