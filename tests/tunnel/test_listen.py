"""The agent's `listen`: chargers post their own SOAP requests to the agent, which carries them to the gateway.

With it a site needs nothing but the agent's one outbound connection. The chargers are zeep clients
checking every answer against the XSD; the CSMS is the `ocpp` package.
"""

from __future__ import annotations

import pytest

from gateway.app import Gateway
from tests.conftest import GatewayFactory
from tests.net.scrape import metric
from tests.peers import Csms
from tests.soap.charger import SoapFaultError, SoapHttpError
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.tunnel.conftest import CALL_TIMEOUT, TUNNEL, AgentFactory
from tests.tunnel.helpers import BOOT, RESET, boot, closed_port_url

LISTEN = ("127.0.0.1", 0)


@pytest.mark.parametrize("version", ["1.5", "1.6"])
async def test_chargers_requests_and_csms_calls_share_the_one_tunnel(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory, version: str,
) -> None:
    """BootNotification and Heartbeat posted to the agent reach the CSMS and come back; a Reset comes down."""
    endpoint = await start_endpoint(version)
    agent = await start_agent(tunnel_gateway, {"CB1": endpoint.url}, listen=LISTEN)
    charger, link = await boot(csms, tunnel_gateway, soap_charger, "CB1", version, url=agent.listen_url)
    assert "currentTime" in await charger.call("Heartbeat")
    assert (await link.next_call())[0] == "Heartbeat"
    assert (await link.cp.call(RESET, suppress=False)).status == "Accepted"
    assert (await endpoint.next_call())[0] == "Reset"
    assert charger.violations == [] and endpoint.violations == []
    assert await metric(tunnel_gateway, "gateway_tunnel_calls_total", direction="from_charger", outcome="ok") == 2
    assert await metric(tunnel_gateway, "gateway_tunnel_calls_total", direction="to_charger", outcome="ok") == 1


@pytest.mark.parametrize("charge_box_id", ["CB2", "CB3", "CB7"])
async def test_identity_the_agent_was_not_accepted_for_gets_security_error(
    csms: Csms, tunnel_gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory,
    charge_box_id: str,
) -> None:
    """A request naming a charger this agent did not register (same site, another site, unknown) is refused."""
    agent = await start_agent(tunnel_gateway, {"CB1": closed_port_url()}, listen=LISTEN)
    charger = soap_charger("1.6", agent.listen_url, charge_box_id, closed_port_url())
    with pytest.raises(SoapFaultError) as info:
        await charger.call("BootNotification", **BOOT)
    assert (info.value.code, info.value.subcode) == ("Sender", "SecurityError")
    assert "not registered by this tunnel" in info.value.reason
    assert charger.violations == []
    assert charge_box_id not in csms.links
    assert await metric(tunnel_gateway, "gateway_tunnel_refusals_total", reason="unregistered_identity") == 1


async def test_basic_auth_travels_through_the_tunnel(
    csms: Csms, start_gateway: GatewayFactory, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """A charger's HTTP Basic credentials are checked by the gateway; a wrong one gets 401 and the challenge back."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {"password": "s3cret"}},
                                  soap={"call_timeout": CALL_TIMEOUT}, tunnel=TUNNEL)
    agent = await start_agent(gateway, {"CB1": closed_port_url()}, listen=LISTEN)
    wrong = soap_charger("1.6", agent.listen_url, "CB1", closed_port_url(), basic_auth=("CB1", "guess"))
    with pytest.raises(SoapFaultError) as info:
        await wrong.call("Heartbeat")
    assert (info.value.http_status, info.value.subcode) == (401, "SecurityError")
    assert wrong.exchanges[-1].response_headers["WWW-Authenticate"].startswith("Basic ")
    right = soap_charger("1.6", agent.listen_url, "CB1", closed_port_url(), basic_auth=("CB1", "s3cret"))
    assert "currentTime" in await right.call("Heartbeat")
    assert right.violations == []


async def test_while_the_tunnel_is_down_chargers_get_503_with_a_receiver_fault(
    tunnel_gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """An agent that cannot open its tunnel answers its chargers 503 and a SOAP Receiver fault, so they retry."""
    agent = await start_agent(tunnel_gateway, {"CB1": closed_port_url()}, token="wrong", wait=False, listen=LISTEN)
    for version in ("1.5", "1.6"):
        charger = soap_charger(version, agent.listen_url, "CB1", closed_port_url())
        with pytest.raises(SoapFaultError) as info:
            await charger.call("Heartbeat")
        assert (info.value.http_status, info.value.code, info.value.subcode) == (503, "Receiver", "InternalError")
        assert "tunnel to the central system is down" in info.value.reason
        assert charger.violations == []


async def test_oversized_request_is_refused_by_the_agent(
    tunnel_gateway: Gateway, start_agent: AgentFactory, soap_charger: ChargerFactory
) -> None:
    """A body over the agent's max_body_bytes is refused at the agent (HTTP 413) and never carried."""
    agent = await start_agent(tunnel_gateway, {"CB1": closed_port_url()}, listen=LISTEN, max_body_bytes=4096)
    charger = soap_charger("1.6", agent.listen_url, "CB1", closed_port_url())
    with pytest.raises(SoapHttpError) as info:
        await charger.call("DataTransfer", vendorId="ACME", data="x" * 8192)
    assert info.value.status == 413
    assert await metric(tunnel_gateway, "gateway_tunnel_calls_total", direction="from_charger") == 0
