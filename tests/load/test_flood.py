"""Back-pressure: a flooding charger beside a normal one, against a CSMS that is slow for the flooder.

The CSMS is the `ocpp` package; it holds its answers to the flooder's Heartbeats until the test sets
`release` (no sleeps: the test decides when the slow CSMS answers). The flooder is a raw WebSocket
client, since a compliant library never sends a CALL before the previous one is answered; the normal
charger is the `ocpp` package.

The gateway lets one CALL per leg be in flight (OCPP-J 1.6 and 2.0.1 part 4, section 4.1.1
"Synchronicity") and `limits.max_queued_calls` more wait behind it. Any CALL beyond that is answered
at once with CALLERROR `GenericError`: neither OCPP-J edition names a code for a peer that breaks the
synchronicity rule, and `GenericError` is the one both define for "any other error not covered by the
more specific error codes". It tells the charger the call was not carried; it may send it again later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.v16 import call as c16
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.app import Gateway
from tests.conftest import GatewayFactory, charger_url
from tests.load.slow_csms import SlowCsms, start_slow_csms, stop_slow_csms
from tests.net.scrape import metric
from tests.peers import connect_charger
from tests.soap.charger import SoapCallError, SoapCharger, SoapFaultError
from tests.soap.conftest import ChargerFactory

MAX_QUEUED = 4
FLOOD = 200
#: Far beyond the test's length: a held call must never time out while the test looks at it.
SLOW = {"response_timeout": 60}
ANSWER_TIMEOUT = 10
#: The charge boxes whose Heartbeats the CSMS holds until the test releases them.
HELD = ("FLOOD1", "SOAPFLOOD1")


@pytest.fixture
async def slow_csms() -> AsyncIterator[SlowCsms]:
    slow = await start_slow_csms(HELD)
    yield slow
    await stop_slow_csms(slow)


@pytest.fixture
async def gateway(slow_csms: SlowCsms, start_gateway: GatewayFactory) -> Gateway:
    return await start_gateway(slow_csms.csms.url, "ocpp1.6", upstream=SLOW,
                               limits={"max_queued_calls": MAX_QUEUED})


async def _next(ws: ClientConnection) -> list[Any]:
    async with asyncio.timeout(ANSWER_TIMEOUT):
        return list(json.loads(await ws.recv()))


@dataclass
class Flooder:
    ws: ClientConnection
    #: Replies to the flood, in the order they arrived (only those the test has read so far).
    replies: list[list[Any]] = field(default_factory=list)

    async def read(self, count: int) -> list[list[Any]]:
        got = [await _next(self.ws) for _ in range(count)]
        self.replies += got
        return got


@pytest.fixture
async def flooder(gateway: Gateway) -> AsyncIterator[Flooder]:
    """FLOOD1, booted (so its upstream leg is up and the first Heartbeat goes out at once), then flooding."""
    async with connect(f"{charger_url(gateway)}/FLOOD1", subprotocols=[Subprotocol("ocpp1.6")],
                       open_timeout=5) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification",
                                  {"chargePointVendor": "ACME", "chargePointModel": "Flood"}]))
        assert (await _next(ws))[:2] == [3, "boot"]
        for n in range(FLOOD):
            await ws.send(f'[2,"f-{n}","Heartbeat",{{}}]')
        yield Flooder(ws)


EXCESS = FLOOD - 1 - MAX_QUEUED  # one in flight, MAX_QUEUED waiting


async def test_calls_beyond_the_queue_bound_get_generic_error_at_once(flooder: Flooder) -> None:
    """While the CSMS holds the first call, every call past the bound is answered CALLERROR GenericError."""
    replies = await flooder.read(EXCESS)
    assert [r[1] for r in replies] == [f"f-{n}" for n in range(1 + MAX_QUEUED, FLOOD)]
    assert all(r[0] == 4 and r[2] == "GenericError" and "already wait" in r[3] for r in replies)


async def test_refused_flood_calls_are_counted(gateway: Gateway, flooder: Flooder) -> None:
    """Each refusal counts in gateway_overload_refusals_total under the key of the bound it hit."""
    await flooder.read(EXCESS)
    assert await metric(gateway, "gateway_overload_refusals_total", limit="limits.max_queued_calls") == EXCESS


async def test_csms_never_receives_more_of_a_flood_than_the_bound_lets_through(
    slow_csms: SlowCsms, flooder: Flooder
) -> None:
    """One call in flight plus max_queued_calls reach the CSMS, one at a time; the rest were never buffered."""
    await flooder.read(EXCESS)
    assert slow_csms.heartbeats_from("FLOOD1") == 1  # the held one: nothing else goes while it is out
    slow_csms.release.set()
    answered = await flooder.read(1 + MAX_QUEUED)
    assert [(r[0], r[1]) for r in answered] == [(3, f"f-{n}") for n in range(1 + MAX_QUEUED)]
    assert slow_csms.heartbeats_from("FLOOD1") == 1 + MAX_QUEUED


async def test_normal_charger_is_answered_while_the_flooders_calls_are_held(
    slow_csms: SlowCsms, gateway: Gateway, flooder: Flooder
) -> None:
    """A normal charger's calls complete while the flooder's are still held by the CSMS."""
    await flooder.read(EXCESS)
    normal = await connect_charger(charger_url(gateway), "NORMAL1", "ocpp1.6")
    try:
        await normal.cp.call(c16.BootNotification(charge_point_vendor="ACME", charge_point_model="M"))
        for _ in range(3):
            assert (await normal.cp.call(c16.Heartbeat())).current_time
        slow_csms.events.append(("normal answered", "NORMAL1"))
        slow_csms.release.set()
        await flooder.read(1)
    finally:
        await normal.close()
    # The CSMS let go of the flooder's first call only after the normal charger had all its answers.
    assert slow_csms.events[:2] == [("normal answered", "NORMAL1"), ("csms answers", "FLOOD1")]


async def test_flooders_connection_still_works_after_the_flood(slow_csms: SlowCsms, flooder: Flooder) -> None:
    """Once the held calls are answered, the flooder's next call is relayed and answered as usual."""
    slow_csms.release.set()
    await flooder.read(FLOOD)
    await flooder.ws.send('[2,"after","Heartbeat",{}]')
    reply = await _next(flooder.ws)
    assert reply[:2] == [3, "after"] and "currentTime" in reply[2]


