"""SOAP 1.2 envelopes with the WS-Addressing headers OCPP-S requires: reading them, building them, faults.

OCPP-S 1.6 section 3 makes Action, MessageID (requests), RelatesTo (responses), From, ReplyTo and To
mandatory, and adds the chargeBoxIdentity header (section 3.3, matched case-insensitively); section 4
defines the fault shape (env:Code Sender/Receiver, an OCPP-namespace Subcode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

from gateway.soap.faults import FaultReceived, SoapFault

ENV_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS: Final = "http://www.w3.org/2005/08/addressing"
ANONYMOUS: Final = WSA_NS + "/anonymous"
FAULT_ACTION: Final = WSA_NS + "/soap/fault"
SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"

_ENVELOPE: Final = f"{{{ENV_NS}}}Envelope"
_HEADER: Final = f"{{{ENV_NS}}}Header"
_BODY: Final = f"{{{ENV_NS}}}Body"
_FAULT: Final = f"{{{ENV_NS}}}Fault"
_MUST_UNDERSTAND: Final = f"{{{ENV_NS}}}mustUnderstand"
_WSA: Final = f"{{{WSA_NS}}}"
_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# WS-A headers read as text, and those read from a wsa:Address child (endpoint references).
_TEXT_HEADERS: Final = {"Action": "action", "MessageID": "message_id", "RelatesTo": "relates_to", "To": "to"}
_EPR_HEADERS: Final = {"From": "from_address", "ReplyTo": "reply_to"}


@dataclass(frozen=True, slots=True)
class Addressing:
    """The WS-Addressing headers of a message (None when absent); From and ReplyTo are their wsa:Address."""

    action: str | None = None
    message_id: str | None = None
    relates_to: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    to: str | None = None


def split(root: etree._Element) -> tuple[etree._Element | None, etree._Element]:
    """The Header (or None) and the one element inside the Body of a SOAP 1.2 envelope.

    Raises:
        SoapFault: Sender/ProtocolError for SOAP 1.1, a root that is not an Envelope, a missing
            Body, anything else in the Envelope, or a Body without exactly one element.
    """
    if root.tag != _ENVELOPE:
        if etree.QName(root).namespace == SOAP11_NS:
            raise SoapFault("SOAP 1.1 envelope: OCPP over SOAP uses SOAP 1.2 (" + ENV_NS + ")")
        raise SoapFault("the document is not a SOAP 1.2 Envelope")
    parts = [child for child in root if isinstance(child.tag, str)]
    tags = [child.tag for child in parts]
    if tags == [_HEADER, _BODY]:
        header, body = parts
    elif tags == [_BODY]:
        header, body = None, parts[0]
    elif _BODY not in tags:
        raise SoapFault("the Envelope has no Body")
    else:
        raise SoapFault("the Envelope must hold an optional Header and then the Body, nothing else")
    content = [child for child in body if isinstance(child.tag, str)]
    if len(content) != 1:
        raise SoapFault(f"the Body must hold exactly one element, not {len(content)}")
    return header, content[0]


def read_addressing(header: etree._Element | None) -> Addressing:
    """The WS-Addressing headers of a Header element.

    Raises:
        SoapFault: Sender/ProtocolError when one of them appears twice.
    """
    found: dict[str, str] = {}
    if header is None:
        return Addressing()
    for child in header:
        tag = child.tag
        if not isinstance(tag, str) or not tag.startswith(_WSA):
            continue
        name = tag[len(_WSA) :]
        key = _TEXT_HEADERS.get(name)
        if key is not None:
            text = child.text
        elif (key := _EPR_HEADERS.get(name)) is not None:
            text = child.findtext(f"{_WSA}Address")
        else:
            continue
        if key in found:
            raise SoapFault(f"duplicate wsa:{name} header")
        found[key] = (text or "").strip()
    return Addressing(**found)


def read_identity(header: etree._Element | None, ns: str) -> str | None:
    """The chargeBoxIdentity header in namespace `ns`, whose name is matched case-insensitively (OCPP-S 3.3)."""
    if header is None:
        return None
    prefix = f"{{{ns}}}"
    for child in header:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(prefix) and tag[len(prefix) :].lower() == "chargeboxidentity":
            return (child.text or "").strip() or None
    return None


def new(ns: str, prefix: str) -> tuple[etree._Element, etree._Element, etree._Element]:
    """An empty Envelope with its Header and Body; `prefix` is bound to the OCPP namespace `ns`."""
    envelope = etree.Element(_ENVELOPE, nsmap={"s": ENV_NS, "wsa": WSA_NS, prefix: ns})
    return envelope, etree.SubElement(envelope, _HEADER), etree.SubElement(envelope, _BODY)


def add_header(header: etree._Element, tag: str, text: str, *, must_understand: bool = False) -> etree._Element:
    """Append a text header block (a Clark name), optionally with env:mustUnderstand="true"."""
    element = etree.SubElement(header, tag)
    element.text = text
    if must_understand:
        element.set(_MUST_UNDERSTAND, "true")
    return element


def add_addressing(header: etree._Element, addressing: Addressing) -> None:
    """Append the WS-A headers that are set, in the order OCPP-S shows them; Action and To must be understood."""
    if addressing.action is not None:
        add_header(header, f"{_WSA}Action", addressing.action, must_understand=True)
    if addressing.message_id is not None:
        add_header(header, f"{_WSA}MessageID", addressing.message_id)
    if addressing.relates_to is not None:
        add_header(header, f"{_WSA}RelatesTo", addressing.relates_to)
    for name, address in (("From", addressing.from_address), ("ReplyTo", addressing.reply_to)):
        if address is not None:
            reference = etree.SubElement(header, f"{_WSA}{name}")
            etree.SubElement(reference, f"{_WSA}Address").text = address
    if addressing.to is not None:
        add_header(header, f"{_WSA}To", addressing.to, must_understand=addressing.to != ANONYMOUS)


def serialize(envelope: etree._Element) -> bytes:
    """UTF-8 bytes with the XML declaration OCPP-S 3.1 asks for."""
    return _XML_DECLARATION + etree.tostring(envelope, encoding="UTF-8", xml_declaration=False)


def fault(ns: str, prefix: str, error: SoapFault, *, relates_to: str | None, message_id: str) -> bytes:
    """A SOAP 1.2 fault envelope; the Subcode value is a QName in the OCPP namespace `ns`."""
    envelope, header, body = new(ns, prefix)
    add_addressing(header, Addressing(action=FAULT_ACTION, message_id=message_id, relates_to=relates_to, to=ANONYMOUS))
    element = etree.SubElement(body, _FAULT)
    code = etree.SubElement(element, f"{{{ENV_NS}}}Code")
    etree.SubElement(code, f"{{{ENV_NS}}}Value").text = f"s:{error.code}"
    subcode = etree.SubElement(code, f"{{{ENV_NS}}}Subcode")
    etree.SubElement(subcode, f"{{{ENV_NS}}}Value").text = f"{prefix}:{error.subcode}"
    reason = etree.SubElement(etree.SubElement(element, f"{{{ENV_NS}}}Reason"), f"{{{ENV_NS}}}Text")
    reason.set(f"{{{XML_NS}}}lang", "en")
    # The reason is our own text; drop anything XML cannot carry rather than fail to answer.
    reason.text = "".join(ch for ch in error.reason if ch.isprintable() or ch in "\t\n") or error.code
    return serialize(envelope)


def is_fault(element: etree._Element) -> bool:
    """Whether a Body element is an env:Fault."""
    return element.tag == _FAULT


def read_fault(element: etree._Element) -> FaultReceived:
    """The FaultReceived a charger's env:Fault describes (lenient: a malformed fault is still a fault)."""
    code_value = element.find(f"{{{ENV_NS}}}Code/{{{ENV_NS}}}Value")
    subcode_value = element.find(f"{{{ENV_NS}}}Code/{{{ENV_NS}}}Subcode/{{{ENV_NS}}}Value")
    texts = element.findall(f"{{{ENV_NS}}}Reason/{{{ENV_NS}}}Text")
    english = [t for t in texts if (t.get(f"{{{XML_NS}}}lang") or "").lower().startswith("en")]
    chosen = english or texts
    reason = (chosen[0].text or "").strip() if chosen else ""
    return FaultReceived(reason, code=_local_name(code_value) or "Receiver", subcode=_local_name(subcode_value))


def _local_name(value: etree._Element | None) -> str | None:
    """The local part of a QName-valued element's text (env:Sender -> Sender)."""
    if value is None or not value.text:
        return None
    return value.text.strip().rpartition(":")[2] or None
