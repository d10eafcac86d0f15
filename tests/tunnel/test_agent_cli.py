"""`ocpp-gateway tunnel` as an operator runs it, and `ocpp-gateway check` on tunnel sections.

The agent runs as a subprocess of the real CLI: SIGKILL mid-call, restart, SIGTERM, a YAML config
file with `${VAR}` secrets, and configuration errors with exit code 2 and one line naming the key.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.app import Gateway
from tests.conftest import REPO, GatewayFactory, write_config
from tests.net.scrape import metric
from tests.net.test_tls import certificate  # noqa: F401  (fixture: a self-signed certificate for 127.0.0.1)
from tests.peers import Csms
from tests.soap.conftest import ChargerFactory, EndpointFactory
from tests.soap.endpoint import Fields
from tests.tunnel.conftest import CALL_TIMEOUT, SITE, TOKEN, TUNNEL, AgentFactory, AgentProcess, tunnel_url
from tests.tunnel.helpers import RESET, boot, call_error, raw_tunnel, register

AgentStarter = Any  # the agent_process fixture's factory


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=REPO, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def agent_args(gateway: Gateway, *chargers: str, token: str = TOKEN) -> list[str]:
    args = ["--gateway", tunnel_url(gateway), "--site", SITE, "--token", token, "--call-timeout", str(CALL_TIMEOUT - 5)]
    for charger in chargers:
        args += ["--charger", charger]
    return args


@pytest.mark.timeout(90)
async def test_killed_agent_fails_the_call_in_flight_at_once_and_a_restarted_one_restores_service(
    csms: Csms, tunnel_gateway: Gateway, agent_process: AgentStarter, start_endpoint: EndpointFactory,
    soap_charger: ChargerFactory,
) -> None:
    """SIGKILL with a call at the charger: prompt CALLERROR; the next call too; a new agent carries calls again."""
    endpoint = await start_endpoint()
    release = asyncio.Event()

    async def slow(fields: Fields) -> Fields:
        await release.wait()
        return {"status": "Accepted"}

    endpoint.handlers["Reset"] = slow
    agent: AgentProcess = await agent_process(*agent_args(tunnel_gateway, f"CB1={endpoint.url}"))
    await agent.wait_for("tunnel registered")
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    in_flight = asyncio.create_task(call_error(link, RESET))
    assert (await endpoint.next_call())[0] == "Reset"  # the call is at the charger, its answer held
    await agent.kill()
    error, seconds = await in_flight
    assert seconds < 5 and "the tunnel closed with the call in flight" in error.description
    error, seconds = await call_error(link, RESET)
    assert seconds < 5 and "no tunnel agent of site site-a is connected" in error.description
    release.set()

    restarted: AgentProcess = await agent_process(*agent_args(tunnel_gateway, f"CB1={endpoint.url}"))
    await restarted.wait_for("tunnel registered")
    assert (await link.cp.call(RESET, suppress=False)).status == "Accepted"
    assert endpoint.violations == []
    assert await metric(tunnel_gateway, "gateway_tunnel_calls_total", direction="to_charger", outcome="dropped") == 1
    assert await metric(tunnel_gateway, "gateway_tunnel_calls_total", direction="to_charger", outcome="no_agent") == 1


async def test_agent_reads_a_yaml_file_and_the_command_line_wins(
    tmp_path: Path, csms: Csms, tunnel_gateway: Gateway, agent_process: AgentStarter,
    start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
) -> None:
    """The file gives every key (token from ${VAR}); --charger replaces the file's URL for the same id."""
    endpoint = await start_endpoint()
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({
        "gateway": tunnel_url(tunnel_gateway), "site": SITE, "token": "${SITE_A_TOKEN}",
        "chargers": {"CB1": "http://127.0.0.1:9/stale", "CB2": "http://127.0.0.1:9/cb2"},
        "call_timeout": 10, "ping_interval": 5, "reconnect_initial_delay": 0.1, "reconnect_max_delay": 1,
        "max_body_bytes": 65536, "log_level": "DEBUG",
    }))
    agent: AgentProcess = await agent_process("--config", str(path), "--charger", f"CB1={endpoint.url}",
                                              env={"SITE_A_TOKEN": TOKEN})
    line = await agent.wait_for("tunnel registered")
    assert "carrying CB1, CB2" in line
    _, link = await boot(csms, tunnel_gateway, soap_charger, "CB1")
    assert (await link.cp.call(RESET, suppress=False)).status == "Accepted"
    assert (await endpoint.next_call())[0] == "Reset"
    assert any("[CB1]" in line and "HTTP 200" in line for line in agent.lines)  # DEBUG, with the charger's id


async def test_sigterm_stops_the_agent_cleanly(tunnel_gateway: Gateway, agent_process: AgentStarter) -> None:
    """SIGTERM: the agent closes its tunnel (the gateway sees it go) and exits 0."""
    agent: AgentProcess = await agent_process(*agent_args(tunnel_gateway, "CB1=http://127.0.0.1:9/"))
    await agent.wait_for("tunnel registered")
    assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 1
    agent.process.send_signal(signal.SIGTERM)
    assert await agent.wait() == 0
    assert any(line.endswith("stopped") for line in agent.lines)
    for _ in range(100):  # the gateway notices the close frame on its own schedule
        if await metric(tunnel_gateway, "gateway_tunnels_connected") == 0:
            break
        await asyncio.sleep(0.05)
    assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 0


