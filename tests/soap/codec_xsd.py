"""Test helpers for the SOAP codec: XSD validation of envelopes (SOAP-NOTES section 9) and example payloads.

`payload_errors` validates a body payload and its chargeBoxIdentity header with xmlschema against the
XSD embedded in the official WSDLs (read from ../shared, unmodified); `addressing_errors` checks the
WS-Addressing headers by hand. `example` builds a valid payload of any message in the JSON
convention (every optional field filled, or only the required ones), and `to_zeep` turns it into
the keyword arguments zeep takes for the same message.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

import xmlschema
from lxml import etree

from gateway.core.dialects import Dialect
from gateway.soap import envelope, payload, types
from gateway.soap.types import ComplexType, SimpleType

REPO: Final = Path(__file__).resolve().parents[2]
SHARED: Final = REPO.parent / "shared"
WSDL_DIR: Final = SHARED / "spec" / "soap"
WSDLS: Final = {
    (Dialect.OCPP15_SOAP, "cs"): "ocpp_centralsystemservice_1.5_final.wsdl",
    (Dialect.OCPP15_SOAP, "cp"): "ocpp_chargepointservice_1.5_final.wsdl",
    (Dialect.OCPP16_SOAP, "cs"): "OCPP_CentralSystemService_1.6.wsdl",
    (Dialect.OCPP16_SOAP, "cp"): "OCPP_ChargePointService_1.6.wsdl",
}
XSD: Final = "http://www.w3.org/2001/XMLSchema"
ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://www.w3.org/2005/08/addressing"
ANONYMOUS: Final = WSA + "/anonymous"


def wsdl(dialect: Dialect, service: types.Service) -> Path:
    """The official WSDL file of a dialect's service."""
    return WSDL_DIR / WSDLS[(dialect, service)]


@cache
def _schemas() -> dict[str, Any]:
    """xmlschema schemas keyed by target namespace, from the `<xs:schema>` inside each WSDL."""
    out: dict[str, Any] = {}
    for name in WSDLS.values():
        element = etree.parse(str(WSDL_DIR / name)).find(f".//{{{XSD}}}schema")
        assert element is not None
        # Serialized, the element keeps the xmlns declarations it inherits from wsdl:definitions.
        schema = xmlschema.XMLSchema(etree.tostring(element))
        out[schema.target_namespace] = schema
    return out


def payload_errors(envelope: bytes) -> list[str]:
    """XSD errors of the body payload and of the chargeBoxIdentity header (its env: attributes stripped first)."""
    root = etree.fromstring(envelope)
    assert root.tag == f"{{{ENV}}}Envelope", "not a SOAP 1.2 envelope"
    body = root.find(f"{{{ENV}}}Body")
    assert body is not None and len(body) == 1, "the Body must hold one element"
    payload = body[0]
    ns = etree.QName(payload).namespace or ""
    schema = _schemas()[ns]
    errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(etree.tostring(payload))]
    identity = root.find(f"{{{ENV}}}Header/{{{ns}}}chargeBoxIdentity")
    if identity is not None:
        copy = etree.fromstring(etree.tostring(identity))
        for name in [n for n in copy.attrib if str(n).startswith(f"{{{ENV}}}")]:
            del copy.attrib[name]
        errors += [f"chargeBoxIdentity: {e.reason}" for e in schema.iter_errors(etree.tostring(copy))]
    return errors


def _text(header: etree._Element, path: str) -> list[str]:
    return [(e.text or "").strip() for e in header.findall(path, {"wsa": WSA})]


def addressing_errors(envelope: bytes, *, action: str, relates_to: str | None, request: bool) -> list[str]:
    """By-hand checks of the WS-A headers OCPP-S section 3 requires (one of each, with the right values)."""
    header = etree.fromstring(envelope).find(f"{{{ENV}}}Header")
    if header is None:
        return ["no Header"]
    errors = []
    if _text(header, "wsa:Action") != [action]:
        errors.append(f"Action is {_text(header, 'wsa:Action')}, expected [{action!r}]")
    if len(_text(header, "wsa:MessageID")) != 1 or not _text(header, "wsa:MessageID")[0]:
        errors.append("expected one non-empty MessageID")
    if request:
        if _text(header, "wsa:RelatesTo"):
            errors.append("a request carries RelatesTo")
        if _text(header, "wsa:ReplyTo/wsa:Address") != [ANONYMOUS]:
            errors.append("ReplyTo is not the anonymous address")
        if len(_text(header, "wsa:From/wsa:Address")) != 1 or len(_text(header, "wsa:To")) != 1:
            errors.append("expected one From/Address and one To")
    else:
        expected = [] if relates_to is None else [relates_to]
        if _text(header, "wsa:RelatesTo") != expected:
            errors.append(f"RelatesTo is {_text(header, 'wsa:RelatesTo')}, expected {expected}")
        if _text(header, "wsa:To") not in ([], [ANONYMOUS]):
            errors.append("a response's To may only be anonymous")
    return errors


