"""The CSMS leg of a SessionRunner: dialling the CSMS, reading it, and redialling while the charger stays.

One upstream WebSocket per charger (gateway.net.upstream dials it). A refused or unreachable CSMS at the
first dial closes the charger with a reason; a lost connection is redialled with jittered backoff for up
to upstream.offline_close_after seconds (docs/reliability.md); a CSMS that closes cleanly closes the charger.
What the leg's coming and going means for the calls in flight is the session's decision (leg_up, leg_down).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Final

from aiohttp import WSMsgType

from gateway.core import backoff
from gateway.core.session import ChargerSession, Leg
from gateway.net import upstream as upstream_mod
from gateway.net.links import BINARY_FRAME, ChargerLink, frame_head
from gateway.net.ws_timers import stop_heartbeat

if TYPE_CHECKING:
    from gateway.net.context import ChargerLog, GatewayContext

#: RFC 6455 section 7.4.1: codes an endpoint may not put in a Close frame itself.
_RESERVED_CLOSE_CODES: Final = frozenset({1005, 1006, 1015})
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TRY_AGAIN_LATER: Final = 1013


class UpstreamLegMixin:
    """Dials, reads and redials the charger's CSMS connection; the runner feeds what it reads to the session."""

    if TYPE_CHECKING:
        charge_box_id: str
        log: ChargerLog
        link: ChargerLink
        _ctx: GatewayContext
        _session: ChargerSession
        _upstream: upstream_mod.Socket | None
        _closing: bool
        _away_logged: set[str]

        async def _feed(self, event: Callable[[float], None]) -> None: ...
        async def feed_text(self, leg: Leg, text: str) -> None: ...
        async def feed_unreadable(self, leg: Leg, head: str, problem: str) -> None: ...
        def _start_drain(self) -> None: ...

    async def _dial(self) -> upstream_mod.Socket:
        ctx = self._ctx
        try:
            return await upstream_mod.dial(ctx.http, ctx.config, self.charge_box_id, ctx.upstream_tls)
        except upstream_mod.UpstreamRefused:
            ctx.metrics.upstream_failures.labels("refused").inc()
            raise
        except upstream_mod.UpstreamUnreachable as exc:
            ctx.metrics.upstream_failures.labels(exc.reason).inc()
            raise

    async def _upstream_loop(self, ws: upstream_mod.Socket | None) -> None:
        while ws is not None:
            self._upstream = ws
            self._ctx.metrics.upstream_connected.inc()
            self._away_logged.clear()
            self.log.info("upstream connected (%s)", self._ctx.config.upstream.dialect)
            try:
                await self._feed(partial(self._session.leg_up, Leg.CSMS))
                self._start_drain()
                clean = await self._read_upstream(ws)
            finally:
                stop_heartbeat(ws)
                self._ctx.metrics.upstream_connected.dec()
            await self._feed(partial(self._session.leg_down, Leg.CSMS))
            if self._closing:
                return
            if clean:
                code = ws.close_code or CLOSE_GOING_AWAY
                self.log.info("CSMS closed the connection (code %s); closing the charger", code)
                await self.link.close(code if code not in _RESERVED_CLOSE_CODES else CLOSE_GOING_AWAY,
                                       "CSMS closed the connection")
                return
            self.log.warning("upstream connection lost (code %s); reconnecting", ws.close_code)
            ws = await self._reconnect_within_grace()

    async def _read_upstream(self, ws: upstream_mod.Socket) -> bool:
        """Read until the connection ends; True if the CSMS closed it with a Close frame."""
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await self.feed_text(Leg.CSMS, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await self.feed_unreadable(Leg.CSMS, frame_head(msg.data), BINARY_FRAME)
            elif msg.type is WSMsgType.ERROR:
                self.log.warning("upstream connection error: %s", ws.exception())
        # aiohttp yields CLOSE (ending the loop) only for a Close frame the peer sent.
        return ws.close_code is not None and ws.close_code not in _RESERVED_CLOSE_CODES and not self._closing

    async def _reconnect_within_grace(self) -> upstream_mod.Socket | None:
        """Redial; after upstream.offline_close_after seconds without a CSMS, close the charger instead.

        A charger that stays connected believes the CSMS is there and does not queue its transaction
        messages itself; closing it (1013, try again later) puts it in its own offline mode, and it is
        refused with 1013 again when it reconnects before the CSMS is back (docs/reliability.md).
        """
        after = self._ctx.config.upstream.offline_close_after
        if not after:
            return await self._reconnect()
        try:
            async with asyncio.timeout(after):
                return await self._reconnect()
        except TimeoutError:
            self._ctx.metrics.csms_away_closes.inc()
            self.log.warning("CSMS unreachable for %g s (upstream.offline_close_after); closing the charger "
                             "with 1013 so it goes offline", after)
            await self.link.close(CLOSE_TRY_AGAIN_LATER, "CSMS unreachable")
            return None

    async def _reconnect(self) -> upstream_mod.Socket | None:
        config = self._ctx.config.upstream
        delays = backoff.delays(config.reconnect_initial_delay, config.reconnect_max_delay, random.uniform)
        while not self._closing:
            await asyncio.sleep(next(delays))
            if self._closing:
                return None
            try:
                ws = await self._dial()
            except upstream_mod.UpstreamRefused as exc:
                await self._refuse_charger(CLOSE_POLICY, str(exc))
                return None
            except upstream_mod.UpstreamUnreachable as exc:
                self.log.info("upstream still unavailable: %s", exc)
                continue
            self._ctx.metrics.upstream_reconnects.inc()
            return ws
        return None

    async def _close_upstream(self, code: int, reason: str) -> None:
        ws = self._upstream
        if ws is not None and not ws.closed:
            await ws.close(code=code, message=reason.encode())
        if ws is not None:
            stop_heartbeat(ws)

    async def _refuse_charger(self, code: int, reason: str) -> None:
        self.log.warning("upstream connection failed, closing the charger: %s", reason)
        await self.link.close(code, reason)
