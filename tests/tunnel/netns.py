"""Sites for the tunnel's end-to-end tests: a SOAP charger and its tunnel agent the gateway cannot reach.

A `Site` is where a charger and its `ocpp-gateway tunnel` agent run, as processes:

* `NetnsSite` (preferred): a network namespace joined to the host by a veth pair. The gateway
  listens on the host end (10.231.x.y+1); the agent dials it from the namespace end. The charger's
  SOAP endpoint listens on 127.0.0.1:P of the namespace, its own loopback, and announces that
  address as wsa:From: from the host, 127.0.0.1:P is the host's loopback, where a socket bound and
  never listening holds P (so a connection is refused, whatever else runs on the machine), and the
  namespace end of the veth has no listener. There is no packet filter on this machine: the
  charger is unreachable by construction, and `reachability()` shows it from both sides.
* `LoopbackSite` (fallback where namespaces cannot be made): everything on the host's loopback;
  the charger announces a closed port as wsa:From, so only the agent knows the real endpoint.

Everything a site starts is killed, and its namespace deleted, by `close()` (the `open_site`
context manager calls it on any exit). Namespaces are named `ocgwt-{pid}-{n}`; ones left by a
test process that no longer exists (killed before its finalizers ran) are deleted on the next run.

    async with open_site("netns", tmp_path) as site:
        gateway = await start_gateway(..., listen={"host": site.gateway_host, "port": 0})
        charger = await site.charger("1.6", "CB1")
        agent = await site.agent(f"ws://{site.gateway_host}:{gateway.port}/tunnel", "site-a", TOKEN,
                                 {"CB1": charger.endpoint_url})
        await charger.call("BootNotification", chargePointVendor="V", chargePointModel="M")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway.app import Gateway
from tests.net.scrape import metric

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PREFIX = "ocgwt"
#: Where the agent accepts its chargers' own requests inside a namespace (any port is free there).
NS_AGENT_PORT = 8180
#: Seconds a site process may take to start (imports, WSDLs) on a loaded machine.
START_TIMEOUT = 30.0

SiteKind = Literal["netns", "loopback"]
Fields = dict[str, Any]
_serial = itertools.count(1)


#: How long an agent may take to connect and register (a Python process starting on a loaded machine).
REGISTER_BOUND = 30.0


class SiteError(RuntimeError):
    """A site process failed to start, died, or did not answer in time (with its log)."""


class SiteCallError(Exception):
    """The charger's own request failed: `reply` has kind "fault" (code, subcode), "http" (status) or "error"."""

    def __init__(self, operation: str, reply: dict[str, Any]) -> None:
        super().__init__(f"{operation}: {reply.get('error')}")
        self.reply = reply

    @property
    def kind(self) -> str:
        return str(self.reply.get("kind"))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


@functools.cache
def netns_unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None if they can.

    TUNNEL_TESTS_NO_NETNS=1 in the environment says they cannot (to run the fallback where they can).
    """
    if os.environ.get("TUNNEL_TESTS_NO_NETNS"):
        return "disabled by TUNNEL_TESTS_NO_NETNS"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    try:
        added = _ip("netns", "add", probe, check=False)
        if added.returncode != 0:
            return f"`ip netns add` fails: {added.stderr.strip()}"
        ran = subprocess.run(["ip", "netns", "exec", probe, sys.executable, "-c", "pass"], capture_output=True,
                             text=True, timeout=20)
        if ran.returncode != 0:
            return f"`ip netns exec` fails: {ran.stderr.strip()}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"network namespaces unusable: {exc!r}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def delete_stale_namespaces() -> None:
    """Delete the namespaces of test processes that died before their finalizers ran."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}-(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            _ip("netns", "del", name, check=False)


