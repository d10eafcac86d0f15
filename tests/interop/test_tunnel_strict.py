"""The interop SOAP charger's day behind the NAT tunnel (issue 5), against the strict OCPP-J CSMS.

The same session as test_soap_strict.py (zeep charger, spyne endpoint, official WSDLs; csms.js,
official JSON schemas, strict mode), with the charger where the gateway cannot reach it: in a
network namespace, its endpoint on the namespace's loopback (tests/tunnel/netns.py), its own
requests posted to the agent's --listen, the CSMS's calls delivered only by the agent. Where
namespaces cannot be made, the loopback fallback: the charger announces a closed port as wsa:From.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import GatewayFactory
from tests.interop.conftest_helpers import run_csms, stop_csms, wait_csms_event
from tests.net.scrape import metric
from tests.tunnel.netns import SiteKind, connect_error, netns_unavailable, open_site, wait_registered

pytestmark = pytest.mark.timeout(90)

IDENTITY = "SOAP1"
SITE = "site-a"
TOKEN = "site-a-7f3c9e1d"
# The CSMS-initiated calls of csms.js's script that reach a charger behind a 1.6 CSMS (as in
# test_soap_strict.py; a 1.5 charger's TriggerMessage is emulated by the gateway, TRANSLATION.md 5.5.1).
REACHES_THE_CHARGER = {"ChangeConfiguration", "GetConfiguration", "TriggerMessage", "RemoteStartTransaction",
                       "RemoteStopTransaction", "ChangeAvailability", "UnlockConnector", "Reset", "DataTransfer"}


@pytest.mark.parametrize("soap_version", ["1.5", "1.6"])
async def test_soap_charger_day_behind_the_tunnel_has_no_violation(
    soap_version: str, tmp_path: Path, start_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SOAP charger reachable only through its agent completes the strict CSMS's day with 0 violations."""
    monkeypatch.setenv("SITE_A_TOKEN", TOKEN)  # read by the gateway's config and the agent's
    kind: SiteKind = "netns" if netns_unavailable() is None else "loopback"
    csms_dir = tmp_path / "csms"
    csms_dir.mkdir()
    process, port = await run_csms(csms_dir, behind_translation=True)
    try:
        async with open_site(kind, tmp_path) as site:
            gateway = await start_gateway(
                f"ws://127.0.0.1:{port}/ocpp", "ocpp1.6", listen={"host": site.gateway_host, "port": 0},
                chargers={IDENTITY: {}}, tunnel={"sites": {SITE: {"token": "${SITE_A_TOKEN}", "chargers": [IDENTITY]}}},
            )
            session, _ = await site.session(soap_version, IDENTITY)
            ready = await session.next_event(timeout=30)
            endpoint = urllib.parse.urlsplit(ready["endpoint"])
            assert endpoint.hostname is not None and endpoint.port is not None
            # precondition: the gateway's host cannot connect to the charger (netns: the namespace's loopback)
            if kind == "netns":
                assert await connect_error(endpoint.hostname, endpoint.port) is not None
            # the agent as a site would run it: a YAML file, its token from the environment
            agent = await site.agent_from_file({
                "gateway": f"ws://{site.gateway_host}:{gateway.port}/tunnel", "site": SITE,
                "token": "${SITE_A_TOKEN}", "chargers": {IDENTITY: ready["endpoint"]}})
            await wait_registered(gateway, agent)
            await session.tell("go")
            summary = await session.next_event(timeout=60)
            await wait_csms_event(csms_dir, "script done")
            carried = await metric(gateway, "gateway_tunnel_calls_total", direction="to_charger", outcome="ok")
            carried_in = await metric(gateway, "gateway_tunnel_calls_total", direction="from_charger", outcome="ok")
    finally:
        lines = await stop_csms(process, csms_dir)
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert summary["event"] == "summary", summary
    assert (summary["violations"], summary["errors"]) == ([], [])
    assert [(s["violations"], s["errors"], s["protocol"]) for s in summaries] == [(0, [], "ocpp1.6")]
    expected = REACHES_THE_CHARGER - ({"TriggerMessage"} if soap_version == "1.5" else set())
    assert expected <= set(summary["received"]), "the CSMS's calls reached the charger"
    assert summaries[0]["calls_out"] > 5 and summary["calls_out"] > 5, "CSMS-initiated and charger calls ran"
    # every call the charger's endpoint answered, and every request it made, went through the tunnel
    assert (carried, carried_in) == (len(summary["received"]), summary["calls_out"])
