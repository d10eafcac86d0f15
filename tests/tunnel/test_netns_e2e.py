"""The NAT tunnel end to end (issue 5): a SOAP charger the gateway cannot reach, served only through its agent.

The charger (zeep, official WSDLs) and its endpoint (aiohttp) run in a network namespace, with the
`ocpp-gateway tunnel` agent; the gateway and the CSMS (the `ocpp` package, JSON schemas) run on the
host. The endpoint listens on the namespace's own loopback and announces that address as wsa:From,
so the gateway's host cannot connect to it (the first test proves it, from both sides, and shows
the gateway failing a call it would have to deliver itself). The charger posts its own requests to
the agent's --listen: the site has nothing but the agent's outbound tunnel. See tests/tunnel/netns.py.

Where namespaces cannot be made the namespace tests skip, saying why, and the loopback fallback
(the charger announces a closed port as wsa:From) still runs the tunnel's whole life cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as c16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.app import Gateway
from tests.conftest import GatewayFactory
from tests.net.scrape import metric
from tests.peers import Csms, CsmsLink
from tests.soap.endpoint import DEFAULT_RESPONSES
from tests.soap.test_csms_calls import OPERATIONS_15, OPERATIONS_16, heard
from tests.soap.test_day import use_day_handlers
from tests.tunnel.netns import (
    REGISTER_BOUND,
    Agent,
    NetnsSite,
    Site,
    SiteCharger,
    netns_unavailable,
    open_site,
    tunnels_connected,
    wait_metric,
    wait_registered,
    wait_unregistered,
)

# Per test: bring-up (a namespace, two Python processes) takes a few seconds on a loaded machine.
pytestmark = pytest.mark.timeout(60)

SITE = "site-a"
TOKEN = "site-a-7f3c9e1d"
SITE_CHARGERS = ["CB1", "CB2"]
#: How long a CSMS call may take here: well under soap.call_timeout (30 s), so a call that would
#: hang until the gateway gives up on it fails the test instead of passing as a late CALLERROR.
CALL_BOUND = 10.0
SOAP_CALL_TIMEOUT = 30.0
#: A charger URL nothing answers on (the discard port of the host's loopback).
NOWHERE = "http://127.0.0.1:9/ChargePointService"

NETNS_UNAVAILABLE = netns_unavailable()


@pytest.fixture(autouse=True)
def site_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's config names the token as the issue's example does: `token: "${SITE_A_TOKEN}"`."""
    monkeypatch.setenv("SITE_A_TOKEN", TOKEN)


@pytest.fixture
async def netns_site(tmp_path: Path) -> AsyncIterator[Site]:
    if NETNS_UNAVAILABLE is not None:
        pytest.skip(f"network namespaces unavailable here ({NETNS_UNAVAILABLE}); "
                    "test_loopback_fallback_serves_a_charger_whose_from_is_a_closed_port covers the tunnel")
    async with open_site("netns", tmp_path) as site:
        yield site


@pytest.fixture
async def loopback_site(tmp_path: Path) -> AsyncIterator[Site]:
    async with open_site("loopback", tmp_path) as site:
        yield site


def tunnel_url(site: Site, gateway: Gateway) -> str:
    return f"ws://{site.gateway_host}:{gateway.port}/tunnel"


async def start_tunnel_gateway(start_gateway: GatewayFactory, site: Site, csms: Csms, *,
                               tunnel: bool = True, ping_interval: float = 30.0) -> Gateway:
    """A 1.6 gateway listening where the site can reach it; site-a may carry CB1 and CB2, CB3 is a plain charger."""
    use_day_handlers(csms)
    sections: dict[str, Any] = {
        "listen": {"host": site.gateway_host, "port": 0},
        # soap_url: where the gateway would post without the tunnel (the agent's URL must win over it)
        "chargers": {"CB1": {"soap_url": NOWHERE}, "CB2": {"soap_url": NOWHERE}, "CB3": {}},
        "soap": {"call_timeout": SOAP_CALL_TIMEOUT},
    }
    if tunnel:
        sections["tunnel"] = {"sites": {SITE: {"token": "${SITE_A_TOKEN}", "chargers": SITE_CHARGERS}},
                              "ping_interval": ping_interval}
    return await start_gateway(csms.url, "ocpp1.6", **sections)


async def refusals(gateway: Gateway, reason: str) -> float:
    return await metric(gateway, "gateway_tunnel_refusals_total", reason=reason)


