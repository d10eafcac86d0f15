"""The admin app: GET /metrics (Prometheus text) and GET /healthz (200 once ready)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.metrics import Metrics

_METRICS: Final = web.AppKey("metrics", Metrics)
_READY: Final = web.AppKey[Callable[[], bool]]("ready")


def admin_app(metrics: Metrics, ready: Callable[[], bool]) -> web.Application:
    """Build the admin application; `ready` says whether the gateway listens and its store is open."""
    app = web.Application()
    app[_METRICS] = metrics
    app[_READY] = ready
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    if request.app[_READY]():
        return web.Response(text="ok\n")
    return web.Response(status=503, text="starting or stopping\n")
