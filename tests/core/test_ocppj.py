"""OCPP-J framing: parse and serialize round trips, malformed frames, and CALLERRORs per dialect."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import ocppj
from gateway.core.dialects import Dialect
from gateway.core.ocppj import Call, CallError, CallResult, Message
from gateway.errors import (
    FormatViolation,
    GatewayError,
    MessageTypeNotSupported,
    NotImplementedAction,
    OccurrenceConstraintViolation,
    Overloaded,
    PeerUnavailable,
    RemoteError,
    RpcFrameworkError,
)

LONG_ID = "x" * 37

# ---- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (Call("1", "Heartbeat", {}), '[2,"1","Heartbeat",{}]'),
        (CallResult("1", {"currentTime": "2024-05-01T10:00:00Z"}), '[3,"1",{"currentTime":"2024-05-01T10:00:00Z"}]'),
        (CallError("1", "NotSupported", "no", {"a": 1}), '[4,"1","NotSupported","no",{"a":1}]'),
    ],
)
def test_serialize_writes_compact_frame(message: Message, text: str) -> None:
    """Each message kind serializes to its compact OCPP-J array."""
    assert ocppj.serialize(message) == text


@pytest.mark.parametrize(
    "message",
    [
        Call("a-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        CallResult("a-1", {"status": "Accepted", "nested": {"list": [1, 2.5, None, True]}}),
        CallError("a-1", "FormatViolation", "bad frame", {"where": "payload"}),
        CallError("a-1", "GenericError"),
    ],
)
def test_parse_reverses_serialize(message: Message) -> None:
    """Parsing a serialized message gives the same message back."""
    assert ocppj.parse(ocppj.serialize(message)) == message


def test_serialize_keeps_non_ascii_characters() -> None:
    """Non-ASCII text is written as UTF-8 characters, not as \\u escapes."""
    text = ocppj.serialize(Call("1", "DataTransfer", {"vendorId": "Zoë"}))
    assert text == '[2,"1","DataTransfer",{"vendorId":"Zoë"}]'


def test_parse_accepts_whitespace_between_elements() -> None:
    """A frame with spaces and newlines between its elements parses like a compact one."""
    assert ocppj.parse('[ 2 ,\n "1" , "Heartbeat" , { } ]') == Call("1", "Heartbeat", {})


def test_parse_fills_missing_callerror_parts() -> None:
    """A CALLERROR without description or details is still read, with empty ones."""
    assert ocppj.parse('[4,"1","GenericError"]') == CallError("1", "GenericError", "", {})


def test_serialize_output_encodes_as_utf8_for_escaped_surrogate_ids() -> None:
    """A frame echoing an id parsed from a \\ud800 escape is still text a WebSocket can send as UTF-8."""
    call = ocppj.parse('[2,"\\ud800","Heartbeat",{}]')
    ocppj.serialize(CallError(call.unique_id, "GenericError")).encode("utf-8")


# ---- malformed frames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error", "unique_id"),
    [
        pytest.param("hello", RpcFrameworkError, None, id="not-json"),
        pytest.param('[2,"a","Heartbeat",{', RpcFrameworkError, "a", id="truncated-json-id-from-head"),
        pytest.param('{"a":1}', RpcFrameworkError, None, id="object"),
        pytest.param('"[2]"', RpcFrameworkError, None, id="string"),
        pytest.param("[2]", RpcFrameworkError, None, id="one-element"),
        pytest.param('[2,"a"]', RpcFrameworkError, "a", id="two-elements"),
        pytest.param('[2,5,"Heartbeat",{}]', RpcFrameworkError, None, id="id-not-string"),
        pytest.param('[2,null,"Heartbeat",{}]', RpcFrameworkError, None, id="id-null"),
        pytest.param('[2,"","Heartbeat",{}]', RpcFrameworkError, None, id="id-empty"),
        pytest.param(f'[2,"{LONG_ID}","Heartbeat",{{}}]', RpcFrameworkError, None, id="id-too-long"),
        pytest.param('[9,"a",{}]', MessageTypeNotSupported, "a", id="unknown-type"),
        pytest.param('["2","a","Heartbeat",{}]', MessageTypeNotSupported, "a", id="type-as-string"),
        pytest.param('[2,"a","Heartbeat",[]]', FormatViolation, "a", id="call-payload-array"),
        pytest.param('[2,"a","Heartbeat","{}"]', FormatViolation, "a", id="call-payload-string"),
        pytest.param('[2,"a","Heartbeat",null]', FormatViolation, "a", id="call-payload-null"),
        pytest.param('[2,"a","",{}]', FormatViolation, "a", id="call-empty-action"),
        pytest.param('[2,"a",7,{}]', FormatViolation, "a", id="call-action-not-string"),
        pytest.param('[2,"a","Heartbeat"]', FormatViolation, "a", id="call-without-payload"),
        pytest.param('[2,"a","Heartbeat",{},{}]', FormatViolation, "a", id="call-extra-element"),
        pytest.param('[3,"a",[]]', FormatViolation, "a", id="result-payload-array"),
        pytest.param('[3,"a","ok"]', FormatViolation, "a", id="result-payload-string"),
        pytest.param('[3,"a",{},{}]', FormatViolation, "a", id="result-extra-element"),
    ],
)
def test_parse_refuses_malformed_frame(text: str, error: type[RemoteError], unique_id: str | None) -> None:
    """A malformed frame raises the OCPP-J error naming its fault, with the id when it was readable."""
    with pytest.raises(RemoteError) as caught:
        ocppj.parse(text)
    assert (type(caught.value), caught.value.unique_id) == (error, unique_id)


def test_parse_refuses_nan() -> None:
    """NaN is not JSON (RFC 8259), so a frame carrying it is refused rather than passed on."""
    with pytest.raises(RpcFrameworkError) as caught:
        ocppj.parse('[2,"a","DataTransfer",{"vendorId":"V","data":NaN}]')
    assert caught.value.unique_id == "a"


def test_parse_refuses_infinity() -> None:
    """Infinity is not JSON (RFC 8259), so a frame carrying it is refused rather than passed on."""
    with pytest.raises(RpcFrameworkError):
        ocppj.parse('[3,"a",{"value":-Infinity}]')


@pytest.mark.parametrize("number", ["1e999", "-1E+400", "9" * 400 + ".0"])
def test_parse_refuses_numbers_too_large_for_a_float(number: str) -> None:
    """A number no float holds is refused: read as inf, the frame could not be serialized again (found by fuzzing)."""
    with pytest.raises(RpcFrameworkError) as caught:
        ocppj.parse(f'[4,"a","GenericError","",{{"limit":{number}}}]')
    assert caught.value.unique_id == "a"


def test_parse_accepts_nesting_up_to_max_depth() -> None:
    """A frame nested exactly MAX_DEPTH levels deep (the frame's own array counted) parses and round-trips."""
    inner = "[" * (ocppj.MAX_DEPTH - 2) + "]" * (ocppj.MAX_DEPTH - 2)
    message = ocppj.parse(f'[4,"a","GenericError","",{{"x":{inner}}}]')
    assert ocppj.parse(ocppj.serialize(message)) == message


def test_parse_refuses_nesting_deeper_than_max_depth() -> None:
    """One level more is refused with the id: so deep a value could fail to serialize again (found by fuzzing)."""
    inner = "[" * (ocppj.MAX_DEPTH - 1) + "]" * (ocppj.MAX_DEPTH - 1)
    with pytest.raises(RpcFrameworkError) as caught:
        ocppj.parse(f'[4,"a","GenericError","",{{"x":{inner}}}]')
    assert caught.value.unique_id == "a"


def test_short_frame_with_overlong_id_has_no_id() -> None:
    """An over-long id is unreadable in a short frame too, not cut to a different 36-character id."""
    with pytest.raises(RpcFrameworkError) as caught:
        ocppj.parse(f'[2,"{LONG_ID}"]')
    assert caught.value.unique_id is None


def test_parse_refuses_deeply_nested_frame() -> None:
    """A frame nested deeper than the decoder can follow is refused as not JSON, not a RecursionError."""
    with pytest.raises(RpcFrameworkError):
        ocppj.parse("[" * 100_000)


def test_peek_reads_type_and_id_from_head() -> None:
    """The head of a frame names its type and id even when the rest is cut off."""
    head = '[3, "abc", {"status": "Acc'
    assert (ocppj.peek_type(head), ocppj.peek_unique_id(head)) == (3, "abc")


def test_peek_finds_nothing_in_garbage() -> None:
    """A head that is not an OCPP-J array start yields no type and no id."""
    assert (ocppj.peek_type("hello"), ocppj.peek_unique_id("hello")) == (None, None)


# ---- call_error_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "dialect", "code"),
    [
        (FormatViolation("x"), Dialect.OCPP16, "FormationViolation"),
        (OccurrenceConstraintViolation("x"), Dialect.OCPP16, "OccurenceConstraintViolation"),
        (RpcFrameworkError("x"), Dialect.OCPP16, "FormationViolation"),
        (MessageTypeNotSupported("x"), Dialect.OCPP16, "GenericError"),
        (FormatViolation("x"), Dialect.OCPP201, "FormatViolation"),
        (OccurrenceConstraintViolation("x"), Dialect.OCPP201, "OccurrenceConstraintViolation"),
        (RpcFrameworkError("x"), Dialect.OCPP201, "RpcFrameworkError"),
        (MessageTypeNotSupported("x"), Dialect.OCPP201, "MessageTypeNotSupported"),
        (NotImplementedAction("x"), Dialect.OCPP16, "NotImplemented"),
        (Overloaded("x"), Dialect.OCPP201, "GenericError"),
        (PeerUnavailable("x"), Dialect.OCPP16, "InternalError"),
        (FormatViolation("x"), Dialect.OCPP16_SOAP, "FormationViolation"),
    ],
)
def test_call_error_spells_code_for_dialect(error: GatewayError, dialect: Dialect, code: str) -> None:
    """The CALLERROR code is the one the receiving dialect defines for the error."""
    assert ocppj.call_error_for(error, "1", dialect).error_code == code


