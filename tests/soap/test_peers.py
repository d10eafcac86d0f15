"""Self-tests of the SOAP test kit: its checks are strict, and its peers speak valid OCPP-S.

The gateway's SOAP tests trust `xsd.py`, `SoapCharger` and `ChargerEndpoint` to notice every
defect in what the gateway sends. These tests prove that on hand-made defective envelopes, and
prove the peers themselves produce envelopes the same checks accept.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

from tests.soap import xsd
from tests.soap.charger import SoapCallError, SoapCharger, SoapClient, SoapFaultError, SoapHttpError, binding
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import DEFAULT_RESPONSES, ChargerEndpoint, DropConnection, EndpointFault

CS15, CP15 = xsd.namespace("1.5", "cs"), xsd.namespace("1.5", "cp")
CS16, CP16 = xsd.namespace("1.6", "cs"), xsd.namespace("1.6", "cp")
CS_URL = "http://127.0.0.1:9000/soap"
CHARGER_URL = "http://192.0.2.10:8080/ocpp"
REQUEST_ID = "urn:uuid:6f1c2a0e-0000-4000-8000-000000000001"


def envelope(namespace: str, headers: str, payload: str) -> bytes:
    """A SOAP 1.2 envelope with prefixes s (envelope), wsa and o (the given OCPP namespace)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{xsd.ENV}" xmlns:wsa="{xsd.WSA}" xmlns:o="{namespace}">'
        f"<s:Header>{headers}</s:Header><s:Body>{payload}</s:Body></s:Envelope>"
    ).encode()


def request_headers(
    action: str,
    *,
    identity: str = '<o:chargeBoxIdentity s:mustUnderstand="true">CB-0001</o:chargeBoxIdentity>',
    message_id: str = f"<wsa:MessageID>{REQUEST_ID}</wsa:MessageID>",
    from_: str = f"<wsa:From><wsa:Address>{CHARGER_URL}</wsa:Address></wsa:From>",
    reply_to: str = f"<wsa:ReplyTo><wsa:Address>{xsd.ANONYMOUS}</wsa:Address></wsa:ReplyTo>",
    to: str = f"<wsa:To>{CS_URL}</wsa:To>",
) -> str:
    """WS-A request headers as SOAP-NOTES section 8 shows them; each part replaceable."""
    return f'{identity}<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>{message_id}{from_}{reply_to}{to}'


def response_headers(action: str, relates_to: str = REQUEST_ID) -> str:
    return (
        f'<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>'
        "<wsa:MessageID>urn:uuid:6f1c2a0e-0000-4000-8000-000000000002</wsa:MessageID>"
        f"<wsa:RelatesTo>{relates_to}</wsa:RelatesTo><wsa:To>{xsd.ANONYMOUS}</wsa:To>"
    )


BOOT_REQUEST = (
    "<o:bootNotificationRequest><o:chargePointVendor>ExampleVendor</o:chargePointVendor>"
    "<o:chargePointModel>EX-22</o:chargePointModel><o:firmwareVersion>1.0.3</o:firmwareVersion>"
    "</o:bootNotificationRequest>"
)


def boot_response(interval_element: str) -> str:
    return (
        f"<o:bootNotificationResponse><o:status>Accepted</o:status>"
        f"<o:currentTime>2024-05-01T12:00:00Z</o:currentTime>"
        f"<o:{interval_element}>300</o:{interval_element}></o:bootNotificationResponse>"
    )


def fault_envelope(code: str, subcode: str, reason: str = "wrong identity", *, relates_to: str = REQUEST_ID) -> bytes:
    return envelope(
        CS16,
        f"<wsa:Action>{xsd.WSA}/soap/fault</wsa:Action><wsa:RelatesTo>{relates_to}</wsa:RelatesTo>",
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>',
    )


# ---- xsd.py: payloads -------------------------------------------------------------------------


def test_section_8_boot_notification_examples_are_valid_in_both_versions() -> None:
    for cs, interval in ((CS15, "heartbeatInterval"), (CS16, "interval")):
        request = envelope(cs, request_headers("/BootNotification"), BOOT_REQUEST)
        response = envelope(cs, response_headers("/BootNotificationResponse"), boot_response(interval))
        assert xsd.payload_errors(request) == []
        assert xsd.envelope_errors(request, expect_action="/BootNotification", request=True) == []
        assert xsd.payload_errors(response) == []
        assert (
            xsd.envelope_errors(
                response, expect_action="/BootNotificationResponse", relates_to=REQUEST_ID, request=False
            )
            == []
        )


