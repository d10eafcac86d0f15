"""OCPP-J framing: CALL, CALLRESULT and CALLERROR as values, parsed from and serialized to text.

OCPP-J 1.6 section 4 / OCPP 2.0.1 part 4 section 4: a frame is a JSON array
`[2, id, action, payload]`, `[3, id, payload]` or `[4, id, code, description, details]`.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from gateway.core.dialects import Dialect, error_code
from gateway.core.json_text import compact_json_encoder, fast_loads, stdlib_compact_encoder
from gateway.errors import (
    FormatViolation,
    GatewayError,
    MessageTypeNotSupported,
    RemoteError,
    RpcFrameworkError,
)

JsonObject: TypeAlias = dict[str, Any]

CALL: Final = 2
CALL_RESULT: Final = 3
CALL_ERROR: Final = 4
#: OCPP 2.0.1 part 4 section 4.1.2: the message id is at most 36 characters.
MAX_UNIQUE_ID: Final = 36
#: The id of a CALLERROR answering a frame whose own id could not be read (OCPP 2.0.1 part 4, 4.2.3).
UNREADABLE_ID: Final = "-1"
#: How much of the description a CALLERROR carries; 2.0.1 limits it to 255 characters.
MAX_DESCRIPTION: Final = 255
#: The deepest nesting of arrays and objects a frame may have: far beyond any OCPP message, and far
#: below Python's recursion limit, so that whatever was parsed can always be serialized again.
MAX_DEPTH: Final = 100


@dataclass(frozen=True, slots=True)
class Call:
    """A request: `[2, unique_id, action, payload]`."""

    unique_id: str
    action: str
    payload: JsonObject

    kind = "call"


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful response: `[3, unique_id, payload]`."""

    unique_id: str
    payload: JsonObject

    kind = "result"


@dataclass(frozen=True, slots=True)
class CallError:
    """An error response: `[4, unique_id, error_code, error_description, error_details]`."""

    unique_id: str
    error_code: str
    error_description: str = ""
    error_details: JsonObject = field(default_factory=dict)

    kind = "error"


Message: TypeAlias = Call | CallResult | CallError

# Enough of a frame's head to name its type and id without parsing the rest (oversized frames).
_HEAD = re.compile(r'\s*\[\s*(\d+)\s*,\s*"([^"\\]{1,36})"')


def parse(text: str) -> Message:
    """Decode one OCPP-J frame.

    Args:
        text: the WebSocket text frame.

    Returns:
        The message.

    Raises:
        RemoteError: a subclass naming the OCPP-J error; `unique_id` is set when the id was readable.
    """
    try:
        frame = fast_loads(text)
    except (ValueError, UnicodeEncodeError):
        frame = _exact_loads(text)
    # Nesting d takes 2d characters: short frames cannot be too deep, and most long ones have too few
    # brackets to be worth a walk.
    if len(text) > 2 * MAX_DEPTH and text.count("[") + text.count("{") > MAX_DEPTH and _depth(frame) > MAX_DEPTH:
        raise RpcFrameworkError(f"frame is nested deeper than {MAX_DEPTH} levels", unique_id=_id_of(frame))
    if type(frame) is not list or len(frame) < 3:
        raise RpcFrameworkError("frame is not an OCPP-J array", unique_id=_id_of(frame))
    type_id, unique_id = frame[0], frame[1]
    if type(unique_id) is not str or not unique_id or len(unique_id) > MAX_UNIQUE_ID:
        raise RpcFrameworkError("message id must be a string of 1 to 36 characters")
    if type_id == CALL:
        if len(frame) != 4 or type(frame[2]) is not str or not frame[2]:
            raise FormatViolation("CALL must be [2, id, action, payload]", unique_id=unique_id)
        if type(frame[3]) is not dict:
            raise FormatViolation("CALL payload must be a JSON object", unique_id=unique_id)
        return _new_call(unique_id, frame[2], frame[3])
    if type_id == CALL_RESULT:
        if len(frame) != 3 or type(frame[2]) is not dict:
            raise FormatViolation("CALLRESULT must be [3, id, {payload}]", unique_id=unique_id)
        return _new_result(unique_id, frame[2])
    if type_id == CALL_ERROR:
        return _parse_call_error(frame, unique_id)
    raise MessageTypeNotSupported(f"message type {type_id!r} is not 2, 3 or 4", unique_id=unique_id)


def _exact_loads(text: str) -> Any:
    """The stdlib decoder's value of `text` (which also words the errors)."""
    try:
        # The scanner alone, without JSONDecoder.decode's two whitespace regexes. A frame with leading
        # or trailing whitespace, extra data or no value at all goes through decode(), which accepts the
        # whitespace and words the errors.
        try:
            frame, end = _SCAN(text, 0)
        except StopIteration:
            frame = _DECODER.decode(text)
        else:
            if end != len(text):
                frame = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise RpcFrameworkError(f"frame is not JSON: {exc}", unique_id=peek_unique_id(text)) from None
    return frame


