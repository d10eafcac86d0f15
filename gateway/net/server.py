"""The charger-facing aiohttp app: `/ocpp/{chargeBoxId}` for OCPP-J chargers, `/soap` for SOAP ones,
`/tunnel` for the NAT tunnel's site agents (gateway.net.tunnels).

Admission happens here, before the WebSocket upgrade: charge box id, allowlist, HTTP Basic auth
(OCPP security profiles 1 and 2) and subprotocol negotiation. Each refusal is an HTTP error with
a reason, one log line and one metric.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from aiohttp import web

from gateway.config import CHARGE_BOX_ID
from gateway.core.dialects import OCPPJ_DIALECTS, Dialect
from gateway.net.admission import authorized
from gateway.net.context import ChargerLog, GatewayContext
from gateway.net.links import WsLink
from gateway.net.runner import SessionRunner
from gateway.net.soap_server import handle_soap
from gateway.net.tunnels import handle_tunnel
from gateway.net.ws_timers import stop_heartbeat
from gateway.store import ChargerRecord

log = logging.getLogger(__name__)

CONTEXT: Final = web.AppKey("context", GatewayContext)
#: How long a replaced connection may take to close before the new one proceeds anyway.
_REPLACE_TIMEOUT: Final = 5.0


def charger_app(ctx: GatewayContext) -> web.Application:
    """Build the charger-facing application."""
    app = web.Application(client_max_size=ctx.config.limits.max_frame_bytes)
    app[CONTEXT] = ctx
    app.router.add_get("/ocpp/{charge_box_id}", ocpp_websocket)
    app.router.add_post("/soap", soap_endpoint)
    if ctx.tunnels is not None:
        app.router.add_get("/tunnel", tunnel_endpoint)
    return app


async def soap_endpoint(request: web.Request) -> web.Response:
    """OCPP 1.5 / 1.6 SOAP chargers (gateway.net.soap_server)."""
    return await handle_soap(request.app[CONTEXT], request)


async def tunnel_endpoint(request: web.Request) -> web.StreamResponse:
    """Site agents of the NAT tunnel (gateway.net.tunnels)."""
    ctx = request.app[CONTEXT]
    assert ctx.tunnels is not None  # the route exists only with a registry
    return await handle_tunnel(ctx, ctx.tunnels, request)


def _refuse(ctx: GatewayContext, charge_box_id: str, status: type[web.HTTPException], reason: str,
            metric: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    ChargerLog(log, charge_box_id).warning("connection refused: %s", reason)
    ctx.metrics.charger_refusals.labels(metric).inc()
    return status(text=reason + "\n", headers=headers)


async def ocpp_websocket(request: web.Request) -> web.StreamResponse:
    """Admit one OCPP-J charger and run it until it disconnects."""
    ctx = request.app[CONTEXT]
    charge_box_id = request.match_info["charge_box_id"]
    if not CHARGE_BOX_ID.fullmatch(charge_box_id):
        raise _refuse(ctx, "-", web.HTTPBadRequest, "invalid charge box id", "invalid_id")
    known = ctx.config.chargers.get(charge_box_id)
    if known is None and not ctx.config.listen.allow_unknown_chargers:
        raise _refuse(ctx, charge_box_id, web.HTTPNotFound, "unknown charge box id", "unknown_charger")
    if known is not None and known.password is not None and not authorized(request, charge_box_id, known.password):
        raise _refuse(ctx, charge_box_id, web.HTTPUnauthorized, "HTTP Basic authentication required", "auth",
                      {"WWW-Authenticate": 'Basic realm="ocpp-gateway", charset="UTF-8"'})
    dialect = _negotiate(request.headers.get("Sec-WebSocket-Protocol", ""))
    if dialect is None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "") or "none"
        raise _refuse(ctx, charge_box_id, web.HTTPBadRequest,
                      f"no supported OCPP subprotocol offered (offered: {offered}; supported: "
                      f"{', '.join(OCPPJ_DIALECTS)})", "subprotocol")
    ws = web.WebSocketResponse(
        protocols=(dialect,),
        heartbeat=ctx.config.listen.ping_interval or None,
        max_msg_size=ctx.config.limits.max_transport_frame_bytes,
    )
    if not ws.can_prepare(request).ok:
        raise _refuse(ctx, charge_box_id, web.HTTPBadRequest, "expected a WebSocket upgrade", "not_websocket")
    await ws.prepare(request)
    runner = SessionRunner(ctx, charge_box_id, dialect, WsLink(ws))
    runner.log.info("connected with %s from %s", dialect, request.remote)
    await _replace_previous(ctx, runner)
    await ctx.store.upsert_charger(ChargerRecord(charge_box_id, dialect, time.time()))
    try:
        await runner.run()
    finally:
        stop_heartbeat(ws)
        if ctx.runners.get(charge_box_id) is runner:
            del ctx.runners[charge_box_id]
        await ctx.store.touch_charger(charge_box_id, time.time())
    return ws


async def _replace_previous(ctx: GatewayContext, runner: SessionRunner) -> None:
    # As CSMSs do: the newest connection of a charge box wins; the old one is closed first so that
    # the CSMS sees its upstream leg go before the new one is dialed.
    previous = ctx.runners.get(runner.charge_box_id)
    ctx.runners[runner.charge_box_id] = runner
    if previous is not None:
        runner.log.info("replacing the previous connection of this charge box")
        try:
            async with asyncio.timeout(_REPLACE_TIMEOUT):
                await previous.close(1000, "replaced by a new connection of the same charge box")
        except TimeoutError:
            runner.log.warning("previous connection did not close in time; continuing")


def _negotiate(header: str) -> Dialect | None:
    # The charger's order of preference wins (RFC 6455 section 4.2.2 lets the server choose; OCPP
    # chargers list their preferred version first).
    for offered in (p.strip() for p in header.split(",")):
        if offered in OCPPJ_DIALECTS:
            return Dialect(offered)
    return None
