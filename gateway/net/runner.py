"""SessionRunner: one charger connection, its upstream leg, and the ChargerSession between them.

The runner decides nothing about the protocol: it feeds frames, link events and the clock to the
session and carries out the commands that come back, in order, under one lock per charger. The CSMS
leg (dial, read, redial) is gateway.net.runner_upstream; the outbox replay, gateway.net.runner_outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from gateway.core import ids16, ocppj
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
from gateway.net.runner_upstream import CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TRY_AGAIN_LATER, UpstreamLegMixin

log = logging.getLogger(__name__)



class SessionRunner(UpstreamLegMixin, RunnerOutboxMixin):
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

