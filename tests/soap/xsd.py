"""Strict checks for OCPP 1.5/1.6 SOAP envelopes, independent of the gateway's code.

Payloads are validated with xmlschema against the XSD embedded in the four official WSDLs
(`shared/spec/soap/`, loaded as they are, never copied). The SOAP 1.2 envelope and the
WS-Addressing headers are checked by hand, as SOAP-NOTES section 9 prescribes: xmlschema only
bundles the SOAP 1.1 envelope schema and cannot load SOAP 1.2 WSDL bindings.

Every check returns a list of human-readable problems; an empty list means "valid".
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import xmlschema
from lxml import etree

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SPEC_DIR = SHARED / "spec" / "soap"

XSD = "http://www.w3.org/2001/XMLSchema"
ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
XML_NS = "http://www.w3.org/XML/1998/namespace"

Version = Literal["1.5", "1.6"]
Service = Literal["cs", "cp"]
"""`cs`: CentralSystemService (charger -> CS); `cp`: ChargePointService (CS -> charger)."""

WSDL_FILES: dict[tuple[str, str], str] = {
    ("1.5", "cs"): "ocpp_centralsystemservice_1.5_final.wsdl",
    ("1.5", "cp"): "ocpp_chargepointservice_1.5_final.wsdl",
    ("1.6", "cs"): "OCPP_CentralSystemService_1.6.wsdl",
    ("1.6", "cp"): "OCPP_ChargePointService_1.6.wsdl",
}
NAMESPACES: dict[tuple[str, str], str] = {
    ("1.5", "cs"): "urn://Ocpp/Cs/2012/06/",
    ("1.5", "cp"): "urn://Ocpp/Cp/2012/06/",
    ("1.6", "cs"): "urn://Ocpp/Cs/2015/10/",
    ("1.6", "cp"): "urn://Ocpp/Cp/2015/10/",
}
OCPP_NAMESPACES = frozenset(NAMESPACES.values())

#: The subcodes OCPP-S section 4 allows under each SOAP 1.2 fault code.
FAULT_SUBCODES: dict[str, frozenset[str]] = {
    "Sender": frozenset({"SecurityError", "IdentityMismatch", "ProtocolError"}),
    "Receiver": frozenset({"InternalError", "NotSupported"}),
}


def wsdl_path(version: str, service: str) -> Path:
    """The official WSDL file of `version` ("1.5"/"1.6") and `service` ("cs"/"cp")."""
    return SPEC_DIR / WSDL_FILES[(version, service)]


def namespace(version: str, service: str) -> str:
    """The OCPP target namespace of `version` and `service` (with its trailing slash)."""
    return NAMESPACES[(version, service)]


def parse(data: bytes) -> etree._Element:
    """Parse XML without DTDs, entity expansion or network access.

    Raises:
        etree.XMLSyntaxError: `data` is not well-formed XML.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser)


@functools.cache
def schemas() -> dict[str, Any]:
    """The four XSDs embedded in the WSDLs, keyed by target namespace (built once per process)."""
    loaded: dict[str, Any] = {}
    for filename in WSDL_FILES.values():
        schema_element = etree.parse(str(SPEC_DIR / filename)).find(f".//{{{XSD}}}schema")
        assert schema_element is not None, f"{filename} embeds no XSD"
        # Serialized, the element carries the xmlns declarations inherited from <wsdl:definitions>.
        schema = xmlschema.XMLSchema(etree.tostring(schema_element))
        loaded[schema.target_namespace] = schema
    return loaded


