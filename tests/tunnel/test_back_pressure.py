"""Back-pressure in the tunnel: one agent's flood of charger requests is bounded, other sites go on.

Each `request` frame an agent carries is served in its own task, so tunnel.max_requests_in_flight bounds
how many of one agent's requests the gateway serves at once; any further request frame is answered at
once with a `response` of HTTP 503, Retry-After and a SOAP 1.2 Receiver/InternalError fault, which the
agent hands to the charger. The CSMS (the `ocpp` package) holds CB1's Heartbeats until the test releases
them; the chargers are zeep clients posting to their agents' `listen`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.app import Gateway
from tests.conftest import GatewayFactory
from tests.load.slow_csms import SlowCsms, start_slow_csms, stop_slow_csms
from tests.net.scrape import metric
from tests.soap.charger import SoapCharger, SoapFaultError
from tests.soap.conftest import ChargerFactory
from tests.tunnel.conftest import CALL_TIMEOUT, TUNNEL, AgentFactory
from tests.tunnel.helpers import boot, closed_port_url

LISTEN = ("127.0.0.1", 0)
IN_FLIGHT = 4
FLOOD = 20
ANSWER_TIMEOUT = 10


@pytest.fixture
async def slow_csms() -> AsyncIterator[SlowCsms]:
    slow = await start_slow_csms(["CB1"])
    yield slow
    await stop_slow_csms(slow)


@pytest.fixture
async def gateway(slow_csms: SlowCsms, start_gateway: GatewayFactory) -> Gateway:
    # The per-charger SOAP bound is above the tunnel's, so every refusal here is the tunnel's.
    return await start_gateway(slow_csms.csms.url, "ocpp1.6", chargers={"CB1": {}, "CB2": {}, "CB3": {}},
                               upstream={"response_timeout": 60},
                               soap={"call_timeout": CALL_TIMEOUT, "max_concurrent_requests": 2 * IN_FLIGHT},
                               tunnel={**TUNNEL, "max_requests_in_flight": IN_FLIGHT})


async def _flood(charger: SoapCharger) -> tuple[list[asyncio.Task[dict[str, Any]]], list[SoapFaultError]]:
    """FLOOD Heartbeats at once; returns them all and the faults of those refused (all but IN_FLIGHT)."""
    tasks = [asyncio.create_task(charger.call("Heartbeat")) for _ in range(FLOOD)]
    refused: list[SoapFaultError] = []
    async with asyncio.timeout(ANSWER_TIMEOUT):
        for finished in asyncio.as_completed(tasks):
            with pytest.raises(SoapFaultError) as info:
                await finished
            refused.append(info.value)
            if len(refused) == FLOOD - IN_FLIGHT:
                break
    return tasks, refused


async def test_requests_beyond_the_agents_bound_get_503_with_a_receiver_fault(
    slow_csms: SlowCsms, gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """Past tunnel.max_requests_in_flight the charger gets 503, Retry-After and a Receiver fault, counted."""
    agent = await start_agent(gateway, {"CB1": closed_port_url()}, listen=LISTEN)
    charger, _ = await boot(slow_csms.csms, gateway, soap_charger, "CB1", url=agent.listen_url)
    tasks, refused = await _flood(charger)
    try:
        assert {(f.http_status, f.code, f.subcode) for f in refused} == {(503, "Receiver", "InternalError")}
        assert all(int(e.response_headers["Retry-After"]) > 0 for e in charger.exchanges if e.status == 503)
        assert charger.violations == []
        assert await metric(gateway, "gateway_overload_refusals_total",
                            limit="tunnel.max_requests_in_flight") == FLOOD - IN_FLIGHT
        assert await metric(gateway, "gateway_overload_refusals_total", limit="soap.max_concurrent_requests") == 0
        assert slow_csms.heartbeats_from("CB1") == 1
        slow_csms.release.set()
        async with asyncio.timeout(ANSWER_TIMEOUT):
            answered = [await task for task in tasks if not task.done()]
        assert len(answered) == IN_FLIGHT and all("currentTime" in answer for answer in answered)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_other_sites_requests_are_served_while_one_agent_is_saturated(
    slow_csms: SlowCsms, gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """Site b's charger is answered while site a's agent has its bound of requests held by the CSMS."""
    flooding = await start_agent(gateway, {"CB1": closed_port_url()}, listen=LISTEN)
    other = await start_agent(gateway, {"CB3": closed_port_url()}, site="site-b", token="other", listen=LISTEN)
    charger, _ = await boot(slow_csms.csms, gateway, soap_charger, "CB1", url=flooding.listen_url)
    tasks, _ = await _flood(charger)
    try:
        bystander, _ = await boot(slow_csms.csms, gateway, soap_charger, "CB3", url=other.listen_url)
        assert "currentTime" in await bystander.call("Heartbeat")
        slow_csms.events.append(("other site answered", "CB3"))
        slow_csms.release.set()
        async with asyncio.timeout(ANSWER_TIMEOUT):
            await asyncio.gather(*(task for task in tasks if not task.done()))
        assert slow_csms.events[:2] == [("other site answered", "CB3"), ("csms answers", "CB1")]
        assert bystander.violations == []
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