def test_a_16_boot_notification_response_with_heartbeat_interval_is_rejected() -> None:
    response = envelope(CS16, response_headers("/BootNotificationResponse"), boot_response("heartbeatInterval"))

    errors = xsd.payload_errors(response)

    assert errors and "interval" in errors[0]


def test_fields_out_of_xsd_order_are_rejected() -> None:
    swapped = BOOT_REQUEST.replace("<o:chargePointVendor>ExampleVendor</o:chargePointVendor>", "").replace(
        "</o:chargePointModel>", "</o:chargePointModel><o:chargePointVendor>ExampleVendor</o:chargePointVendor>"
    )

    assert xsd.payload_errors(envelope(CS16, request_headers("/BootNotification"), swapped)) != []


def test_an_enum_value_outside_the_xsd_is_rejected() -> None:
    response = envelope(
        CS16, response_headers("/BootNotificationResponse"), boot_response("interval").replace("Accepted", "Ok")
    )

    assert xsd.payload_errors(response) != []


def test_a_payload_in_the_other_versions_namespace_is_rejected_when_a_namespace_is_expected() -> None:
    request = envelope(CS15, request_headers("/BootNotification"), BOOT_REQUEST)

    assert xsd.payload_errors(request) == []
    assert xsd.payload_errors(request, namespace=CS16) != []


def test_a_must_understand_attribute_on_charge_box_identity_is_tolerated_but_its_type_is_checked() -> None:
    nested = '<o:chargeBoxIdentity s:mustUnderstand="true"><o:x>CB</o:x></o:chargeBoxIdentity>'

    errors = xsd.payload_errors(envelope(CS16, request_headers("/BootNotification", identity=nested), BOOT_REQUEST))

    assert len(errors) == 1 and errors[0].startswith("chargeBoxIdentity")


# ---- xsd.py: envelope and WS-Addressing -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(request_headers("/Heartbeat"), "wsa:Action", id="action-of-another-operation"),
        pytest.param(request_headers("/BootNotification", message_id=""), "wsa:MessageID", id="no-message-id"),
        pytest.param(request_headers("/BootNotification", identity=""), "chargeBoxIdentity", id="no-identity"),
        pytest.param(request_headers("/BootNotification", from_=""), "wsa:From", id="no-from"),
        pytest.param(
            request_headers(
                "/BootNotification", reply_to=f"<wsa:ReplyTo><wsa:Address>{CHARGER_URL}</wsa:Address></wsa:ReplyTo>"
            ),
            "wsa:ReplyTo",
            id="reply-to-not-anonymous",
        ),
        pytest.param(request_headers("/BootNotification", to=""), "wsa:To", id="no-to"),
        pytest.param(
            request_headers("/BootNotification") + f"<wsa:RelatesTo>{REQUEST_ID}</wsa:RelatesTo>",
            "RelatesTo",
            id="relates-to-in-a-request",
        ),
        pytest.param(
            request_headers("/BootNotification") + "<wsa:Action>/BootNotification</wsa:Action>",
            "exactly one wsa:Action",
            id="duplicated-action",
        ),
    ],
)
def test_a_request_missing_a_required_ws_addressing_header_is_flagged(headers: str, expected: str) -> None:
    errors = xsd.envelope_errors(envelope(CS16, headers, BOOT_REQUEST), expect_action="/BootNotification", request=True)

    assert len(errors) == 1 and expected in errors[0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            response_headers("/BootNotificationResponse", relates_to="urn:uuid:other"),
            "RelatesTo",
            id="relates-to-another-message",
        ),
        pytest.param(
            response_headers("/BootNotificationResponse").split("<wsa:RelatesTo>")[0], "RelatesTo", id="no-relates-to"
        ),
        pytest.param(response_headers("/BootNotification"), "wsa:Action", id="request-action"),
        pytest.param(
            response_headers("/BootNotificationResponse").replace(xsd.ANONYMOUS, CHARGER_URL),
            "wsa:To",
            id="to-not-anonymous",
        ),
    ],
)
def test_a_response_with_a_wrong_ws_addressing_header_is_flagged(headers: str, expected: str) -> None:
    errors = xsd.envelope_errors(
        envelope(CS16, headers, boot_response("interval")),
        expect_action="/BootNotificationResponse",
        relates_to=REQUEST_ID,
        request=False,
    )

    assert len(errors) == 1 and expected in errors[0]


