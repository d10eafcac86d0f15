"""What every charger's runner shares: config, metrics, store, the upstream HTTP client, the registry."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from gateway.config import Config
from gateway.core.dialects import Dialect
from gateway.core.session import Translator
from gateway.metrics import Metrics
from gateway.store import StateStore

if TYPE_CHECKING:
    from gateway.net.runner import SessionRunner


class ChargerLog(logging.LoggerAdapter[logging.Logger]):
    """Puts the charge box id on every log record of one charger."""

    def __init__(self, logger: logging.Logger, charge_box_id: str) -> None:
        super().__init__(logger, {"charge_box_id": charge_box_id})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = self.extra
        return msg, kwargs


@dataclass(slots=True)
class GatewayContext:
    """Shared services of one gateway instance."""

    config: Config
    metrics: Metrics
    store: StateStore
    http: aiohttp.ClientSession
    upstream_tls: ssl.SSLContext | None
    translators: Callable[[Dialect, Dialect], Translator | None] = lambda _c, _u: None
    runners: dict[str, SessionRunner] = field(default_factory=dict)

    def translator_for(self, charger_dialect: Dialect) -> Translator | None:
        """The translator between this charger dialect and the upstream one (None when none exists)."""
        return self.translators(charger_dialect, self.config.upstream.dialect)