async def carried(gateway: Gateway, direction: str, outcome: str) -> float:
    """Exchanges the gateway carried through tunnels (to_charger: CSMS calls; from_charger: the charger's own)."""
    return await metric(gateway, "gateway_tunnel_calls_total", direction=direction, outcome=outcome)


@dataclass
class Tunnelled:
    """A charger of site-a booted through its agent, and the CSMS's link to it."""

    site: Site
    gateway: Gateway
    csms: Csms
    charger: SiteCharger
    agent: Agent
    link: CsmsLink
    version: str
    ping_interval: float

    async def command(self, request: Any) -> Any:
        """A CSMS call to the charger, which must be answered (result or CALLERROR) within CALL_BOUND."""
        async with asyncio.timeout(CALL_BOUND):
            return await self.link.cp.call(request, suppress=False)

    async def start_agent(self, token: str = TOKEN) -> Agent:
        """Start a (new) agent for CB1, not waiting for it."""
        self.agent = await self.site.agent(tunnel_url(self.site, self.gateway), SITE, token,
                                           {"CB1": self.charger.endpoint_url},
                                           extra=("--ping-interval", str(self.ping_interval)))
        return self.agent

    async def kill_agent(self) -> None:
        """SIGKILL the agent (the site loses power or its uplink) and wait until the gateway saw the tunnel go."""
        await self.agent.kill()
        await wait_unregistered(self.gateway)

    def nothing_reached_the_charger(self) -> bool:
        return self.charger.received.empty()


async def bring_up(site: Site, csms: Csms, start_gateway: GatewayFactory, version: str, *,
                   ping_interval: float = 30.0) -> Tunnelled:
    """Gateway, charger, agent; the charger boots through the agent's --listen and the CSMS sees it."""
    gateway = await start_tunnel_gateway(start_gateway, site, csms, ping_interval=ping_interval)
    port = site.endpoint_port()
    agent = await site.agent(tunnel_url(site, gateway), SITE, TOKEN, {"CB1": site.endpoint_url(port)},
                             extra=("--ping-interval", str(ping_interval)))
    charger = await site.charger(version, "CB1", port=port)  # both processes start side by side
    await wait_registered(gateway, agent)
    boot = await charger.call("BootNotification", patient=True, chargePointVendor="ACME", chargePointModel="Wall-7")
    assert boot["status"] == "Accepted"
    link = await csms.next_connection()
    assert (await link.next_call())[0] == "BootNotification"
    return Tunnelled(site, gateway, csms, charger, agent, link, version, ping_interval)


async def run_operations(cb: Tunnelled, rows: list[Any]) -> None:
    """Each row's command reaches the charger field for field and its answer comes back to the CSMS."""
    for row in rows:
        command, at_endpoint, charger_answers, csms_hears = row.values
        operation = type(command).__name__
        await cb.charger.answer(operation, charger_answers or DEFAULT_RESPONSES[cb.version][operation])
        answer = await cb.command(command)
        assert await cb.charger.next_call() == (operation, at_endpoint), row.id
        assert heard(answer, csms_hears) == csms_hears, row.id


async def own_requests_reach_the_csms(cb: Tunnelled) -> None:
    """The charger's own requests, posted to the agent's --listen, reach the CSMS and are answered."""
    heartbeat = await cb.charger.call("Heartbeat")
    assert "currentTime" in heartbeat
    assert await cb.link.next_call() == ("Heartbeat", {})


# ---- the precondition ------------------------------------------------------------------------------


