"""SOAP error handling end to end: faults toward chargers, CALLERRORs toward the CSMS.

Charger -> gateway problems are SOAP 1.2 Faults with an OCPP subcode (OCPP-S 4): Sender faults with
HTTP 400, Receiver faults with HTTP 500, and a failed HTTP Basic check with 401 and a Basic
challenge (the fault body still says SecurityError). Gateway -> charger problems (a fault, no
answer, no endpoint) reach the CSMS as the matching CALLERROR.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from ocpp import exceptions as ocpp_errors
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201

from gateway.app import Gateway
from tests.conftest import GatewayFactory, free_port
from tests.peers import Csms, CsmsCp16
from tests.soap import xsd
from tests.soap.charger import SoapFaultError
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import EndpointFault

NOWHERE = "http://127.0.0.1:9/cp"


def soap_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}/soap"


class RefusingDataTransfer16(CsmsCp16):
    """A 1.6 CSMS that answers every DataTransfer with the CALLERROR `error`."""

    error: ClassVar[type[ocpp_errors.OCPPError]] = ocpp_errors.InternalError

    @on("DataTransfer")
    def data_transfer(self, **kw: Any) -> r16.DataTransfer:
        raise self.error(description="refused by the test CSMS")


# ---- the CSMS refuses a charger's request --------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "subcode", "status"),
    [
        (ocpp_errors.InternalError, "Receiver", "InternalError", 500),
        (ocpp_errors.GenericError, "Receiver", "InternalError", 500),
        (ocpp_errors.NotSupportedError, "Receiver", "NotSupported", 500),
        (ocpp_errors.SecurityError, "Sender", "SecurityError", 400),
        (ocpp_errors.ProtocolError, "Sender", "ProtocolError", 400),
        (ocpp_errors.PropertyConstraintViolationError, "Sender", "ProtocolError", 400),
    ],
)
async def test_upstream_callerror_becomes_the_matching_fault(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory,
    error: type[ocpp_errors.OCPPError], code: str, subcode: str, status: int,
) -> None:
    """A CALLERROR from the CSMS answers the charger's exchange as the fault OCPP-S 4 names for it."""
    csms.cp16_class = type("Refusing", (RefusingDataTransfer16,), {"error": error})
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE)
    with pytest.raises(SoapFaultError) as info:
        await charger.call("DataTransfer", vendorId="ACME")
    assert (info.value.code, info.value.subcode, info.value.http_status) == (code, subcode, status)
    assert error.code in info.value.reason
    assert charger.violations == []


