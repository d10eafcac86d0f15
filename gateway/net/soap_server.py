"""`POST /soap`: OCPP 1.5 and 1.6 SOAP chargers (and their requests carried by a tunnel, gateway.net.tunnels).

Each request is read (bounded), decompressed, decoded (gateway.soap, which refuses hostile XML),
admitted (charge box id, allowlist, HTTP Basic) and handed to the charger's SOAP link, whose runner
holds the charger's upstream WebSocket between requests. Every refusal is a SOAP 1.2 fault with an
OCPP subcode, one log line and one metric.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from typing import Final

from aiohttp import web

from gateway.config import CHARGE_BOX_ID
from gateway.net.admission import basic_credentials_match
from gateway.net.context import ChargerLog, GatewayContext, Starting
from gateway.net.runner import SessionRunner
from gateway.net.soap_link import SoapLink, SoapReply, fault_reply
from gateway.soap import codec
from gateway.soap.codec import SoapFault, SoapRequest, XmlLimits
from gateway.soap.xml_safe import decompress
from gateway.store import ChargerRecord

log = logging.getLogger(__name__)

_READ_CHUNK: Final = 65_536
#: How long a replaced runner may take to close before the new one proceeds anyway.
_REPLACE_TIMEOUT: Final = 5.0
#: The same challenge the WebSocket endpoint sends (gateway.net.server).
_BASIC_CHALLENGE: Final = 'Basic realm="ocpp-gateway", charset="UTF-8"'


async def handle_soap(ctx: GatewayContext, request: web.Request) -> web.Response:
    """Serve one SOAP request from a charger."""
    try:
        raw = await _read_body(request, ctx.config.soap.max_body_bytes)
    except SoapFault as fault:
        reply = _refused(ctx, fault, request.remote)
    else:
        reply = await serve_soap(ctx, raw, request.headers, request.remote)
    return web.Response(status=reply.status, body=reply.body,
                        headers={"Content-Type": reply.content_type, **dict(reply.headers)})


async def serve_soap(ctx: GatewayContext, raw: bytes, headers: Mapping[str, str], remote: str | None, *,
                     registered: Collection[str] | None = None) -> SoapReply:
    """Serve one charger request, whatever carried it (POST /soap, or a tunnel's request frame).

    Args:
        raw: the body as it arrived (possibly compressed).
        headers: its HTTP headers (case-insensitive mapping).
        remote: the peer's address, for logs.
        registered: when the request came through a tunnel, the ids its agent was accepted for:
            any other chargeBoxIdentity is refused with a SecurityError fault.
    """
    soap = ctx.config.soap
    try:
        if len(raw) > soap.max_body_bytes:
            raise SoapFault(f"request body exceeds {soap.max_body_bytes} bytes")
        body = decompress(raw, headers.get("Content-Encoding"), soap.max_body_bytes)
        decoded = codec.decode_request(body, content_type=headers.get("Content-Type"),
                                       soap_action=headers.get("SOAPAction"),
                                       limits=XmlLimits(soap.max_body_bytes, soap.max_depth))
    except SoapFault as fault:
        return _refused(ctx, fault, remote)
    try:
        if registered is not None and decoded.charge_box_id not in registered:
            ctx.metrics.tunnel_refusals.labels("unregistered_identity").inc()
            raise SoapFault("this chargeBoxIdentity is not registered by this tunnel", subcode="SecurityError")
        _admit(ctx, headers.get("Authorization", ""), decoded)
    except SoapFault as fault:
        ctx.metrics.soap_faults.labels("sent", fault.subcode).inc()
        ChargerLog(log, decoded.charge_box_id[:48]).warning("SOAP request from %s refused: %s", remote, fault)
        reply = fault_reply(decoded.dialect, fault, decoded.addressing.message_id)
        if isinstance(fault, _Unauthorized):
            # HTTP clients (and operators' tools) retry with credentials only after a 401 challenge;
            # the fault body still tells a SOAP stack what happened.
            return reply._replace(status=401, headers=(("WWW-Authenticate", _BASIC_CHALLENGE),))
        return reply
    link = await _link_for(ctx, decoded)
    return await link.exchange(decoded)


def _refused(ctx: GatewayContext, fault: SoapFault, remote: str | None) -> SoapReply:
    ctx.metrics.soap_faults.labels("sent", fault.subcode).inc()
    ChargerLog(log, "-").warning("SOAP request from %s refused: %s", remote, fault)
    return fault_reply(fault.dialect, fault, fault.relates_to)


class _Unauthorized(SoapFault):
    """Missing or wrong HTTP Basic credentials: a SecurityError fault sent with 401 and a challenge."""


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise SoapFault(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise SoapFault(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _admit(ctx: GatewayContext, authorization: str, decoded: SoapRequest) -> None:
    charge_box_id = decoded.charge_box_id
    if not CHARGE_BOX_ID.fullmatch(charge_box_id):
        ctx.metrics.charger_refusals.labels("invalid_id").inc()
        raise SoapFault("invalid chargeBoxIdentity (1-48 URL-safe characters)", subcode="ProtocolError")
    known = ctx.config.chargers.get(charge_box_id)
    if known is None and not ctx.config.listen.allow_unknown_chargers:
        ctx.metrics.charger_refusals.labels("unknown_charger").inc()
        raise SoapFault("unknown chargeBoxIdentity", subcode="SecurityError")
    if known is not None and known.password is not None and \
            not basic_credentials_match(authorization, charge_box_id, known.password):
        ctx.metrics.charger_refusals.labels("auth").inc()
        raise _Unauthorized("HTTP Basic authentication required", subcode="SecurityError")


async def _link_for(ctx: GatewayContext, decoded: SoapRequest) -> SoapLink:
    """The charger's live SOAP link, started (with its runner and upstream leg) on its first request."""
    link = _live_link(ctx, decoded)
    if link is None:
        # Requests that arrive together (a charger after a power cycle) must share the session the first
        # one starts: each starting its own would open a second upstream WebSocket for the same id.
        starting = ctx.soap_starting.setdefault(decoded.charge_box_id, Starting())
        starting.users += 1
        try:
            async with starting.lock:
                link = _live_link(ctx, decoded) or await _start_link(ctx, decoded)
        finally:
            starting.users -= 1
            if starting.users == 0:
                del ctx.soap_starting[decoded.charge_box_id]
    await link.started.wait()
    return link


def _live_link(ctx: GatewayContext, decoded: SoapRequest) -> SoapLink | None:
    runner = ctx.runners.get(decoded.charge_box_id)
    if runner is not None and isinstance(runner.link, SoapLink) and not runner.link.closed \
            and runner.dialect is decoded.dialect:
        return runner.link
    return None


async def _start_link(ctx: GatewayContext, decoded: SoapRequest) -> SoapLink:
    charge_box_id = decoded.charge_box_id
    runner = ctx.runners.get(charge_box_id)
    if runner is not None:
        # The charger now speaks another version, or came back over SOAP after WebSocket: newest wins.
        try:
            async with asyncio.timeout(_REPLACE_TIMEOUT):
                await runner.close(1000, "replaced by a SOAP request of the same charge box")
        except TimeoutError:
            runner.log.warning("previous connection did not close in time; continuing")
    stored = await ctx.store.get_charger(charge_box_id)
    learnt = stored.soap_url if stored is not None else None
    configured = ctx.config.chargers.get(charge_box_id)
    callback = learnt or (configured.soap_url if configured else None)
    link = SoapLink(ctx, charge_box_id, decoded.dialect, callback)
    runner = SessionRunner(ctx, charge_box_id, decoded.dialect, link,
                           charger_timeout=ctx.config.soap.call_timeout + 1)
    ctx.runners[charge_box_id] = runner
    # Only a learnt wsa:From is state; storing the configured URL would outlive a change of the config.
    await ctx.store.upsert_charger(ChargerRecord(charge_box_id, decoded.dialect, time.time(), soap_url=learnt))
    runner.log.info("SOAP charger active (%s)", decoded.dialect)
    task = asyncio.create_task(_run(ctx, runner))
    ctx.soap_tasks.add(task)
    task.add_done_callback(ctx.soap_tasks.discard)
    return link


async def _run(ctx: GatewayContext, runner: SessionRunner) -> None:
    try:
        await runner.run()
    finally:
        if ctx.runners.get(runner.charge_box_id) is runner:
            del ctx.runners[runner.charge_box_id]
        await ctx.store.touch_charger(runner.charge_box_id, time.time())