def test_call_error_uses_given_id() -> None:
    """The id passed in is the CALLERROR's id, even if the error carries another."""
    assert ocppj.call_error_for(FormatViolation("x", unique_id="e"), "given", Dialect.OCPP16).unique_id == "given"


def test_call_error_falls_back_to_errors_id() -> None:
    """Without an id passed in, the CALLERROR answers the id the error read from the frame."""
    assert ocppj.call_error_for(FormatViolation("x", unique_id="e"), None, Dialect.OCPP16).unique_id == "e"


def test_call_error_uses_minus_one_when_id_unreadable() -> None:
    """With no readable id anywhere the CALLERROR's id is "-1"."""
    assert ocppj.call_error_for(RpcFrameworkError("x"), None, Dialect.OCPP201).unique_id == "-1"


def test_call_error_carries_error_text_and_empty_details() -> None:
    """A GatewayError's message becomes the description, and details are an empty object."""
    error = ocppj.call_error_for(FormatViolation("payload is broken"), "1", Dialect.OCPP201)
    assert (error.error_description, error.error_details) == ("payload is broken", {})


def test_call_error_truncates_description_to_255() -> None:
    """A long error message is cut to the 255 characters OCPP 2.0.1 allows."""
    assert ocppj.call_error_for(FormatViolation("d" * 1000), "1", Dialect.OCPP201).error_description == "d" * 255