async def test_action_the_csms_does_not_implement_is_not_supported(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """The test CSMS has no DiagnosticsStatusNotification handler: its NotImplemented is Receiver/NotSupported."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE)
    with pytest.raises(SoapFaultError) as info:
        await charger.call("DiagnosticsStatusNotification", status="Uploaded")
    assert (info.value.code, info.value.subcode) == ("Receiver", "NotSupported")
    assert charger.violations == []


async def test_unknown_operation_is_not_supported(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """A body root that is no operation of the version is Receiver/NotSupported, and never goes upstream."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE)
    request = charger.build("Heartbeat")
    body = request.body.replace(b"heartbeatRequest", b"selfDestructRequest")
    headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    exchange = await charger.post(body.replace(b">/Heartbeat<", b">/SelfDestruct<"), headers)
    assert xsd.fault_of(exchange.response)[:2] == ("Receiver", "NotSupported")  # type: ignore[index]
    assert exchange.status == 500
    assert xsd.envelope_errors(exchange.response, expect_action="", relates_to=request.message_id,
                               request=False) == []
    assert csms.connections.empty()


@pytest.mark.parametrize(
    ("header", "value"),
    [("Content-Type", 'application/soap+xml; charset=utf-8; action="/Authorize"'), ("SOAPAction", '"/Authorize"')],
)
async def test_http_action_disagreeing_with_the_body_is_a_protocol_error(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, header: str, value: str
) -> None:
    """An action in the media type or SOAPAction that names another operation than the Body is refused."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE)
    request = charger.build("Heartbeat")
    headers = {"Content-Type": "application/soap+xml; charset=utf-8", header: value}
    exchange = await charger.post(request.body, headers)
    assert xsd.fault_of(exchange.response)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    assert exchange.status == 400


async def test_request_without_message_id_is_a_protocol_error(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """OCPP-S 3: wsa:MessageID is mandatory (the answer could not name its request otherwise)."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE)
    request = charger.build("Heartbeat")
    body = request.body.replace(f"<wsa:MessageID>{request.message_id}</wsa:MessageID>".encode(), b"")
    assert request.message_id.encode() not in body
    exchange = await charger.post(body, request.headers)
    assert xsd.fault_of(exchange.response)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    assert csms.connections.empty()


# ---- identity and admission ---------------------------------------------------------------------


async def test_unknown_charger_is_a_security_error(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """With unknown chargers not allowed, an unlisted chargeBoxIdentity is Sender/SecurityError; nothing goes up."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, listen={"allow_unknown_chargers": False})
    charger = soap_charger("1.6", soap_url(gateway), "INTRUDER", NOWHERE)
    with pytest.raises(SoapFaultError) as info:
        await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")
    assert (info.value.code, info.value.subcode, info.value.http_status) == ("Sender", "SecurityError", 400)
    assert charger.violations == [] and csms.connections.empty()


async def test_unknown_charger_is_served_when_unknown_chargers_are_allowed(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """listen.allow_unknown_chargers (the default) admits unlisted SOAP chargers too."""
    gateway = await start_gateway(csms.url, "ocpp1.6", listen={"allow_unknown_chargers": True})
    charger = soap_charger("1.6", soap_url(gateway), "GUEST-1", NOWHERE)
    assert "currentTime" in await charger.call("Heartbeat")
    assert (await csms.next_connection()).charge_box_id == "GUEST-1"


@pytest.mark.parametrize(
    "identity",
    [pytest.param(b"", id="missing"), pytest.param(b"CB 1", id="space"), pytest.param(b"C" * 49, id="too-long")],
)
async def test_missing_or_invalid_identity_is_a_protocol_error(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, identity: bytes
) -> None:
    """No chargeBoxIdentity, or one that cannot be a charge box id, is Sender/ProtocolError."""
    gateway = await start_gateway(csms.url, "ocpp1.6", listen={"allow_unknown_chargers": True})
    charger = soap_charger("1.6", soap_url(gateway), "PLACEHOLDER", NOWHERE)
    request = charger.build("Heartbeat")
    exchange = await charger.post(request.body.replace(b"PLACEHOLDER", identity), request.headers)
    assert xsd.fault_of(exchange.response)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    assert exchange.status == 400
    assert xsd.envelope_errors(exchange.response, expect_action="", relates_to=request.message_id,
                               request=False) == []
    assert csms.connections.empty()


@pytest.mark.parametrize(
    "credentials",
    [pytest.param(None, id="missing"), pytest.param(("CB1", "wrong"), id="wrong-password"),
     pytest.param(("CB2", "s3cret"), id="other-user")],
)
async def test_basic_auth_failure_is_401_with_a_challenge_and_a_security_fault(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, credentials: tuple[str, str] | None
) -> None:
    """chargers.<id>.password set and no or wrong credentials: 401, a Basic challenge, Sender/SecurityError."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"password": "s3cret"}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE, basic_auth=credentials)
    with pytest.raises(SoapFaultError) as info:
        await charger.call("Heartbeat")
    assert (info.value.code, info.value.subcode, info.value.http_status) == ("Sender", "SecurityError", 401)
    assert charger.exchanges[-1].response_headers["WWW-Authenticate"].startswith("Basic realm=")
    assert charger.violations == [] and csms.connections.empty()


async def test_basic_auth_with_the_right_password_is_served(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """The charge box id as user and its configured password admit the charger."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"password": "s3cret"}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", NOWHERE, basic_auth=("CB1", "s3cret"))
    assert "currentTime" in await charger.call("Heartbeat")
    assert charger.violations == []


# ---- the charger's endpoint fails a CSMS call ----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode", "error"),
    [
        ("Receiver", "NotSupported", ocpp_errors.NotSupportedError),
        ("Receiver", "InternalError", ocpp_errors.InternalError),
        ("Sender", "ProtocolError", ocpp_errors.ProtocolError),
        ("Sender", "SecurityError", ocpp_errors.SecurityError),
        ("Sender", "IdentityMismatch", ocpp_errors.SecurityError),
    ],
)
async def test_charger_fault_becomes_the_matching_callerror(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
    code: str, subcode: str, error: type[ocpp_errors.OCPPError],
) -> None:
    """A Fault from the charger's endpoint reaches the CSMS as the CALLERROR its subcode corresponds to."""
    endpoint = await start_endpoint("1.6")

    def refuse(fields: dict[str, Any]) -> dict[str, Any]:
        raise EndpointFault(code, subcode, "refused by the test charger")

    endpoint.handlers["Reset"] = refuse
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    await soap_charger("1.6", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    with pytest.raises(error):
        await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert endpoint.violations == []


async def test_charger_that_is_not_the_addressed_identity_is_a_security_error(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """A 2.0.1 CSMS calls CB1, but the URL CB1 announced now belongs to CB9: IdentityMismatch -> SecurityError."""
    endpoint = await start_endpoint("1.5")
    endpoint.charge_box_id = "CB9"
    gateway = await start_gateway(csms.url, "ocpp2.0.1", chargers={"CB1": {}})
    await soap_charger("1.5", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    with pytest.raises(ocpp_errors.SecurityError):
        await link.cp.call(c201.Reset(type="Immediate"), suppress=False)
    assert (await endpoint.next_request()).charge_box_id == "CB1"


async def test_unreachable_charger_endpoint_is_a_generic_error(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """Nothing listens at the charger's callback URL: the CSMS gets CALLERROR GenericError, the charger stays up."""
    dead = f"http://127.0.0.1:{free_port()}/cp"
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", dead)
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    with pytest.raises(ocpp_errors.GenericError):
        await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert "currentTime" in await charger.call("Heartbeat")


async def test_charger_slower_than_the_call_timeout_is_a_generic_error(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """No answer within soap.call_timeout: CALLERROR GenericError saying it timed out (docs/operations.md)."""
    endpoint = await start_endpoint("1.6")
    released = asyncio.Event()

    async def stall(fields: dict[str, Any]) -> dict[str, Any]:
        await released.wait()
        return {"status": "Accepted"}

    endpoint.handlers["Reset"] = stall
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, soap={"call_timeout": 0.3})
    await soap_charger("1.6", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    try:
        with pytest.raises(ocpp_errors.GenericError) as info:
            await link.cp.call(c16.Reset(type="Hard"), suppress=False)
        assert "timed out" in str(info.value.description)
    finally:
        released.set()


async def test_unusable_charger_answer_is_a_protocol_error(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """An answer that is not the operation's valid response (status out of its enumeration) is ProtocolError."""
    endpoint = await start_endpoint("1.6")
    endpoint.handlers["Reset"] = lambda fields: {"status": "Maybe"}
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    await soap_charger("1.6", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    with pytest.raises(ocpp_errors.ProtocolError):
        await link.cp.call(c16.Reset(type="Hard"), suppress=False)
