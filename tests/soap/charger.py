"""A strict SOAP 1.2 charger for tests, built on zeep and the official WSDLs.

`SoapCharger` calls CentralSystemService operations (charger -> CS) on a given URL, normally the
gateway's `/soap`. zeep builds each request envelope from the WSDL (zeep itself adds `wsa:Action`,
`wsa:MessageID` and `wsa:To`; the charger adds `chargeBoxIdentity`, `wsa:From` and `wsa:ReplyTo`),
aiohttp posts it, and every response is checked with `tests.soap.xsd` (SOAP 1.2 envelope, WS-A
`Action`/`RelatesTo`, payload against the XSD) before zeep parses it. Problems are collected in
`violations` rather than raised, so a test can assert on the result and then on `violations == []`.

`SoapClient` is the service-agnostic core; with `service="cp"` it plays a central system calling a
charger's ChargePointService (the self-tests use it to drive `ChargerEndpoint`).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import functools
import gzip
import zlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import aiohttp
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from multidict import CIMultiDict
from zeep.xsd import CompoundValue

from tests.soap import xsd

Compression = Literal["gzip", "deflate"]


class SoapFaultError(Exception):
    """The peer answered a SOAP 1.2 Fault.

    Attributes:
        code: "Sender" or "Receiver" (local name of `env:Code/env:Value`).
        subcode: Local name of `env:Subcode/env:Value`, e.g. "IdentityMismatch".
        reason: Text of `env:Reason/env:Text`.
        http_status: The HTTP status the fault came with.
    """

    def __init__(self, code: str, subcode: str, reason: str, http_status: int = 0) -> None:
        super().__init__(f"SOAP fault {code}/{subcode}: {reason}")
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.http_status = http_status


class SoapCallError(Exception):
    """The peer's answer was neither a usable response nor a SOAP Fault (details in `violations`)."""


class SoapHttpError(SoapCallError):
    """The peer answered a non-200 HTTP status without a SOAP envelope (e.g. 401 before any SOAP).

    This is not recorded as a violation: refusing at the HTTP layer can be the right behaviour.

    Attributes:
        status: The HTTP status.
        body: The response body.
    """

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status} without a SOAP envelope: {body[:200]!r}")
        self.status = status
        self.body = body


@dataclass
class Exchange:
    """One HTTP exchange as it happened on the wire (bodies decompressed)."""

    operation: str
    message_id: str
    request: bytes
    request_headers: dict[str, str]
    status: int = 0
    response: bytes = b""
    response_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)


@dataclass
class BuiltRequest:
    """A request envelope as the client would send it, for tests that alter it before posting."""

    operation: str
    message_id: str
    body: bytes
    headers: dict[str, str]


@functools.cache
def zeep_client(version: str, service: str) -> Any:
    """A zeep client of the official WSDL (one per WSDL per process; only its builders are used)."""
    return zeep.Client(wsdl=str(xsd.wsdl_path(version, service)))  # type: ignore[no-untyped-call]


def binding(version: str, service: str) -> Any:
    """The zeep SOAP 1.2 binding of the WSDL (`{ns}CentralSystemServiceSoap` / `{ns}ChargePointServiceSoap`)."""
    name = "CentralSystemServiceSoap" if service == "cs" else "ChargePointServiceSoap"
    return zeep_client(version, service).wsdl.bindings[f"{{{xsd.namespace(version, service)}}}{name}"]


def plain(value: Any) -> Any:
    """zeep values as JSON-like data: dicts, lists, str, int, float, bool.

    Absent elements are dropped: optional ones (None) and repeated ones ([]; XML cannot tell an
    empty list from an absent one). `xs:dateTime` becomes ISO 8601 text (UTC as "Z"), `xs:decimal`
    a float. An empty payload is `{}`.
    """
    if isinstance(value, CompoundValue):
        value = zeep.helpers.serialize_object(value, dict)  # type: ignore[no-untyped-call]
    if value is None:
        return {}
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None and item != []}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def parse_payload(operation: Any, direction: Literal["input", "output"], payload: etree._Element) -> dict[str, Any]:
    """Parse a body payload with zeep's message body element (strict on names and order).

    This is the parser zeep's `deserialize` uses, without its unwrapping of single-field results
    (zeep would return a bare `currentTime` for a Heartbeat response), so callers always get a dict.

    Raises:
        zeep.exceptions.XMLParseError: Unknown or misplaced elements.
    """
    message = getattr(operation, direction)
    if message.body is None:
        return {}
    return dict(plain(message.body.parse(payload, message.wsdl.types)))


