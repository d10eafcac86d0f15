"""What every charger's runner shares: config, metrics, store, the upstream HTTP client, the registries."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from gateway.config import Config
from gateway.core.dialects import Dialect
from gateway.core.session import Translator
from gateway.metrics import Metrics
from gateway.store import StateStore

if TYPE_CHECKING:
    from gateway.net.runner import SessionRunner
    from gateway.net.tunnels import TunnelRegistry

#: Builds a charger's translator, loading its state: (store, charge box id, charger dialect, upstream dialect).
TranslatorFactory = Callable[[StateStore, str, Dialect, Dialect], Awaitable[Translator | None]]


class ChargerLog(logging.LoggerAdapter[logging.Logger]):
    """Puts the charge box id on every log record of one charger."""

    #: A peer can repeat a refused message at will: per window, this many such lines are logged.
    FLOOD_LINES: Final = 10
    FLOOD_WINDOW: Final = 10.0

    def __init__(self, logger: logging.Logger, charge_box_id: str) -> None:
        super().__init__(logger, {"charge_box_id": charge_box_id})
        self._window_start = -self.FLOOD_WINDOW
        self._window_lines = 0
        self._suppressed = 0

    def flood_warning(self, msg: str, *args: object) -> None:
        """A WARNING about something the peer may repeat (a refusal): rate-limited, so a flooding charger
        cannot fill the disk; the lines left out are counted in the next window's first line, and
        every refusal is still counted in the metrics."""
        now = time.monotonic()
        if now - self._window_start >= self.FLOOD_WINDOW:
            if self._suppressed:
                self.warning("%d more refusals of this charger were not logged in %g s (the metrics count them)",
                             self._suppressed, self.FLOOD_WINDOW)
            self._window_start, self._window_lines, self._suppressed = now, 0, 0
        if self._window_lines < self.FLOOD_LINES:
            self._window_lines += 1
            self.warning(msg, *args)
        else:
            self._suppressed += 1

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = self.extra
        return msg, kwargs


@dataclass(slots=True)
class Starting:
    """Serializes the start of one charger's session; dropped once nobody waits on it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass(slots=True)
class GatewayContext:
    """Shared services of one gateway instance."""

    config: Config
    metrics: Metrics
    store: StateStore
    http: aiohttp.ClientSession
    upstream_tls: ssl.SSLContext | None
    translators: TranslatorFactory | None = None
    runners: dict[str, SessionRunner] = field(default_factory=dict)
    #: The gateway's /soap URL as bound (wsa:From of calls to SOAP chargers unless soap.public_url is set).
    soap_url: str = ""
    #: Runners of SOAP chargers, which no HTTP request owns (each lives across many requests).
    soap_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: SOAP chargers whose session is being started, with what serializes the start (gateway.net.soap_server).
    soap_starting: dict[str, Starting] = field(default_factory=dict)
    #: Site agents of the NAT tunnel (GET /tunnel), and which SOAP chargers they carry.
    tunnels: TunnelRegistry | None = None

    async def make_translator(self, charge_box_id: str, charger_dialect: Dialect) -> Translator | None:
        """A translator for one charger, its state loaded from the store (None: no translation exists)."""
        if self.translators is None:
            return None
        return await self.translators(self.store, charge_box_id, charger_dialect, self.config.upstream.dialect)
