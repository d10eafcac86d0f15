"""Dialing the CSMS: one aiohttp WebSocket client connection per charger, in the upstream dialect.

aiohttp rather than the websockets client: one HTTP stack for both legs, one shared ClientSession
for the fleet, and a smaller per-connection footprint (no extra keepalive task per connection).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Final
from urllib.parse import quote

import aiohttp

from gateway.config import Config
from gateway.errors import PeerUnavailable

log = logging.getLogger(__name__)

Socket = aiohttp.ClientWebSocketResponse


class UpstreamRefused(PeerUnavailable):
    """The CSMS answered the upgrade with an HTTP client error or without our subprotocol: retrying won't help."""


class UpstreamUnreachable(PeerUnavailable):
    """The CSMS could not be reached or did not answer in time: worth retrying."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


_WS_TIMEOUT: Final = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
#: HTTP answers to the upgrade that say "not now" rather than "no" (RFC 9110 15.5.9, 15.6; RFC 6585 4):
#: a load balancer in front of a restarting CSMS answers 502/503/504 until a backend is up again.
_TEMPORARY: Final = frozenset({408, 429}) | frozenset(range(500, 600))


def client_session() -> aiohttp.ClientSession:
    """The fleet's shared HTTP client; no connection limit, since every charger holds one socket."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def tls_context(config: Config) -> ssl.SSLContext | None:
    """TLS settings for wss:// upstreams: the system store, or the configured CA file alone."""
    if not config.upstream.url.startswith("wss://"):
        return None
    return ssl.create_default_context(cafile=config.upstream.ca_file)


async def dial(
    http: aiohttp.ClientSession, config: Config, charge_box_id: str, tls: ssl.SSLContext | None
) -> Socket:
    """Open the upstream WebSocket for one charger.

    Raises:
        UpstreamRefused: the CSMS said no (an HTTP 4xx status, or no agreed subprotocol).
        UpstreamUnreachable: connection failed or timed out, or the CSMS (or its proxy) answered
            408, 429 or 5xx: worth retrying.
    """
    upstream = config.upstream
    url = f"{upstream.url}/{quote(charge_box_id, safe='')}"
    charger = config.chargers.get(charge_box_id)
    headers = dict(upstream.headers)
    if charger is not None and charger.upstream_password is not None:
        headers["Authorization"] = aiohttp.encode_basic_auth(charge_box_id, charger.upstream_password)
    try:
        async with asyncio.timeout(upstream.connect_timeout):
            ws = await http.ws_connect(
                url,
                protocols=(upstream.dialect,),
                headers=headers,
                heartbeat=upstream.ping_interval or None,
                ssl=tls if tls is not None else True,
                max_msg_size=config.limits.max_transport_frame_bytes,
                timeout=_WS_TIMEOUT,
            )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in _TEMPORARY:
            raise UpstreamUnreachable(f"CSMS temporarily unavailable: HTTP {exc.status}",
                                      reason="unavailable") from None
        raise UpstreamRefused(f"CSMS refused the connection: HTTP {exc.status}") from None
    except TimeoutError:
        raise UpstreamUnreachable("CSMS did not accept the connection in time", reason="timeout") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnreachable(f"CSMS unreachable: {exc}", reason="unreachable") from None
    if ws.protocol != upstream.dialect:
        await ws.close()
        raise UpstreamRefused(f"CSMS did not agree to subprotocol {upstream.dialect}")
    return ws
