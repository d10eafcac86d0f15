"""SessionRunner: one charger connection, its upstream leg, and the ChargerSession between them.

The runner decides nothing about the protocol: it feeds frames, link events and the clock to the
session and carries out the commands that come back, in order, under one lock per charger.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Final

from aiohttp import WSMsgType

from gateway.core import backoff, ids16, ocppj
from gateway.core.dialects import Dialect
from gateway.core.ocppj import CallError
from gateway.core.session import (
    AwayCall,
    ChargerSession,
    Command,
    Completed,
    DropOldest,
    Dropped,
    Enqueue,
    InternalBug,
    Leg,
    OwnCall,
    Received,
    Refused,
    Replayed,
    Save,
    Send,
    Translator,
)
from gateway.errors import Overloaded, RemoteError, SchemaViolation
from gateway.metrics import action_label
from gateway.net import upstream as upstream_mod
from gateway.net.context import ChargerLog, GatewayContext
from gateway.net.links import ChargerLink
from gateway.net.runner_outbox import RunnerOutboxMixin
from gateway.net.ws_timers import stop_heartbeat

log = logging.getLogger(__name__)

#: RFC 6455 section 7.4.1: codes an endpoint may not put in a Close frame itself.
_RESERVED_CLOSE_CODES: Final = frozenset({1005, 1006, 1015})
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TRY_AGAIN_LATER: Final = 1013
_BINARY: Final = "OCPP-J frames must be WebSocket text frames"


def _head(data: bytes) -> str:
    return bytes(data[:128]).decode("utf-8", "replace")


class SessionRunner(RunnerOutboxMixin):
    """Runs one charger connection until either side closes it."""

    def __init__(self, ctx: GatewayContext, charge_box_id: str, dialect: Dialect, link: ChargerLink,
                 *, charger_timeout: float | None = None) -> None:
        self.charge_box_id = charge_box_id
        self.dialect = dialect
        self.log = ChargerLog(log, charge_box_id)
        self._ctx = ctx
        self.link = link
        self._charger_timeout = charger_timeout or ctx.config.listen.response_timeout
        self._upstream: upstream_mod.Socket | None = None
        self._session = self._new_session(None)
        self._debug = self.log.isEnabledFor(logging.DEBUG)
        self._dialects = {Leg.CHARGER: dialect, Leg.CSMS: ctx.config.upstream.dialect}
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._closing = False
        #: CSMS-away policies already logged in the current outage (a Heartbeat per minute is not news).
        self._away_logged: set[str] = set()
        #: The outbox replay (one at a time), and the outcome of the entry it is waiting for.
        self._drain_task: asyncio.Task[None] | None = None
        self._replay_wait: tuple[int, asyncio.Future[tuple[str, str]]] | None = None
        self.done = asyncio.Event()

    def _new_session(self, translator: Translator | None) -> ChargerSession:
        config = self._ctx.config
        return ChargerSession(
            self.dialect,
            config.upstream.dialect,
            translator,
            charger_timeout=self._charger_timeout,
            csms_timeout=config.upstream.response_timeout,
            max_queued=config.limits.max_queued_calls,
            max_frame=config.limits.max_frame_bytes,
            new_id=ocppj.new_message_id,
            wall_clock=time.time,
            outbox_limit=config.outbox.max_messages if config.outbox.enabled else 0,
            stop_on_late_refusal=config.outbox.stop_on_late_refusal,
        )

    async def run(self) -> None:
        """Serve the charger until it or the CSMS goes away; always leaves both sockets closed."""
        metrics = self._ctx.metrics
        metrics.chargers_connected.labels(self.dialect).inc()
        try:
            if self.dialect.json_family != self._ctx.config.upstream.dialect.json_family:
                # Translation state is loaded before the first frame is read, so nothing races it.
                self._session = self._new_session(await self._ctx.make_translator(self.charge_box_id, self.dialect))
            # What an earlier connection (or process) queued is replayed once the CSMS leg is up, even
            # with outbox.enabled turned off since: nothing acknowledged is left behind.
            self._session.set_outbox(*await self._ctx.store.outbox_counts(self.charge_box_id))
            if self._session.passthrough:
                self._session.load_ids16(await self._ctx.store.get_value(self.charge_box_id, ids16.STORE_KEY))
            await self._serve()
        except Exception:
            metrics.internal_errors.inc()
            self.log.exception("unexpected error; closing the connection")
        finally:
            self._closing = True
            if self._timer is not None:
                self._timer.cancel()
            await self._close_upstream(CLOSE_GOING_AWAY, "charger disconnected")
            await self.link.close(CLOSE_GOING_AWAY, "gateway closing")
            metrics.chargers_connected.labels(self.dialect).dec()
            self.log.info("disconnected (code %s)", self.link.close_code)
            self.done.set()

    async def close(self, code: int, reason: str) -> None:
        """Close the charger's socket (replaced, shutting down) and wait until the runner is done."""
        self._closing = True
        await self.link.close(code, reason)
        await self.done.wait()

    async def _serve(self) -> None:
        try:
            self._upstream = await self._dial()
        except upstream_mod.UpstreamRefused as exc:
            return await self._refuse_charger(CLOSE_POLICY, str(exc))
        except upstream_mod.UpstreamUnreachable as exc:
            return await self._refuse_charger(CLOSE_TRY_AGAIN_LATER, str(exc))
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            upstream_task = tasks.create_task(self._upstream_loop(self._upstream))
            await self.link.serve(self)
            self._closing = True
            # Close the socket before cancelling: aiohttp releases a client connection only when its
            # close handshake runs to the end, and the reader then finishes by itself.
            await self._close_upstream(CLOSE_GOING_AWAY, "charger disconnected")
            upstream_task.cancel()
            if self._drain_task is not None:
                self._drain_task.cancel()

    async def _refuse_charger(self, code: int, reason: str) -> None:
        self.log.warning("upstream connection failed, closing the charger: %s", reason)
        await self.link.close(code, reason)

    # ---- CSMS leg -----------------------------------------------------------------------

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
                await self.feed_unreadable(Leg.CSMS, _head(msg.data), _BINARY)
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

    # ---- feeding the session and carrying out its commands ------------------------------

    async def feed_text(self, leg: Leg, text: str) -> None:
        """Feed one text frame that arrived on `leg` (the hot path, without a partial per frame)."""
        # Kept: on CPython 3.11, asyncio.get_running_loop() makes a getpid() system call every time.
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        lock = self._lock
        await lock.acquire()
        try:
            now = loop.time()
            self._session.receive(leg, text, now)
            await self._carry_out(loop, now)
        finally:
            lock.release()

    async def feed_unreadable(self, leg: Leg, head: str, problem: str) -> None:
        """Feed a frame that cannot be processed; `head` is its start, `problem` what is wrong."""
        await self._feed(partial(self._session.receive_unreadable, leg, head, problem))

    async def _feed(self, event: Callable[[float], None]) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            now = loop.time()
            event(now)
            await self._carry_out(loop, now)

    async def _carry_out(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """Carry out the session's commands in order; the caller holds the lock; `now` is the event's time."""
        # The hot path: every relayed frame gives one Received and one Send (and its answer a Completed).
        # Metrics are plain counter cells (gateway.metrics), looked up by the runner's own label tuple.
        metrics = self._ctx.metrics
        cells = metrics.message_cells
        dialects = self._dialects
        for command in self._session.commands():
            if type(command) is Received:
                leg, message_kind, action = command
                key = (leg, "in", dialects[leg], action, message_kind)
                cell = cells.get(key)
                if cell is None:
                    cell = metrics.message(*key)
                cell.value += 1
            elif type(command) is Send:
                # _send, inlined (a coroutine less per frame).
                leg, text, message, action = command
                if leg is Leg.CHARGER:
                    if self.link.closed:
                        self.log.warning("cannot send %s %s: charger leg is closed", action, message.kind)
                        continue
                    await self.link.send(command)
                else:
                    ws = self._upstream
                    if ws is None or ws.closed:
                        self.log.warning("cannot send %s %s: csms leg is closed", action, message.kind)
                        continue
                    try:
                        await ws.send_str(text)
                    except ConnectionError as exc:
                        # The CSMS went away after our last read: `closed` flips only once the reader has
                        # seen the end, which then reports the loss (redial, outstanding call failed).
                        self.log.warning("cannot send %s %s: csms connection is closing (%s)",
                                         action, message.kind, exc)
                        continue
                key = (leg, "out", dialects[leg], action, message.kind)
                cell = cells.get(key)
                if cell is None:
                    cell = metrics.message(*key)
                cell.value += 1
                if type(message) is CallError:
                    metrics.call_errors.labels(leg, message.error_code).inc()
                if self._debug:
                    self.log.debug("> %s %s", leg, text)
            elif type(command) is Completed:
                _, origin, seconds, outcome = command
                histogram = metrics.duration_cells.get((origin, outcome))
                if histogram is None:
                    histogram = metrics.duration(origin, outcome)
                histogram.observe(seconds)
            elif type(command) is Save:
                await self._ctx.store.set_value(self.charge_box_id, command.key, command.value)
            elif type(command) is Enqueue or type(command) is DropOldest:
                await self._store_outbox_command(command)
            else:
                self._note(command)
        self._schedule_tick(loop, now)

    def _note(self, command: Command) -> None:
        """The rare commands: refusals and dropped replies (_carry_out counts Received and Completed)."""
        metrics = self._ctx.metrics
        match command:
            case Refused(leg, action, error):
                self._log_refusal(leg, action, error)
            case AwayCall(action, policy):
                self._note_away(action, policy)
            case Replayed() | OwnCall():
                self._note_outbox_command(command)
            case Dropped(leg, unique_id, late):
                metrics.replies_dropped.labels(leg, "late" if late else "unknown").inc()
                self.log.info("dropped %s reply %s from the %s: no call outstanding with that id",
                              "late" if late else "unknown", unique_id, leg)

    def _note_away(self, action: str, policy: str) -> None:
        """Count a call met by the CSMS-away policy; refusals are logged as such (Refused follows)."""
        self._ctx.metrics.csms_away_calls.labels(action_label(self.dialect, action), policy).inc()
        if policy == "queued":
            if policy not in self._away_logged:
                self._away_logged.add(policy)
                self.log.info("transaction messages go to the outbox (answered by the gateway, replayed in order "
                              "when the CSMS takes them): first %s", action)
        elif policy == "held":
            # Each one: a held transaction message is what an operator looks for after an outage.
            self.log.info("CSMS unreachable: %s waits for it (up to upstream.response_timeout)", action)
        elif policy == "answered" and policy not in self._away_logged:
            self._away_logged.add(policy)
            self.log.info("CSMS unreachable: the gateway answers %s itself until it is back", action)

    def _log_refusal(self, leg: Leg, action: str, error: Exception) -> None:
        metrics = self._ctx.metrics
        dialect = self._leg_dialect(leg)
        if isinstance(error, InternalBug):
            cause = error.__cause__
            self.log.error("%s", error, exc_info=(type(cause), cause, cause.__traceback__) if cause else None)
            metrics.internal_errors.inc()
            return
        if isinstance(error, SchemaViolation):
            target = self._leg_dialect(leg.other)
            metrics.schema_violations.labels("emitted", target, action_label(dialect, action)).inc()
            self.log.error("refused %s from the %s: %s", action or "frame", leg, error)
            return
        if isinstance(error, Overloaded):
            metrics.overload_refusals.labels(error.limit).inc()
        if isinstance(error, RemoteError) and error.ocpp_code.endswith(("ConstraintViolation", "FormatViolation")):
            metrics.schema_violations.labels("inbound", dialect, action_label(dialect, action)).inc()
        self.log.flood_warning("refused %s from the %s: %s", action or "frame", leg, error)

    def _leg_dialect(self, leg: Leg) -> Dialect:
        return self._dialects[leg]

    def _schedule_tick(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        # One timer per charger, moved only when a deadline comes earlier than it: deadlines mostly grow,
        # so a busy charger does not create and cancel a timer for every call. A timer that fires with
        # nothing due is harmless: the tick finds nothing and the next deadline is scheduled.
        if self._closing or self._tasks is None:
            return
        timer = self._timer
        if timer is not None and timer.when() <= now + self._session.shortest_timeout:
            return  # what the event at `now` added is due no earlier than the timer: nothing to move
        deadline = self._session.next_deadline()
        if deadline is None:
            return
        if self._timer is not None:
            if deadline >= self._timer.when():
                return
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._tasks is not None and not self._closing:
            self._tasks.create_task(self._feed(self._session.tick))

