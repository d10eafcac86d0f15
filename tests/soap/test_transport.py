"""SOAP transport end to end: exchanges, WS-Addressing, compression, the upstream link's lifetime, callbacks.

A zeep charger (`SoapCharger`) posts to the running gateway's `/soap`; an `ocpp` CSMS sits upstream;
CSMS-initiated calls land on a `ChargerEndpoint`. Both SOAP peers check every envelope the gateway
sends against the WSDL XSD and the WS-A rules, so `violations == []` ends most tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201

from gateway.app import Gateway
from gateway.config import load_config
from tests.conftest import GatewayFactory, write_config
from tests.peers import Csms, CsmsCp16, now
from tests.soap import xsd
from tests.soap.conftest import ChargerFactory, EndpointFactory

BOOT: dict[str, Any] = {"chargePointVendor": "ACME", "chargePointModel": "M"}
# Upstream dialect for each charger version: 1.5 is lifted to 1.6 and chained on to 2.0.1.
PAIRS = [("1.5", "ocpp2.0.1"), ("1.6", "ocpp1.6")]


def soap_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}/soap"


async def run_and_stop(
    tmp_path: Path, csms: Csms, chargers: dict[str, Any], action: Callable[[Gateway], Awaitable[None]]
) -> None:
    """The first half of a restart: a gateway on the test's config and state file runs `action`, then stops."""
    gateway = Gateway(load_config(write_config(tmp_path, csms.url, "ocpp1.6", chargers=chargers)))
    await gateway.start()
    try:
        await action(gateway)
    finally:
        await gateway.stop()


def reset_for(link_subprotocol: str) -> Any:
    return c201.Reset(type="Immediate") if link_subprotocol == "ocpp2.0.1" else c16.Reset(type="Hard")


class ShortHeartbeat16(CsmsCp16):
    """A 1.6 CSMS that tells chargers to send a heartbeat every second."""

    @on("BootNotification")
    def boot(self, **kw: Any) -> r16.BootNotification:
        self._record("BootNotification", kw)
        return r16.BootNotification(current_time=now(), interval=1, status="Accepted")


