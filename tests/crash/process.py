"""The gateway as a process that can be SIGKILLed, and a charger that reconnects like a real one."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import yaml
from websockets.exceptions import WebSocketException

from tests.conftest import REPO, free_port, wait_healthy, write_config
from tests.peers import Charger, connect_charger


class GatewayProcess:
    """The gateway as a process that can be killed; its stderr (the log) is read as it comes."""

    def __init__(self, tmp_path: Path, upstream_url: str, dialect: str, **sections: Any) -> None:
        config = yaml.safe_load(write_config(tmp_path, upstream_url, dialect, **sections).read_text())
        config["listen"]["port"], config["admin"]["port"] = free_port(), free_port()
        self.path = tmp_path / "run.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.url = f"ws://127.0.0.1:{config['listen']['port']}/ocpp"
        self.admin_port = int(config["admin"]["port"])
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.lines.clear()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "run", "--config", str(self.path), cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert self.process.stderr is not None
        self._reader = asyncio.create_task(self._read(self.process.stderr))
        await wait_healthy(self.admin_port)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()

    async def wait_for_log(self, text: str, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in line for line in self.lines):
                self._changed.clear()
                await self._changed.wait()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()  # SIGKILL
            await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


async def connect_retrying(url: str, charge_box_id: str) -> Charger:
    """Connect as a charger does after losing its CSMS: again and again until it is let in (bounded)."""
    async with asyncio.timeout(15):
        while True:
            try:
                return await connect_charger(url, charge_box_id, "ocpp1.6", response_timeout=10)
            except (OSError, WebSocketException, TimeoutError):
                await asyncio.sleep(0.05)  # a real charger's reconnect delay; there is no event to await