async def test_charger_is_unreachable_from_the_gateway_host(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The charger's announced address accepts connections at the site and none from the gateway's host.

    And the gateway itself cannot deliver to it: a charger outside any tunnel site (CB3), posting
    straight to the gateway's /soap over the veth, gets its CSMS's call answered by a CALLERROR
    without the endpoint seeing anything. Everything the other tests pass through the tunnel, the
    gateway could not have delivered on its own.
    """
    gateway = await start_tunnel_gateway(start_gateway, netns_site, csms, tunnel=False)
    charger = await netns_site.charger("1.6", "CB3", post_url=f"http://{netns_site.gateway_host}:{gateway.port}/soap")
    reach = await netns_site.reachability(charger)
    assert charger.advertised == charger.endpoint_url  # the charger announces its true, private address
    assert list(reach["site"].values()) == [None], reach  # at the site, the endpoint accepts connections
    assert len(reach["gateway host"]) == 2 and None not in reach["gateway host"].values(), reach

    boot = await charger.call("BootNotification", chargePointVendor="ACME", chargePointModel="Wall-7")
    assert boot["status"] == "Accepted"
    link = await csms.next_connection()
    assert (await link.next_call())[0] == "BootNotification"
    with pytest.raises(OCPPError):
        async with asyncio.timeout(CALL_BOUND):
            await link.cp.call(c16.Reset(type="Soft"), suppress=False)
    assert charger.received.empty()
    assert await metric(gateway, "gateway_soap_charger_calls_total", outcome="unreachable") == 1


# ---- through the tunnel ----------------------------------------------------------------------------


async def test_every_16_operation_reaches_the_unreachable_charger_through_the_tunnel(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """Every CSMS-initiated 1.6 operation reaches the 1.6 SOAP charger via the agent and is answered."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await run_operations(cb, OPERATIONS_16)
    await own_requests_reach_the_csms(cb)
    assert await carried(cb.gateway, "to_charger", "ok") == len(OPERATIONS_16)
    assert await carried(cb.gateway, "from_charger", "ok") == 2  # BootNotification, Heartbeat
    assert await cb.charger.violations() == []


async def test_15_operations_reach_the_unreachable_charger_through_the_tunnel(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The 1.6 CSMS's operations reach a 1.5 SOAP charger via the agent in 1.5 terms and are answered."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.5")
    await run_operations(cb, OPERATIONS_15)
    await own_requests_reach_the_csms(cb)
    assert await carried(cb.gateway, "to_charger", "ok") == len(OPERATIONS_15)
    assert await carried(cb.gateway, "from_charger", "ok") == 2
    assert await cb.charger.violations() == []


async def test_compressed_bodies_cross_the_tunnel_both_ways(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """gzip- and deflate-coded requests and answers cross the tunnel with their Content-Encoding, both ways."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    for coding in ("gzip", "deflate"):
        await cb.charger.compress(coding)
        answer = await cb.command(c16.GetConfiguration(key=["HeartbeatInterval"]))
        assert answer.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        assert await cb.charger.next_call() == ("GetConfiguration", {"key": ["HeartbeatInterval"]})
        await own_requests_reach_the_csms(cb)
    assert await cb.charger.violations() == []


async def test_charger_down_behind_a_live_agent_is_a_prompt_callerror(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The agent cannot reach its charger (the charger is off): the CSMS gets a CALLERROR at once."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.charger.kill()
    with pytest.raises(OCPPError):
        await cb.command(c16.ClearCache())
    assert await carried(cb.gateway, "to_charger", "error") == 1
    assert await tunnels_connected(cb.gateway) == 1  # the tunnel itself is fine


# ---- the agent goes and comes back -----------------------------------------------------------------


async def test_killed_agent_makes_the_next_call_a_prompt_callerror(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """Right after the agent is SIGKILLed, the next CSMS call is a CALLERROR at once (not soap.call_timeout later)."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    assert (await cb.command(c16.Reset(type="Soft"))).status == "Accepted"  # served before the cut
    assert (await cb.charger.next_call())[0] == "Reset"
    await cb.agent.kill()  # not waiting for the gateway to notice: the call may race the tunnel's end
    with pytest.raises(OCPPError):
        await cb.command(c16.Reset(type="Hard"))
    assert cb.nothing_reached_the_charger()
    assert await carried(cb.gateway, "to_charger", "ok") == 1


async def test_call_in_flight_when_the_agent_dies_is_a_prompt_callerror(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A call the charger holds unanswered when the agent is SIGKILLed is answered CALLERROR at once."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.charger.hold("GetConfiguration")
    call = asyncio.create_task(cb.command(c16.GetConfiguration(key=["HeartbeatInterval"])))
    assert (await cb.charger.next_call())[0] == "GetConfiguration"  # the call is at the charger, unanswered
    await cb.agent.kill()
    with pytest.raises(OCPPError):
        await call
    assert await carried(cb.gateway, "to_charger", "dropped") == 1


async def test_silent_network_cut_fails_the_call_in_flight_once_pings_go_unanswered(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The site's link dies without a FIN (a NAT drops the mapping): the gateway's pings find it, the call fails.

    With tunnel.ping_interval 1 s, the held call is a CALLERROR within CALL_BOUND, far under the
    30 s soap.call_timeout; once the link is back the agent's own pings find the dead tunnel, it
    redials, and the charger is served again.
    """
    cb = await bring_up(netns_site, csms, start_gateway, "1.6", ping_interval=1.0)
    assert isinstance(netns_site, NetnsSite)
    await cb.charger.hold("GetConfiguration")
    call = asyncio.create_task(cb.command(c16.GetConfiguration(key=["HeartbeatInterval"])))
    assert (await cb.charger.next_call())[0] == "GetConfiguration"
    netns_site.cut()
    with pytest.raises(OCPPError):
        await call
    assert await carried(cb.gateway, "to_charger", "dropped") == 1
    await wait_unregistered(cb.gateway)
    netns_site.reconnect()
    await wait_registered(cb.gateway, cb.agent)
    assert (await cb.command(c16.ClearCache())).status == "Accepted"
    assert (await cb.charger.next_call())[0] == "ClearCache"


async def test_calls_while_no_agent_is_connected_are_prompt_callerrors(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """Once the gateway has seen the tunnel go, every call to the site's charger is a CALLERROR at once."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.kill_agent()
    for command in (c16.ClearCache(), c16.Reset(type="Soft")):
        with pytest.raises(OCPPError):
            await cb.command(command)
    assert await carried(cb.gateway, "to_charger", "no_agent") == 2
    assert cb.nothing_reached_the_charger()


async def test_restarted_agent_restores_service(netns_site: Site, csms: Csms, start_gateway: GatewayFactory) -> None:
    """After the agent was killed and started again, CSMS calls and the charger's requests go through again."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.kill_agent()
    with pytest.raises(OCPPError):
        await cb.command(c16.ClearCache())
    agent = await cb.start_agent()
    await wait_registered(cb.gateway, agent)
    answer = await cb.command(c16.ChangeConfiguration(key="HeartbeatInterval", value="120"))
    assert answer.status == "Accepted"
    assert await cb.charger.next_call() == ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    await own_requests_reach_the_csms(cb)
    assert await cb.charger.violations() == []


async def test_replaced_agent_stops_instead_of_taking_the_site_back(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A newer agent of the site takes over; the one it replaced (close 4000) stops rather than redial.

    Two agents of one site would otherwise replace each other forever, failing calls each time.
    The old agent names CB1 at a dead URL, the new one at the charger: once the old one has
    exited (code 1), calls reach the charger through the new one.
    """
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.kill_agent()
    url = tunnel_url(netns_site, cb.gateway)
    old = await netns_site.agent(url, SITE, TOKEN, {"CB1": "http://127.0.0.1:1/ChargePointService"}, listen=False)
    await wait_registered(cb.gateway, old)
    new = await netns_site.agent(url, SITE, TOKEN, {"CB1": cb.charger.endpoint_url}, listen=False)
    try:
        async with asyncio.timeout(REGISTER_BOUND):
            assert await old.proc.wait() == 1, old.log()[-3000:]
    except TimeoutError:
        raise AssertionError(f"the replaced agent kept running\n{old.log()[-3000:]}") from None
    assert (await cb.command(c16.ClearCache())).status == "Accepted"
    assert (await cb.charger.next_call())[0] == "ClearCache"
    assert new.returncode is None and await tunnels_connected(cb.gateway) == 1


# ---- refusals --------------------------------------------------------------------------------------


async def upgrade_status(url: str, token: str | None) -> int:
    """The HTTP status of a WebSocket upgrade to the tunnel endpoint (101 if it was accepted)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        async with asyncio.timeout(CALL_BOUND), connect(url, additional_headers=headers, open_timeout=5):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_wrong_token_or_unknown_site_is_refused_on_the_upgrade(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The upgrade is 401 for a wrong token, no token, or a site the gateway does not know; 101 with the right one."""
    gateway = await start_tunnel_gateway(start_gateway, netns_site, csms)
    url = tunnel_url(netns_site, gateway)
    assert await upgrade_status(f"{url}?site={SITE}", "not-the-token") == 401
    assert await upgrade_status(f"{url}?site={SITE}", None) == 401
    assert await upgrade_status(f"{url}?site=site-z", TOKEN) == 401
    assert await upgrade_status(f"{url}?site={SITE}", TOKEN) == 101
    assert await refusals(gateway, "bad_token") == 2
    assert await refusals(gateway, "unknown_site") == 1


async def test_agent_with_a_wrong_token_carries_nothing(
    netns_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """An agent presenting a wrong token is refused: it never registers, and calls to its charger are CALLERRORs."""
    cb = await bring_up(netns_site, csms, start_gateway, "1.6")
    await cb.kill_agent()
    before = await refusals(cb.gateway, "bad_token")
    impostor = await cb.start_agent(token="not-the-token")
    await wait_metric(cb.gateway, lambda gateway: refusals(gateway, "bad_token"), lambda value: value > before,
                      "the gateway refused the agent's token")
    assert await tunnels_connected(cb.gateway) == 0
    with pytest.raises(OCPPError):
        await cb.command(c16.Reset(type="Soft"))
    reply = await cb.charger.try_call("Heartbeat")  # the charger's own request has no way in either
    assert (reply["kind"], reply.get("status")) == ("fault", 503), reply  # the agent's "retry later"
    assert await cb.charger.violations() == []  # ... a well-formed SOAP 1.2 fault answering the request
    assert cb.nothing_reached_the_charger() and cb.link.cp.calls.empty()
    assert impostor.returncode != 0, impostor.log()  # still retrying (None), or gave up with an error


async def test_foreign_charger_id_is_refused(netns_site: Site, csms: Csms, start_gateway: GatewayFactory) -> None:
    """site-a's agent cannot carry CB3 (not in site-a's list): CB3's calls stay off the tunnel, its requests too.

    The agent registers CB1 and CB3. CB1 is carried; CB3 is refused at registration. CB3, booted
    straight at the gateway, still cannot be reached: had the gateway taken the agent's word, the
    CSMS's call would have reached CB3 through the tunnel.
    """
    gateway = await start_tunnel_gateway(start_gateway, netns_site, csms)
    own = await netns_site.charger("1.6", "CB1")
    foreign = await netns_site.charger("1.6", "CB3", post_url=f"http://{netns_site.gateway_host}:{gateway.port}/soap")
    agent = await netns_site.agent(tunnel_url(netns_site, gateway), SITE, TOKEN,
                                   {"CB1": own.endpoint_url, "CB3": foreign.endpoint_url})
    await wait_registered(gateway, agent)
    assert await refusals(gateway, "foreign_charger") == 1

    boot = await foreign.call("BootNotification", chargePointVendor="ACME", chargePointModel="Wall-7")
    assert boot["status"] == "Accepted"
    link = await csms.next_connection()
    assert (link.charge_box_id, (await link.next_call())[0]) == ("CB3", "BootNotification")
    with pytest.raises(OCPPError):
        async with asyncio.timeout(CALL_BOUND):
            await link.cp.call(c16.Reset(type="Soft"), suppress=False)
    assert foreign.received.empty()
    assert await carried(gateway, "to_charger", "ok") == 0

    impostor = await netns_site.charger("1.6", "CB3")  # CB3's requests through site-a's --listen
    reply = await impostor.try_call("Heartbeat")
    assert reply["kind"] == "fault", reply
    assert await refusals(gateway, "unregistered_identity") == 1
    assert link.cp.calls.empty()
    own_boot = await own.call("BootNotification", patient=True, chargePointVendor="ACME", chargePointModel="Wall-7")
    assert own_boot["status"] == "Accepted"  # while CB1, which site-a may carry, goes through the same --listen
    assert (await csms.next_connection()).charge_box_id == "CB1"


# ---- where namespaces cannot be made -----------------------------------------------------------------


async def test_loopback_fallback_serves_a_charger_whose_from_is_a_closed_port(
    loopback_site: Site, csms: Csms, start_gateway: GatewayFactory
) -> None:
    """Fallback: the charger announces a closed port; calls go via the agent, fail at once without it, resume."""
    cb = await bring_up(loopback_site, csms, start_gateway, "1.6")
    reach = await loopback_site.reachability(cb.charger)
    assert all(error is not None for error in reach["gateway host"].values()), reach
    assert all(error is None for error in reach["site"].values()), reach
    assert (await cb.command(c16.UnlockConnector(connector_id=1))).status == "Unlocked"
    assert (await cb.charger.next_call())[0] == "UnlockConnector"
    await cb.agent.kill()
    with pytest.raises(OCPPError):
        await cb.command(c16.Reset(type="Hard"))
    agent = await cb.start_agent()
    await wait_registered(cb.gateway, agent)
    assert (await cb.command(c16.ClearCache())).status == "Accepted"
    assert (await cb.charger.next_call())[0] == "ClearCache"
    assert await cb.charger.violations() == []