def payload_errors(envelope_bytes: bytes, *, namespace: str | None = None) -> list[str]:
    """Validate the body payload and the chargeBoxIdentity header against the WSDL's XSD.

    Attributes in the SOAP envelope namespace (`env:mustUnderstand`, ...) are stripped from the
    header block first: its XSD type is a simple type. A SOAP Fault body is not an OCPP payload and
    yields no payload error (see `envelope_errors` and `fault_of` for faults).

    Args:
        envelope_bytes: The complete SOAP envelope as sent on the wire (decompressed).
        namespace: If given, the OCPP namespace the payload must be in (version and direction).

    Returns:
        One line per problem: schema path and reason.
    """
    try:
        envelope = parse(envelope_bytes)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if envelope.tag != f"{{{ENV}}}Envelope":
        return [f"root element is {envelope.tag}, not a SOAP 1.2 Envelope"]
    body = envelope.find(f"{{{ENV}}}Body")
    if body is None or len(body) == 0:
        return ["SOAP Body with a payload element is missing"]
    payload = body[0]
    payload_ns = etree.QName(payload).namespace
    if payload.tag == f"{{{ENV}}}Fault":
        return []
    if namespace is not None and payload_ns != namespace:
        return [f"payload {payload.tag} is not in the expected namespace {namespace}"]
    schema = schemas().get(payload_ns or "")
    if schema is None:
        return [f"payload {payload.tag} is not in any OCPP 1.5/1.6 namespace"]
    errors = [_describe(error) for error in schema.iter_errors(etree.tostring(payload))]
    identity = envelope.find(f"{{{ENV}}}Header/{{{payload_ns}}}chargeBoxIdentity")
    if identity is not None:
        identity = etree.fromstring(etree.tostring(identity))  # a copy: the caller's tree stays as it was
        for attribute in [name for name in identity.attrib if etree.QName(name).namespace == ENV]:
            del identity.attrib[attribute]
        errors += [f"chargeBoxIdentity: {_describe(error)}" for error in schema.iter_errors(etree.tostring(identity))]
    return errors


