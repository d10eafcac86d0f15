"""Per-charger RPC state: correlates calls across the charger and CSMS legs, one CALL in flight per leg.

Theory of operation
-------------------
A ChargerSession stands between two OCPP-J legs: CHARGER (downstream) and CSMS (upstream). The
adapter feeds it frames (`receive`), link events (`leg_up`, `leg_down`) and the clock (`tick`), then
drains `commands()` and carries them out. The session never does I/O and never reads a clock.

A CALL arriving on one leg is validated against that leg's schema, translated (or passed through
unchanged when both legs speak the same dialect), validated against the other leg's schema and
routed to the other leg. OCPP-J "Synchronicity" (1.6 section 4.1.1, 2.0.1 part 4 section 4.1.1)
allows one outstanding CALL per direction, so each leg has one slot and a bounded FIFO behind it.
A reply is accepted only if it matches the slot's message id; anything else is a late or unknown
reply, reported and dropped, never delivered to the wrong caller.

Each leg's outbound slot moves through this table (IDLE = no CALL outstanding):

    state    event                                next     commands
    IDLE     call routed here, leg up             WAITING  Send(call)
    any      call routed here, slot busy or down  same     queue it; CALLERROR to source if queue full
    WAITING  reply with the slot's id             IDLE     Send(answer to source), Completed; pump
    WAITING  deadline passed (tick)               IDLE     CALLERROR to source, Completed; pump
    WAITING  leg_down                             DOWN     CALLERROR to source, Completed
    IDLE     leg_down                             DOWN     -
    DOWN     leg_up                               IDLE     pump
    "pump" sends the queue head, dropping entries whose source deadline has passed.

CSMS away (docs/reliability.md): once the CSMS leg has been up and went down, a charger CALL is not
routed blindly into the queue. Before any translation, while the CSMS leg is lost:

    charger call                                        commands
    Heartbeat (and a wall clock was given)              AwayCall(answered), Send(CALLRESULT, gateway time)
    StartTransaction, StopTransaction, TransactionEvent,
    MeterValues with a transactionId                    AwayCall(held); routed as above (queued, waits)
    anything else                                       AwayCall(refused), Refused, Send(CALLERROR GenericError)

The leg is not "lost" before its first leg_up: the adapter dials before it reads the charger, and a
frame that races that first leg_up must wait like any other, not be refused.

Translation (gateway.core.session_flow): when the dialects differ, a call starts a flow of the
session's Translator, which the driver runs step by step; each step it asks for is routed as above.

Outbox (gateway.core.session_outbox): with an outbox limit, a transaction message that meets a
lost CSMS, or a non-empty outbox, is persisted and answered at once, and replayed later.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect, error_code
from gateway.core.flow import Reply
from gateway.core.ocppj import Call, CallError, CallResult, JsonObject
from gateway.core.session_flow import FlowMixin, FlowRun, InternalBug
from gateway.core.session_outbox import OutboxMixin, Own, Replay, is_transaction_message
from gateway.core.session_types import (
    AwayCall,
    Command,
    Completed,
    DropOldest,
    Dropped,
    Enqueue,
    Leg,
    OwnCall,
    Pending,
    Received,
    Refused,
    Replayed,
    Save,
    Send,
    Translator,
)
from gateway.errors import (
    CsmsAway,
    FormatViolation,
    GatewayError,
    Overloaded,
    PeerUnavailable,
    RemoteError,
    SchemaViolation,
)

#: How many timed-out message ids are remembered to tell a late reply from an unknown one.
_LATE_MEMORY: Final = 64
#: Leg.other as a lookup (a property call per frame otherwise).
_OTHER: Final = {Leg.CHARGER: Leg.CSMS, Leg.CSMS: Leg.CHARGER}
#: The hot path builds its NamedTuples (commands, Pending) with tuple.__new__ directly: the generated
#: NamedTuple constructor is a Python-level function around the same call.
_tuple: Final = tuple.__new__
def _iso(seconds: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC with a `Z`, as OCPP's dateTime fields expect."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Slot:
    up: bool
    timeout: float
    outstanding: Pending | None = None
    queue: deque[tuple[Pending, Call]] = field(default_factory=deque)


class ChargerSession(FlowMixin, OutboxMixin):
    """RPC state of one charger connection and its upstream leg."""

    def __init__(
        self,
        charger_dialect: Dialect,
        upstream_dialect: Dialect,
        translator: Translator | None,
        *,
        charger_timeout: float,
        csms_timeout: float,
        max_queued: int,
        max_frame: int,
        new_id: Callable[[], str] | None = None,
        wall_clock: Callable[[], float] | None = None,
        outbox_limit: int = 0,
        stop_on_late_refusal: bool = True,
    ) -> None:
        """Create the session.

        Args:
            charger_dialect: what the charger speaks.
            upstream_dialect: what the CSMS speaks.
            translator: used when the dialects differ; None answers such calls NotImplemented.
            charger_timeout: seconds the charger has to answer a CSMS-initiated call.
            csms_timeout: seconds the CSMS has to answer a charger-initiated call.
            max_queued: calls that may wait behind the outstanding one, per leg.
            max_frame: largest frame, in UTF-8 bytes, that is parsed; larger ones are refused.
            new_id: mints message ids for calls the gateway builds (translation); a counter if omitted.
            wall_clock: seconds since the epoch, for the Heartbeat answered while the CSMS is away;
                without it the session reads no clock and such a Heartbeat is refused like other calls.
            outbox_limit: entries the charger's outbox may hold; 0 keeps no outbox (transaction
                messages wait in memory while the CSMS is away). Needs wall_clock.
            stop_on_late_refusal: when the CSMS's answer to a replayed transaction event refuses the
                token the gateway accepted, stop the transaction at the charger (TRANSLATION.md 1.10).
        """
        self._dialects = {Leg.CHARGER: charger_dialect, Leg.CSMS: upstream_dialect}
        # 1.6 over SOAP reaches the session as 1.6 JSON (gateway.soap decodes it): no translation needed.
        self._passthrough = charger_dialect.json_family == upstream_dialect.json_family
        self._translator = translator
        self._max_queued = max_queued
        self._max_frame = max_frame
        counter = itertools.count(1)
        self._new_id = new_id or (lambda: f"gw-{next(counter)}")
        self._slots = {Leg.CHARGER: _Slot(True, charger_timeout), Leg.CSMS: _Slot(False, csms_timeout)}
        self._late: deque[str] = deque(maxlen=_LATE_MEMORY)
        self._commands: list[Command] = []
        self._wall_clock = wall_clock
        #: The CSMS leg was up and went down: charger calls follow the CSMS-away policy.
        self._csms_lost = False
        self._init_outbox(outbox_limit, stop_on_late_refusal, csms_timeout)
        #: Every deadline the session sets is at least this long after the `now` it was set at (the
        #: outbox's wait-behind deadline uses csms_timeout too): lets the runner skip next_deadline().
        self.shortest_timeout = min(charger_timeout, csms_timeout)

    @property
    def csms_up(self) -> bool:
        return self._slots[Leg.CSMS].up

    @property
    def passthrough(self) -> bool:
        return self._passthrough

    @property
    def csms_lost(self) -> bool:
        """The CSMS leg was up and is down now (before its first leg_up it is not lost, only not yet up)."""
        return self._csms_lost

    def commands(self) -> list[Command]:
        """Take the commands produced since the last call, in the order to carry them out."""
        out, self._commands = self._commands, []
        return out

    # ---- events -------------------------------------------------------------------------

    def receive(self, leg: Leg, text: str, now: float) -> None:
        """Feed one text frame that arrived on `leg`."""
        # Characters are a lower bound of UTF-8 bytes; only count bytes when it could matter.
        size, limit = len(text), self._max_frame
        if size > limit or (size * 4 > limit and len(text.encode()) > limit):
            self.receive_unreadable(leg, text[:128], f"frame exceeds the {limit}-byte limit", now)
            return
        try:
            message = ocppj.parse(text)
        except RemoteError as exc:
            self._on_bad_frame(leg, exc, ocppj.peek_type(text), now)
            return
        if isinstance(message, Call):
            self._on_call(leg, message, text, now)
        else:
            self._on_reply(leg, message, text, now)

    def receive_unreadable(self, leg: Leg, head: str, problem: str, now: float) -> None:
        """Feed a frame that cannot be processed (binary, too large); only its head is looked at.

        Args:
            leg: where it arrived.
            head: the first characters of the frame, enough to read its type and message id.
            problem: what is wrong with it, told to the peer.
            now: the current time.
        """
        error = FormatViolation(problem, unique_id=ocppj.peek_unique_id(head))
        self._on_bad_frame(leg, error, ocppj.peek_type(head), now)

    def leg_up(self, leg: Leg, now: float) -> None:
        """The leg's connection is open: queued calls may go."""
        if leg is Leg.CSMS:
            self._csms_lost = False
        self._slots[leg].up = True
        self._pump(leg, now)

    def leg_down(self, leg: Leg, now: float) -> None:
        """The leg's connection is gone: its outstanding call can never be answered."""
        slot = self._slots[leg]
        slot.up = False
        if leg is Leg.CSMS:
            self._csms_lost = True
        if slot.outstanding is not None:
            pending, slot.outstanding = slot.outstanding, None
            error = PeerUnavailable(f"connection to the {leg} was lost before it answered")
            self._fail(pending, error, now, "unavailable")

    def tick(self, now: float) -> None:
        """Let time pass: calls past their deadline are answered with a CALLERROR."""
        for leg, slot in self._slots.items():
            pending = slot.outstanding
            if pending is not None and now >= pending.deadline:
                slot.outstanding = None
                self._late.append(pending.out_id)
                self._fail(pending, PeerUnavailable(f"the {leg} did not answer in time"), now, "timeout")
            self._pump(leg, now)
            if not slot.up:
                self._expire_queue(leg, now)
        if self._behind:
            self._expire_behind(now)

    def next_deadline(self) -> float | None:
        """The earliest time at which `tick` has work to do, or None."""
        earliest: float | None = None
        for slot in self._slots.values():
            pending = slot.outstanding
            if pending is not None and (earliest is None or pending.deadline < earliest):
                earliest = pending.deadline
            if slot.queue:
                deadline = slot.queue[0][0].deadline
                if earliest is None or deadline < earliest:
                    earliest = deadline
        behind = self._behind_deadline()
        if behind is not None and (earliest is None or behind < earliest):
            earliest = behind
        return earliest

    # ---- calls --------------------------------------------------------------------------

    def _on_call(self, leg: Leg, call: Call, text: str, now: float) -> None:
        action = call.action
        self._commands.append(_tuple(Received, (leg, "call", action)))
        try:
            schemas.validate(self._dialects[leg], action, "request", call.payload)
        except GatewayError as exc:
            self._refuse(leg, call.unique_id, action, exc)
            return
        # Before translation: the policy is about what the charger asked, whatever the CSMS speaks.
        if leg is Leg.CHARGER and (self._csms_lost or self._backlog):
            if self._outbox_takes(call, now):
                return
            if self._csms_lost and self._answered_while_away(call):
                return
        if not self._passthrough:
            self._start_flow(call, leg, now)
            return
        if self._ids16:
            mapped = self._mapped_ids(leg, call)
            if mapped is not None:
                call, text = mapped, ocppj.serialize(mapped)
        self._enqueue(_OTHER[leg], call, text, leg, call.unique_id, action, now, now)

    def _answered_while_away(self, call: Call) -> bool:
        """Apply the CSMS-away policy to a charger call; False if it is to be routed (and wait) as usual."""
        action = call.action
        if is_transaction_message(call):
            self._emit(AwayCall(action, "held"))
            return False
        if action == "Heartbeat" and self._wall_clock is not None:
            # Only the CSMS's answer to a Heartbeat is nothing but the time: any other local answer would
            # be invented (an Authorize accepted, a Boot accepted) and the charger would act on it.
            payload: JsonObject = {"currentTime": _iso(self._wall_clock())}
            try:
                self._check_emitted(Leg.CHARGER, action, "response", payload)
            except SchemaViolation as exc:  # as for a translated answer: never sent, the charger hears why
                self._emit(Refused(Leg.CSMS, action, exc))
                self._send_error(Leg.CHARGER, call.unique_id, action, exc)
                return True
            self._emit(AwayCall(action, "answered"))
            message = CallResult(call.unique_id, payload)
            self._emit(Send(Leg.CHARGER, ocppj.serialize(message), message, action))
            return True
        # At once rather than at the deadline: a charger that hears an error early can go to its own
        # offline behaviour (local authorization, boot retry) instead of waiting out a timeout.
        self._emit(AwayCall(action, "refused"))
        self._refuse(Leg.CHARGER, call.unique_id, action,
                     CsmsAway(f"the CSMS is unreachable; the gateway does not answer {action} in its place"))
        return True

    def _enqueue(self, leg: Leg, call: Call, text: str | None, source: Leg, source_id: str, source_action: str,
                 received_at: float, now: float, flow: FlowRun | Replay | Own | None = None) -> None:
        """Send `call` on `leg` now if its slot is free, else queue it (bounded)."""
        slot = self._slots[leg]
        pending = _tuple(Pending, (call.unique_id, call.action, source, source_id, source_action, received_at,
                                   now + slot.timeout, flow))
        if slot.outstanding is None and slot.up and not slot.queue:
            # _send_call, inlined: this is the path of every call.
            slot.outstanding = pending
            self._commands.append(
                _tuple(Send, (leg, text if text is not None else ocppj.serialize(call), call, call.action))
            )
        elif len(slot.queue) >= self._max_queued:
            error = Overloaded(f"{len(slot.queue)} calls already wait for the {leg}")
            if pending.flow is not None:
                self._fail(pending, error, now, "error")
            else:
                self._refuse(pending.source, pending.source_id, pending.source_action, error)
        else:
            slot.queue.append((pending, call))

    def _send_call(self, leg: Leg, pending: Pending, call: Call, text: str | None) -> None:
        self._slots[leg].outstanding = pending
        self._emit(Send(leg, text if text is not None else ocppj.serialize(call), call, call.action))

    def _pump(self, leg: Leg, now: float) -> None:
        slot = self._slots[leg]
        while slot.up and slot.outstanding is None and slot.queue:
            pending, call = slot.queue.popleft()
            if now >= pending.deadline:
                self._fail(pending, PeerUnavailable(f"the call waited too long for the {leg}"), now, "timeout")
                continue
            self._send_call(leg, pending, call, None)

    def _expire_queue(self, leg: Leg, now: float) -> None:
        queue = self._slots[leg].queue
        while queue and now >= queue[0][0].deadline:
            pending, _ = queue.popleft()
            self._fail(pending, PeerUnavailable(f"the {leg} is not connected"), now, "unavailable")

    # ---- replies ------------------------------------------------------------------------

    def _on_reply(self, leg: Leg, reply: CallResult | CallError, text: str, now: float) -> None:
        slot = self._slots[leg]
        pending = slot.outstanding
        if pending is None or pending.out_id != reply.unique_id:
            self._emit(Dropped(leg, reply.unique_id, reply.unique_id in self._late))
            return
        self._commands.append(_tuple(Received, (leg, reply.kind, pending.action)))
        slot.outstanding = None
        if isinstance(reply, CallResult):
            self._on_result(leg, pending, reply, text, now)
        elif isinstance(pending.flow, FlowRun):
            pending.flow.failure = "error"
            self._advance(pending.flow, Reply(error=reply), now)
        elif isinstance(pending.flow, Replay):
            self._emit(Replayed(pending.flow.seq, pending.action, "error", reply.error_code))
        elif isinstance(pending.flow, Own):
            self._emit(OwnCall(pending.action, "error", reply.error_code))
        else:
            self._answer_error(pending, reply, now)
        if slot.queue:  # nothing to pump otherwise
            self._pump(leg, now)

    def _on_result(self, leg: Leg, pending: Pending, reply: CallResult, text: str, now: float) -> None:
        try:
            schemas.validate(self._dialects[leg], pending.action, "response", reply.payload)
        except GatewayError as exc:
            self._emit(Refused(leg, pending.action, exc))
            self._fail(pending, exc, now, "error")
            return
        if pending.flow is not None:
            if isinstance(pending.flow, Replay):
                self._after_replay(pending.flow.seq, pending.action, pending.flow, reply.payload, now)
                return
            if isinstance(pending.flow, Own):
                self._emit(OwnCall(pending.action, "result", ""))
                return
            self._advance(pending.flow, Reply(payload=reply.payload), now)
            return
        # Pass-through: the very text the peer sent goes on, so ids and payloads stay unchanged.
        source, source_action = pending.source, pending.source_action
        if self._backlog and source_action == "GetTransactionStatus":
            reply = CallResult(reply.unique_id, self._with_queue_state(reply.payload))
            text = ocppj.serialize(reply)
        commands = self._commands
        commands.append(_tuple(Send, (source, text, reply, source_action)))
        commands.append(_tuple(Completed, (source_action, source, now - pending.received_at, "result")))

    def _answer_error(self, pending: Pending, reply: CallError, now: float) -> None:
        dialect = self._dialects[pending.source]
        message = CallError(
            pending.source_id,
            error_code(reply.error_code, dialect),
            reply.error_description[: ocppj.MAX_DESCRIPTION],
            reply.error_details,
        )
        # CALLERRORs are rare and parsed leniently: always re-serialize so what leaves is well formed.
        self._emit(Send(pending.source, ocppj.serialize(message), message, pending.source_action))
        self._emit(Completed(pending.source_action, pending.source, now - pending.received_at, "error"))

    # ---- errors -------------------------------------------------------------------------

    def _on_bad_frame(self, leg: Leg, error: RemoteError, type_id: int | None, now: float) -> None:
        slot = self._slots[leg]
        pending = slot.outstanding
        is_reply = type_id in (ocppj.CALL_RESULT, ocppj.CALL_ERROR)
        if is_reply and pending is not None and error.unique_id == pending.out_id:
            # A broken reply still ends the call it answers; the caller hears why.
            slot.outstanding = None
            self._emit(Refused(leg, pending.action, error))
            self._fail(pending, error, now, "error")
            self._pump(leg, now)
        elif is_reply:
            self._emit(Dropped(leg, error.unique_id or ocppj.UNREADABLE_ID, error.unique_id in self._late))
        else:
            self._refuse(leg, error.unique_id, "", error)

    def _refuse(self, leg: Leg, unique_id: str | None, action: str, error: GatewayError) -> None:
        self._emit(Refused(leg, action, error))
        self._send_error(leg, unique_id, action, error)

    def _send_error(self, leg: Leg, unique_id: str | None, action: str, error: GatewayError) -> None:
        message = ocppj.call_error_for(error, unique_id, self._dialects[leg])
        self._emit(Send(leg, ocppj.serialize(message), message, action))

    def _fail(self, pending: Pending, error: GatewayError, now: float, outcome: str) -> None:
        """The call could not be completed: its flow hears of it, or its source gets a CALLERROR."""
        flow = pending.flow
        if isinstance(flow, FlowRun):
            flow.failure = outcome
            code = error.ocpp_code
            self._advance(flow, Reply(error=CallError(pending.out_id, code, str(error))), now)
            return
        if isinstance(flow, Replay):
            self._emit(Replayed(flow.seq, pending.action, outcome, str(error)))
            return
        if isinstance(flow, Own):
            self._emit(OwnCall(pending.action, outcome, str(error)))
            return
        self._send_error(pending.source, pending.source_id, pending.source_action, error)
        self._emit(Completed(pending.source_action, pending.source, now - pending.received_at, outcome))

    def _check_emitted(self, leg: Leg, action: str, direction: schemas.Direction, payload: object) -> None:
        try:
            schemas.validate(self._dialects[leg], action, direction, payload)
        except RemoteError as exc:
            raise SchemaViolation(f"translated {action} {direction} fails the {leg} schema: {exc}") from None

    def _emit(self, command: Command) -> None:
        self._commands.append(command)


__all__ = [
    "AwayCall",
    "ChargerSession",
    "Command",
    "Completed",
    "DropOldest",
    "Dropped",
    "Enqueue",
    "InternalBug",
    "Leg",
    "OwnCall",
    "Pending",
    "Received",
    "Refused",
    "Replayed",
    "Save",
    "Send",
    "Translator",
]