def test_a_payload_that_does_not_match_the_action_is_flagged() -> None:
    errors = xsd.envelope_errors(
        envelope(CS16, request_headers("/Heartbeat"), BOOT_REQUEST), expect_action="/Heartbeat", request=True
    )

    assert errors == ["payload root is 'bootNotificationRequest', expected 'heartbeatRequest' for action '/Heartbeat'"]


def test_a_soap_11_envelope_is_rejected() -> None:
    soap11 = envelope(CS16, request_headers("/BootNotification"), BOOT_REQUEST).replace(
        xsd.ENV.encode(), xsd.SOAP11_ENV.encode()
    )

    assert xsd.envelope_errors(soap11, expect_action="/BootNotification", request=True) == [
        "SOAP 1.1 envelope; OCPP over SOAP uses SOAP 1.2 only"
    ]


# ---- xsd.py: faults ---------------------------------------------------------------------------


def test_fault_of_reads_code_subcode_and_reason() -> None:
    fault = fault_envelope("s:Sender", "o:IdentityMismatch")

    assert xsd.fault_of(fault) == ("Sender", "IdentityMismatch", "wrong identity")
    assert (
        xsd.envelope_errors(fault, expect_action="/BootNotificationResponse", relates_to=REQUEST_ID, request=False)
        == []
    )


def test_fault_of_a_normal_response_is_none() -> None:
    assert xsd.fault_of(envelope(CS16, response_headers("/HeartbeatResponse"), boot_response("interval"))) is None


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [
        pytest.param("s:Client", "o:ProtocolError", "not env:Sender or env:Receiver", id="soap-11-code"),
        pytest.param("s:Sender", "wsa:ProtocolError", "not in an OCPP namespace", id="subcode-outside-ocpp"),
        pytest.param("s:Sender", "o:NotSupported", "is not one of", id="receiver-subcode-under-sender"),
    ],
)
def test_a_malformed_fault_is_flagged(code: str, subcode: str, expected: str) -> None:
    errors = xsd.envelope_errors(fault_envelope(code, subcode), expect_action="/x", request=False)

    assert len(errors) == 1 and expected in errors[0]


# ---- ChargerEndpoint --------------------------------------------------------------------------

SAMPLE_REQUESTS_15: dict[str, dict[str, Any]] = {
    "CancelReservation": {"reservationId": 7},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "60"},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "com.example", "messageId": "ping", "data": "x"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "GetDiagnostics": {"location": "ftp://example.com/diagnostics"},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"idTag": "TAG1", "connectorId": 1},
    "RemoteStopTransaction": {"transactionId": 42},
    "ReserveNow": {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "TAG1", "reservationId": 7},
    "Reset": {"type": "Hard"},
    "SendLocalList": {"updateType": "Full", "listVersion": 2},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"retrieveDate": "2030-01-01T00:00:00Z", "location": "http://example.com/fw.bin"},
}
SAMPLE_REQUESTS_16: dict[str, dict[str, Any]] = {
    **SAMPLE_REQUESTS_15,
    "ClearChargingProfile": {"id": 3},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 600},
    "SetChargingProfile": {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        },
    },
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
}
SAMPLES = {"1.5": SAMPLE_REQUESTS_15, "1.6": SAMPLE_REQUESTS_16}