def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item if type(item) is list else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if type(child) in (dict, list))
    return deepest


def _refuse_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; RFC 8259 does not, and neither may our peers.
    raise ValueError(f"{name} is not JSON")


_INFINITY: Final = float("inf")


def _finite_float(text: str) -> float:
    # 1e999 is JSON syntax but no float: Python would read it as inf, which no peer can be sent back.
    value = float(text)
    if abs(value) == _INFINITY:
        raise ValueError(f"number {text[:24]} is out of range")
    return value


_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
#: The decoder's own scanner (JSONDecoder.decode calls it after skipping whitespace).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = vars(_DECODER)["scan_once"]

# Building a frozen dataclass runs object.__setattr__ per field; parse sets the slots directly, which
# makes the same immutable objects in about 60% of the time (parse builds one for every frame).
_new_object: Final = object.__new__
_set_call_id: Final = vars(Call)["unique_id"].__set__
_set_call_action: Final = vars(Call)["action"].__set__
_set_call_payload: Final = vars(Call)["payload"].__set__
_set_result_id: Final = vars(CallResult)["unique_id"].__set__
_set_result_payload: Final = vars(CallResult)["payload"].__set__


def _new_call(unique_id: str, action: str, payload: JsonObject) -> Call:
    call: Call = _new_object(Call)
    _set_call_id(call, unique_id)
    _set_call_action(call, action)
    _set_call_payload(call, payload)
    return call


def _new_result(unique_id: str, payload: JsonObject) -> CallResult:
    result: CallResult = _new_object(CallResult)
    _set_result_id(result, unique_id)
    _set_result_payload(result, payload)
    return result


def _parse_call_error(frame: list[Any], unique_id: str) -> CallError:
    # Lenient on purpose: a peer that sends a slightly malformed error must still end the call.
    code = frame[2] if isinstance(frame[2], str) else "GenericError"
    description = frame[3] if len(frame) > 3 and isinstance(frame[3], str) else ""
    details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
    return CallError(unique_id, code, description, details)


def _id_of(frame: object) -> str | None:
    if isinstance(frame, list) and len(frame) >= 2 and isinstance(frame[1], str):
        return frame[1] if 0 < len(frame[1]) <= MAX_UNIQUE_ID else None
    return None


def peek_unique_id(text: str) -> str | None:
    """Read the message id from the head of a frame without parsing the whole text."""
    match = _HEAD.match(text[:128])
    return match.group(2) if match else None


def peek_type(text: str) -> int | None:
    """Read the message type id from the head of a frame without parsing the whole text."""
    match = _HEAD.match(text[:128])
    return int(match.group(1)) if match else None


_to_text: Final = compact_json_encoder(ensure_ascii=False, allow_nan=False)
_to_ascii_text: Final = stdlib_compact_encoder(ensure_ascii=True, allow_nan=False)


def serialize(message: Message) -> str:
    """Encode a message as an OCPP-J text frame (compact JSON, UTF-8 kept as is)."""
    frame: list[Any]
    match message:
        case Call(unique_id, action, payload):
            frame = [CALL, unique_id, action, payload]
        case CallResult(unique_id, payload):
            frame = [CALL_RESULT, unique_id, payload]
        case CallError(unique_id, code, description, details):
            frame = [CALL_ERROR, unique_id, code, description, details]
    text = _to_text(frame)
    if text.isascii():  # a flag of the string object: most frames skip the UTF-8 check below
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate arrived as a \u escape; escaping keeps the frame valid UTF-8 on the wire.
        return _to_ascii_text(frame)
    return text


#: Message ids need to be unique, not unpredictable: a Mersenne Twister seeded from the OS per process
#: gives UUID v4 text at a seventh of uuid.uuid4()'s cost (one getrandom syscall and a UUID object each).
_random_bits: Final = random.Random(int.from_bytes(os.urandom(32), "big")).getrandbits
_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_message_id() -> str:
    """A fresh message id for a call the gateway sends: random UUID v4 text (36 characters)."""
    digits = "%032x" % (_random_bits(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def call_error_for(error: GatewayError | Exception, unique_id: str | None, dialect: Dialect) -> CallError:
    """Turn an error into the CALLERROR a peer speaking `dialect` understands.

    Any exception that is not a GatewayError is a bug of ours and becomes InternalError without
    its text, which might leak internals.
    """
    if isinstance(error, GatewayError):
        code, description = error.ocpp_code, str(error)
    else:
        code, description = "InternalError", "internal error in the gateway"
    if unique_id is None and isinstance(error, RemoteError):
        unique_id = error.unique_id
    return CallError(
        unique_id or UNREADABLE_ID, error_code(code, dialect), description[:MAX_DESCRIPTION], {}
    )
