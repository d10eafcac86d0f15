"""Composition root: opens the store, builds the apps, binds the sites, and shuts down in order.

Shutdown order (each step bounded so the whole fits in 5 seconds):
  1. stop listening: no new charger connections or tunnel agents;
  2. close the tunnels with 1001 (going away): calls in flight through them fail at once;
  3. close charger sockets with 1001; each runner then closes its upstream leg;
  4. close whatever upstream connections remain, and the shared HTTP client;
  5. close the admin listener;
  6. flush and close the state store.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
from typing import Final, final

from aiohttp import web

from gateway.config import Config
from gateway.metrics import Metrics
from gateway.net import upstream
from gateway.net.admin import admin_app
from gateway.net.context import GatewayContext
from gateway.net.server import charger_app
from gateway.net.tunnels import TunnelRegistry
from gateway.store import StateStore, open_store
from gateway.translation import load_translation_rules, translator_factory

log = logging.getLogger(__name__)

SHUTDOWN_BUDGET: Final = 5.0
_CLOSE_CHARGERS_BUDGET: Final = 3.0
_CLOSE_TUNNELS_BUDGET: Final = 1.0


@final
class Gateway:
    """One running gateway: listener, admin listener, store, and every charger's runner."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self._ctx: GatewayContext | None = None
        self._store: StateStore | None = None
        self._charger_runner: web.AppRunner | None = None
        self._charger_site: web.TCPSite | None = None
        self._admin_runner: web.AppRunner | None = None
        self._ready = False
        self.port = 0
        self.admin_port = 0

    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        """Open the store, then bind the admin and charger listeners; on failure undo what was done."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        config = self.config
        rules = load_translation_rules(config)
        self._store = await open_store(config.state.path)
        self.metrics.outbox_entries.set(await self._store.outbox_total())
        ctx = GatewayContext(
            config=config,
            metrics=self.metrics,
            store=self._store,
            http=upstream.client_session(),
            upstream_tls=upstream.tls_context(config),
            translators=translator_factory(config, rules),
            tunnels=TunnelRegistry(config, self.metrics),
        )
        self._ctx = ctx
        self._admin_runner = web.AppRunner(
            admin_app(self.metrics, lambda: self._ready), access_log=None, shutdown_timeout=1.0
        )
        await self._admin_runner.setup()
        admin_site = web.TCPSite(self._admin_runner, config.admin.host, config.admin.port)
        await admin_site.start()
        self.admin_port = _bound_port(self._admin_runner)
        # SOAP bodies are decompressed by soap_server under the body-size cap (no gzip bombs).
        self._charger_runner = web.AppRunner(
            charger_app(ctx), auto_decompress=False, access_log=None, shutdown_timeout=1.0
        )
        await self._charger_runner.setup()
        self._charger_site = web.TCPSite(
            self._charger_runner,
            config.listen.host,
            config.listen.port,
            ssl_context=_listen_tls(config),
        )
        await self._charger_site.start()
        self.port = _bound_port(self._charger_runner)
        scheme = "https" if config.listen.tls else "http"
        host = "127.0.0.1" if config.listen.host in ("0.0.0.0", "::", "") else config.listen.host
        ctx.soap_url = f"{scheme}://{host}:{self.port}/soap"
        # Everything allocated so far lives until shutdown (modules, schemas, apps): move it out of the
        # collector's view so full collections, which pause every charger, stay short.
        gc.freeze()
        self._ready = True
        log.info("listening on %s:%s, admin on %s:%s, upstream %s (%s)", config.listen.host, self.port,
                 config.admin.host, self.admin_port, config.upstream.url, config.upstream.dialect)

    async def stop(self) -> None:
        """Shut down in the order written at the top of this module."""
        self._ready = False
        if self._charger_site is not None:
            await self._charger_site.stop()
            self._charger_site = None
        if self._ctx is not None and self._ctx.tunnels is not None:
            try:
                async with asyncio.timeout(_CLOSE_TUNNELS_BUDGET):
                    await self._ctx.tunnels.close_all(1001, "gateway shutting down")
            except TimeoutError:
                log.warning("some tunnels did not close in time")
        if self._ctx is not None:
            runners = list(self._ctx.runners.values())
            if runners:
                log.info("closing %d charger connections", len(runners))
                try:
                    async with asyncio.timeout(_CLOSE_CHARGERS_BUDGET):
                        await asyncio.gather(*(r.close(1001, "gateway shutting down") for r in runners))
                except TimeoutError:
                    log.warning("some charger connections did not close in time")
            await self._ctx.http.close()
            self._ctx = None
        if self._charger_runner is not None:
            await self._charger_runner.cleanup()
            self._charger_runner = None
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        if self._store is not None:
            await self._store.close()
            self._store = None
        log.info("stopped")


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return 0


def _listen_tls(config: Config) -> ssl.SSLContext | None:
    tls = config.listen.tls
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    return context


async def serve(config: Config) -> None:
    """Run a gateway until SIGTERM or SIGINT, then shut it down within the budget."""
    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start()  # a failed start has undone itself (stop) before it raises
    try:
        await stop.wait()
        log.info("signal received, shutting down")
    finally:
        async with asyncio.timeout(SHUTDOWN_BUDGET):
            await gateway.stop()
