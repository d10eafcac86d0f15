"""The gateway side of the NAT tunnel: `GET /tunnel` admits site agents; the registry routes charger ids to them.

An agent authenticates before the upgrade (site name in `?site=`, `Authorization: Bearer TOKEN`),
registers its chargers in its first frame, and then carries, multiplexed by frame id, the
CSMS-initiated SOAP calls of its chargers (`deliver`) and their own requests (`request` frames, served
exactly like POST /soap). The frame codec and the register decision are gateway.core.tunnel's;
this module only moves frames. Close codes toward agents: 1001 shutdown, 1002 protocol error before
registration, 1009 frame too large, 4000 replaced by a newer agent of the same site.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
from collections.abc import Mapping
from typing import Final, final

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from gateway.config import Config
from gateway.core import tunnel as frames
from gateway.core.dialects import Dialect
from gateway.core.tunnel import CLOSE_REPLACED, Carried, Register, Registered, TunnelFrameError, TunnelUnavailable
from gateway.errors import Overloaded
from gateway.metrics import Metrics
from gateway.net.context import ChargerLog, GatewayContext
from gateway.net.soap_link import overloaded_reply
from gateway.net.soap_server import serve_soap
from gateway.soap import codec
from gateway.soap.codec import SoapFault, XmlLimits
from gateway.soap.xml_safe import decompress

log = logging.getLogger(__name__)

CLOSE_PROTOCOL_ERROR: Final = 1002
_BEARER_CHALLENGE: Final = 'Bearer realm="ocpp-gateway"'
#: Compared against when the site is unknown, so an unknown site costs the same as a wrong token.
_NO_TOKEN: Final = secrets.token_urlsafe(32)
#: How long a replaced agent's tunnel may take to close before the new one proceeds anyway.
_REPLACE_TIMEOUT: Final = 5.0


@final
class AgentTunnel:
    """One connected agent: its WebSocket, the chargers it was accepted for, and the calls in flight."""

    def __init__(self, site: str, ws: web.WebSocketResponse) -> None:
        self.site = site
        self.chargers: dict[str, str] = {}
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Carried]] = {}

    async def call(self, charge_box_id: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Carried:
        """Send a `call` frame and wait for its reply or error frame.

        Raises:
            TunnelUnavailable: the tunnel is closed or closes before the answer, or no answer in time.
        """
        frame_id = next(self._ids)
        future: asyncio.Future[Carried] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = future
        try:
            await self.send(Carried("call", frame_id, charge_box_id, headers=headers, body=body))
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise TunnelUnavailable(f"no answer through the tunnel within {timeout:g} s",
                                    outcome="timeout") from None
        finally:
            self._pending.pop(frame_id, None)

    async def send(self, frame: Carried) -> None:
        """Send one carried frame.

        Raises:
            TunnelUnavailable: the tunnel is closed.
        """
        if self._ws.closed:
            raise TunnelUnavailable("the tunnel closed", outcome="dropped")
        try:
            await self._ws.send_bytes(frames.encode_carried(frame))
        except (ConnectionError, RuntimeError) as exc:
            raise TunnelUnavailable(f"the tunnel closed ({exc})", outcome="dropped") from None

    def answered(self, frame: Carried) -> bool:
        """Complete the call this reply or error frame answers; False if none is waiting for it."""
        future = self._pending.pop(frame.id, None) if isinstance(frame.id, int) else None
        if future is None or future.done():
            return False
        future.set_result(frame)
        return True

    def fail(self, frame_id: int, reason: str) -> None:
        """Fail the call with this id now, if it is in flight (its answer was unusable)."""
        future = self._pending.pop(frame_id, None)
        if future is not None and not future.done():
            future.set_exception(TunnelUnavailable(reason, outcome="error"))

    def fail_pending(self, reason: str) -> None:
        """Fail every call in flight at once (the tunnel dropped or was replaced)."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TunnelUnavailable(reason, outcome="dropped"))
        self._pending.clear()

    async def close(self, code: int, reason: str) -> None:
        self.fail_pending(f"the tunnel closed with the call in flight ({reason})")
        if not self._ws.closed:
            await self._ws.close(code=code, message=reason.encode()[:123])


