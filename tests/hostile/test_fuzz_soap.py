"""Fuzzing the SOAP entry points: whatever bytes arrive, only a SoapFault (or a charger's FaultReceived) comes out.

A charger's request goes through `xml_safe.decompress` and `codec.decode_request`; a charger's answer
to a CSMS call through `codec.decode_response`. Both are fed arbitrary bytes, valid envelopes with
byte-level edits (cuts, splices, repeats), and valid envelopes with structural edits made on the
parsed tree (an element renamed, dropped, duplicated or moved, a value replaced, an attribute or a
foreign element added), which reach deep into the payload decoder. The valid envelopes are the
captured ones in tests/data/soap and envelopes built from schema-valid payloads of every
CentralSystemService operation of 1.5 and 1.6. No lxml exception, ValueError, KeyError or anything
else may leak: the HTTP layer answers only SoapFaults with a fault, anything else would be a 500.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.core.dialects import Dialect
from gateway.errors import SchemaViolation
from gateway.soap import codec, envelope
from gateway.soap.codec import FaultReceived, SoapFault, XmlLimits
from gateway.soap.envelope import ANONYMOUS, Addressing
from gateway.soap.payload import encode
from gateway.soap.types import operation, operations, table
from gateway.soap.xml_safe import decompress
from tests.core.test_mapping_properties import payloads

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DATA = Path(__file__).resolve().parents[1] / "data" / "soap"
LIMITS = XmlLimits(max_bytes=65_536, max_depth=64)
DIALECTS = (Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP)
CS_CALLS = sorted((d, a) for d in DIALECTS for a in operations(d, "cs"))
CP_CALLS = sorted((d, a) for d in DIALECTS for a in operations(d, "cp"))


def _decode_request(body: bytes, content_encoding: str | None = None) -> None:
    """The request path of POST /soap after reading the body: only SoapFault may come out."""
    try:
        codec.decode_request(decompress(body, content_encoding, LIMITS.max_bytes), content_type=None,
                             soap_action=None, limits=LIMITS)
    except SoapFault as fault:
        assert fault.code in ("Sender", "Receiver")
        codec.encode_fault(None, fault, relates_to=None, message_id="urn:uuid:fuzz")  # a fault can be sent


def _decode_response(body: bytes, dialect: Dialect, action: str) -> None:
    """The answer path of a CSMS call to a SOAP charger: only SoapFault or FaultReceived may come out."""
    with contextlib.suppress(SoapFault, FaultReceived):
        codec.decode_response(body, dialect=dialect, service="cp", action=action, limits=LIMITS)


# ---- valid envelopes to start from -----------------------------------------------------------


@cache
def _captured() -> list[bytes]:
    return [path.read_bytes() for path in sorted(DATA.glob("*.xml"))]


def _request(dialect: Dialect, action: str, payload: dict[str, Any]) -> bytes | None:
    """A charger's request envelope for a payload, as a real charger would send it (None: not encodable)."""
    ns = table(dialect, "cs").namespace
    op = operation(dialect, "cs", action)
    doc, header, body = envelope.new(ns, "cs")
    envelope.add_header(header, f"{{{ns}}}chargeBoxIdentity", "CB-FUZZ", must_understand=True)
    envelope.add_addressing(header, Addressing(action=op.request_action, message_id="urn:uuid:1",
                                               from_address="http://192.0.2.10/cp", reply_to=ANONYMOUS,
                                               to="http://127.0.0.1/soap"))
    try:
        encode(body, f"{{{ns}}}{op.request_root}", payload, op.request_type, ns, op.request_root)
    except SchemaViolation:
        return None
    return envelope.serialize(doc)


def _response(dialect: Dialect, action: str, payload: dict[str, Any]) -> bytes | None:
    """A charger's answer envelope to a CSMS call (None: not encodable)."""
    try:
        return codec.encode_response(dialect, "cp", action, payload, relates_to="urn:uuid:1", message_id="urn:uuid:2")
    except SchemaViolation:
        return None


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    """A captured request, or one built from a schema-valid payload of any CentralSystemService operation."""
    if draw(st.booleans()):
        return draw(st.sampled_from(_captured()))
    dialect, action = draw(st.sampled_from(CS_CALLS))
    built = _request(dialect, action, draw(payloads(dialect, action, "request")))
    return built if built is not None else draw(st.sampled_from(_captured()))


@st.composite
def valid_responses(draw: st.DrawFn) -> tuple[bytes, Dialect, str]:
    dialect, action = draw(st.sampled_from(CP_CALLS))
    built = _response(dialect, action, draw(payloads(dialect, action, "response")))
    return (built if built is not None else b"<x/>"), dialect, action


# ---- mutations -------------------------------------------------------------------------------


def _bytes_edit(body: bytes, data: st.DataObject) -> bytes:
    at = data.draw(st.integers(0, len(body)), label="at")
    to = data.draw(st.integers(at, min(len(body), at + 16)), label="to")
    match data.draw(st.sampled_from(["cut", "insert", "delete", "repeat"]), label="edit"):
        case "cut":
            return body[:at]
        case "insert":
            spliced = data.draw(st.one_of(st.binary(max_size=6), st.sampled_from(
                [b"<", b">", b"&", b"&amp;", b"&#0;", b"]]>", b"<![CDATA[", b"<!--", b"<?x?>", b"\xff", b"\x00",
                 b'"', b"xmlns:cs=''", b"<!DOCTYPE x>", b"&x;"])), label="inserted")
            return body[:at] + spliced + body[at:]
        case "delete":
            return body[:at] + body[to:]
        case _:
            return body[:to] + body[at:to] * data.draw(st.integers(2, 40), label="times") + body[to:]