def test_call_error_hides_text_of_foreign_exceptions() -> None:
    """A non-GatewayError becomes InternalError without its text, which could leak internals."""
    error = ocppj.call_error_for(KeyError("secret-path"), "1", Dialect.OCPP16)
    assert error.error_code == "InternalError"
    assert "secret" not in error.error_description


# ---- properties -------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)
_payloads = st.dictionaries(st.text(), _json, max_size=5)
_ids = st.text(min_size=1, max_size=ocppj.MAX_UNIQUE_ID)
_messages = st.one_of(
    st.builds(Call, _ids, st.text(min_size=1), _payloads),
    st.builds(CallResult, _ids, _payloads),
    st.builds(CallError, _ids, st.text(), st.text(), _payloads),
)


@settings(database=None)
@given(_messages)
def test_property_parse_reverses_serialize(message: Message) -> None:
    """For any message, parse(serialize(message)) is the message."""
    assert ocppj.parse(ocppj.serialize(message)) == message


def _cut(text: str, at: int) -> str:
    return text[:at]


_frame_like = st.lists(_json, max_size=6).map(json.dumps)
_near_frames = st.tuples(st.sampled_from([2, 3, 4, 0, "2", None]), _json, _json, _json).map(
    lambda t: json.dumps(list(t))
)
_texts = st.one_of(
    st.text(),
    _frame_like,
    _near_frames,
    _messages.map(ocppj.serialize),
    st.builds(_cut, _messages.map(ocppj.serialize), st.integers(min_value=0, max_value=80)),
)


