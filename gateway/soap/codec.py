"""The SOAP codec's public API: OCPP 1.5/1.6 SOAP 1.2 envelopes <-> (action, JSON-convention payload).

Sans-I/O: bytes and header values go in, values come out. A charger's request is decoded with
`decode_request` and answered with `encode_response` or `encode_fault`; a CS-initiated call is
built with `encode_request` and its answer read with `decode_response`. Every decoding failure is a
SoapFault (Sender/ProtocolError with a reason that names elements, never values); every payload we
cannot encode validly is a SchemaViolation.

Payloads follow OCPP-J's JSON shape with the XSD's names (gateway.soap.json_schema describes them):
repeated elements are lists even with one item (an absent optional list stays absent, never []),
an empty element is {}, int -> int, decimal -> float, boolean -> bool, dateTime -> its text with Z
added when it has no timezone, and the 1.5 MeterValue `value` is {"value": text, <attribute>: ...}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.core.dialects import Dialect
from gateway.errors import SchemaViolation
from gateway.soap import envelope, media_type
from gateway.soap.envelope import ANONYMOUS, ENV_NS, WSA_NS, Addressing
from gateway.soap.faults import FaultReceived, SoapFault, call_error_code_for_fault, fault_for_call_error
from gateway.soap.media_type import content_type
from gateway.soap.payload import decode as decode_payload
from gateway.soap.payload import encode as encode_payload
from gateway.soap.types import ComplexType, Operation, Service, ServiceTable, locate, operation, table
from gateway.soap.xml_safe import DEFAULT_LIMITS, XmlLimits, parse

__all__ = [
    "ANONYMOUS",
    "ENV_NS",
    "WSA_NS",
    "Addressing",
    "FaultReceived",
    "Service",
    "SoapFault",
    "SoapRequest",
    "XmlLimits",
    "call_error_code_for_fault",
    "content_type",
    "decode_request",
    "decode_response",
    "encode_fault",
    "encode_request",
    "encode_response",
    "fault_for_call_error",
]


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A decoded charger request (CentralSystemService).

    Attributes:
        dialect: OCPP15_SOAP or OCPP16_SOAP, from the body's namespace.
        service: always "cs" for what decode_request returns.
        action: the operation, e.g. "BootNotification".
        payload: the JSON-convention payload.
        charge_box_id: the chargeBoxIdentity header.
        addressing: the WS-Addressing headers (From is the charger's callback URL).
    """

    dialect: Dialect
    service: Service
    action: str
    payload: dict[str, Any]
    charge_box_id: str
    addressing: Addressing


def _action_agrees(value: str, op: Operation, expected: str) -> bool:
    # OCPP uses "/<Op>" exactly; some stacks prefix it with a namespace or URL, which still names the same op.
    return value == expected or value == op.name or value.endswith(expected)


def decode_request(
    body: bytes, *, content_type: str | None, soap_action: str | None, limits: XmlLimits = DEFAULT_LIMITS
) -> SoapRequest:
    """Decode a charger's SOAP request to the CS.

    Args:
        body: the HTTP body, already decompressed (see gateway.soap.xml_safe.decompress).
        content_type: the Content-Type header, whose `action` parameter is checked when present.
        soap_action: the SOAPAction header, checked when present.
        limits: size and nesting bounds.

    Returns:
        The request; its dialect, operation, identity and addressing come from the envelope.

    Raises:
        SoapFault: Sender/ProtocolError for anything that is not a valid OCPP CentralSystemService
            request; `relates_to` and `dialect` are set on it when they could be read.
    """
    header, root = envelope.split(parse(body, limits))
    if envelope.is_fault(root):
        raise SoapFault("a SOAP fault is not a request")
    located = locate(etree.QName(root).namespace or "")
    if located is None:
        raise SoapFault("the Body's element is not in an OCPP 1.5 or 1.6 namespace")
    dialect = located.dialect
    try:
        addressing = envelope.read_addressing(header)
    except SoapFault as fault:
        raise fault.attach(relates_to=None, dialect=dialect) from None
    try:
        return _decode_request(located, header, root, addressing, content_type, soap_action)
    except SoapFault as fault:
        raise fault.attach(relates_to=addressing.message_id, dialect=dialect) from None


def _decode_request(
    located: ServiceTable,
    header: etree._Element | None,
    root: etree._Element,
    addressing: Addressing,
    content_type_header: str | None,
    soap_action_header: str | None,
) -> SoapRequest:
    if located.service != "cs":
        raise SoapFault("ChargePointService messages are sent to chargers, not to the central system")
    name = etree.QName(root).localname
    op = located.by_request_root.get(name)
    if op is None and name in located.by_response_root:
        raise SoapFault(f"unknown operation: {name} is not a request of {located.dialect}")
    if op is None:
        # OCPP-S 4: an action the receiver does not offer is Receiver/NotSupported, as NotImplemented is in OCPP-J.
        raise SoapFault(f"unknown operation: {name[:60]} is not an operation of {located.dialect}",
                        code="Receiver", subcode="NotSupported")
    if not addressing.message_id:
        raise SoapFault("missing wsa:MessageID header (OCPP-S section 3)")
    for source, value in (
        ("Content-Type action", media_type.action_parameter(content_type_header)),
        ("SOAPAction", media_type.soap_action(soap_action_header)),
        ("wsa:Action", addressing.action),
    ):
        if value is not None and not _action_agrees(value, op, op.request_action):
            raise SoapFault(f"{source} does not match the Body's {name} (expected {op.request_action})")
    charge_box_id = envelope.read_identity(header, located.namespace)
    if charge_box_id is None:
        raise SoapFault(f"missing chargeBoxIdentity header in {located.namespace} (OCPP-S section 3.3)")
    return SoapRequest(
        dialect=located.dialect,
        service="cs",
        action=op.name,
        payload=decode_payload(root, op.request_type, located.namespace, name),
        charge_box_id=charge_box_id,
        addressing=addressing,
    )


