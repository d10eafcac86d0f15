"""Fixtures for the NAT tunnel: a gateway with tunnel sites, agents in-process or as `ocpp-gateway tunnel`.

    async def test_reset_goes_through_the_tunnel(tunnel_gateway, start_agent, start_endpoint, ...):
        endpoint = await start_endpoint("1.6")
        agent = await start_agent(tunnel_gateway, {"CB1": endpoint.url})
        ...

The gateway's site `site-a` (token TOKEN) may carry CB1 and CB2, `site-b` carries CB3. Calls to
chargers time out after CALL_TIMEOUT seconds, so a test that asserts a *prompt* CALLERROR can tell
a real failure from a wait for the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.agent_config import AgentConfig
from gateway.app import Gateway
from gateway.net.tunnel_agent import TunnelAgent
from tests.conftest import REPO, GatewayFactory
from tests.peers import Csms
from tests.soap.conftest import soap_charger, start_endpoint  # noqa: F401  (fixtures used by the tunnel tests)

SITE = "site-a"
TOKEN = "site-a-token-4f1c9e"
#: The gateway's soap.call_timeout in these tests: far above what a prompt answer takes.
CALL_TIMEOUT = 20.0
TUNNEL: dict[str, Any] = {
    "sites": {SITE: {"token": TOKEN, "chargers": ["CB1", "CB2"]}, "site-b": {"token": "other", "chargers": ["CB3"]}},
    "register_timeout": 2,
}


def tunnel_url(gateway: Gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/tunnel"


def soap_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}/soap"


@pytest.fixture
async def tunnel_gateway(csms: Csms, start_gateway: GatewayFactory) -> Gateway:
    """A gateway (1.6 upstream) whose chargers CB1-CB3 belong to tunnel sites."""
    return await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}, "CB2": {}, "CB3": {}},
                               soap={"call_timeout": CALL_TIMEOUT}, tunnel=TUNNEL)


@dataclass
class RunningAgent:
    """An in-process agent and the task that runs it."""

    agent: TunnelAgent
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    @property
    def listen_url(self) -> str:
        return f"http://127.0.0.1:{self.agent.listen_port}/ocpp"

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 10)


AgentFactory = Callable[..., Awaitable[RunningAgent]]


@pytest.fixture
async def start_agent() -> AsyncIterator[AgentFactory]:
    """Factory `await start_agent(gateway, {"CB1": url}, site=..., token=..., wait=True, **AgentConfig keys)`."""
    running: list[RunningAgent] = []

    async def start(gateway: Gateway, chargers: dict[str, str], *, site: str = SITE, token: str = TOKEN,
                    wait: bool = True, **options: Any) -> RunningAgent:
        config = AgentConfig(gateway=options.pop("url", tunnel_url(gateway)), site=site, token=token,
                             chargers=chargers, reconnect_initial_delay=0.05, reconnect_max_delay=0.2,
                             call_timeout=options.pop("call_timeout", CALL_TIMEOUT - 5), **options)
        agent = TunnelAgent(config)
        stop = asyncio.Event()
        handle = RunningAgent(agent, stop, asyncio.create_task(agent.run(stop)))
        running.append(handle)
        async with asyncio.timeout(10):
            await (agent.registered if wait else agent.started).wait()
        return handle

    yield start
    for handle in running:
        if not handle.task.done():
            await handle.stop()


@dataclass
class AgentProcess:
    """`python -m gateway tunnel ...` as a subprocess; its stderr lines are collected as they come."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    eof: bool = False
    _new_line: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> AgentProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "tunnel", *args, cwd=REPO, env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        agent = cls(process)
        agent._reader = asyncio.create_task(agent._read())
        return agent

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            async with self._new_line:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._new_line.notify_all()
        async with self._new_line:
            self.eof = True
            self._new_line.notify_all()

    async def wait_for(self, text: str, timeout: float = 15, *, count: int = 1) -> str:
        """The `count`-th stderr line containing `text` (waiting for it)."""
        async with asyncio.timeout(timeout), self._new_line:
            while True:
                found = [line for line in self.lines if text in line]
                if len(found) >= count:
                    return found[count - 1]
                if self.eof:
                    raise AssertionError(f"agent exited ({self.process.returncode}) without {text!r}: {self.lines}")
                await self._new_line.wait()

    async def kill(self) -> None:
        """SIGKILL: the agent gets no chance to close its tunnel."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.wait()

    async def wait(self, timeout: float = 15) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code


@pytest.fixture
async def agent_process() -> AsyncIterator[Callable[..., Awaitable[AgentProcess]]]:
    """Factory `await agent_process(*cli_args, env=...)` -> a started AgentProcess, killed after the test."""
    started: list[AgentProcess] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> AgentProcess:
        agent = await AgentProcess.start(*args, env=env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.returncode is None:
            await agent.kill()