# ---- the exchange ------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "dialect"), PAIRS)
async def test_answer_comes_back_on_the_same_exchange_in_the_chargers_version(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, version: str, dialect: str
) -> None:
    """The BootNotification answer is the HTTP response: 200, the charger's namespace, XSD-valid, WS-A linked."""
    gateway = await start_gateway(csms.url, dialect, chargers={"CB1": {}})
    charger = soap_charger(version, soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    answer = await charger.call("BootNotification", **BOOT)
    assert answer["status"] == "Accepted"
    exchange = charger.exchanges[-1]
    assert exchange.status == 200
    response = xsd.parse(exchange.response)
    payload = response.find(f"{{{xsd.ENV}}}Body")[0]  # type: ignore[index]
    assert etree.QName(payload).namespace == xsd.namespace(version, "cs")
    header = response.find(f"{{{xsd.ENV}}}Header")
    assert header is not None
    assert header.findtext(f"{{{xsd.WSA}}}Action") == "/BootNotificationResponse"
    assert header.findtext(f"{{{xsd.WSA}}}RelatesTo") == exchange.message_id
    assert charger.violations == []


async def test_identity_header_name_is_matched_case_insensitively(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """A charger that spells the header `ChargeBoxIdentity` (OCPP-S 3.3) is served as that charger."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    request = charger.build("Heartbeat")
    body = request.body.replace(b"chargeBoxIdentity", b"ChargeBoxIdentity")
    assert b"ChargeBoxIdentity" in body
    exchange = await charger.post(body, request.headers, operation="Heartbeat", message_id=request.message_id)
    assert exchange.status == 200 and xsd.fault_of(exchange.response) is None
    assert (await csms.next_connection()).charge_box_id == "CB1"


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
async def test_compressed_request_bodies_are_accepted(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, compression: str
) -> None:
    """OCPP-S 6.1: gzip and deflate request bodies are decoded, and the call reaches the CSMS intact."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp", compression=compression)
    answer = await charger.call("BootNotification", **BOOT)
    assert answer["status"] == "Accepted"
    link = await csms.next_connection()
    assert await link.next_call() == ("BootNotification", {"charge_point_vendor": "ACME", "charge_point_model": "M"})
    assert charger.violations == []


@pytest.mark.parametrize(
    "keep",
    [pytest.param({"Content-Type"}, id="media-type-action-only"),
     pytest.param({"SOAPAction"}, id="soap-action-header-only"),
     pytest.param(set(), id="wsa-action-only")],
)
async def test_the_action_may_come_from_the_media_type_or_soap_action(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, keep: set[str]
) -> None:
    """Neither the media type's action parameter nor the SOAPAction header is required; either one suffices."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    request = charger.build("Heartbeat")
    headers = {"Content-Type": request.headers["Content-Type"] if "Content-Type" in keep
               else "application/soap+xml; charset=utf-8"}
    if "SOAPAction" in keep:
        headers["SOAPAction"] = request.headers["SOAPAction"]
    exchange = await charger.post(request.body, headers, operation="Heartbeat", message_id=request.message_id)
    assert exchange.status == 200 and xsd.fault_of(exchange.response) is None
    assert xsd.envelope_errors(exchange.response, expect_action="/HeartbeatResponse",
                               relates_to=request.message_id, request=False) == []


# ---- the upstream link -------------------------------------------------------------------------


async def test_no_upstream_is_opened_before_the_first_request(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """A listed SOAP charger gets its upstream WebSocket on its first request, named after its identity."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    assert csms.connections.empty()
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    assert (link.charge_box_id, link.subprotocol) == ("CB1", "ocpp1.6")


async def test_one_upstream_websocket_carries_all_requests_of_a_charger(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """Boot, Heartbeat and StatusNotification from one charger travel on a single upstream connection."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    await charger.call("BootNotification", **BOOT)
    await charger.call("Heartbeat")
    await charger.call("StatusNotification", connectorId=1, status="Available", errorCode="NoError")
    link = await csms.next_connection()
    assert [(await link.next_call())[0] for _ in range(3)] == ["BootNotification", "Heartbeat", "StatusNotification"]
    assert csms.connections.empty() and not link.closed.is_set()
    assert charger.violations == []


async def test_each_soap_charger_gets_its_own_upstream(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """Two SOAP chargers, one 1.5 and one 1.6, get one upstream WebSocket each."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}, "CB2": {}})
    await soap_charger("1.5", soap_url(gateway), "CB1", "http://127.0.0.1:9/a").call("Heartbeat")
    await soap_charger("1.6", soap_url(gateway), "CB2", "http://127.0.0.1:9/b").call("Heartbeat")
    ids = {(await csms.next_connection()).charge_box_id for _ in range(2)}
    assert ids == {"CB1", "CB2"}


async def test_upstream_closes_after_missed_heartbeats_of_the_configured_interval(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """Without a BootNotification answer, soap.heartbeat_interval x soap.missed_heartbeats of silence closes it."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}},
                                  soap={"heartbeat_interval": 1, "missed_heartbeats": 2})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(6):
        await link.closed.wait()
    assert asyncio.get_running_loop().time() - started >= 1.5  # not before two intervals (minus scheduling slack)
    assert link.ws.close_code == 1001


async def test_upstream_idle_limit_follows_the_boot_notification_interval(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """The interval the CSMS answers to BootNotification (1 s here) replaces soap.heartbeat_interval (300 s)."""
    csms.cp16_class = ShortHeartbeat16
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}},
                                  soap={"heartbeat_interval": 300, "missed_heartbeats": 1})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    assert (await charger.call("BootNotification", **BOOT))["interval"] == 1
    link = await csms.next_connection()
    async with asyncio.timeout(5):
        await link.closed.wait()


async def test_request_after_an_idle_close_opens_a_new_upstream(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """A charger that went quiet and comes back is served again on a fresh upstream connection."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}},
                                  soap={"heartbeat_interval": 1, "missed_heartbeats": 1})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    await charger.call("Heartbeat")
    first = await csms.next_connection()
    async with asyncio.timeout(5):
        await first.closed.wait()
    assert "currentTime" in await charger.call("Heartbeat")
    second = await csms.next_connection()
    assert second is not first and await second.next_call() == ("Heartbeat", {})
    assert charger.violations == []


async def test_request_in_the_other_version_replaces_the_link(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """The body's namespace tells the version; a charger that switches from 1.6 to 1.5 gets a fresh upstream."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    await soap_charger("1.6", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp").call("Heartbeat")
    first = await csms.next_connection()
    charger15 = soap_charger("1.5", soap_url(gateway), "CB1", "http://127.0.0.1:9/cp")
    assert "currentTime" in await charger15.call("Heartbeat")
    second = await csms.next_connection()
    async with asyncio.timeout(5):
        await first.closed.wait()
    assert await second.next_call() == ("Heartbeat", {})
    assert charger15.violations == []


# ---- gateway -> charger: the callback URL ------------------------------------------------------


@pytest.mark.parametrize(("version", "dialect"), PAIRS)
async def test_csms_call_goes_to_the_wsa_from_of_the_chargers_request(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
    version: str, dialect: str,
) -> None:
    """A CSMS Reset is POSTed to the address the charger gave in wsa:From, as a valid request of its version."""
    endpoint = await start_endpoint(version)
    gateway = await start_gateway(csms.url, dialect, chargers={"CB1": {}})
    charger = soap_charger(version, soap_url(gateway), "CB1", endpoint.url)
    await charger.call("BootNotification", **BOOT)
    link = await csms.next_connection()
    answer = await link.cp.call(reset_for(link.subprotocol), suppress=False)
    assert answer.status == "Accepted"
    assert (await endpoint.next_call())[0] == "Reset"
    assert endpoint.violations == [] and charger.violations == []


async def test_callback_url_follows_the_latest_request(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """A charger whose address changed (mobile network) is called at the wsa:From of its latest request."""
    old, new = await start_endpoint("1.6"), await start_endpoint("1.6")
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", old.url)
    await charger.call("BootNotification", **BOOT)
    charger.from_url = new.url
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Soft"), suppress=False)
    assert await new.next_call() == ("Reset", {"type": "Soft"})
    assert old.received == []


async def test_callback_url_survives_a_gateway_restart(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
    tmp_path: Path,
) -> None:
    """The learnt wsa:From is stored: after a restart, a charger that sends no From is still called there."""
    endpoint = await start_endpoint("1.6")

    async def announce(first: Gateway) -> None:
        await soap_charger("1.6", soap_url(first), "CB1", endpoint.url).call("Heartbeat")

    await run_and_stop(tmp_path, csms, {"CB1": {}}, announce)
    await csms.next_connection()
    second = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})  # same tmp_path: same state file
    await soap_charger("1.6", soap_url(second), "CB1", None).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert await endpoint.next_call() == ("Reset", {"type": "Hard"})


async def test_configured_soap_url_is_used_until_a_wsa_from_arrives(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """A charger that never sends wsa:From is called at chargers.<id>.soap_url."""
    endpoint = await start_endpoint("1.5")
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"soap_url": endpoint.url}})
    await soap_charger("1.5", soap_url(gateway), "CB1", None).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert await endpoint.next_call() == ("Reset", {"type": "Hard"})
    assert endpoint.violations == []


async def test_changed_soap_url_applies_after_a_restart(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
    tmp_path: Path,
) -> None:
    """The configured soap_url is configuration, not something learnt: a new value wins after a restart."""
    old, new = await start_endpoint("1.6"), await start_endpoint("1.6")

    async def without_from(first: Gateway) -> None:
        await soap_charger("1.6", soap_url(first), "CB1", None).call("Heartbeat")

    await run_and_stop(tmp_path, csms, {"CB1": {"soap_url": old.url}}, without_from)
    await csms.next_connection()
    second = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"soap_url": new.url}})
    await soap_charger("1.6", soap_url(second), "CB1", None).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert await new.next_call() == ("Reset", {"type": "Hard"})
    assert old.received == []


async def test_wsa_from_takes_precedence_over_the_configured_soap_url(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """OCPP-S: the charger's own wsa:From is where it listens now; the configured URL is only a fallback."""
    configured, announced = await start_endpoint("1.6"), await start_endpoint("1.6")
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"soap_url": configured.url}})
    await soap_charger("1.6", soap_url(gateway), "CB1", announced.url).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert await announced.next_call() == ("Reset", {"type": "Hard"})
    assert configured.received == []