def envelope_errors(envelope_bytes: bytes, *, expect_action: str, relates_to: str | None = None,
                    request: bool) -> list[str]:
    """Check the SOAP 1.2 envelope and the WS-Addressing headers OCPP-S requires, by hand.

    Requests (`request=True`) need: `wsa:Action` == `expect_action`, a `wsa:MessageID`, no
    `wsa:RelatesTo`, a `chargeBoxIdentity` header in the payload's namespace, `wsa:From/wsa:Address`
    (the sender's own endpoint URL), `wsa:ReplyTo/wsa:Address` = the WS-A anonymous address, and
    `wsa:To`. Responses need `wsa:Action` == `expect_action`, a `wsa:MessageID` and `wsa:RelatesTo`
    (equal to `relates_to` when given); their optional `wsa:To` can only be the anonymous address.
    (OCPP-S only allows a MessageID in responses; this kit demands it, as SOAP-NOTES section 8 shows
    it.) The payload's root element must be the one the action names (`/BootNotification` ->
    `bootNotificationRequest`, `/BootNotificationResponse` -> `bootNotificationResponse`).

    A response whose body is a SOAP Fault is checked as a fault instead: `env:Code/env:Value` is
    `env:Sender` or `env:Receiver`, the `env:Subcode/env:Value` is an OCPP-namespace QName allowed
    for that code, `env:Reason/env:Text` is present; the action is not checked, and `wsa:RelatesTo`
    must equal `relates_to` if the fault carries one.

    Returns:
        One line per problem.
    """
    try:
        envelope = parse(envelope_bytes)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if envelope.tag == f"{{{SOAP11_ENV}}}Envelope":
        return ["SOAP 1.1 envelope; OCPP over SOAP uses SOAP 1.2 only"]
    if envelope.tag != f"{{{ENV}}}Envelope":
        return [f"root element is {envelope.tag}, not a SOAP 1.2 Envelope"]
    children = [child for child in envelope if isinstance(child.tag, str)]
    tags = [child.tag for child in children]
    if tags not in ([f"{{{ENV}}}Header", f"{{{ENV}}}Body"], [f"{{{ENV}}}Body"]):
        return [f"Envelope children must be Header then Body, found {[etree.QName(t).localname for t in tags]}"]
    body = children[-1]
    header = children[0] if len(children) == 2 else None
    payloads = [child for child in body if isinstance(child.tag, str)]
    if len(payloads) != 1:
        return [f"Body must hold exactly one element, found {len(payloads)}"]
    payload = payloads[0]
    if payload.tag == f"{{{ENV}}}Fault":
        relates = [] if header is None else _relates_to_errors(header, relates_to, required=False)
        return _fault_structure_errors(payload) + relates
    if header is None:
        return ["SOAP Header with the WS-Addressing headers is missing"]

    errors: list[str] = []
    payload_ns = etree.QName(payload).namespace
    if payload_ns not in OCPP_NAMESPACES:
        errors.append(f"payload {payload.tag} is not in an OCPP 1.5/1.6 namespace")

    action = _single_text(header, "Action", errors)
    if action is not None and action != expect_action:
        errors.append(f"wsa:Action is {action!r}, expected {expect_action!r}")
    expected_root = _root_for_action(expect_action, request=request)
    if etree.QName(payload).localname != expected_root:
        errors.append(f"payload root is {etree.QName(payload).localname!r}, expected {expected_root!r}"
                      f" for action {expect_action!r}")
    message_id = _single_text(header, "MessageID", errors)
    if message_id == "":
        errors.append("wsa:MessageID is empty")

    if request:
        if header.findall(f"{{{WSA}}}RelatesTo"):
            errors.append("a request must not carry wsa:RelatesTo")
        identities = header.findall(f"{{{payload_ns}}}chargeBoxIdentity")
        if len(identities) != 1:
            errors.append(f"expected one chargeBoxIdentity header in {payload_ns}, found {len(identities)}")
        elif not (identities[0].text or "").strip():
            errors.append("chargeBoxIdentity header is empty")
        from_address = _address(header, "From", errors)
        if from_address is not None and not from_address.startswith(("http://", "https://")):
            errors.append(f"wsa:From/wsa:Address must be the sender's http(s) endpoint URL, got {from_address!r}")
        reply_to = _address(header, "ReplyTo", errors)
        if reply_to is not None and reply_to != ANONYMOUS:
            errors.append(f"wsa:ReplyTo/wsa:Address must be {ANONYMOUS}, got {reply_to!r}")
        to = _single_text(header, "To", errors)
        if to == "":
            errors.append("wsa:To is empty")
    else:
        errors += _relates_to_errors(header, relates_to, required=True)
        to = header.findtext(f"{{{WSA}}}To")
        if to is not None and to.strip() != ANONYMOUS:
            errors.append(f"wsa:To of a synchronous response may only be {ANONYMOUS}, got {to.strip()!r}")
    return errors


def fault_of(envelope_bytes: bytes) -> tuple[str, str, str] | None:
    """The SOAP 1.2 fault an envelope carries, or None if its body is not a fault.

    Returns:
        `(code, subcode, reason)`: the local names of `env:Code/env:Value` ("Sender"/"Receiver")
        and of `env:Subcode/env:Value` (e.g. "IdentityMismatch"; "" if absent), and the first
        `env:Reason/env:Text` ("" if absent). Whether these are well-formed is `envelope_errors`' job.
    """
    try:
        envelope = parse(envelope_bytes)
    except etree.XMLSyntaxError:
        return None
    fault = envelope.find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    if fault is None:
        return None
    code = fault.find(f"{{{ENV}}}Code/{{{ENV}}}Value")
    subcode = fault.find(f"{{{ENV}}}Code/{{{ENV}}}Subcode/{{{ENV}}}Value")
    reason = fault.find(f"{{{ENV}}}Reason/{{{ENV}}}Text")
    return (
        _qname_value(code)[1] if code is not None else "",
        _qname_value(subcode)[1] if subcode is not None else "",
        (reason.text or "").strip() if reason is not None else "",
    )