@pytest.fixture
async def central_system() -> AsyncIterator[Callable[[ChargerEndpoint], SoapClient]]:
    """Factory: a SOAP client in the central-system role, calling a ChargerEndpoint's cp operations."""
    clients: list[SoapClient] = []

    def make(endpoint: ChargerEndpoint) -> SoapClient:
        client = SoapClient(endpoint.version, "cp", endpoint.url, "CB-0001", from_url=CS_URL, timeout=5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def test_default_answers_cover_exactly_the_operations_of_each_cp_wsdl() -> None:
    for version in ("1.5", "1.6"):
        operations = set(binding(version, "cp")._operations)
        assert set(DEFAULT_RESPONSES[version]) == operations == set(SAMPLES[version])


@pytest.mark.parametrize(
    ("version", "operation"), [(version, operation) for version, samples in SAMPLES.items() for operation in samples]
)
async def test_endpoint_parses_every_cp_request_and_answers_it_validly_by_default(
    version: str,
    operation: str,
    start_endpoint: EndpointFactory,
    central_system: Callable[[ChargerEndpoint], SoapClient],
) -> None:
    endpoint = await start_endpoint(version)
    client = central_system(endpoint)

    answer = await client.call(operation, **SAMPLES[version][operation])

    assert await endpoint.next_call(timeout=5) == (operation, SAMPLES[version][operation])
    assert answer == DEFAULT_RESPONSES[version][operation]
    assert endpoint.violations == [] and client.violations == []


async def test_endpoint_records_the_callers_identity_and_from_address(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    await central_system(charger_endpoint).call("ClearCache")

    received = await charger_endpoint.next_request(timeout=5)

    assert (received.charge_box_id, received.from_address, received.to) == ("CB-0001", CS_URL, charger_endpoint.url)
    assert received.headers["Content-Type"].startswith("application/soap+xml")


async def post_altered(client: SoapClient, operation: str, alter: Callable[[bytes], bytes], **fields: Any) -> bytes:
    """Build a valid request with `client`, alter its bytes, post it; the raw answer."""
    request = client.build(operation, **fields)
    exchange = await client.post(alter(request.body), request.headers, operation=operation)
    return exchange.response


async def test_endpoint_flags_a_wrong_action(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    await post_altered(
        central_system(charger_endpoint), "Reset", lambda body: body.replace(b">/Reset<", b">/HardReset<"), type="Soft"
    )

    assert charger_endpoint.violations == ["Reset request: wsa:Action is '/HardReset', expected '/Reset'"]


async def test_endpoint_flags_a_missing_message_id(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    def drop_message_id(body: bytes) -> bytes:
        tree = xsd.parse(body)
        message_id = tree.find(f".//{{{xsd.WSA}}}MessageID")
        assert message_id is not None
        message_id.getparent().remove(message_id)  # type: ignore[union-attr]
        return etree.tostring(tree)

    await post_altered(central_system(charger_endpoint), "Reset", drop_message_id, type="Soft")

    assert charger_endpoint.violations == ["Reset request: expected exactly one wsa:MessageID header, found 0"]


async def test_endpoint_flags_fields_out_of_xsd_order_and_answers_a_sender_fault(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    def swap(body: bytes) -> bytes:  # 1.6 order is connectorId, idTag (1.5 had idTag first)
        connector = b"<ns0:connectorId>1</ns0:connectorId>"
        return body.replace(connector, b"").replace(b"</ns0:idTag>", b"</ns0:idTag>" + connector)

    answer = await post_altered(
        central_system(charger_endpoint), "RemoteStartTransaction", swap, connectorId=1, idTag="TAG1"
    )

    assert any(
        "RemoteStartTransaction request: /ns0:remoteStartTransactionRequest" in violation
        for violation in charger_endpoint.violations
    ), charger_endpoint.violations
    assert xsd.fault_of(answer) == ("Sender", "ProtocolError", "request could not be understood")


async def test_endpoint_flags_a_request_without_from(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    client = central_system(charger_endpoint)
    client.from_url = None

    await client.call("ClearCache")

    assert charger_endpoint.violations == ["ClearCache request: expected exactly one wsa:From header, found 0"]


async def test_endpoint_flags_a_to_other_than_its_own_url(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    await post_altered(
        central_system(charger_endpoint),
        "ClearCache",
        lambda body: body.replace(charger_endpoint.url.encode(), CHARGER_URL.encode()),
    )

    assert charger_endpoint.violations == [
        f"ClearCache request: wsa:To is {CHARGER_URL!r}, not this endpoint's URL {charger_endpoint.url!r}"
    ]


async def test_an_endpoint_with_an_identity_answers_identity_mismatch_for_another_charger(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    charger_endpoint.charge_box_id = "CB-0002"

    with pytest.raises(SoapFaultError) as fault:
        await central_system(charger_endpoint).call("ClearCache")

    assert (fault.value.code, fault.value.subcode) == ("Sender", "IdentityMismatch")
    assert charger_endpoint.violations == [
        "ClearCache request: chargeBoxIdentity is 'CB-0001', this charger is 'CB-0002'"
    ]


async def test_endpoint_flags_a_post_to_another_path(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    client = central_system(charger_endpoint)
    client.url = f"http://127.0.0.1:{charger_endpoint.port}/elsewhere"

    with pytest.raises(SoapHttpError):
        await client.call("ClearCache")

    assert charger_endpoint.violations == ["? request: POST /elsewhere instead of POST /ChargePointService"]


async def test_endpoint_flags_a_soap_11_content_type(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    client = central_system(charger_endpoint)
    request = client.build("ClearCache")

    await client.post(request.body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"/ClearCache"'})

    assert charger_endpoint.violations == [
        "ClearCache request: Content-Type is 'text/xml', not application/soap+xml (SOAP 1.2)"
    ]


@pytest.mark.parametrize("charger_endpoint", ["1.5"], indirect=True)
async def test_a_15_endpoint_flags_a_16_request_and_answers_a_sender_fault(charger_endpoint: ChargerEndpoint) -> None:
    client = SoapClient("1.6", "cp", charger_endpoint.url, "CB-0001", from_url=CS_URL, timeout=5)
    try:
        with pytest.raises(SoapFaultError) as fault:
            await client.call("Reset", type="Soft")
    finally:
        await client.close()

    assert (fault.value.code, fault.value.subcode, fault.value.http_status) == ("Sender", "ProtocolError", 400)
    assert any(f"not in the expected namespace {CP15}" in violation for violation in charger_endpoint.violations)


async def test_a_handler_sees_the_fields_and_chooses_the_answer(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    seen: list[dict[str, Any]] = []

    def reject(fields: dict[str, Any]) -> dict[str, Any]:
        seen.append(fields)
        return {"status": "Rejected"}

    charger_endpoint.handlers["Reset"] = reject

    answer = await central_system(charger_endpoint).call("Reset", type="Hard")

    assert (seen, answer) == ([{"type": "Hard"}], {"status": "Rejected"})


async def test_an_async_handler_can_hold_the_answer_until_the_test_releases_it(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    release = asyncio.Event()

    async def held(fields: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    charger_endpoint.handlers["ClearCache"] = held
    call = asyncio.create_task(central_system(charger_endpoint).call("ClearCache"))
    assert await charger_endpoint.next_call(timeout=5) == ("ClearCache", {})
    assert not call.done()

    release.set()

    assert await asyncio.wait_for(call, 5) == {"status": "Accepted"}


async def test_a_handler_raising_endpoint_fault_answers_a_valid_soap_fault(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    def refuse(fields: dict[str, Any]) -> dict[str, Any]:
        raise EndpointFault("Sender", "IdentityMismatch", "not CB-0001")

    charger_endpoint.handlers["Reset"] = refuse
    client = central_system(charger_endpoint)

    with pytest.raises(SoapFaultError) as fault:
        await client.call("Reset", type="Soft")

    assert (fault.value.code, fault.value.subcode, fault.value.reason) == ("Sender", "IdentityMismatch", "not CB-0001")
    assert client.violations == []


async def test_an_operation_without_handler_answers_receiver_not_supported(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    del charger_endpoint.handlers["UpdateFirmware"]

    with pytest.raises(SoapFaultError) as fault:
        await central_system(charger_endpoint).call("UpdateFirmware", **SAMPLE_REQUESTS_16["UpdateFirmware"])

    assert (fault.value.code, fault.value.subcode, fault.value.http_status) == ("Receiver", "NotSupported", 500)


async def test_a_handler_raising_drop_connection_closes_without_answer(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    def drop(fields: dict[str, Any]) -> dict[str, Any]:
        raise DropConnection

    charger_endpoint.handlers["Reset"] = drop

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await central_system(charger_endpoint).call("Reset", type="Soft")


async def test_a_delayed_endpoint_outlasts_a_short_client_timeout(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    charger_endpoint.delay = 30
    client = central_system(charger_endpoint)
    client.timeout = 0.2

    with pytest.raises(TimeoutError):
        await client.call("ClearCache")


async def test_a_broken_test_handler_is_reported_as_a_violation(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    charger_endpoint.handlers["Reset"] = lambda fields: {"status": "Accepted", "bogus": 1}

    with pytest.raises(SoapFaultError):
        await central_system(charger_endpoint).call("Reset", type="Soft")

    assert len(charger_endpoint.violations) == 1 and "handler (test code" in charger_endpoint.violations[0]


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_endpoint_accepts_compressed_requests(
    coding: str, charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    client = central_system(charger_endpoint)
    client.compression = coding  # type: ignore[assignment]

    assert await client.call("Reset", type="Soft") == {"status": "Accepted"}
    received = await charger_endpoint.next_request(timeout=5)
    assert received.headers["Content-Encoding"] == coding and received.wire != received.body
    assert charger_endpoint.violations == []


async def test_endpoint_can_compress_its_answers(
    charger_endpoint: ChargerEndpoint, central_system: Callable[[ChargerEndpoint], SoapClient]
) -> None:
    charger_endpoint.compression = "gzip"
    client = central_system(charger_endpoint)

    assert await client.call("Reset", type="Soft") == {"status": "Accepted"}
    assert client.exchanges[0].response_headers["Content-Encoding"] == "gzip"


async def test_next_call_times_out_when_nothing_arrives(charger_endpoint: ChargerEndpoint) -> None:
    with pytest.raises(TimeoutError):
        await charger_endpoint.next_call(timeout=0.05)


# ---- SoapCharger, against a canned central system -----------------------------------------------

Answer = Callable[[bytes, str], Awaitable[web.Response] | web.Response]


class CannedCentralSystem:
    """A minimal HTTP server answering each POST with `answer(request_body, request_message_id)`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer: Answer = lambda body, message_id: web.Response(status=500)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> CannedCentralSystem:
        app = web.Application()
        app.router.add_post("/soap", self._handle)
        self.runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/soap"
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        wire = await request.read()
        self.requests.append((dict(request.headers), wire))
        coding = request.headers.get("Content-Encoding")
        body = gzip.decompress(wire) if coding == "gzip" else zlib.decompress(wire) if coding == "deflate" else wire
        message_id = xsd.parse(body).findtext(f".//{{{xsd.WSA}}}MessageID") or ""
        answer = self.answer(body, message_id)
        return answer if isinstance(answer, web.Response) else await answer


def soap_response(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/soap+xml", charset="utf-8")


@pytest.fixture
async def canned_cs() -> AsyncIterator[CannedCentralSystem]:
    server = await CannedCentralSystem().start()
    yield server
    assert server.runner is not None
    await server.runner.cleanup()


def boot_answer(
    namespace: str, interval_element: str, *, relates_to: str | None = None, action: str = "/BootNotificationResponse"
) -> Answer:
    def answer(body: bytes, message_id: str) -> web.Response:
        return soap_response(
            envelope(namespace, response_headers(action, relates_to or message_id), boot_response(interval_element))
        )

    return answer


async def test_charger_requests_pass_the_strict_request_checks(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS15, "heartbeatInterval")
    charger = soap_charger("1.5", canned_cs.url, "CB-0001", CHARGER_URL)

    await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    headers, body = canned_cs.requests[0]
    assert xsd.envelope_errors(body, expect_action="/BootNotification", request=True) == []
    assert xsd.payload_errors(body, namespace=CS15) == []
    assert headers["Content-Type"] == 'application/soap+xml; charset=utf-8; action="/BootNotification"'
    header = xsd.parse(body).find(f"{{{xsd.ENV}}}Header")
    assert header is not None
    assert header.findtext(f"{{{xsd.WSA}}}From/{{{xsd.WSA}}}Address") == CHARGER_URL
    assert header.findtext(f"{{{xsd.WSA}}}To") == canned_cs.url
    assert header.findtext(f"{{{CS15}}}chargeBoxIdentity") == "CB-0001"


async def test_charger_sends_15_meter_values_with_unqualified_attributes_via_value_1(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: soap_response(
        envelope(CS15, response_headers("/MeterValuesResponse", message_id), "<o:meterValuesResponse/>")
    )
    charger = soap_charger("1.5", canned_cs.url, "CB-0001", CHARGER_URL)

    conf = await charger.call(
        "MeterValues",
        connectorId=1,
        values=[{"timestamp": "2024-05-01T12:00:00Z", "value": [{"_value_1": "1234", "unit": "Wh"}]}],
    )

    body = canned_cs.requests[0][1]
    assert (conf, charger.violations, xsd.payload_errors(body)) == ({}, [], [])
    assert b'unit="Wh">1234<' in body


async def test_charger_returns_the_response_payload_as_plain_data(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS16, "interval")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    conf = await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    assert conf == {"status": "Accepted", "currentTime": "2024-05-01T12:00:00Z", "interval": 300}
    assert charger.violations == []
    assert canned_cs.requests[0][1] == charger.exchanges[0].request


async def test_charger_returns_a_single_field_response_as_a_dict(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: soap_response(
        envelope(
            CS16,
            response_headers("/HeartbeatResponse", message_id),
            "<o:heartbeatResponse><o:currentTime>2024-05-01T12:00:00Z</o:currentTime></o:heartbeatResponse>",
        )
    )
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    assert await charger.call("Heartbeat") == {"currentTime": "2024-05-01T12:00:00Z"}
    assert charger.violations == []


async def test_charger_records_a_response_relating_to_another_message(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS16, "interval", relates_to="urn:uuid:someone-else")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    message_id = charger.exchanges[0].message_id
    assert charger.violations == [
        f"BootNotification response: wsa:RelatesTo is 'urn:uuid:someone-else', "
        f"expected the request's MessageID {message_id!r}"
    ]


async def test_charger_records_a_response_with_the_wrong_action(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS16, "interval", action="/BootNotification")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    assert charger.violations == [
        "BootNotification response: wsa:Action is '/BootNotification', expected '/BootNotificationResponse'"
    ]


async def test_charger_rejects_a_15_payload_in_a_16_response(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS16, "heartbeatInterval")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    with pytest.raises(SoapCallError):
        await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    assert any(
        "interval" in violation and "/o:bootNotificationResponse" in violation for violation in charger.violations
    ), charger.violations


async def test_charger_raises_the_fault_it_receives(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: web.Response(
        status=400,
        body=fault_envelope("s:Sender", "o:SecurityError", "who are you", relates_to=message_id),
        content_type="application/soap+xml",
    )
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    with pytest.raises(SoapFaultError) as fault:
        await charger.call("Heartbeat")

    assert (fault.value.code, fault.value.subcode, fault.value.reason) == ("Sender", "SecurityError", "who are you")
    assert charger.violations == []


async def test_charger_raises_an_http_error_without_violation_for_a_plain_http_refusal(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: web.Response(status=401, text="who are you")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    with pytest.raises(SoapHttpError) as refused:
        await charger.call("Heartbeat")

    assert (refused.value.status, charger.violations) == (401, [])


async def test_charger_records_a_200_answer_that_is_not_soap(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: web.Response(text="OK")
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", CHARGER_URL)

    with pytest.raises(SoapCallError):
        await charger.call("Heartbeat")

    assert charger.violations and charger.violations[0].startswith("Heartbeat response: not well-formed XML")


async def test_charger_sends_its_current_from_url_with_each_call(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = lambda body, message_id: soap_response(
        envelope(
            CS16,
            response_headers("/HeartbeatResponse", message_id),
            "<o:heartbeatResponse><o:currentTime>2024-05-01T12:00:00Z</o:currentTime></o:heartbeatResponse>",
        )
    )
    charger = soap_charger("1.6", canned_cs.url, "CB-0001", "http://10.0.0.1:8080/ocpp")

    await charger.call("Heartbeat")
    charger.from_url = "http://10.0.0.2:8080/ocpp"
    await charger.call("Heartbeat")

    assert [
        xsd.parse(body).findtext(f".//{{{xsd.WSA}}}From/{{{xsd.WSA}}}Address") for _, body in canned_cs.requests
    ] == ["http://10.0.0.1:8080/ocpp", "http://10.0.0.2:8080/ocpp"]


async def test_charger_sends_basic_auth_and_gzip_bodies_when_asked(
    canned_cs: CannedCentralSystem, soap_charger: ChargerFactory
) -> None:
    canned_cs.answer = boot_answer(CS16, "interval")
    charger = soap_charger(
        "1.6", canned_cs.url, "CB-0001", CHARGER_URL, basic_auth=("CB-0001", "s3cret"), compression="gzip"
    )

    await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

    headers, wire = canned_cs.requests[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"CB-0001:s3cret").decode()
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(wire) == charger.exchanges[0].request


async def test_charger_sends_deflate_as_zlib_format(canned_cs: CannedCentralSystem) -> None:
    canned_cs.answer = boot_answer(CS16, "interval")
    async with SoapCharger("1.6", canned_cs.url, "CB-0001", from_url=CHARGER_URL, compression="deflate") as charger:
        await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")

        assert zlib.decompress(canned_cs.requests[0][1]) == charger.exchanges[0].request
