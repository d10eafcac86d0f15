"""The translation-flow driver of a ChargerSession: runs a Translator's flow for one call.

A flow (gateway.core.flow) is a generator that yields the calls a translation needs (toward either leg)
and receives their replies; it returns, or yields Respond, with the answer to the call it translates.
The driver validates each call before it is routed, saves every write the flow made before anything it
asked for is sent (TRANSLATION.md 6.3, write order rule), and answers the source exactly once: with the
flow's answer, or with a CALLERROR when the flow fails. A flow that raises something other than a
GatewayError is a bug: the source hears InternalError and the log gets the traceback (InternalBug).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Respond
from gateway.core.ocppj import Call, CallResult, JsonObject
from gateway.core.session_outbox import Replay
from gateway.core.session_types import (
    Command,
    Completed,
    Leg,
    OwnCall,
    Refused,
    Replayed,
    Save,
    Send,
    Translator,
)
from gateway.errors import GatewayError, LocalError, NotImplementedAction, SchemaViolation


@dataclass(slots=True)
class FlowRun:
    """A running flow and the call it answers."""

    flow: Flow
    source: Leg
    source_id: str
    source_action: str
    received_at: float
    answered: bool = False
    #: Its CSMS calls go into the outbox (the CSMS is away); each is taken as answered {}.
    offline: bool = False
    #: The outbox entry this flow replays: its answer ends the replay instead of going to the charger.
    replay: int | None = None
    replay_payload: JsonObject | None = None
    #: A call the gateway made itself (a late refusal's stop): its answer goes to the log only.
    own: bool = False
    #: How its last failed call failed (error, timeout, unavailable), for a replay's outcome.
    failure: str = "error"


class InternalBug(LocalError):
    """An unexpected exception inside a flow; the peer sees InternalError, the log the traceback."""


class FlowMixin:
    """Runs translation flows; the session provides the routing, validation and outbox steps it calls."""

    if TYPE_CHECKING:
        _dialects: dict[Leg, Dialect]
        _translator: Translator | None
        _new_id: Callable[[], str]
        _backlog: int

        def _emit(self, command: Command) -> None: ...
        def _refuse(self, leg: Leg, unique_id: str | None, action: str, error: GatewayError) -> None: ...
        def _send_error(self, leg: Leg, unique_id: str | None, action: str, error: GatewayError) -> None: ...
        def _check_emitted(self, leg: Leg, action: str, direction: schemas.Direction, payload: object) -> None: ...
        def _enqueue(self, leg: Leg, call: Call, text: str | None, source: Leg, source_id: str,
                     source_action: str, received_at: float, now: float, flow: Any = None) -> None: ...
        def _queue_step(self, action: str, payload: JsonObject) -> Reply: ...
        def _after_replay(self, seq: int, action: str, entry: Replay, answer: JsonObject, now: float) -> None: ...
        @staticmethod
        def _with_queue_state(answer: JsonObject) -> JsonObject: ...

    def _start_flow(self, call: Call, origin: Leg, now: float, *, offline: bool = False,
                    replay: int | None = None, replay_payload: JsonObject | None = None, own: bool = False) -> None:
        if self._translator is None:
            error = NotImplementedAction(
                f"translation {self._dialects[origin]} -> {self._dialects[origin.other]} is not available"
            )
            self._refuse(origin, call.unique_id, call.action, error)
            return
        try:
            flow = self._translator.flow(call, origin, now)
        except GatewayError as exc:
            self._flush_writes()
            if replay is not None:
                self._emit(Replayed(replay, call.action, "invalid", str(exc)))
                return
            if own:
                self._emit(OwnCall(call.action, "invalid", str(exc)))
                return
            self._refuse(origin, call.unique_id, call.action, exc)
            return
        run = FlowRun(flow, origin, call.unique_id, call.action, now, offline=offline, replay=replay,
                       replay_payload=replay_payload, own=own)
        self._advance(run, None, now)

    def _advance(self, run: FlowRun, value: Reply | None, now: float) -> None:
        """Drive a flow until it waits for a reply or ends; every write it made is saved first."""
        while True:
            try:
                step = run.flow.send(value)
            except StopIteration as stop:
                self._flush_writes()
                if not run.answered:
                    self._answer_flow(run, stop.value if stop.value is not None else {}, now)
                return
            except GatewayError as exc:
                self._flush_writes()
                failed_call = value is not None and value.error is not None
                self._end_flow_with_error(run, exc, now, replay_outcome=run.failure if failed_call else None)
                return
            except Exception as exc:  # a bug in a flow must not take the charger down: answer and move on
                self._flush_writes()
                bug = InternalBug(f"translating {run.source_action} failed")
                bug.__cause__ = exc
                self._end_flow_with_error(run, bug, now)
                return
            self._flush_writes()
            if isinstance(step, Respond):
                self._answer_flow(run, step.payload, now)
                value = None
                continue
            try:
                self._check_emitted(step.leg, step.action, "request", step.payload)
            except SchemaViolation as exc:
                # TRANSLATION.md 1.4: never sent; the source hears InternalError (a bug or a lossy value).
                run.flow.close()
                self._end_flow_with_error(run, exc, now, blame=step.leg.other)
                return
            if run.offline and step.leg is Leg.CSMS:
                value = self._queue_step(step.action, step.payload)
                continue
            call = Call(self._new_id(), step.action, step.payload)
            self._enqueue(step.leg, call, None, run.source, run.source_id, run.source_action, run.received_at,
                          now, run)
            return

    def _answer_flow(self, run: FlowRun, payload: JsonObject, now: float) -> None:
        run.answered = True
        if run.replay is not None:
            self._after_replay(run.replay, run.source_action, Replay(run.replay, run.replay_payload or {}), payload,
                               now)
            return
        if run.own:
            self._emit(OwnCall(run.source_action, "result", ""))
            return
        if self._backlog and run.source_action == "GetTransactionStatus":
            payload = self._with_queue_state(payload)
        try:
            self._check_emitted(run.source, run.source_action, "response", payload)
        except SchemaViolation as exc:
            self._emit(Refused(run.source.other, run.source_action, exc))
            self._send_error(run.source, run.source_id, run.source_action, exc)
            self._emit(Completed(run.source_action, run.source, now - run.received_at, "error"))
            return
        message = CallResult(run.source_id, payload)
        self._emit(Send(run.source, ocppj.serialize(message), message, run.source_action))
        self._emit(Completed(run.source_action, run.source, now - run.received_at, "result"))

    def _end_flow_with_error(self, run: FlowRun, error: GatewayError, now: float, blame: Leg | None = None,
                             replay_outcome: str | None = None) -> None:
        """End a flow that failed; `blame` is the leg whose message the error concerns (default: source).

        replay_outcome: for a replayed entry, how its call failed (error, timeout, unavailable); None
        when the failure is the gateway's own (the entry can never be sent: invalid).
        """
        if run.replay is not None:
            if not run.answered:
                run.answered = True
                self._emit(Replayed(run.replay, run.source_action, replay_outcome or "invalid", str(error)))
            return
        if run.own:
            if not run.answered:
                run.answered = True
                self._emit(OwnCall(run.source_action, replay_outcome or "invalid", str(error)))
            return
        self._emit(Refused(blame or run.source, run.source_action, error))
        if run.answered:
            return
        run.answered = True
        self._send_error(run.source, run.source_id, run.source_action, error)
        self._emit(Completed(run.source_action, run.source, now - run.received_at, "error"))

    def _flush_writes(self) -> None:
        if self._translator is not None:
            for key, value in self._translator.writes():
                self._emit(Save(key, value))
