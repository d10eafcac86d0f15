"""CSMS-initiated calls reach SOAP chargers behind NAT only through their site's tunnel agent.

Every charger here boots at the gateway's /soap with a wsa:From on a closed port, so a call that
reaches its endpoint can only have come through the tunnel. The CSMS is the `ocpp` package, the
chargers are zeep (WSDL) clients and aiohttp endpoints that check every envelope against the XSD.
"""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call as c16

from gateway.app import Gateway
from tests.peers import Csms
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import Fields, Handler
from tests.tunnel.conftest import CALL_TIMEOUT, AgentFactory, soap_url
from tests.tunnel.helpers import RESET, boot, call_error, closed_port_url

#: A CALLERROR that comes this fast did not wait for any timeout (CALL_TIMEOUT is far longer).
PROMPT = 5.0


@pytest.mark.parametrize("version", ["1.5", "1.6"])
async def test_csms_calls_reach_the_charger_only_through_the_tunnel(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory, version: str,
) -> None:
    """Reset and RemoteStartTransaction reach the charger's endpoint through the agent, wsa:To its local URL."""
    endpoint = await start_endpoint(version)
    await start_agent(tunnel_gateway, {"CB1": endpoint.url})
    charger, link = await boot(csms, tunnel_gateway, soap_charger, "CB1", version)
    reset = await link.cp.call(RESET, suppress=False)
    assert reset.status == "Accepted"
    assert await endpoint.next_call() == ("Reset", {"type": "Hard"})
    start = await link.cp.call(c16.RemoteStartTransaction(id_tag="TAG1", connector_id=1), suppress=False)
    assert start.status == "Accepted"
    operation, fields = await endpoint.next_call()
    assert (operation, fields["idTag"]) == ("RemoteStartTransaction", "TAG1")
    for request in endpoint.received:
        assert request.to == endpoint.url
        assert request.from_address == soap_url(tunnel_gateway)
        assert request.charge_box_id == "CB1"
    assert endpoint.violations == [] and charger.violations == []


async def test_no_agent_is_a_prompt_call_error(
    csms: Csms, tunnel_gateway: Gateway, soap_charger: ChargerFactory
) -> None:
    """With no agent of its site connected, a call to a tunnel charger fails at once, saying so."""
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    error, seconds = await call_error(link, RESET)
    assert seconds < PROMPT
    assert "no tunnel agent of site site-a is connected" in error.description


async def test_foreign_charger_is_refused_and_its_calls_still_fail(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """Site A's agent registering CB3 (site B's) is refused that id; calls to CB3 never reach its endpoint."""
    ours, foreign = await start_endpoint(), await start_endpoint()
    agent = await start_agent(tunnel_gateway, {"CB1": ours.url, "CB3": foreign.url, "CB9": foreign.url})
    assert agent.agent.accepted == ("CB1",)
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB3")
    error, seconds = await call_error(link, RESET)
    assert seconds < PROMPT and "no tunnel agent of site site-b is connected" in error.description
    assert foreign.received == []


async def test_unregistered_charger_of_a_connected_site_fails_promptly(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """A site charger its agent did not register cannot be reached, and the CSMS is told why."""
    endpoint = await start_endpoint()
    await start_agent(tunnel_gateway, {"CB1": endpoint.url})
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB2")
    error, seconds = await call_error(link, RESET)
    assert seconds < PROMPT and "has not registered this charger" in error.description


async def test_calls_to_two_chargers_are_in_flight_at_once(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """Two chargers' calls share one tunnel concurrently: each endpoint answers only once both have arrived."""
    both_arrived = asyncio.Event()
    arrived: list[str] = []

    def hold(name: str) -> Handler:
        async def handler(fields: Fields) -> Fields:
            arrived.append(name)
            if len(arrived) == 2:
                both_arrived.set()
            await both_arrived.wait()  # a serialized tunnel would never deliver the second call
            return {"status": "Accepted"}

        return handler

    first, second = await start_endpoint(), await start_endpoint()
    first.handlers["Reset"] = hold("CB1")
    second.handlers["Reset"] = hold("CB2")
    await start_agent(tunnel_gateway, {"CB1": first.url, "CB2": second.url})
    _, link1 = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    _, link2 = await boot(csms, tunnel_gateway, soap_charger, "CB2")
    async with asyncio.timeout(10):
        answers = await asyncio.gather(link1.cp.call(RESET, suppress=False), link2.cp.call(RESET, suppress=False))
    assert [a.status for a in answers] == ["Accepted", "Accepted"]
    assert sorted(arrived) == ["CB1", "CB2"]
    assert first.violations == [] and second.violations == []


async def test_charger_refusing_connections_is_a_call_error_with_the_reason(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """The agent cannot connect to the charger: the CSMS hears CALLERROR naming the refused connection."""
    await start_agent(tunnel_gateway, {"CB1": closed_port_url()})
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    error, seconds = await call_error(link, RESET)
    assert seconds < PROMPT
    assert "connection refused" in error.description


async def test_charger_not_answering_in_the_agents_time_is_a_call_error(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """A charger slower than the agent's call timeout: the CSMS hears CALLERROR before the gateway's own timeout."""
    endpoint = await start_endpoint()
    never = asyncio.Event()

    async def stuck(fields: Fields) -> Fields:
        await never.wait()
        return {}

    endpoint.handlers["Reset"] = stuck
    await start_agent(tunnel_gateway, {"CB1": endpoint.url}, call_timeout=0.5)
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    error, seconds = await call_error(link, RESET)
    assert seconds < CALL_TIMEOUT / 2
    assert "no answer from" in error.description and "within 0.5 s" in error.description