#: Parses what the tree edits start from, never expanding or fetching anything.
_TOLERANT = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "-1", "2147483648", "-2147483649", "1e999", "NaN", "INF", "0x10", "1.", ".5", "+1",
                     "true", "TRUE", "2024-02-30T10:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T10:00:00+15:00",
                     "99999-01-01T00:00:00Z", "2024-05-01T10:00:00", "9" * 400, "1." + "0" * 400, "é" * 600]),
)


def _tree_edit(body: bytes, data: st.DataObject) -> bytes:
    """One edit on the parsed envelope: the result is still well-formed XML, mostly invalid as OCPP."""
    try:
        root = etree.fromstring(body, _TOLERANT)
    except etree.XMLSyntaxError:  # e.g. the captured billion laughs: edited at the byte level only
        return body
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = data.draw(st.sampled_from(elements), label="element")
    parent = target.getparent()
    kind = data.draw(st.sampled_from(["rename", "drop", "duplicate", "move", "text", "attribute", "child",
                                      "namespace"]), label="tree edit")
    qname = etree.QName(target)
    if kind == "rename":
        target.tag = etree.QName(qname.namespace, data.draw(st.sampled_from(
            ["x", "Body", "Header", "Envelope", "Fault", "chargeBoxIdentity", "heartbeatRequest", "idTag",
             "value", "status", qname.localname.upper()]))).text
    elif kind == "drop" and parent is not None:
        parent.remove(target)
    elif kind == "duplicate" and parent is not None:
        parent.insert(parent.index(target), copy.deepcopy(target))
    elif kind == "move" and parent is not None:
        parent.remove(target)
        parent.insert(data.draw(st.integers(0, len(parent))), target)
    elif kind == "text":
        if data.draw(st.booleans()):
            target.text = data.draw(_texts).translate({c: None for c in range(32) if c not in (9, 10, 13)})
        else:
            target.tail = "junk"
    elif kind == "attribute":
        name = data.draw(st.sampled_from(["a", "unit", "context", "{http://www.w3.org/2003/05/soap-envelope}"
                                          "mustUnderstand", "{urn:x}y"]))
        target.set(name, data.draw(st.sampled_from(["1", "true", "kWh", ""])))
    elif kind == "child":
        target.append(etree.Element(etree.QName(qname.namespace or "urn:x", "extra").text))
    else:
        target.tag = etree.QName(data.draw(st.sampled_from(
            ["urn://Ocpp/Cs/2012/06/", "urn://Ocpp/Cs/2015/10/", "urn://Ocpp/Cp/2015/10/", "urn:x",
             "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"])),
            qname.localname).text
    return bytes(etree.tostring(root))


# ---- properties ------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=512), st.sampled_from([None, "gzip", "deflate", "gzip, deflate", "identity", "br"]))
def test_arbitrary_bytes_are_decoded_or_refused_with_a_fault(body: bytes, content_encoding: str | None) -> None:
    """Arbitrary bytes under any Content-Encoding: a request or a SoapFault, nothing else."""
    _decode_request(body, content_encoding)


@SETTINGS
@given(valid_requests(), st.data())
def test_byte_edited_requests_are_decoded_or_refused_with_a_fault(body: bytes, data: st.DataObject) -> None:
    """Valid requests cut, spliced and repeated at the byte level: a request or a SoapFault."""
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        body = _bytes_edit(body, data)
    _decode_request(body)


@SETTINGS
@given(valid_requests(), st.data())
def test_tree_edited_requests_are_decoded_or_refused_with_a_fault(body: bytes, data: st.DataObject) -> None:
    """Valid requests with elements renamed, dropped, moved, duplicated or given odd values: request or SoapFault."""
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        body = _tree_edit(body, data)
    _decode_request(body)


@SETTINGS
@given(valid_requests(), st.sampled_from(["gzip", "deflate"]), st.data())
def test_compressed_and_corrupted_requests_are_decoded_or_refused_with_a_fault(
    body: bytes, coding: str, data: st.DataObject
) -> None:
    """A gzip or deflate body with its compressed bytes edited: a request or a SoapFault."""
    packed = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    _decode_request(_bytes_edit(packed, data), coding)


@SETTINGS
@given(valid_responses(), st.data())
def test_edited_charger_answers_are_decoded_or_refused_with_a_fault(
    answer: tuple[bytes, Dialect, str], data: st.DataObject
) -> None:
    """A charger's answers to CSMS calls, edited in the tree or the bytes: payload, SoapFault or FaultReceived."""
    body, dialect, action = answer
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        body = _tree_edit(body, data) if data.draw(st.booleans()) else _bytes_edit(body, data)
    _decode_response(body, dialect, action)


_header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.lists(st.sampled_from(['application/soap+xml', ';', ' ', 'action', '=', '"', '\\', '/Heartbeat', '/Authorize',
                              'charset=utf-8', "'", 'urn:x#Heartbeat']), max_size=12).map("".join),
)


@SETTINGS
@given(valid_requests(), _header_values, st.none() | _header_values)
def test_any_content_type_and_soapaction_header_is_decoded_or_refused_with_a_fault(
    body: bytes, content_type: str, soap_action: str | None
) -> None:
    """Hostile Content-Type and SOAPAction values beside a valid body: a request or a SoapFault."""
    with contextlib.suppress(SoapFault):
        codec.decode_request(body, content_type=content_type, soap_action=soap_action, limits=LIMITS)