def reserve_port(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port of `host` and never listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind((host, 0))
    return sock


def free_port() -> int:
    with reserve_port() as sock:
        return int(sock.getsockname()[1])


def _host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname is not None and parsed.port is not None, url
    return parsed.hostname, parsed.port


async def connect_error(host: str, port: int, timeout: float = 3.0) -> str | None:
    """Why a TCP connection from this process to host:port fails, or None if it is accepted."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        return repr(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


class SiteProcess:
    """A process of the site; stdout is read as JSON lines, stderr goes to a log file."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def next_event(self, timeout: float) -> dict[str, Any]:
        """The next JSON object the process prints on stdout (other lines are skipped)."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while line := await self.proc.stdout.readline():
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if isinstance(event, dict):
                            return event
        except TimeoutError:
            raise SiteError(f"{self.name} printed nothing in {timeout} s\n--- log ---\n{self.log()[-4000:]}") from None
        raise SiteError(f"{self.name} ended (exit {await self.proc.wait()})\n--- log ---\n{self.log()[-4000:]}")

    async def tell(self, line: str) -> None:
        """Write one line to the process's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def kill(self) -> int:
        """SIGKILL the process (the site's power cut) and reap it; its exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        return await self.proc.wait()

    async def stop(self, grace: float = 3.0) -> None:
        """Close stdin (the site scripts exit on EOF), SIGTERM, then SIGKILL after `grace` seconds."""
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                await self.kill()


class Agent(SiteProcess):
    """An `ocpp-gateway tunnel` process: the site's only way to the gateway."""


class SiteCharger(SiteProcess):
    """A `tests.tunnel.site_charger` process: a zeep SOAP charger and its aiohttp endpoint."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        super().__init__(name, proc, log)
        self.endpoint_url = ""
        #: What the charger announces as wsa:From ("" until ready: then its endpoint's URL unless told otherwise).
        self.advertised = ""
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event") == "ready":
                self._ready.set_result(message["endpoint"])
            elif message.get("event") == "received":
                self.received.put_nowait(message)
        error = SiteError(f"{self.name} ended (exit {await self.proc.wait()})\n--- log ---\n{self.log()[-4000:]}")
        waiting: list[asyncio.Future[Any]] = [self._ready, *self._pending.values()]
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)
        self._pending.clear()

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        try:
            async with asyncio.timeout(timeout):
                self.endpoint_url = await self._ready
                self.advertised = self.advertised or self.endpoint_url
        except TimeoutError:
            raise SiteError(f"{self.name} not ready in {timeout} s\n--- log ---\n{self.log()[-4000:]}") from None

    async def _command(self, cmd: str, timeout: float, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        command_id = next(self._ids)
        future = self._pending[command_id] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write((json.dumps({"id": command_id, "cmd": cmd, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(timeout):
                return dict(await future)
        finally:
            self._pending.pop(command_id, None)

    async def try_call(self, operation: str, /, timeout: float = 15.0, patient: bool = False,
                       **fields: Any) -> dict[str, Any]:
        """The charger's own request; the reply as the script reports it ({"ok": bool, ...}).

        patient: retry while the agent answers 503 (right after it registered, it may not have read
        the gateway's answer yet; a charger retries then, as the agent asks it to).
        """
        return await self._command("call", timeout, operation=operation, fields=fields, patient=patient)

    async def call(self, operation: str, /, timeout: float = 15.0, patient: bool = False, **fields: Any) -> Fields:
        """The charger's own request; the response fields, or SiteCallError."""
        reply = await self.try_call(operation, timeout, patient, **fields)
        if not reply["ok"]:
            raise SiteCallError(operation, reply)
        return dict(reply["result"])

    async def answer(self, operation: str, fields: Fields) -> None:
        """From now on the endpoint answers `operation` with `fields`."""
        await self._command("answer", 10.0, operation=operation, fields=fields)

    async def hold(self, operation: str) -> None:
        """From now on the endpoint never answers `operation`."""
        await self._command("hold", 10.0, operation=operation)

    async def compress(self, coding: str | None) -> None:
        """From now on the charger's requests and its endpoint's answers use this content coding."""
        await self._command("compress", 10.0, coding=coding)

    async def violations(self) -> list[str]:
        """What the charger found wrong in the answers it got and the requests its endpoint got."""
        return list((await self._command("violations", 10.0))["result"])

    async def next_call(self, timeout: float = 10.0) -> tuple[str, Fields]:
        """The next request the endpoint received: (operation, fields)."""
        async with asyncio.timeout(timeout):
            received = await self.received.get()
        return received["operation"], received["fields"]

    async def stop(self, grace: float = 3.0) -> None:
        await super().stop(grace)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, SiteError):
            await self._reader


class Site:
    """Where a charger and its agent run; `gateway_host` is the address the gateway listens on."""

    kind: SiteKind
    gateway_host: str

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[SiteProcess] = []
        self._reserved: list[socket.socket] = []
        self.agent_listen = ""

    def argv(self, *argv: str) -> list[str]:
        """The command line that runs `argv` at the site."""
        return list(argv)

    def _reserve(self) -> int:
        sock = reserve_port()
        self._reserved.append(sock)
        return int(sock.getsockname()[1])

    def endpoint_port(self) -> int:
        """A port for a charger's endpoint that the gateway's host refuses connections on."""
        return self._reserve()

    def from_address(self, endpoint_port: int) -> str | None:
        """What the charger on `endpoint_port` announces as wsa:From (None: its endpoint's URL)."""
        return None

    @property
    def listen_url(self) -> str:
        """Where the charger posts its own requests: the agent's --listen."""
        return f"http://{self.agent_listen}/"

    async def _spawn(self, cls: type[SiteProcess], name: str, argv: list[str]) -> Any:
        log = self.tmp_path / f"{name}.log"
        with log.open("ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(*argv), cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = cls(name, proc, log)
        self.processes.append(process)
        return process

    @staticmethod
    def endpoint_url(port: int) -> str:
        """The URL of a charger's endpoint on `port` (where the site's processes reach it)."""
        return f"http://127.0.0.1:{port}/ChargePointService"

    async def charger(self, version: str, charge_box_id: str, *, post_url: str | None = None,
                      advertise: str | None = None, port: int | None = None) -> SiteCharger:
        """Start a SOAP charger at the site and wait until its endpoint listens.

        port: its endpoint's port, from `endpoint_port()` (by default a new one), so that an agent
        can be started with `endpoint_url(port)` before the charger is ready.
        """
        port = port or self.endpoint_port()
        advertise = advertise or self.from_address(port)
        argv = [sys.executable, "-m", "tests.tunnel.site_charger", "--version", version, "--id", charge_box_id,
                "--post-url", post_url or self.listen_url, "--port", str(port),
                *(["--advertise", advertise] if advertise else [])]
        charger: SiteCharger = await self._spawn(SiteCharger, f"charger-{charge_box_id}-{next(_serial)}", argv)
        charger.advertised = advertise or ""
        await charger.wait_ready()
        assert charger.endpoint_url == self.endpoint_url(port), charger.endpoint_url
        return charger

    async def session(self, version: str, charge_box_id: str) -> tuple[SiteProcess, int]:
        """Start the interop charger's day at the site (`tests.tunnel.site_session`); (process, endpoint port)."""
        port = self.endpoint_port()
        advertise = self.from_address(port)
        argv = [sys.executable, "-m", "tests.tunnel.site_session", "--version", version, "--id", charge_box_id,
                "--post-url", self.listen_url, "--port", str(port),
                *(["--advertise", advertise] if advertise else [])]
        process: SiteProcess = await self._spawn(SiteProcess, f"session-{charge_box_id}-{next(_serial)}", argv)
        return process, port

    async def agent(self, gateway_url: str, site: str, token: str, chargers: Mapping[str, str], *,
                    listen: bool = True, extra: tuple[str, ...] = ()) -> Agent:
        """Start `ocpp-gateway tunnel` at the site (it is not waited for: see the tests' registration wait)."""
        argv = [str(BIN / "ocpp-gateway"), "tunnel", "--gateway", gateway_url, "--site", site, "--token", token]
        for charge_box_id, url in chargers.items():
            argv += ["--charger", f"{charge_box_id}={url}"]
        if listen:
            argv += ["--listen", self.agent_listen]
        agent: Agent = await self._spawn(Agent, f"agent-{site}-{next(_serial)}", [*argv, *extra])
        return agent

    async def agent_from_file(self, config: Mapping[str, Any], name: str = "agent") -> Agent:
        """Start `ocpp-gateway tunnel --config FILE` at the site, FILE holding `config` (YAML) plus `listen`."""
        path = self.tmp_path / f"{name}-{next(_serial)}.yaml"
        path.write_text(yaml.safe_dump({**config, "listen": self.agent_listen}))
        agent: Agent = await self._spawn(Agent, path.stem, [str(BIN / "ocpp-gateway"), "tunnel", "--config", str(path)])
        return agent

    async def reachability(self, charger: SiteCharger) -> dict[str, dict[str, str | None]]:
        """TCP connection attempts: {"gateway host": {address: error}, "site": {address: error}}.

        From the gateway's host, to what the charger announces as wsa:From (and, in a namespace,
        to its endpoint's port on the namespace's veth address); from the site, to the endpoint
        itself. An error of None means the connection was accepted.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Stop every process of the site, release its ports."""
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                await process.stop()
        for sock in self._reserved:
            sock.close()


class LoopbackSite(Site):
    """The fallback: all on the host's loopback; the charger announces a closed port as wsa:From."""

    kind: SiteKind = "loopback"
    gateway_host = "127.0.0.1"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.agent_listen = f"127.0.0.1:{free_port()}"

    def endpoint_port(self) -> int:
        return free_port()

    def from_address(self, endpoint_port: int) -> str | None:
        return f"http://127.0.0.1:{self._reserve()}/ChargePointService"

    async def reachability(self, charger: SiteCharger) -> dict[str, dict[str, str | None]]:
        announced, endpoint = _host_port(charger.advertised), _host_port(charger.endpoint_url)
        return {"gateway host": {f"{announced[0]}:{announced[1]}": await connect_error(*announced)},
                "site": {f"{endpoint[0]}:{endpoint[1]}": await connect_error(*endpoint)}}


class NetnsSite(Site):
    """A network namespace joined to the host by a veth pair (see the module's docstring)."""

    kind: SiteKind = "netns"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        serial = next(_serial)
        pid = os.getpid()
        self.name = f"{PREFIX}-{pid}-{serial}"
        self.host_if = f"ogh{pid}x{serial}"[:15]
        self.ns_if = f"ogn{pid}x{serial}"[:15]
        self.agent_listen = f"127.0.0.1:{NS_AGENT_PORT}"
        self.gateway_host = ""
        self.ns_host = ""
        self._created = False

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def create(self) -> NetnsSite:
        delete_stale_namespaces()
        network = self._free_network()
        host_addr, ns_addr = list(network.hosts())
        _ip("netns", "add", self.name)
        self._created = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
        _ip("addr", "add", f"{host_addr}/{network.prefixlen}", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.name, "addr", "add", f"{ns_addr}/{network.prefixlen}", "dev", self.ns_if)
        _ip("-n", self.name, "link", "set", self.ns_if, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")
        self.gateway_host, self.ns_host = str(host_addr), str(ns_addr)
        return self

    def _free_network(self) -> ipaddress.IPv4Network:
        taken = [ipaddress.ip_interface(word).network for line in _ip("-4", "-o", "addr", "show").stdout.splitlines()
                 for word in line.split() if re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", word)]
        start = (os.getpid() * 7 + next(_serial)) % 16384
        for index in itertools.chain(range(start, 16384), range(start)):
            network = ipaddress.IPv4Network(f"10.231.{index // 64}.{(index % 64) * 4}/30")
            if not any(network.overlaps(other) for other in taken):
                return network
        raise SiteError("no free /30 in 10.231.0.0/16 for the veth pair")

    def cut(self) -> None:
        """Cut the site's link silently (host end of the veth down): no FIN, no RST, packets just vanish."""
        _ip("link", "set", self.host_if, "down")

    def reconnect(self) -> None:
        """Bring the site's link back."""
        _ip("link", "set", self.host_if, "up")

    async def reachability(self, charger: SiteCharger) -> dict[str, dict[str, str | None]]:
        announced = _host_port(charger.advertised)
        port = _host_port(charger.endpoint_url)[1]
        host = {f"{address}:{p}": await connect_error(address, p)
                for address, p in (announced, (self.ns_host, port))}
        probe = ("import socket, sys\n"
                 "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3).close()\n"
                 "except OSError as exc:\n    print(repr(exc))\n")
        ran = await asyncio.create_subprocess_exec(*self.argv(sys.executable, "-c", probe, str(port)),
                                                   stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(ran.communicate(), 20)
        return {"gateway host": host, "site": {f"127.0.0.1:{port}": out.decode().strip() or None}}

    async def close(self) -> None:
        await super().close()
        if self._created:
            _ip("netns", "del", self.name, check=False)  # takes the veth pair with it
        _ip("link", "del", self.host_if, check=False)


@asynccontextmanager
async def open_site(kind: SiteKind, tmp_path: Path) -> AsyncIterator[Site]:
    """A site of `kind`; everything it started is stopped and its namespace deleted on exit."""
    site: Site = NetnsSite(tmp_path) if kind == "netns" else LoopbackSite(tmp_path)
    try:
        if isinstance(site, NetnsSite):
            site.create()
        yield site
    finally:
        await site.close()


# ---- the gateway's side of it --------------------------------------------------------------------


async def tunnels_connected(gateway: Gateway) -> float:
    """Agents connected and registered, as the gateway's /metrics tells."""
    return await metric(gateway, "gateway_tunnels_connected")


async def wait_metric(gateway: Gateway, read: Callable[[Gateway], Awaitable[float]], predicate: Callable[[float], bool],
                      what: str, timeout: float = REGISTER_BOUND, agent: Agent | None = None) -> float:
    """Poll the gateway's /metrics until `predicate(value)` holds; fail saying `what` (with the agent's log).

    Polling: the agent is a process we do not control, and its registration has no event to await.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = float(await read(gateway))
        if predicate(value):
            return value
        log = f"\n--- agent log ---\n{agent.log()[-3000:]}" if agent is not None else ""
        if agent is not None and agent.returncode is not None:
            raise AssertionError(f"{what}: the agent exited ({agent.returncode}) first{log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last value {value}){log}")
        await asyncio.sleep(0.05)


async def wait_registered(gateway: Gateway, agent: Agent) -> None:
    """Until the gateway counts a registered agent (the agent's log goes into the failure)."""
    await wait_metric(gateway, tunnels_connected, lambda value: value >= 1, "the agent registered", agent=agent)


async def wait_unregistered(gateway: Gateway) -> None:
    """Until the gateway counts no agent."""
    await wait_metric(gateway, tunnels_connected, lambda value: value == 0, "the gateway saw the tunnel go")