async def test_outbound_request_carries_identity_and_addressing_with_the_public_url(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """Calls to a charger carry chargeBoxIdentity, Action, MessageID, To, From = soap.public_url, anonymous ReplyTo."""
    endpoint = await start_endpoint("1.6")
    public = "https://gateway.example.net/soap"
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, soap={"public_url": public})
    await soap_charger("1.6", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    request = await endpoint.next_request()
    assert (request.charge_box_id, request.action, request.from_address, request.to) == (
        "CB1", "/Reset", public, endpoint.url)
    assert request.message_id and request.message_id.startswith("urn:uuid:")
    header = xsd.parse(request.body).find(f"{{{xsd.ENV}}}Header")
    assert header is not None
    assert header.findtext(f"{{{xsd.WSA}}}ReplyTo/{{{xsd.WSA}}}Address") == xsd.ANONYMOUS
    assert endpoint.violations == []


async def test_outbound_from_defaults_to_the_bound_soap_url(
    csms: Csms, start_gateway: GatewayFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory
) -> None:
    """Without soap.public_url, wsa:From is the gateway's own /soap URL as bound."""
    endpoint = await start_endpoint("1.6")
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    await soap_charger("1.6", soap_url(gateway), "CB1", endpoint.url).call("Heartbeat")
    link = await csms.next_connection()
    await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert (await endpoint.next_request()).from_address == soap_url(gateway)


async def test_csms_call_without_any_callback_url_is_a_callerror(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory
) -> None:
    """No wsa:From ever, no soap_url: the CSMS hears CALLERROR GenericError at once, and the link stays up."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = soap_charger("1.6", soap_url(gateway), "CB1", None)
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    with pytest.raises(GenericError):
        await link.cp.call(c16.Reset(type="Hard"), suppress=False)
    assert "currentTime" in await charger.call("Heartbeat")
    assert not link.closed.is_set()
