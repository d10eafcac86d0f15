"""The tunnel's frame codec (gateway.core.tunnel), as pure functions: round trips and malformed frames."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core import tunnel
from gateway.core.tunnel import Carried, Register, Registered, TunnelFrameError
from gateway.errors import RemoteError

SOAP = b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'


def raw(header: object, body: bytes = b"") -> bytes:
    """A binary frame with this header (any JSON value) and body, built by hand."""
    encoded = json.dumps(header).encode()
    return struct.pack(">I", len(encoded)) + encoded + body


@pytest.mark.parametrize(
    "frame",
    [
        Carried("call", 1, "CB1", headers={"Content-Type": "application/soap+xml", "SOAPAction": '"/Reset"'},
                body=SOAP),
        Carried("reply", 1, "CB1", status=200, headers={"Content-Encoding": "gzip"}, body=b"\x1f\x8b\x00binary"),
        Carried("request", "a-7", headers={"Authorization": "Basic Q0IxOnM="}, body=SOAP),
        Carried("response", "a-7", status=401, headers={"WWW-Authenticate": 'Basic realm="x"'}, body=SOAP),
        Carried("error", 2, "CB1", error="cannot connect to http://192.168.1.20:8080/: connection refused"),
        Carried("reply", 2**40, "CB1", status=500, body=b""),
    ],
    ids=lambda frame: frame.kind,
)
def test_carried_frames_round_trip(frame: Carried) -> None:
    """Every kind of carried frame decodes to what was encoded, body bytes untouched."""
    assert tunnel.decode_carried(tunnel.encode_carried(frame)) == frame


def test_wire_layout_is_length_header_body() -> None:
    """The frame is a big-endian uint32 header length, the header JSON, then the body as it is."""
    data = tunnel.encode_carried(Carried("call", 7, "CB1", headers={"Content-Type": "t"}, body=b"BODY"))
    (length,) = struct.unpack(">I", data[:4])
    assert json.loads(data[4:4 + length]) == {"t": "call", "id": 7, "charger": "CB1", "headers": {"Content-Type": "t"}}
    assert data[4 + length:] == b"BODY"


def test_control_frames_round_trip() -> None:
    """register and registered survive encoding, and are the JSON the protocol document shows."""
    register = Register({"CB1": "http://192.168.1.20:8080/", "CB2": "http://192.168.1.21:8080/ocpp"})
    registered = Registered(("CB1",), ("CB9",))
    assert tunnel.decode_control(tunnel.encode_control(register)) == register
    assert tunnel.decode_control(tunnel.encode_control(registered)) == registered
    assert json.loads(tunnel.encode_control(registered)) == {"t": "registered", "accepted": ["CB1"], "refused": ["CB9"]}


def test_unknown_header_keys_are_ignored() -> None:
    """A header may carry keys a newer peer added; they are ignored, not refused."""
    frame = tunnel.decode_carried(raw({"t": "call", "id": 1, "charger": "CB1", "trace": "x"}, b"B"))
    assert frame == Carried("call", 1, "CB1", body=b"B")


@pytest.mark.parametrize(
    ("data", "problem", "frame_id"),
    [
        (b"\x00\x00", "shorter than its 4-byte header length", None),
        (struct.pack(">I", 50) + b"{}", "runs past the frame", None),
        (struct.pack(">I", 2**31) + b"{}", "exceeds 65536", None),
        (struct.pack(">I", 2) + b"\xff\xfe", "not UTF-8", None),
        (struct.pack(">I", 3) + b"{x}", "not JSON", None),
        (raw([1, 2]), "not a JSON object", None),
        (raw({"t": "hello", "id": 1}), "unknown carried frame type 'hello'", 1),
        (raw({"t": "call", "id": True, "charger": "CB1"}), "id must be", None),
        (raw({"t": "call", "id": -1, "charger": "CB1"}), "id must be", None),
        (raw({"t": "call", "id": "x" * 65, "charger": "CB1"}), "id must be", None),
        (raw({"t": "call", "id": 3}), "a call frame names its charger", 3),
        (raw({"t": "reply", "id": 4, "charger": "CB1"}), "needs an HTTP status", 4),
        (raw({"t": "reply", "id": 4, "charger": "CB1", "status": 99}), "needs an HTTP status", 4),
        (raw({"t": "reply", "id": 4, "charger": "CB1", "status": "200"}), "status must be an integer", 4),
        (raw({"t": "error", "id": 5}), "needs a reason", 5),
        (raw({"t": "error", "id": 5, "error": 3}), "error must be a string", 5),
        (raw({"t": "call", "id": 6, "charger": 1}), "charger must be a string", 6),
        (raw({"t": "call", "id": 6, "charger": "CB1", "headers": {"A": 1}}), "headers must map", 6),
        (raw({"t": "call", "id": 6, "charger": "CB1", "headers": ["A"]}), "headers must map", 6),
    ],
)
def test_malformed_carried_frames_are_typed_errors(data: bytes, problem: str, frame_id: int | None) -> None:
    """Each malformed frame is a TunnelFrameError (a RemoteError) saying what is wrong, with its id if readable."""
    with pytest.raises(TunnelFrameError, match=problem) as info:
        tunnel.decode_carried(data)
    assert isinstance(info.value, RemoteError)
    assert info.value.frame_id == frame_id


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ('"register"', "not a JSON object"),
        ('{"t": "register"}', "chargers must map"),
        ('{"t": "register", "chargers": {"CB1": 1}}', "chargers must map"),
        ('{"t": "registered", "accepted": "CB1", "refused": []}', "lists of strings"),
        ('{"t": "call"}', "unknown control frame type 'call'"),
        ('{"chargers": {}}', "unknown control frame type None"),
    ],
)
def test_malformed_control_frames_are_typed_errors(text: str, problem: str) -> None:
    """Each malformed text frame is a TunnelFrameError saying what is wrong."""
    with pytest.raises(TunnelFrameError, match=problem):
        tunnel.decode_control(text)


def test_admit_keeps_only_the_sites_chargers_with_http_urls() -> None:
    """Ids outside the site and ids with a non-HTTP URL are refused, each with its reason, in the agent's order."""
    accepted, refused = tunnel.admit(
        {"CB1": "http://192.168.1.20:8080/", "CB3": "http://192.168.1.22/", "CB2": "ftp://192.168.1.21/",
         "CB4": "https://cb4.local:8443/ocpp"},
        allowed=("CB1", "CB2", "CB4"),
    )
    assert accepted == {"CB1": "http://192.168.1.20:8080/", "CB4": "https://cb4.local:8443/ocpp"}
    assert refused == {"CB3": "foreign_charger", "CB2": "bad_url"}
    assert set(refused.values()) <= set(tunnel.REFUSALS)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_frame_errors(data: bytes) -> None:
    """Whatever an agent sends, decoding either yields a frame or raises TunnelFrameError."""
    with contextlib.suppress(TunnelFrameError):
        tunnel.decode_carried(data)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_frame_errors(text: str) -> None:
    """Whatever text an agent sends, decoding either yields a control frame or raises TunnelFrameError."""
    with contextlib.suppress(TunnelFrameError):
        tunnel.decode_control(text)


@given(st.builds(
    Carried,
    kind=st.just("reply"),
    id=st.one_of(st.integers(min_value=0, max_value=2**53), st.text(min_size=1, max_size=64)),
    charger=st.text(min_size=1, max_size=48),
    status=st.integers(min_value=100, max_value=599),
    headers=st.dictionaries(st.sampled_from(tunnel.CARRIED_HEADERS), st.text(max_size=100)),
    body=st.binary(max_size=200),
))
def test_any_valid_reply_round_trips(frame: Carried) -> None:
    """Any well-formed reply, with any ids, header values and body bytes, decodes to itself."""
    assert tunnel.decode_carried(tunnel.encode_carried(frame)) == frame