def encode_response(
    dialect: Dialect, service: Service, action: str, payload: dict[str, Any], *, relates_to: str | None, message_id: str
) -> bytes:
    """Encode the answer to a request of `service` (normally "cs": the gateway answering a charger).

    Args:
        dialect: the request's dialect.
        service: the service the request belonged to.
        action: the operation, e.g. "BootNotification".
        payload: the response payload in the JSON convention.
        relates_to: the request's wsa:MessageID (written as wsa:RelatesTo when set).
        message_id: this response's own wsa:MessageID.

    Raises:
        SchemaViolation: the payload does not fit the response type.
        NotSupportedAction: the service has no such operation in this dialect.
    """
    op = operation(dialect, service, action)
    addressing = Addressing(action=op.response_action, message_id=message_id, relates_to=relates_to, to=ANONYMOUS)
    return _encode(dialect, service, op.response_root, op.response_type, payload, addressing)


def encode_request(
    dialect: Dialect,
    action: str,
    payload: dict[str, Any],
    *,
    charge_box_id: str,
    message_id: str,
    from_address: str,
    to: str,
) -> bytes:
    """Encode a CS-initiated request (ChargePointService) to a charger.

    Args:
        dialect: the charger's dialect.
        action: the operation, e.g. "RemoteStartTransaction".
        payload: the request payload in the JSON convention.
        charge_box_id: the charger's identity (the chargeBoxIdentity header, mustUnderstand).
        message_id: the request's wsa:MessageID.
        from_address: the gateway's own SOAP URL (wsa:From), where the charger sends its requests.
        to: the charger's URL (wsa:To), normally the wsa:From of its latest request.

    Raises:
        SchemaViolation: the payload does not fit the request type.
        NotSupportedAction: the charger's dialect has no such CS-initiated operation.
    """
    op = operation(dialect, "cp", action)
    addressing = Addressing(
        action=op.request_action, message_id=message_id, from_address=from_address, reply_to=ANONYMOUS, to=to
    )
    return _encode(dialect, "cp", op.request_root, op.request_type, payload, addressing, identity=charge_box_id)


def _encode(
    dialect: Dialect,
    service: Service,
    root: str,
    ct: ComplexType,
    payload: dict[str, Any],
    addressing: Addressing,
    *,
    identity: str | None = None,
) -> bytes:
    ns = table(dialect, service).namespace
    doc, header, body = envelope.new(ns, service)
    if identity is not None:
        try:
            envelope.add_header(header, f"{{{ns}}}chargeBoxIdentity", identity, must_understand=True)
        except ValueError:  # lxml refuses characters XML cannot carry
            raise SchemaViolation("chargeBoxIdentity holds characters XML cannot carry") from None
    envelope.add_addressing(header, addressing)
    encode_payload(body, f"{{{ns}}}{root}", payload, ct, ns, root)
    return envelope.serialize(doc)


def decode_response(
    body: bytes, *, dialect: Dialect, service: Service, action: str, limits: XmlLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Decode the answer to a request we sent (normally service "cp": a charger answering the CS).

    Args:
        body: the HTTP body, already decompressed.
        dialect: the dialect of the request.
        service: the service of the request.
        action: the operation of the request.
        limits: size and nesting bounds.

    Returns:
        The response payload in the JSON convention.

    Raises:
        FaultReceived: the peer answered with an env:Fault.
        SoapFault: Sender/ProtocolError when the answer is not this operation's valid response.
        NotSupportedAction: the service has no such operation in this dialect.
    """
    op = operation(dialect, service, action)
    header, root = envelope.split(parse(body, limits))
    if envelope.is_fault(root):
        raise envelope.read_fault(root)
    ns = table(dialect, service).namespace
    if root.tag != f"{{{ns}}}{op.response_root}":
        qname = etree.QName(root)
        raise SoapFault(
            f"expected {op.response_root} in {ns}, got {qname.localname} in {qname.namespace}", dialect=dialect
        )
    action_header = envelope.read_addressing(header).action
    if action_header is not None and not _action_agrees(action_header, op, op.response_action):
        raise SoapFault(f"wsa:Action does not match {op.response_action}", dialect=dialect)
    try:
        return decode_payload(root, op.response_type, ns, op.response_root)
    except SoapFault as fault:
        raise fault.attach(relates_to=None, dialect=dialect) from None


def encode_fault(dialect: Dialect | None, error: SoapFault, *, relates_to: str | None, message_id: str) -> bytes:
    """Encode a SOAP 1.2 fault answering a charger's request.

    Args:
        dialect: the request's dialect; when None, the fault's own, else 1.6. It picks the Subcode's
            namespace (the CentralSystemService one of that version).
        error: the fault.
        relates_to: the request's wsa:MessageID, when it could be read (else the fault's own relates_to).
        message_id: the fault message's own wsa:MessageID.
    """
    chosen = dialect or error.dialect or Dialect.OCPP16_SOAP
    ns = table(chosen, "cs").namespace
    return envelope.fault(ns, "cs", error, relates_to=relates_to or error.relates_to, message_id=message_id)