def operation_of(payload_localname: str) -> str:
    """The operation a body root names: `bootNotificationRequest` -> `BootNotification`."""
    for suffix in ("Request", "Response"):
        if payload_localname.endswith(suffix):
            payload_localname = payload_localname[: -len(suffix)]
            break
    return payload_localname[:1].upper() + payload_localname[1:]


# ---- helpers ----------------------------------------------------------------------------------


def _describe(error: Any) -> str:
    return f"{error.path}: {error.reason}"


def _root_for_action(action: str, *, request: bool) -> str:
    name = action.removeprefix("/")
    if not request:
        name = name.removesuffix("Response")
    return name[:1].lower() + name[1:] + ("Request" if request else "Response")


def _single_text(header: etree._Element, name: str, errors: list[str]) -> str | None:
    found = header.findall(f"{{{WSA}}}{name}")
    if len(found) != 1:
        errors.append(f"expected exactly one wsa:{name} header, found {len(found)}")
        return None
    return (found[0].text or "").strip()


def _address(header: etree._Element, name: str, errors: list[str]) -> str | None:
    found = header.findall(f"{{{WSA}}}{name}")
    if len(found) != 1:
        errors.append(f"expected exactly one wsa:{name} header, found {len(found)}")
        return None
    address = found[0].find(f"{{{WSA}}}Address")
    if address is None or not (address.text or "").strip():
        errors.append(f"wsa:{name} has no wsa:Address")
        return None
    return (address.text or "").strip()


def _relates_to_errors(header: etree._Element, relates_to: str | None, *, required: bool) -> list[str]:
    found = header.findall(f"{{{WSA}}}RelatesTo")
    if not found and not required:
        return []
    if len(found) != 1:
        return [f"expected exactly one wsa:RelatesTo header, found {len(found)}"]
    value = (found[0].text or "").strip()
    if not value:
        return ["wsa:RelatesTo is empty"]
    if relates_to is not None and value != relates_to:
        return [f"wsa:RelatesTo is {value!r}, expected the request's MessageID {relates_to!r}"]
    return []


def _qname_value(element: etree._Element) -> tuple[str | None, str]:
    """Resolve a QName-valued element's text against its in-scope namespaces: (namespace, local name)."""
    text = (element.text or "").strip()
    prefix, _, local = text.rpartition(":")
    return element.nsmap.get(prefix or None), local


def _fault_structure_errors(fault: etree._Element) -> list[str]:
    errors: list[str] = []
    code = fault.find(f"{{{ENV}}}Code/{{{ENV}}}Value")
    if code is None:
        return ["env:Fault has no env:Code/env:Value"]
    code_ns, code_name = _qname_value(code)
    if code_ns != ENV or code_name not in FAULT_SUBCODES:
        errors.append(f"fault code {code.text!r} is not env:Sender or env:Receiver")
    subcode = fault.find(f"{{{ENV}}}Code/{{{ENV}}}Subcode/{{{ENV}}}Value")
    if subcode is None:
        errors.append("fault has no env:Subcode/env:Value")
    else:
        sub_ns, sub_name = _qname_value(subcode)
        if sub_ns not in OCPP_NAMESPACES:
            errors.append(f"fault subcode {subcode.text!r} is not in an OCPP namespace (resolved to {sub_ns!r})")
        if code_name in FAULT_SUBCODES and sub_name not in FAULT_SUBCODES[code_name]:
            errors.append(f"fault subcode {sub_name!r} is not one of {sorted(FAULT_SUBCODES[code_name])}"
                          f" for env:{code_name}")
    reason = fault.find(f"{{{ENV}}}Reason/{{{ENV}}}Text")
    if reason is None:
        errors.append("fault has no env:Reason/env:Text")
    elif reason.get(f"{{{XML_NS}}}lang") is None:
        errors.append("env:Reason/env:Text lacks the xml:lang attribute SOAP 1.2 requires")
    return errors