def compress(body: bytes, coding: Compression | None) -> bytes:
    """`body` in HTTP content coding `coding` (`deflate` is the zlib format, RFC 9110)."""
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    return body


class SoapClient:
    """Posts SOAP 1.2 requests of one OCPP service to one URL and checks every answer strictly.

    Args:
        version: "1.5" or "1.6".
        service: "cs" to call a central system (charger role), "cp" to call a charger (CS role).
        url: Where requests are posted; also zeep's `wsa:To`.
        charge_box_id: The `chargeBoxIdentity` header value (may be changed between calls).
        from_url: `wsa:From/wsa:Address`, the sender's own endpoint URL; None omits `wsa:From`.
            May be changed between calls (`client.from_url = ...`).
        basic_auth: (user, password) for HTTP Basic authentication, or None.
        compression: Content coding of request bodies: "gzip", "deflate" or None.
        must_understand: Mark chargeBoxIdentity, Action and To `env:mustUnderstand="true"` (the
            SOAP-NOTES section 8 form); False sends zeep's plain headers.
        timeout: Seconds one HTTP exchange may take.
    """

    def __init__(
        self,
        version: str,
        service: xsd.Service,
        url: str,
        charge_box_id: str,
        *,
        from_url: str | None,
        basic_auth: tuple[str, str] | None = None,
        compression: Compression | None = None,
        must_understand: bool = True,
        timeout: float = 10,
    ) -> None:
        if (version, service) not in xsd.WSDL_FILES:
            raise ValueError(f"no WSDL for version {version!r} service {service!r}")
        self.version = version
        self.service = service
        self.namespace = xsd.namespace(version, service)
        self.url = url
        self.charge_box_id = charge_box_id
        self.from_url = from_url
        self.basic_auth = basic_auth
        self.compression = compression
        self.must_understand = must_understand
        self.timeout = timeout
        self.violations: list[str] = []
        self.exchanges: list[Exchange] = []
        self._binding = binding(version, service)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SoapClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def build(self, operation: str, /, **fields: Any) -> BuiltRequest:
        """The request envelope `call` would send, with its HTTP headers.

        Raises:
            ValueError: Unknown operation.
            TypeError, zeep.exceptions.ValidationError: Fields zeep cannot serialize
                (unknown or missing required elements).
        """
        client = zeep_client(self.version, self.service)
        envelope, http_headers = self._binding._create(
            operation,
            (),
            {**fields, "_soapheaders": {"ChargeBoxIdentity": self.charge_box_id}},
            client=client,
            options={"address": self.url},
        )
        header = envelope.find(f"{{{xsd.ENV}}}Header")
        message_id = header.findtext(f"{{{xsd.WSA}}}MessageID")
        to = header.find(f"{{{xsd.WSA}}}To")
        extra = []
        if self.from_url is not None:
            extra.append(_wsa_address("From", self.from_url))
        extra.append(_wsa_address("ReplyTo", xsd.ANONYMOUS))
        for element in extra:
            to.addprevious(element)
        if self.must_understand:
            for element in (
                header.find(f"{{{self.namespace}}}chargeBoxIdentity"),
                header.find(f"{{{xsd.WSA}}}Action"),
                to,
            ):
                element.set(f"{{{xsd.ENV}}}mustUnderstand", "true")
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": http_headers["Content-Type"], "SOAPAction": http_headers["SOAPAction"]}
        return BuiltRequest(operation, message_id, body, headers)

    async def post(
        self, body: bytes, headers: dict[str, str], *, operation: str = "", message_id: str = ""
    ) -> Exchange:
        """POST `body` as it is (compressed if `compression` is set) and record the exchange; no checks."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = dict(headers)
        if self.compression is not None:
            headers["Content-Encoding"] = self.compression
        if self.basic_auth is not None:
            user, password = self.basic_auth
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        exchange = Exchange(operation, message_id, body, headers)
        self.exchanges.append(exchange)
        async with self._session.post(
            self.url,
            data=compress(body, self.compression),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as response:
            exchange.status = response.status
            exchange.response_headers = CIMultiDict(response.headers)
            exchange.response = await response.read()
        return exchange

    async def call(self, operation: str, /, **fields: Any) -> dict[str, Any]:
        """Call `operation` with payload `fields` (WSDL element names, e.g. `chargePointVendor`).

        Returns:
            The response payload as JSON-like data (see `plain`).

        Raises:
            SoapFaultError: The peer answered a SOAP Fault.
            SoapHttpError: A non-200 HTTP status without a SOAP envelope (not a violation).
            SoapCallError: The answer was not a SOAP 1.2 envelope zeep could parse as the response
                (recorded in `violations`).
            aiohttp.ClientError, TimeoutError: The HTTP exchange failed.
        """
        request = self.build(operation, **fields)
        exchange = await self.post(request.body, request.headers, operation=operation, message_id=request.message_id)
        return self._check_response(exchange)

    def _check_response(self, exchange: Exchange) -> dict[str, Any]:
        operation = exchange.operation
        if exchange.status != 200 and not _is_soap_envelope(exchange.response):
            raise SoapHttpError(exchange.status, exchange.response)
        problems: list[str] = []
        fault = xsd.fault_of(exchange.response)
        problems += xsd.envelope_errors(
            exchange.response, expect_action=f"/{operation}Response", relates_to=exchange.message_id, request=False
        )
        media_type = exchange.response_headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/soap+xml":
            problems.append(f"response Content-Type is {media_type!r}, not application/soap+xml")
        if fault is not None:
            self._report(operation, problems)
            raise SoapFaultError(*fault, http_status=exchange.status)
        if exchange.status != 200:
            problems.append(f"HTTP status {exchange.status} for a non-fault response")
        problems += xsd.payload_errors(exchange.response, namespace=self.namespace)
        try:
            envelope = xsd.parse(exchange.response)
            body = envelope.find(f"{{{xsd.ENV}}}Body")
            if body is None or len(body) == 0:
                raise SoapCallError("no SOAP Body payload")
            fields = parse_payload(self._binding.get(operation), "output", body[0])
        except (etree.XMLSyntaxError, zeep.exceptions.Error, SoapCallError) as exc:
            problems.append(f"zeep cannot parse the response: {exc}")
            self._report(operation, problems)
            raise SoapCallError(
                f"{operation}: unusable response (HTTP {exchange.status}): {exchange.response[:500]!r}"
            ) from exc
        self._report(operation, problems)
        return fields

    def _report(self, operation: str, problems: list[str]) -> None:
        self.violations += [f"{operation} response: {problem}" for problem in problems]


class SoapCharger(SoapClient):
    """A SOAP charger of OCPP `version` calling a central system's CentralSystemService at `url`.

    Example:
        charger = SoapCharger("1.6", gateway_soap_url, "CB1", from_url=endpoint.url)
        conf = await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")
        assert conf["status"] == "Accepted" and charger.violations == []
    """

    def __init__(
        self,
        version: str,
        url: str,
        charge_box_id: str,
        *,
        from_url: str | None,
        basic_auth: tuple[str, str] | None = None,
        compression: Compression | None = None,
        must_understand: bool = True,
        timeout: float = 10,
    ) -> None:
        super().__init__(
            version,
            "cs",
            url,
            charge_box_id,
            from_url=from_url,
            basic_auth=basic_auth,
            compression=compression,
            must_understand=must_understand,
            timeout=timeout,
        )


def _is_soap_envelope(body: bytes) -> bool:
    try:
        return bool(xsd.parse(body).tag == f"{{{xsd.ENV}}}Envelope")
    except etree.XMLSyntaxError:
        return False


def _wsa_address(name: str, address: str) -> etree._Element:
    element = etree.Element(f"{{{xsd.WSA}}}{name}", nsmap={"wsa": xsd.WSA})
    etree.SubElement(element, f"{{{xsd.WSA}}}Address").text = address
    return element
