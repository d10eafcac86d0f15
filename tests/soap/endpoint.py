"""A charger's own ChargePointService endpoint for tests: receives CS -> charger SOAP calls.

`ChargerEndpoint` is an aiohttp server on 127.0.0.1 (free port). Every POST is recorded as it came
(`received`), checked strictly with `tests.soap.xsd` (SOAP 1.2 envelope, the WS-A request headers
OCPP-S requires, payload and chargeBoxIdentity against the cp XSD of the endpoint's version) with
problems collected in `violations`, parsed with zeep, and answered by the handler of its operation.
Handlers return the response fields (zeep serializes them from the WSDL), may be async, and may
raise `EndpointFault` (answer a SOAP Fault) or `DropConnection` (close without answering).
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import zeep.exceptions
from aiohttp import web
from lxml import etree
from multidict import CIMultiDict

from tests.soap import xsd
from tests.soap.charger import Compression, binding, compress, parse_payload

Fields = dict[str, Any]
Handler = Callable[[Fields], Fields | Awaitable[Fields | None] | None]

_ACCEPTED: Fields = {"status": "Accepted"}

#: Default answers: Accepted-like, valid against the cp XSD of each version.
DEFAULT_RESPONSES: dict[str, dict[str, Fields]] = {
    "1.5": {
        "CancelReservation": _ACCEPTED,
        "ChangeAvailability": _ACCEPTED,
        "ChangeConfiguration": _ACCEPTED,
        "ClearCache": _ACCEPTED,
        "DataTransfer": _ACCEPTED,
        "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
        "GetDiagnostics": {"fileName": "diagnostics.zip"},
        "GetLocalListVersion": {"listVersion": 1},
        "RemoteStartTransaction": _ACCEPTED,
        "RemoteStopTransaction": _ACCEPTED,
        "ReserveNow": _ACCEPTED,
        "Reset": _ACCEPTED,
        "SendLocalList": _ACCEPTED,
        "UnlockConnector": _ACCEPTED,
        "UpdateFirmware": {},
    },
}
DEFAULT_RESPONSES["1.6"] = {
    **DEFAULT_RESPONSES["1.5"],
    "ClearChargingProfile": _ACCEPTED,
    "GetCompositeSchedule": _ACCEPTED,
    "SetChargingProfile": _ACCEPTED,
    "TriggerMessage": _ACCEPTED,
    "UnlockConnector": {"status": "Unlocked"},
}


class EndpointFault(Exception):
    """Raised by a handler: the endpoint answers a SOAP 1.2 Fault instead of a response.

    Args:
        code: "Sender" (HTTP 400) or "Receiver" (HTTP 500).
        subcode: OCPP subcode local name, e.g. "IdentityMismatch", "NotSupported".
        reason: `env:Reason/env:Text`.
    """

    def __init__(self, code: str, subcode: str, reason: str = "") -> None:
        super().__init__(f"{code}/{subcode}: {reason}")
        self.code = code
        self.subcode = subcode
        self.reason = reason or subcode


class DropConnection(Exception):
    """Raised by a handler: the endpoint closes the TCP connection without any HTTP response."""


@dataclass
class ReceivedRequest:
    """One POST the endpoint received, as it came and as it was understood.

    Attributes:
        operation: From the body root (`resetRequest` -> "Reset"); "" if there was no payload.
        fields: The payload parsed by zeep as JSON-like data ({} if it could not be parsed).
        body: The request body, decompressed.
        wire: The request body as sent (possibly compressed).
        headers: HTTP request headers (case-insensitive).
        message_id, charge_box_id, from_address, to, action: Header values, None when absent.
        violations: What was wrong with this request (also appended to the endpoint's `violations`).
    """

    operation: str
    fields: Fields
    body: bytes
    wire: bytes
    headers: CIMultiDict[str]
    message_id: str | None = None
    charge_box_id: str | None = None
    from_address: str | None = None
    to: str | None = None
    action: str | None = None
    violations: list[str] = field(default_factory=list)


class ChargerEndpoint:
    """A charger's ChargePointService of OCPP `version`, listening on `url`.

    Attributes:
        handlers: Operation name -> handler(fields) returning response fields; preset with
            `DEFAULT_RESPONSES` for every cp operation of the version.
        charge_box_id: If set, the identity this charger has: a request with another
            `chargeBoxIdentity` is a violation and is answered with a Sender/IdentityMismatch fault.
        delay: Seconds to wait before answering any request (a slow charger).
        compression: Content coding of response bodies ("gzip", "deflate" or None).
        violations: Every problem found in any request, prefixed with its operation.
        received: Every request, in arrival order.
    """

    def __init__(self, version: str = "1.6", *, path: str = "/ChargePointService") -> None:
        if version not in DEFAULT_RESPONSES:
            raise ValueError(f"unknown OCPP SOAP version {version!r}")
        self.version = version
        self.namespace = xsd.namespace(version, "cp")
        self.path = path
        self.handlers: dict[str, Handler] = {
            operation: _constant(answer) for operation, answer in DEFAULT_RESPONSES[version].items()
        }
        self.charge_box_id: str | None = None
        self.delay: float = 0
        self.compression: Compression | None = None
        self.violations: list[str] = []
        self.received: list[ReceivedRequest] = []
        self.port = 0
        self._queue: asyncio.Queue[ReceivedRequest] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self._binding = binding(version, "cp")

    @property
    def url(self) -> str:
        """The endpoint's address: what a charger puts in `wsa:From/wsa:Address`."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> ChargerEndpoint:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._stray)
        # Bodies are decompressed here, so the wire form is recorded and bad codings are reported.
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop listening; requests still held by handlers are cut off."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def next_request(self, timeout: float = 10) -> ReceivedRequest:
        """The next request received (in arrival order), waiting at most `timeout` seconds."""
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    async def next_call(self, timeout: float = 10) -> tuple[str, Fields]:
        """The next call received: (operation, fields), waiting at most `timeout` seconds."""
        request = await self.next_request(timeout)
        return request.operation, request.fields

    # ---- request handling -------------------------------------------------------------------

    async def _handle(self, http_request: web.Request) -> web.StreamResponse:
        wire = await http_request.read()
        received = ReceivedRequest("", {}, b"", wire, CIMultiDict(http_request.headers))
        self.received.append(received)
        try:
            envelope = self._understand(http_request, received)
        finally:
            self.violations += [f"{received.operation or '?'} request: {problem}" for problem in received.violations]
            self._queue.put_nowait(received)
        if envelope is None:
            return self._fault("Sender", "ProtocolError", "request could not be understood", received.message_id)
        if self.charge_box_id is not None and received.charge_box_id != self.charge_box_id:
            problem = f"chargeBoxIdentity is {received.charge_box_id!r}, this charger is {self.charge_box_id!r}"
            received.violations.append(problem)
            self.violations.append(f"{received.operation} request: {problem}")
            return self._fault("Sender", "IdentityMismatch", f"this is {self.charge_box_id}", received.message_id)
        if self.delay:
            await asyncio.sleep(self.delay)  # plays a slow charger; tests await events, not this
        handler = self.handlers.get(received.operation)
        if handler is None:
            return self._fault(
                "Receiver", "NotSupported", f"{received.operation} is not supported", received.message_id
            )
        try:
            answer = handler(received.fields)
            if inspect.isawaitable(answer):
                answer = await answer
        except EndpointFault as fault:
            return self._fault(fault.code, fault.subcode, fault.reason, received.message_id)
        except DropConnection:
            transport = http_request.transport
            if transport is not None:
                transport.close()
            raise web.HTTPInternalServerError() from None  # never reaches the closed connection
        except Exception as exc:  # a broken test handler must fail the test, not hang it
            return self._handler_failed(received, exc)
        try:
            return self._respond(received, answer or {})
        except (zeep.exceptions.Error, TypeError, ValueError) as exc:
            return self._handler_failed(received, exc)

    async def _stray(self, http_request: web.Request) -> web.Response:
        self.violations.append(f"? request: {http_request.method} {http_request.path_qs} instead of POST {self.path}")
        return web.Response(status=404 if http_request.method == "POST" else 405)

    def _handler_failed(self, received: ReceivedRequest, exc: Exception) -> web.Response:
        self.violations.append(f"{received.operation} handler (test code, not the peer) failed: {exc!r}")
        return self._fault("Receiver", "InternalError", f"test handler failed: {exc}", received.message_id)

    def _understand(self, http_request: web.Request, received: ReceivedRequest) -> etree._Element | None:
        """Decode, check and parse one request; None if it cannot be answered with a response."""
        problems = received.violations
        coding = http_request.headers.get("Content-Encoding", "identity").strip().lower()
        try:
            received.body = _decode(received.wire, coding)
        except (OSError, zlib.error, ValueError) as exc:
            problems.append(f"body is not valid {coding!r} content: {exc}")
            return None
        media_type, _, parameters = http_request.headers.get("Content-Type", "").partition(";")
        if media_type.strip().lower() != "application/soap+xml":
            problems.append(f"Content-Type is {media_type.strip()!r}, not application/soap+xml (SOAP 1.2)")
        try:
            envelope = xsd.parse(received.body)
        except etree.XMLSyntaxError as exc:
            problems.append(f"not well-formed XML: {exc}")
            return None
        header = envelope.find(f"{{{xsd.ENV}}}Header")
        body = envelope.find(f"{{{xsd.ENV}}}Body")
        if header is not None:
            received.message_id = header.findtext(f"{{{xsd.WSA}}}MessageID")
            received.charge_box_id = header.findtext(f"{{{self.namespace}}}chargeBoxIdentity")
            received.from_address = header.findtext(f"{{{xsd.WSA}}}From/{{{xsd.WSA}}}Address")
            received.to = header.findtext(f"{{{xsd.WSA}}}To")
            received.action = header.findtext(f"{{{xsd.WSA}}}Action")
        if body is None or len(body) == 0 or not isinstance(body[0].tag, str):
            problems += xsd.envelope_errors(received.body, expect_action="/?", request=True)
            return None
        payload = body[0]
        received.operation = xsd.operation_of(etree.QName(payload).localname)
        action = f"/{received.operation}"
        problems += xsd.envelope_errors(received.body, expect_action=action, request=True)
        if received.to is not None and received.to.strip() != self.url:
            problems.append(f"wsa:To is {received.to!r}, not this endpoint's URL {self.url!r}")
        problems += xsd.payload_errors(received.body, namespace=self.namespace)
        http_action = _media_type_parameter(parameters, "action")
        if http_action is not None and http_action != action:
            problems.append(f"Content-Type action parameter is {http_action!r}, expected {action!r}")
        operation = self._operation(received.operation) if etree.QName(payload).namespace == self.namespace else None
        if operation is None:
            problems.append(f"{payload.tag} is not a request of the {self.version} ChargePointService")
            return None
        try:
            received.fields = parse_payload(operation, "input", payload)
        except zeep.exceptions.Error as exc:
            problems.append(f"zeep cannot parse the payload: {exc}")
            return None
        return envelope

    def _operation(self, name: str) -> Any:
        """zeep's operation of the cp binding, or None if the WSDL has no such operation."""
        try:
            return self._binding.get(name)
        except ValueError:
            return None

    # ---- answers ----------------------------------------------------------------------------

    def _respond(self, received: ReceivedRequest, fields: Fields) -> web.Response:
        operation = received.operation
        serialized = self._binding.get(operation).output.serialize(**fields)
        envelope = serialized.content
        header = etree.Element(f"{{{xsd.ENV}}}Header", nsmap={"wsa": xsd.WSA})
        envelope.insert(0, header)
        self._addressing(header, f"/{operation}Response", received.message_id)
        return self._http(envelope, 200)

    def _fault(self, code: str, subcode: str, reason: str, relates_to: str | None) -> web.Response:
        env = f"{{{xsd.ENV}}}"
        envelope = etree.Element(f"{env}Envelope", nsmap={"env": xsd.ENV, "wsa": xsd.WSA, "ocpp": self.namespace})
        header = etree.SubElement(envelope, f"{env}Header")
        self._addressing(header, f"{xsd.WSA}/soap/fault", relates_to)
        fault = etree.SubElement(etree.SubElement(envelope, f"{env}Body"), f"{env}Fault")
        code_element = etree.SubElement(fault, f"{env}Code")
        etree.SubElement(code_element, f"{env}Value").text = f"env:{code}"
        etree.SubElement(etree.SubElement(code_element, f"{env}Subcode"), f"{env}Value").text = f"ocpp:{subcode}"
        text = etree.SubElement(etree.SubElement(fault, f"{env}Reason"), f"{env}Text")
        text.set(f"{{{xsd.XML_NS}}}lang", "en")
        text.text = reason
        return self._http(envelope, 400 if code == "Sender" else 500)

    @staticmethod
    def _addressing(header: etree._Element, action: str, relates_to: str | None) -> None:
        wsa = f"{{{xsd.WSA}}}"
        action_element = etree.SubElement(header, f"{wsa}Action")
        action_element.text = action
        action_element.set(f"{{{xsd.ENV}}}mustUnderstand", "true")
        etree.SubElement(header, f"{wsa}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
        if relates_to is not None:
            etree.SubElement(header, f"{wsa}RelatesTo").text = relates_to
        etree.SubElement(header, f"{wsa}To").text = xsd.ANONYMOUS

    def _http(self, envelope: etree._Element, status: int) -> web.Response:
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        if self.compression is not None:
            headers["Content-Encoding"] = self.compression
        return web.Response(status=status, body=compress(body, self.compression), headers=headers)


def _constant(answer: Fields) -> Handler:
    def handler(fields: Fields) -> Fields:
        return dict(answer)

    return handler


def _decode(wire: bytes, coding: str) -> bytes:
    if coding in ("identity", ""):
        return wire
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(wire)
    if coding == "deflate":
        return zlib.decompress(wire)  # HTTP deflate is the zlib format; raw deflate is rejected
    raise ValueError(f"unsupported Content-Encoding {coding!r}")


def _media_type_parameter(parameters: str, name: str) -> str | None:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None