# ---- example payloads ---------------------------------------------------------------------------

#: Strings exercise escaping and non-ASCII text; they are cut to the type's maxLength.
_FULL_STRING: Final = "<&ü\"'> tëxt with markup-like characters and some length to it"


def _simple_example(st: SimpleType, full: bool) -> Any:
    if st.enum is not None:
        return st.enum[-1] if full else st.enum[0]
    if st.base == "string":
        if not full:
            return "A"
        return _FULL_STRING[: st.max_length] if st.max_length else _FULL_STRING
    return {
        "int": (2**31 - 1, 0),
        "decimal": (16.5 if st.fraction_digits == 1 else 1234.5678, 0.0),
        "boolean": (True, False),
        "dateTime": ("2024-05-01T12:00:00.125+02:00", "2024-05-01T12:00:00Z"),
        "anyURI": ("ftp://user@example.com/dir/file.log?x=1&y=2", "http://example.com/"),
    }[st.base][0 if full else 1]


def example(ct: ComplexType, *, full: bool) -> dict[str, Any]:
    """A valid JSON-convention payload of type `ct`: all optional fields and two list items when `full`."""
    if ct.text is not None:
        out = {"value": _simple_example(ct.text, full)}
        out |= {a.name: _simple_example(a.type, full) for a in ct.attributes if full or a.required}
        return out
    result: dict[str, Any] = {}
    for field in ct.fields:
        count = max(field.min_occurs, 2 if full else 0)
        if field.max_occurs is not None:
            count = min(count, field.max_occurs)
        if count == 0:
            continue
        items = [
            example(field.type, full=full) if isinstance(field.type, ComplexType) else _simple_example(field.type, full)
            for _ in range(count)
        ]
        result[field.name] = items if field.repeated else items[0]
    return result


def message_type(dialect: Dialect, service: types.Service, action: str, direction: str) -> ComplexType:
    """The type of a message's root element."""
    op = types.operation(dialect, service, action)
    return op.request_type if direction == "request" else op.response_type


def to_zeep(value: Any, ct: ComplexType) -> dict[str, Any]:
    """zeep's keyword form of a payload: the text of a simple-content element is its `_value_1`."""
    if ct.text is not None:
        return {("_value_1" if k == "value" else k): v for k, v in value.items()}
    out = {}
    for field in ct.fields:
        if field.name not in value:
            continue
        item = value[field.name]
        if isinstance(field.type, ComplexType):
            sub = field.type
            item = [to_zeep(i, sub) for i in item] if field.repeated else to_zeep(item, sub)
        out[field.name] = item
    return out


def charger_request(dialect: Dialect, action: str, body: dict[str, Any], *, identity: str = "CB-0001") -> bytes:
    """A charger's request to the CS, built from the codec's parts (the gateway itself never sends these)."""
    op = types.operation(dialect, "cs", action)
    ns = types.namespace(dialect, "cs")
    doc, header, container = envelope.new(ns, "cs")
    envelope.add_header(header, f"{{{ns}}}chargeBoxIdentity", identity, must_understand=True)
    addressing = envelope.Addressing(
        action=op.request_action,
        message_id="urn:uuid:00000000-0000-4000-8000-000000000001",
        from_address="http://192.0.2.10:8080/ocpp",
        reply_to=ANONYMOUS,
        to="http://127.0.0.1:9000/soap",
    )
    envelope.add_addressing(header, addressing)
    payload.encode(container, f"{{{ns}}}{op.request_root}", body, op.request_type, ns, op.request_root)
    return envelope.serialize(doc)
