"""The NAT tunnel's frames: JSON control frames (text) and carried HTTP exchanges (binary), sans-I/O.

Theory of operation (docs/tunnel.md has the whole protocol):

    agent                                   gateway
      | -- upgrade GET /tunnel?site=S, Bearer -> |   401 before the upgrade if site/token are wrong
      | -- {"t":"register","chargers":{..}} ---> |   first frame, text
      | <- {"t":"registered","accepted","refused"}
      | <- call  (id g1, charger CB1) ---------- |   CSMS-initiated SOAP POST for CB1
      | -- reply (id g1, status, body) --------> |   ... or error (id g1, reason)
      | -- request (id a1) --------------------> |   a charger's own POST, from the agent's --listen
      | <- response (id a1, status, body) ------ |   ... or error (id a1, reason)

A carried frame is `uint32 big-endian header length | header JSON (UTF-8) | body bytes`. Ids are
chosen by the side that opens the exchange (calls: the gateway; requests: the agent), so the two
directions never collide. Everything here is a pure function of its input; malformed input raises
TunnelFrameError, which names the frame's id when it could still be read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, TypeGuard
from urllib.parse import urlsplit

from gateway.errors import PeerUnavailable, RemoteError

Kind: TypeAlias = Literal["call", "reply", "request", "response", "error"]
FrameId: TypeAlias = int | str

KINDS: Final[frozenset[str]] = frozenset({"call", "reply", "request", "response", "error"})
#: The HTTP headers a carried exchange may name; receivers use no others.
CARRIED_HEADERS: Final = ("Content-Type", "SOAPAction", "Content-Encoding", "Authorization", "WWW-Authenticate",
                          "Retry-After")
#: The close code of a tunnel replaced by a newer agent of the same site (the application range, RFC 6455
#: section 7.4.2). The replaced agent stops rather than redialling: two agents of one site would take turns.
CLOSE_REPLACED: Final = 4000
#: Bounds on the header JSON: it names an exchange, it never carries a payload.
MAX_HEADER_BYTES: Final = 65_536
_MAX_ID_CHARS: Final = 64
_MAX_HEADER_VALUE_CHARS: Final = 8_192
_MAX_REASON_CHARS: Final = 1_024
_BAD_ID: Final = f"id must be a non-negative integer or a string of 1-{_MAX_ID_CHARS} characters"
_LENGTH: Final = struct.Struct(">I")
#: What the `status` field must be present for, and what the `error` field must be present for.
_WITH_STATUS: Final = frozenset({"reply", "response"})


class TunnelFrameError(RemoteError):
    """A tunnel frame breaks the format; str() says how (never the body).

    Attributes:
        frame_id: the frame's id when the header could be read that far, else None.
    """

    def __init__(self, message: str, *, frame_id: FrameId | None = None) -> None:
        super().__init__(message)
        self.frame_id = frame_id


class TunnelUnavailable(PeerUnavailable):
    """A carried call could not be completed: no agent, the tunnel dropped, no answer in time, or the
    agent could not reach the charger. Toward the CSMS it is CALLERROR GenericError with str() as text.

    Attributes:
        outcome: the `gateway_tunnel_calls_total` outcome (no_agent, dropped, timeout, error).
    """

    ocpp_code = "GenericError"

    def __init__(self, message: str, *, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Register:
    """Agent -> gateway, first frame: the chargers it serves, with each one's local SOAP URL."""

    chargers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Registered:
    """Gateway -> agent: which of the registered ids it will carry."""

    accepted: tuple[str, ...]
    refused: tuple[str, ...]


Control: TypeAlias = Register | Registered


@dataclass(frozen=True, slots=True)
class Carried:
    """One carried HTTP exchange step (see the module docstring for the kinds).

    Attributes:
        kind: call | reply | request | response | error.
        id: correlates an answer (reply, response, error) with what it answers (call, request).
        charger: the charge box id of a call/reply; optional elsewhere.
        status: the HTTP status of a reply/response.
        headers: the carried HTTP headers (names from CARRIED_HEADERS).
        body: the HTTP body as it was on the wire (possibly compressed).
        error: why the exchange failed (error frames only).
    """

    kind: Kind
    id: FrameId
    charger: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def __post_init__(self) -> None:
        if not _is_id(self.id):
            raise TunnelFrameError(_BAD_ID)
        if self.kind not in KINDS:
            raise TunnelFrameError(f"unknown frame type {self.kind!r}", frame_id=self.id)
        if self.kind in ("call", "reply") and self.charger is None:
            raise TunnelFrameError(f"a {self.kind} frame names its charger", frame_id=self.id)
        if self.kind in _WITH_STATUS and (self.status is None or not 100 <= self.status <= 599):
            raise TunnelFrameError(f"a {self.kind} frame needs an HTTP status 100-599", frame_id=self.id)
        if self.kind == "error" and not self.error:
            raise TunnelFrameError("an error frame needs a reason", frame_id=self.id)


# ---- control frames (text) --------------------------------------------------------------------


def encode_control(frame: Control) -> str:
    """The text frame for a control message."""
    if isinstance(frame, Register):
        return json.dumps({"t": "register", "chargers": dict(frame.chargers)}, separators=(",", ":"))
    return json.dumps({"t": "registered", "accepted": list(frame.accepted), "refused": list(frame.refused)},
                      separators=(",", ":"))


