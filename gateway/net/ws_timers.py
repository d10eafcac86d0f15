"""A workaround for aiohttp 3.14: closed WebSockets whose heartbeat timers keep them alive.

When data arrives on a WebSocket after it was closed (the peer's Close frame answering ours, say),
aiohttp 3.14.5 re-arms its heartbeat (`_reset_heartbeat` does not check `_closed`); the ping and
pong timers then hold the closed connection, its request, handler, transport and buffers for about
1.5 ping intervals. In an outage that is every grace close and every refused reconnect, ~11 KiB
each, which raised the gateway's memory high-water mark by tens of MiB per thousand chargers
(bench/README.md, "Why RSS steps at the first outage"). Cancelling the timers once the gateway is
done with a socket releases it at once.
"""

from __future__ import annotations

from aiohttp import ClientWebSocketResponse, web


def stop_heartbeat(ws: web.WebSocketResponse | ClientWebSocketResponse) -> None:
    """Cancel the heartbeat timers of a WebSocket the gateway is done with (a no-op where aiohttp has none)."""
    cancel = getattr(ws, "_cancel_heartbeat", None)
    if callable(cancel):
        cancel()
