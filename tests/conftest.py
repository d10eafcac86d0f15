"""Fixtures: a CSMS peer, and gateways started in-process on free loopback ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway.app import Gateway
from gateway.config import load_config
from tests.peers import Csms

GatewayFactory = Callable[..., Awaitable[Gateway]]
REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, upstream_url: str, dialect: str, **sections: Any) -> Path:
    """Write a gateway config on loopback with free ports; `sections` override or add top-level keys."""
    document: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0, "response_timeout": 5},
        "upstream": {"url": upstream_url, "dialect": dialect, "connect_timeout": 2, "response_timeout": 5,
                     "reconnect_initial_delay": 0.05, "reconnect_max_delay": 0.2},
        "admin": {"host": "127.0.0.1", "port": 0},
        "state": {"path": str(tmp_path / "state.sqlite")},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
async def csms() -> AsyncIterator[Csms]:
    server = await Csms().start()
    yield server
    await server.stop()


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def start(upstream_url: str, dialect: str, **sections: Any) -> Gateway:
        gateway = Gateway(load_config(write_config(tmp_path, upstream_url, dialect, **sections)))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


def charger_url(gateway: Gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/ocpp"


def free_port() -> int:
    """A loopback TCP port free right now (for gateways run as subprocesses, which need fixed ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(port: int) -> None:
    """Wait until a gateway subprocess answers /healthz with 200 (bounded)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(15):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)  # polling a process we do not control; no event to await