async def test_replaced_agent_stops_with_exit_code_1(tunnel_gateway: Gateway, agent_process: AgentStarter) -> None:
    """A newer agent of the site takes over (4000): the older one logs why and exits 1 instead of taking turns."""
    agent: AgentProcess = await agent_process(*agent_args(tunnel_gateway, "CB1=http://127.0.0.1:9/"))
    await agent.wait_for("tunnel registered")
    async with aiohttp.ClientSession() as http:
        newer = await raw_tunnel(http, tunnel_gateway)
        assert (await register(newer, {"CB1": "http://127.0.0.1:9/"})).accepted == ("CB1",)
        assert await agent.wait() == 1
        line = await agent.wait_for("replaced this tunnel by a newer agent of site site-a")
        assert " ERROR " in line
        assert await metric(tunnel_gateway, "gateway_tunnels_connected") == 1
        await newer.close()


async def test_agent_keeps_retrying_a_refused_token(tunnel_gateway: Gateway, agent_process: AgentStarter) -> None:
    """A wrong token is logged as an error and retried with backoff (the gateway's token may be rotated)."""
    agent: AgentProcess = await agent_process(*agent_args(tunnel_gateway, "CB1=http://127.0.0.1:9/", token="nope"))
    line = await agent.wait_for("HTTP 401", count=2)
    assert "ERROR" in line and "site-a" in line
    assert agent.process.returncode is None