def decode_control(text: str) -> Control:
    """Read a text frame.

    Raises:
        TunnelFrameError: not JSON, not an object, unknown type, or fields of the wrong shape.
    """
    document = _json_object(text)
    kind = document.get("t")
    if kind == "register":
        chargers = document.get("chargers")
        if not isinstance(chargers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in chargers.items()
        ):
            raise TunnelFrameError("register: chargers must map charge box ids to URLs (strings)")
        return Register(chargers)
    if kind == "registered":
        accepted, refused = document.get("accepted"), document.get("refused")
        if not _strings(accepted) or not _strings(refused):
            raise TunnelFrameError("registered: accepted and refused must be lists of strings")
        return Registered(tuple(accepted), tuple(refused))  # type: ignore[arg-type]
    raise TunnelFrameError(f"unknown control frame type {kind!r}")


#: Why a registered charger id is refused: the metric reason, and the text logged.
REFUSALS: Final = {
    "foreign_charger": "not a charger of this site",
    "bad_url": "its URL is not an http:// or https:// URL",
}


def admit(offered: Mapping[str, str], allowed: Collection[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Decide a register frame: which ids the site may carry.

    Args:
        offered: charge box id -> local URL, as the agent registered them.
        allowed: the site's configured charger ids (so every accepted id has the gateway's id syntax).

    Returns:
        (accepted id -> URL, refused id -> reason, a key of REFUSALS), both in the agent's order.
    """
    accepted: dict[str, str] = {}
    refused: dict[str, str] = {}
    for charge_box_id, url in offered.items():
        if charge_box_id not in allowed:
            refused[charge_box_id] = "foreign_charger"
        elif not _is_http_url(url):
            refused[charge_box_id] = "bad_url"
        else:
            accepted[charge_box_id] = url
    return accepted, refused


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# ---- carried exchanges (binary) ---------------------------------------------------------------


def encode_carried(frame: Carried) -> bytes:
    """The binary frame: header length, header JSON, body."""
    header: dict[str, object] = {"t": frame.kind, "id": frame.id}
    if frame.charger is not None:
        header["charger"] = frame.charger
    if frame.status is not None:
        header["status"] = frame.status
    if frame.headers:
        header["headers"] = dict(frame.headers)
    if frame.error is not None:
        header["error"] = frame.error
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_HEADER_BYTES:
        raise TunnelFrameError(f"frame header exceeds {MAX_HEADER_BYTES} bytes", frame_id=frame.id)
    return b"".join((_LENGTH.pack(len(encoded)), encoded, frame.body))


def decode_carried(data: bytes) -> Carried:
    """Read a binary frame.

    Raises:
        TunnelFrameError: truncated, header not a JSON object, or fields of the wrong shape; its
            `frame_id` is set when the id could be read, so the exchange can be failed at once.
    """
    if len(data) < _LENGTH.size:
        raise TunnelFrameError("frame shorter than its 4-byte header length")
    (length,) = _LENGTH.unpack_from(data)
    if length > MAX_HEADER_BYTES:
        raise TunnelFrameError(f"frame header length {length} exceeds {MAX_HEADER_BYTES}")
    end = _LENGTH.size + length
    if end > len(data):
        raise TunnelFrameError(f"frame header length {length} runs past the frame ({len(data)} bytes)")
    try:
        text = bytes(data[_LENGTH.size:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise TunnelFrameError("frame header is not UTF-8") from None
    header = _json_object(text)
    raw_id = header.get("id")
    frame_id: FrameId | None = raw_id if _is_id(raw_id) else None
    kind = header.get("t")
    if not isinstance(kind, str) or kind not in KINDS:
        raise TunnelFrameError(f"unknown carried frame type {kind!r}", frame_id=frame_id)
    if frame_id is None:
        raise TunnelFrameError(_BAD_ID)
    charger = header.get("charger")
    status = header.get("status")
    headers = header.get("headers", {})
    error = header.get("error")
    if charger is not None and not isinstance(charger, str):
        raise TunnelFrameError("charger must be a string", frame_id=frame_id)
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise TunnelFrameError("status must be an integer", frame_id=frame_id)
    if not _header_map(headers):
        raise TunnelFrameError("headers must map names to strings", frame_id=frame_id)
    if error is not None and not isinstance(error, str):
        raise TunnelFrameError("error must be a string", frame_id=frame_id)
    return Carried(kind, frame_id, charger, status, headers, bytes(data[end:]),  # type: ignore[arg-type]
                   error[:_MAX_REASON_CHARS] if error is not None else None)


def _json_object(text: str) -> dict[str, object]:
    try:
        document = json.loads(text)
    except ValueError:
        raise TunnelFrameError("not JSON") from None
    if not isinstance(document, dict):
        raise TunnelFrameError("not a JSON object")
    return document


def _is_id(value: object) -> TypeGuard[FrameId]:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS




def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _header_map(value: object) -> bool:
    return isinstance(value, dict) and len(value) <= 2 * len(CARRIED_HEADERS) and all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= _MAX_HEADER_VALUE_CHARS for k, v in value.items()
    )