@final
class TunnelRegistry:
    """Which agent carries which charger: at most one agent per site, each charger in at most one site."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        self._config = config.tunnel
        self._metrics = metrics
        self._by_site: dict[str, AgentTunnel] = {}
        self._by_charger: dict[str, AgentTunnel] = {}

    def carries(self, charge_box_id: str) -> bool:
        """True if the charger belongs to a tunnel site: its calls then go through the tunnel only."""
        return charge_box_id in self._config.site_of

    def local_url(self, charge_box_id: str) -> str:
        """The charger's own SOAP URL as its agent registered it (wsa:To of calls to it).

        Raises:
            TunnelUnavailable: no agent currently carries this charger.
        """
        tunnel = self._by_charger.get(charge_box_id)
        if tunnel is None:
            raise self._no_agent(charge_box_id)
        return tunnel.chargers[charge_box_id]

    async def deliver(self, charge_box_id: str, body: bytes, headers: Mapping[str, str],
                      timeout: float) -> Carried:
        """Carry one CSMS-initiated SOAP POST to the charger and return the agent's `reply` frame.

        Raises:
            TunnelUnavailable: no agent, the tunnel dropped, no answer within `timeout`, or the agent
                could not reach the charger (outcome "error", with the agent's reason).
        """
        tunnel = self._by_charger.get(charge_box_id)
        if tunnel is None:
            raise self._no_agent(charge_box_id)
        calls = self._metrics.tunnel_calls
        try:
            frame = await tunnel.call(charge_box_id, body, headers, timeout)
        except TunnelUnavailable as exc:
            calls.labels("to_charger", exc.outcome).inc()
            raise
        if frame.kind == "error":
            calls.labels("to_charger", "error").inc()
            raise TunnelUnavailable(f"the agent could not reach the charger: {frame.error}", outcome="error")
        calls.labels("to_charger", "ok").inc()
        return frame

    def _no_agent(self, charge_box_id: str) -> TunnelUnavailable:
        self._metrics.tunnel_calls.labels("to_charger", "no_agent").inc()
        site = self._config.site_of.get(charge_box_id, "?")
        if site in self._by_site:
            return TunnelUnavailable(f"the tunnel agent of site {site} has not registered this charger",
                                     outcome="no_agent")
        return TunnelUnavailable(f"no tunnel agent of site {site} is connected", outcome="no_agent")

    def attach(self, tunnel: AgentTunnel, accepted: Mapping[str, str]) -> AgentTunnel | None:
        """Route `accepted` charger ids to `tunnel`; returns the site's previous agent, to be closed."""
        previous = self._by_site.get(tunnel.site)
        if previous is not None:
            self._forget(previous)
            previous.fail_pending("the tunnel was replaced by a newer agent of the same site")
        tunnel.chargers = dict(accepted)
        self._by_site[tunnel.site] = tunnel
        for charge_box_id in accepted:
            self._by_charger[charge_box_id] = tunnel
        return previous

    def detach(self, tunnel: AgentTunnel, reason: str) -> None:
        """Forget a closed tunnel (if it is still the current one) and fail its calls in flight."""
        if self._by_site.get(tunnel.site) is tunnel:
            self._forget(tunnel)
        tunnel.fail_pending(f"the tunnel closed with the call in flight ({reason})")

    def _forget(self, tunnel: AgentTunnel) -> None:
        del self._by_site[tunnel.site]
        for charge_box_id in tunnel.chargers:
            if self._by_charger.get(charge_box_id) is tunnel:
                del self._by_charger[charge_box_id]

    async def close_all(self, code: int, reason: str) -> None:
        """Close every tunnel (shutdown)."""
        await asyncio.gather(*(tunnel.close(code, reason) for tunnel in list(self._by_site.values())))


# ---- GET /tunnel ------------------------------------------------------------------------------


async def handle_tunnel(ctx: GatewayContext, registry: TunnelRegistry, request: web.Request) -> web.StreamResponse:
    """Admit one agent and carry its exchanges until its WebSocket closes."""
    site = _authenticate(ctx, request)
    config = ctx.config.tunnel
    ws = web.WebSocketResponse(heartbeat=config.ping_interval or None, max_msg_size=config.max_frame_bytes)
    if not ws.can_prepare(request).ok:
        raise _refuse(ctx, request, web.HTTPBadRequest, "expected a WebSocket upgrade", "not_websocket")
    await ws.prepare(request)
    tunnel = AgentTunnel(site, ws)
    register = await _registration(ctx, ws, site, request.remote)
    if register is None:
        return ws
    accepted, refused = frames.admit(register.chargers, ctx.config.tunnel.sites[site].chargers)
    for charge_box_id, reason in refused.items():
        ctx.metrics.tunnel_refusals.labels(reason).inc()
        ChargerLog(log, charge_box_id[:48]).warning("tunnel of site %s: charger refused: %s", site,
                                                    frames.REFUSALS[reason])
    previous = registry.attach(tunnel, accepted)
    ctx.metrics.tunnels_connected.inc()
    try:
        if previous is not None:
            log.info("tunnel of site %s: a newer agent connected from %s; closing the previous one", site,
                     request.remote)
            try:
                async with asyncio.timeout(_REPLACE_TIMEOUT):
                    await previous.close(CLOSE_REPLACED, "replaced by a newer agent of the same site")
            except TimeoutError:
                log.warning("tunnel of site %s: the previous agent did not close in time; continuing", site)
        await ws.send_str(frames.encode_control(Registered(tuple(accepted), tuple(refused))))
        log.info("tunnel of site %s connected from %s, carrying %s", site, request.remote,
                 ", ".join(accepted) or "no charger")
        await _carry(ctx, tunnel, ws)
    finally:
        ctx.metrics.tunnels_connected.dec()
        registry.detach(tunnel, f"code {ws.close_code}")
        log.info("tunnel of site %s disconnected (code %s)", site, ws.close_code)
    return ws


def _authenticate(ctx: GatewayContext, request: web.Request) -> str:
    """The agent's site, or HTTP 401; the answer is the same whatever was wrong."""
    site = request.query.get("site", "")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    configured = ctx.config.tunnel.sites.get(site)
    expected = configured.token if configured is not None else _NO_TOKEN
    token_ok = hmac.compare_digest(token.strip().encode(), expected.encode()) and scheme.lower() == "bearer"
    if configured is not None and token_ok:
        return site
    reason = "unknown_site" if configured is None else "bad_token"
    detail = f"unknown site {site[:64]!r}" if configured is None else f"wrong or missing token for site {site}"
    raise _refuse(ctx, request, web.HTTPUnauthorized, "tunnel authentication failed", reason,
                  {"WWW-Authenticate": _BEARER_CHALLENGE}, detail)


def _refuse(ctx: GatewayContext, request: web.Request, status: type[web.HTTPException], text: str, reason: str,
            headers: dict[str, str] | None = None, detail: str | None = None) -> web.HTTPException:
    log.warning("tunnel from %s refused: %s", request.remote, detail or text)
    ctx.metrics.tunnel_refusals.labels(reason).inc()
    return status(text=text + "\n", headers=headers)


async def _registration(ctx: GatewayContext, ws: web.WebSocketResponse, site: str,
                        remote: str | None) -> Register | None:
    """The agent's register frame; None (and the tunnel closed with 1002) if the first frame is not one."""
    problem = "no register frame in time"
    try:
        async with asyncio.timeout(ctx.config.tunnel.register_timeout):
            msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            control = frames.decode_control(msg.data)
            if isinstance(control, Register):
                return control
            problem = "the first frame must be register"
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return None
        else:
            problem = "the first frame must be a text register frame"
    except TunnelFrameError as exc:
        problem = f"bad register frame: {exc}"
    except TimeoutError:
        pass
    log.warning("tunnel of site %s from %s closed: %s", site, remote, problem)
    ctx.metrics.tunnel_refusals.labels("no_register").inc()
    await ws.close(code=CLOSE_PROTOCOL_ERROR, message=problem.encode()[:123])
    return None


async def _carry(ctx: GatewayContext, tunnel: AgentTunnel, ws: web.WebSocketResponse) -> None:
    """Read the agent's frames until the tunnel closes; each request is served in its own task."""
    requests: set[asyncio.Task[None]] = set()
    async with asyncio.TaskGroup() as tasks:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                frame = _decode(ctx, tunnel, msg.data)
                if frame is None:
                    continue
                if frame.kind == "request":
                    if len(requests) >= ctx.config.tunnel.max_requests_in_flight:
                        # Every request is its own task: without a bound one site's flood of requests
                        # (each holding its body) grows without limit and crowds out everyone else.
                        await _refuse_overloaded(ctx, tunnel, frame)
                        continue
                    task = tasks.create_task(_serve_request(ctx, tunnel, frame))
                    requests.add(task)
                    task.add_done_callback(requests.discard)
                elif frame.kind in ("reply", "error"):
                    if not tunnel.answered(frame):
                        log.info("tunnel of site %s: %s for call %s, which is no longer waiting", tunnel.site,
                                 frame.kind, frame.id)
                else:
                    _bad_frame(ctx, tunnel, f"an agent does not send {frame.kind} frames")
            elif msg.type is WSMsgType.TEXT:
                _bad_frame(ctx, tunnel, "a control frame after registration")
            elif msg.type is WSMsgType.ERROR:
                log.warning("tunnel of site %s: connection error: %s", tunnel.site, ws.exception())
        # The agent is gone: its charger requests can no longer be answered.
        for task in requests:
            task.cancel()


def _decode(ctx: GatewayContext, tunnel: AgentTunnel, data: bytes) -> Carried | None:
    # A malformed frame is dropped; the other exchanges go on. If its id names a call in flight, that
    # call fails now rather than at its timeout.
    try:
        return frames.decode_carried(data)
    except TunnelFrameError as exc:
        _bad_frame(ctx, tunnel, str(exc))
        if isinstance(exc.frame_id, int):
            tunnel.fail(exc.frame_id, f"malformed frame from the agent: {exc}")
        return None


def _bad_frame(ctx: GatewayContext, tunnel: AgentTunnel, problem: str) -> None:
    ctx.metrics.tunnel_refusals.labels("bad_frame").inc()
    log.warning("tunnel of site %s: frame dropped: %s", tunnel.site, problem)


async def _refuse_overloaded(ctx: GatewayContext, tunnel: AgentTunnel, frame: Carried) -> None:
    """Answer a carried request over tunnel.max_requests_in_flight with 503 and a Receiver fault, unserved."""
    limit = ctx.config.tunnel.max_requests_in_flight
    error = Overloaded(f"{limit} requests of this tunnel are already in progress; retry later")
    ctx.metrics.overload_refusals.labels("tunnel.max_requests_in_flight").inc()
    ctx.metrics.soap_faults.labels("sent", "InternalError").inc()
    dialect, message_id, charge_box_id = _sniff(ctx, frame)
    ChargerLog(log, charge_box_id).warning("tunnel of site %s: request refused with 503: %s", tunnel.site, error)
    reply = overloaded_reply(dialect, message_id, reason=str(error))
    response = Carried("response", frame.id, frame.charger, status=reply.status,
                       headers={"Content-Type": reply.content_type, **dict(reply.headers)}, body=reply.body)
    try:
        await tunnel.send(response)
    except TunnelUnavailable:
        ctx.metrics.tunnel_calls.labels("from_charger", "dropped").inc()
        return
    ctx.metrics.tunnel_calls.labels("from_charger", "overloaded").inc()


def _sniff(ctx: GatewayContext, frame: Carried) -> tuple[Dialect | None, str | None, str]:
    """The request's dialect, MessageID and chargeBoxIdentity as far as they can be read ("-" if not),
    so that its fault answers it in kind and the log names the charger.

    Decoded in the reader loop, one at a time: a flooding agent's frames then wait in its own socket.
    """
    soap = ctx.config.soap
    headers = CIMultiDict(frame.headers)
    try:
        if len(frame.body) > soap.max_body_bytes:
            return None, None, "-"
        body = decompress(frame.body, headers.get("Content-Encoding"), soap.max_body_bytes)
        request = codec.decode_request(body, content_type=headers.get("Content-Type"),
                                       soap_action=headers.get("SOAPAction"),
                                       limits=XmlLimits(soap.max_body_bytes, soap.max_depth))
    except SoapFault as fault:
        return fault.dialect, fault.relates_to, "-"
    return request.dialect, request.addressing.message_id, request.charge_box_id[:48]


async def _serve_request(ctx: GatewayContext, tunnel: AgentTunnel, frame: Carried) -> None:
    """Serve a charger's own request carried by the agent, as POST /soap would, and send the response."""
    try:
        reply = await serve_soap(ctx, frame.body, CIMultiDict(frame.headers), f"tunnel {tunnel.site}",
                                 registered=tunnel.chargers)
        response = Carried("response", frame.id, frame.charger, status=reply.status,
                           headers={"Content-Type": reply.content_type, **dict(reply.headers)}, body=reply.body)
    except Exception:
        ctx.metrics.internal_errors.inc()
        log.exception("tunnel of site %s: serving a carried request failed", tunnel.site)
        response = Carried("error", frame.id, frame.charger, error="the gateway failed to serve the request")
    try:
        await tunnel.send(response)
    except TunnelUnavailable:
        ctx.metrics.tunnel_calls.labels("from_charger", "dropped").inc()
        return
    ctx.metrics.tunnel_calls.labels("from_charger", "ok" if response.kind == "response" else "error").inc()