@pytest.mark.parametrize(
    ("args", "files", "reason"),
    [
        (["--site", SITE, "--token", "t", "--charger", "CB1=http://10.0.0.1/"], {},
         "command line: gateway: is required"),
        (["--gateway", "http://gw/tunnel", "--site", SITE, "--token", "t", "--charger", "CB1=http://10.0.0.1/"], {},
         "command line: gateway: expected a ws:// or wss:// URL"),
        (["--gateway", "ws://gw/tunnel", "--site", "a b", "--token", "t", "--charger", "CB1=http://10.0.0.1/"], {},
         "command line: site: not a valid site name"),
        (["--gateway", "ws://gw/tunnel", "--site", SITE, "--token", "t"], {},
         "command line: chargers: name at least one charger (--charger ID=URL)"),
        (["--gateway", "ws://gw/tunnel", "--site", SITE, "--token", "t", "--listen", "127.0.0.1:8090"], {},
         "command line: chargers: name at least one charger (--charger ID=URL)"),
        (["--gateway", "ws://gw/tunnel", "--site", SITE, "--token", "${UNSET_AGENT_TOKEN}", "--charger",
          "CB1=http://10.0.0.1/"], {}, "command line: token: environment variable UNSET_AGENT_TOKEN is not set"),
        (["--gateway", "ws://gw/tunnel", "--site", SITE, "--token", "t", "--charger", "CB1=http://10.0.0.1/",
          "--listen", "nowhere"], {}, "command line: listen: expected HOST:PORT, got 'nowhere'"),
        (["--config", "agent.yaml"], {"agent.yaml": {"gateway": "ws://gw/tunnel", "site": SITE, "token": "t",
                                                     "chargers": {"CB1": "http://10.0.0.1/"}, "surprise": 1}},
         "agent.yaml: surprise: unknown key"),
        (["--config", "agent.yaml"], {"agent.yaml": {"gateway": "ws://gw/tunnel", "site": SITE, "token": "t",
                                                     "chargers": {"CB1": "10.0.0.1"}}},
         "agent.yaml: chargers.CB1: expected an http:// or https:// URL"),
        (["--config", "agent.yaml"], {"agent.yaml": {"gateway": "ws://gw/tunnel", "site": SITE,
                                                     "chargers": {"CB1": "http://10.0.0.1/"}}},
         "agent.yaml: token: is required"),
        (["--config", "agent.yaml"], {"agent.yaml": {"gateway": "ws://gw/tunnel", "site": SITE, "token": "t",
                                                     "chargers": {"CB1": "http://10.0.0.1/"}, "call_timeout": "x"}},
         "agent.yaml: call_timeout: expected a number, got a string"),
        (["--config", "missing.yaml"], {}, "missing.yaml: cannot read"),
    ],
)
async def test_agent_configuration_errors_exit_2_naming_the_key(
    tmp_path: Path, args: list[str], files: dict[str, Any], reason: str
) -> None:
    """A bad option or file: exit 2 with one line naming where it came from, the key and the problem."""
    for name, document in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(document))
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]
    code, out, err = await run_cli("tunnel", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert err.replace(str(tmp_path) + "/", "").startswith(reason), err


async def test_malformed_charger_option_exits_2() -> None:
    """--charger without ID=URL is a usage error (exit 2)."""
    code, _, err = await run_cli("tunnel", "--gateway", "ws://gw/tunnel", "--site", SITE, "--token", "t",
                                 "--charger", "CB1")
    assert code == 2 and "expected ID=URL" in err


@pytest.mark.parametrize(
    ("tunnel", "reason"),
    [
        ({"sites": {SITE: {"token": "t", "chargers": ["CB1"], "surprise": 1}}},
         "tunnel.sites.site-a.surprise: unknown key"),
        ({"sites": {SITE: {"chargers": ["CB1"]}}}, "tunnel.sites.site-a.token: is required"),
        ({"sites": {SITE: {"token": "${UNSET_SITE_TOKEN}", "chargers": ["CB1"]}}},
         "tunnel.sites.site-a.token: environment variable UNSET_SITE_TOKEN is not set"),
        ({"sites": {SITE: {"token": "", "chargers": ["CB1"]}}}, "tunnel.sites.site-a.token: must not be empty"),
        ({"sites": {SITE: {"token": "t", "chargers": []}}},
         "tunnel.sites.site-a.chargers: expected a non-empty list of charge box ids"),
        ({"sites": {SITE: {"token": "t", "chargers": ["CB/1"]}}},
         "tunnel.sites.site-a.chargers: 'CB/1' is not a valid charge box id"),
        ({"sites": {SITE: {"token": "t", "chargers": ["CB1"]}, "site-b": {"token": "u", "chargers": ["CB2", "CB1"]}}},
         "tunnel.sites.site-b.chargers: CB1 is already a charger of site site-a"),
        ({"sites": {"site a": {"token": "t", "chargers": ["CB1"]}}}, "tunnel.sites.site a: not a valid site name"),
        ({"sites": []}, "tunnel.sites: expected a mapping, got a list"),
        ({"ping_interval": "often"}, "tunnel.ping_interval: expected a number, got a string"),
        ({"max_frame_bytes": 100_000}, "tunnel.max_frame_bytes: must be at least soap.max_body_bytes + 65540"),
        ({"surprise": 1}, "tunnel.surprise: unknown key"),
    ],
)
async def test_check_names_the_bad_tunnel_key(tmp_path: Path, tunnel: dict[str, Any], reason: str) -> None:
    """`check` on a config with a bad tunnel section exits 2 with one line naming the file and the key."""
    path = write_config(tmp_path, "ws://127.0.0.1:1/ocpp", "ocpp1.6", tunnel=tunnel)
    code, out, err = await run_cli("check", "--config", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{path}: {reason}"), err


async def test_check_accepts_a_tunnel_section_with_secrets_from_the_environment(tmp_path: Path) -> None:
    """A valid tunnel section, its token from ${VAR}, passes `check`."""
    path = write_config(tmp_path, "ws://127.0.0.1:1/ocpp", "ocpp1.6",
                        tunnel={"sites": {SITE: {"token": "${SITE_A_TOKEN}", "chargers": ["CB1", "CB2"]}}})
    code, out, _ = await run_cli("check", "--config", str(path), env={"SITE_A_TOKEN": "s3cret"})
    assert (code, out.strip()) == (0, f"{path}: ok")


async def test_wss_tunnel_with_a_private_ca(
    certificate: tuple[Path, Path], csms: Csms, start_gateway: GatewayFactory,  # noqa: F811
    start_agent: AgentFactory, start_endpoint: EndpointFactory, soap_charger: ChargerFactory,
) -> None:
    """With TLS on the gateway the agent dials wss:// trusting ca_file; requests and calls both cross it."""
    cert, key = certificate
    gateway = await start_gateway(csms.url, "ocpp1.6", listen={"tls": {"cert": str(cert), "key": str(key)}},
                                  chargers={"CB1": {}}, soap={"call_timeout": CALL_TIMEOUT}, tunnel=TUNNEL)
    endpoint = await start_endpoint()
    agent = await start_agent(gateway, {"CB1": endpoint.url}, url=f"wss://127.0.0.1:{gateway.port}/tunnel",
                              ca_file=str(cert), listen=("127.0.0.1", 0))
    charger, link = await boot(csms, gateway, soap_charger, "CB1", url=agent.listen_url)
    assert (await link.cp.call(RESET, suppress=False)).status == "Accepted"
    assert (await endpoint.next_call())[0] == "Reset"
    assert charger.violations == [] and endpoint.violations == []


async def test_untrusted_gateway_certificate_is_not_dialled(
    certificate: tuple[Path, Path], csms: Csms, start_gateway: GatewayFactory,  # noqa: F811
    agent_process: AgentStarter,
) -> None:
    """Without the private CA the agent refuses the gateway's certificate and never registers."""
    cert, key = certificate
    gateway = await start_gateway(csms.url, "ocpp1.6", listen={"tls": {"cert": str(cert), "key": str(key)}},
                                  tunnel=TUNNEL)
    agent: AgentProcess = await agent_process("--gateway", f"wss://127.0.0.1:{gateway.port}/tunnel", "--site", SITE,
                                              "--token", TOKEN, "--charger", "CB1=http://127.0.0.1:9/")
    line = await agent.wait_for("unreachable")
    assert "CERTIFICATE_VERIFY_FAILED" in line or "certificate" in line.lower()
    assert await metric(gateway, "gateway_tunnels_connected") == 0