# ---- SOAP: each request is its own HTTP exchange ----------------------------------------------------
#
# A SOAP charger has no socket whose reader could be slowed down: every POST is served in its own
# task. soap.max_concurrent_requests bounds how many of one charger's requests are in progress at once
# (SOAP_BOUND here: one at the CSMS, the rest queued in its session, below limits.max_queued_calls);
# any further request is answered at once with HTTP 503, Retry-After and a SOAP 1.2 Receiver fault.

SOAP_BOUND = 4
SOAP_FLOOD = 40
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Flood"}


@pytest.fixture
async def soap_gateway(slow_csms: SlowCsms, start_gateway: GatewayFactory) -> Gateway:
    return await start_gateway(slow_csms.csms.url, "ocpp1.6", upstream=SLOW,
                               limits={"max_queued_calls": MAX_QUEUED},
                               soap={"max_concurrent_requests": SOAP_BOUND})


def soap_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}/soap"


@dataclass
class SoapFlood:
    charger: SoapCharger
    #: Every flood request, in the order they were started.
    tasks: list[asyncio.Task[dict[str, Any]]]
    #: The outcomes of the first SOAP_FLOOD - SOAP_BOUND requests to finish (while the CSMS held the rest).
    refused: list[BaseException | None]


@pytest.fixture
async def soap_flood(soap_gateway: Gateway, soap_charger: ChargerFactory) -> AsyncIterator[SoapFlood]:
    """SOAPFLOOD1 boots, then POSTs SOAP_FLOOD Heartbeats at once; the first ones to finish are collected."""
    charger = soap_charger("1.6", soap_url(soap_gateway), "SOAPFLOOD1", None)
    assert (await charger.call("BootNotification", **BOOT))["status"] == "Accepted"
    tasks = [asyncio.create_task(charger.call("Heartbeat")) for _ in range(SOAP_FLOOD)]
    refused: list[BaseException | None] = []
    async with asyncio.timeout(ANSWER_TIMEOUT):
        for finished in asyncio.as_completed(tasks):
            try:
                await finished
                refused.append(None)
            except (SoapFaultError, SoapCallError) as exc:
                refused.append(exc)
            if len(refused) == SOAP_FLOOD - SOAP_BOUND:
                break
    try:
        yield SoapFlood(charger, tasks, refused)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_soap_requests_beyond_the_bound_get_503_with_a_receiver_fault(soap_flood: SoapFlood) -> None:
    """Past soap.max_concurrent_requests: HTTP 503, Retry-After and a SOAP 1.2 Receiver/InternalError fault."""
    assert all(isinstance(exc, SoapFaultError) for exc in soap_flood.refused)
    faults = [exc for exc in soap_flood.refused if isinstance(exc, SoapFaultError)]
    assert {(f.http_status, f.code, f.subcode) for f in faults} == {(503, "Receiver", "InternalError")}
    refusals = [e for e in soap_flood.charger.exchanges if e.status == 503]
    assert len(refusals) == SOAP_FLOOD - SOAP_BOUND
    assert all(int(e.response_headers["Retry-After"]) > 0 for e in refusals)
    assert soap_flood.charger.violations == []  # each fault is a valid SOAP 1.2 answer to its request


