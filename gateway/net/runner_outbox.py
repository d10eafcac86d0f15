"""The outbox part of a SessionRunner: storing what the session queues, and replaying it to the CSMS.

The rules (what is queued, how a replayed entry is sent and answered) are the session's
(gateway.core.session_outbox); this carries them out against the StateStore, one entry at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from gateway.core.session import ChargerSession, Command, DropOldest, Enqueue, Leg, OwnCall, Replayed
from gateway.metrics import action_label

if TYPE_CHECKING:
    from gateway.core.dialects import Dialect
    from gateway.net.context import ChargerLog, GatewayContext


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class RunnerOutboxMixin:
    """Stores the session's Enqueue and DropOldest, and replays the outbox while the CSMS leg is up."""

    if TYPE_CHECKING:
        charge_box_id: str
        log: ChargerLog
        _ctx: GatewayContext
        _session: ChargerSession
        _lock: asyncio.Lock
        _tasks: asyncio.TaskGroup | None
        _closing: bool
        _drain_task: asyncio.Task[None] | None
        _replay_wait: tuple[int, asyncio.Future[tuple[str, str]]] | None

        async def _feed(self, event: Callable[[float], None]) -> None: ...
        async def _carry_out(self, loop: asyncio.AbstractEventLoop, now: float) -> None: ...
        def _leg_dialect(self, leg: Leg) -> Dialect: ...

    async def _store_outbox_command(self, command: Enqueue | DropOldest) -> None:
        store, metrics = self._ctx.store, self._ctx.metrics
        if isinstance(command, Enqueue):
            # Durable before the charger's answer (a later command) is sent: acknowledged means stored.
            await store.outbox_append(self.charge_box_id, command.action, command.payload, command.created_at,
                                      command.droppable, command.kind)
            leg = Leg.CSMS if command.kind.startswith("up:") else Leg.CHARGER
            metrics.outbox_appended.labels(action_label(self._leg_dialect(leg), command.action)).inc()
            metrics.outbox_entries.inc()
            return
        dropped = await store.outbox_drop_oldest_droppable(self.charge_box_id)
        if dropped is not None:
            metrics.outbox_entries.dec()
            metrics.outbox_dropped.labels("full").inc()
            self.log.warning("outbox full (outbox.max_messages): dropped the oldest queued meter sample "
                             "(%s of %s) for a new %s", dropped.action, _iso(dropped.created_at), command.action)

    def _note_outbox_command(self, command: Command) -> None:
        match command:
            case Replayed(seq, _, outcome, detail):
                wait = self._replay_wait
                if wait is not None and wait[0] == seq and not wait[1].done():
                    wait[1].set_result((outcome, detail))
            case OwnCall(action, outcome, detail):
                if outcome == "result":
                    self.log.info("the charger answered the gateway's %s (late refusal)", action)
                else:
                    self.log.warning("the gateway's %s (late refusal) failed: %s %s", action, outcome, detail)

    def _start_drain(self) -> None:
        if self._session.backlog and self._drain_task is None and self._tasks is not None and not self._closing:
            self._drain_task = self._tasks.create_task(self._drain())

    async def _drain(self) -> None:
        """Replay the charger's outbox to the CSMS, oldest first, one entry at a time (docs/reliability.md).

        An entry leaves the store only once the CSMS has answered it (or it is dropped, logged and
        counted); a crash before that replays it again, under the same message id.
        """
        store, config = self._ctx.store, self._ctx.config.outbox
        session, attempts = self._session, 0
        self.log.info("replaying %d queued message(s) to the CSMS", session.backlog)
        try:
            while not self._closing and session.csms_up and session.backlog:
                entries = await store.outbox_peek(self.charge_box_id, 1)
                if not entries:
                    async with self._lock:
                        await self._sync_outbox()
                    continue
                entry = entries[0]
                outcome, detail = await self._replay(entry.seq, partial(
                    session.replay, entry.seq, entry.kind, entry.action, entry.payload, entry.created_at))
                if outcome == "unavailable":
                    return  # the CSMS leg went down: the next leg_up starts again from this entry
                if outcome == "timeout":
                    self.log.warning("the CSMS did not answer queued %s; sending it again", entry.action)
                    continue
                if outcome == "error":
                    attempts += 1
                    if attempts < config.max_attempts:
                        self.log.warning("the CSMS refused queued %s (%s, attempt %d of %d); retrying in %g s",
                                         entry.action, detail, attempts, config.max_attempts, config.retry_interval)
                        await asyncio.sleep(config.retry_interval)
                        continue
                    outcome = "refused"
                if outcome != "result":
                    self._ctx.metrics.outbox_dropped.labels(outcome).inc()
                    self.log.error("dropped queued %s (%s): %s", entry.action, outcome, detail)
                elif detail:
                    # The charger was told Accepted when the message was queued; the CSMS disagrees late.
                    self.log.warning("queued %s delivered, but %s%s", entry.action, detail,
                                     "; stopping the transaction" if config.stop_on_late_refusal else "")
                attempts = 0
                async with self._lock:
                    if await store.outbox_remove(self.charge_box_id, entry.seq):
                        self._ctx.metrics.outbox_entries.dec()
                        # The session counts what it queued and dropped itself: no count query per entry.
                        loop = asyncio.get_running_loop()
                        now = loop.time()
                        session.outbox_removed(entry.droppable, now)
                        await self._carry_out(loop, now)
            if not session.backlog:
                self.log.info("outbox replayed")
        finally:
            self._drain_task = None
            self._replay_wait = None

    async def _replay(self, seq: int, event: Callable[[float], None]) -> tuple[str, str]:
        """Feed one replay to the session and wait for its Replayed."""
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._replay_wait = (seq, future)
        await self._feed(event)
        outcome, detail = await future
        if outcome in ("result", "error", "timeout", "unavailable"):
            self._ctx.metrics.outbox_replayed.labels(outcome).inc()
        return outcome, detail

    async def _sync_outbox(self) -> None:
        """The session learns what the store holds (calls waiting for it to empty may go); the caller holds the lock."""
        loop = asyncio.get_running_loop()
        total, droppable = await self._ctx.store.outbox_counts(self.charge_box_id)
        now = loop.time()
        self._session.set_outbox(total, droppable, now)
        await self._carry_out(loop, now)