@settings(database=None)
@given(_texts)
def test_property_parse_raises_only_remote_errors(text: str) -> None:
    """On any text, parse returns a message or raises a RemoteError subclass, nothing else."""
    result: Any
    try:
        result = ocppj.parse(text)
    except RemoteError:
        return
    assert isinstance(result, Call | CallResult | CallError)


def test_message_ids_the_gateway_makes_are_uuid4_text() -> None:
    """new_message_id gives the 36-character text of a random (version 4, RFC 4122 variant) UUID."""
    text = ocppj.new_message_id()
    parsed = uuid.UUID(text)
    assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
    assert len(text) == ocppj.MAX_UNIQUE_ID


def test_message_ids_the_gateway_makes_do_not_repeat() -> None:
    """Ten thousand ids in a row are all different (128 random bits less the 6 fixed ones each)."""
    assert len({ocppj.new_message_id() for _ in range(10_000)}) == 10_000


def _typed(value: Any) -> Any:
    """The value with each number tagged by its type: 1 and 1.0 compare equal, an int and a float must not."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (type(value).__name__, repr(value))
    return value


_wide_numbers = st.integers(min_value=-(10**25), max_value=10**25) | st.floats(allow_nan=False, allow_infinity=False)
_any_json = st.recursive(
    st.none() | st.booleans() | _wide_numbers | st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
)


@settings(database=None)
@given(st.dictionaries(st.text(), _any_json, max_size=5), st.booleans())
def test_property_parse_reads_every_payload_as_the_stdlib_does(payload: dict[str, Any], ascii_only: bool) -> None:
    """The fast decoder gives json.loads's value, type for type: big integers stay ints, surrogates stay."""
    text = json.dumps([2, "id-1", "Action", payload], ensure_ascii=ascii_only)
    call = ocppj.parse(text)
    assert isinstance(call, Call)
    assert _typed(call.payload) == _typed(json.loads(text)[3])


@pytest.mark.parametrize("literal", ["9223372036854775807", "-9223372036854775808", "-9223372036854775809",
                                     "18446744073709551615", "18446744073709551616", "-9999999999999999999",
                                     "123456789012345678901234567890"])
def test_parse_keeps_integers_at_and_beyond_64_bits_exact(literal: str) -> None:
    """orjson turns integers beyond 64 bits into floats: those frames are read by the stdlib, exactly."""
    call = ocppj.parse(f'[2,"id-1","DataTransfer",{{"vendorId":"v","data":{literal}}}]')
    assert isinstance(call, Call)
    value = call.payload["data"]
    assert type(value) is int and value == int(literal)