async def test_refused_soap_requests_are_counted(soap_gateway: Gateway, soap_flood: SoapFlood) -> None:
    """Each 503 counts in gateway_overload_refusals_total under soap.max_concurrent_requests."""
    refused = await metric(soap_gateway, "gateway_overload_refusals_total", limit="soap.max_concurrent_requests")
    assert refused == SOAP_FLOOD - SOAP_BOUND


async def test_soap_flood_reaches_the_csms_one_call_at_a_time_and_no_further_than_the_bound(
    slow_csms: SlowCsms, soap_flood: SoapFlood
) -> None:
    """The requests in progress are answered once the CSMS answers; the CSMS never saw the refused ones."""
    assert slow_csms.heartbeats_from("SOAPFLOOD1") == 1
    slow_csms.release.set()
    async with asyncio.timeout(ANSWER_TIMEOUT):
        answered = [await task for task in soap_flood.tasks if not task.done()]
    assert len(answered) == SOAP_BOUND and all("currentTime" in answer for answer in answered)
    assert slow_csms.heartbeats_from("SOAPFLOOD1") == SOAP_BOUND


async def test_other_soap_charger_is_answered_while_the_flooders_requests_are_held(
    slow_csms: SlowCsms, soap_gateway: Gateway, soap_flood: SoapFlood, soap_charger: ChargerFactory
) -> None:
    """Another SOAP charger's requests complete while the flooder's are still held by the CSMS."""
    other = soap_charger("1.6", soap_url(soap_gateway), "SOAPNORMAL1", None)
    assert (await other.call("BootNotification", **BOOT))["status"] == "Accepted"
    for _ in range(3):
        assert "currentTime" in await other.call("Heartbeat")
    slow_csms.events.append(("normal answered", "SOAPNORMAL1"))
    slow_csms.release.set()
    async with asyncio.timeout(ANSWER_TIMEOUT):
        await asyncio.gather(*(task for task in soap_flood.tasks if not task.done()))
    assert slow_csms.events[:2] == [("normal answered", "SOAPNORMAL1"), ("csms answers", "SOAPFLOOD1")]
    assert other.violations == []


async def test_soap_flooder_is_served_again_once_its_requests_are_answered(
    slow_csms: SlowCsms, soap_flood: SoapFlood
) -> None:
    """After the flood the charger's next request is served as usual: the bound counts requests in progress."""
    slow_csms.release.set()
    async with asyncio.timeout(ANSWER_TIMEOUT):
        await asyncio.gather(*(task for task in soap_flood.tasks if not task.done()))
    assert "currentTime" in await soap_flood.charger.call("Heartbeat")
