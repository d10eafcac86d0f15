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

Outbox (docs/reliability.md, TRANSLATION.md 1.10): with an outbox limit, a transaction message that
meets a lost CSMS (or a non-empty outbox, so that order is kept) is not held in memory but
persisted (Enqueue, carried out before anything after it is sent) and answered at once:

    pairing                  queued                                    persisted as
    same JSON family         StopTransaction, MeterValues with a       the charger's call ("up:"), a
                             transactionId; TransactionEvent           TransactionEvent with offline: true
    1.x charger, 2.0.1 CSMS  StartTransaction too (the gateway owns    what the translation flow asks of the
                             the 1.x id), Stop, MeterValues            CSMS ("up:"); each ask is answered {}
    1.5 charger, 1.6 CSMS    StopTransaction, MeterValues              as above
    2.0.1 charger, 1.6 CSMS  TransactionEvent                          the charger's call ("charger:"),
                                                                       translated when replayed (the CSMS
                                                                       assigns the 1.6 id then)

The adapter replays the outbox in order when the CSMS leg is up (`replay`), one entry at a time;
each ends with Replayed, and only then may the adapter remove it.
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
from gateway.core.flow import Flow, Reply, Respond
from gateway.core.ocppj import Call, CallError, CallResult, JsonObject
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
    LocalError,
    NotImplementedAction,
    OutboxFull,
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
#: Charger calls that carry a transaction: a charger retries them until the CSMS has them (OCPP 1.6
#: "Transaction-related messages", 2.0.1 block E), so they wait for the CSMS instead of being refused
#: (MeterValues: only with a transactionId, checked apart).
_TRANSACTION_ACTIONS: Final = frozenset({"StartTransaction", "StopTransaction", "TransactionEvent"})
#: TransactionEvent Updated triggers that carry nothing but meter samples: what a full outbox may drop.
_SAMPLE_TRIGGERS: Final = frozenset({"MeterValuePeriodic", "MeterValueClock"})


def _is_transaction_message(call: Call) -> bool:
    action = call.action
    return action in _TRANSACTION_ACTIONS or (action == "MeterValues" and "transactionId" in call.payload)


def _droppable(action: str, payload: JsonObject) -> bool:
    """Whether a full outbox may drop this entry: meter samples only, never a transaction's start or stop."""
    if action == "MeterValues":
        return True
    return (action == "TransactionEvent" and payload.get("eventType") == "Updated"
            and payload.get("triggerReason") in _SAMPLE_TRIGGERS)


def _marked_offline(action: str, payload: JsonObject) -> JsonObject:
    """TRANSLATION.md 1.10: a TransactionEvent the CSMS hears late says so."""
    return {**payload, "offline": True} if action == "TransactionEvent" else payload


def _late_refusal(answer: JsonObject) -> str:
    """The token status of a replayed message's answer when it is not Accepted ("" otherwise)."""
    info = answer.get("idTokenInfo") or answer.get("idTagInfo")
    status = info.get("status") if isinstance(info, dict) else None
    return "" if status in (None, "Accepted") else f"the CSMS answered the token {status}"


def replay_id(seq: int, created_at: float) -> str:
    """The message id of a replayed outbox entry: the same on every attempt, so a resend is recognisable."""
    return f"outbox-{seq}-{int(created_at * 1000)}"


@dataclass(frozen=True, slots=True)
class _Replay:
    """Pending.flow of a replayed entry: its answer ends the replay instead of going to the charger."""

    seq: int
    #: The entry's payload: a late refusal's stop names its transaction.
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class _Own:
    """Pending.flow of a call the gateway makes itself: its answer goes to the log, nowhere else."""

    action: str


def _iso(seconds: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC with a `Z`, as OCPP's dateTime fields expect."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Slot:
    up: bool
    timeout: float
    outstanding: Pending | None = None
    queue: deque[tuple[Pending, Call]] = field(default_factory=deque)


class ChargerSession:
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
        self._outbox_limit = outbox_limit if wall_clock is not None else 0
        self._stop_on_late_refusal = stop_on_late_refusal
        #: What the charger's outbox holds (the adapter's store is the truth; set_outbox syncs).
        self._backlog = 0
        self._droppable_count = 0
        #: Transaction messages the outbox does not take, waiting for it to empty (order is kept).
        self._behind: deque[tuple[Pending, Call]] = deque()

    def set_outbox(self, total: int, droppable: int, now: float = 0.0) -> None:
        """Tell the session what the charger's stored outbox holds (at start, and after removals).

        Once it is empty, the transaction messages that waited behind it (ones the outbox does not
        take, such as a pass-through StartTransaction) go on to the CSMS, in order.
        """
        self._backlog, self._droppable_count = total, droppable
        while not total and self._behind:
            pending, call = self._behind.popleft()
            if now >= pending.deadline:
                self._fail(pending, PeerUnavailable("the call waited too long behind the outbox"), now, "timeout")
                continue
            self._enqueue(Leg.CSMS, call, None, Leg.CHARGER, call.unique_id, call.action, pending.received_at, now)

    @property
    def backlog(self) -> int:
        """Entries in the charger's outbox, as far as the session knows."""
        return self._backlog

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
        behind = self._behind
        while behind and now >= behind[0][0].deadline:
            pending, _ = behind.popleft()
            self._fail(pending, PeerUnavailable("the call waited too long behind the outbox"), now, "timeout")

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
        if self._behind and (earliest is None or self._behind[0][0].deadline < earliest):
            earliest = self._behind[0][0].deadline
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
            if self._outbox_limit and self._queued(call, now):
                return
            if self._backlog and _is_transaction_message(call):
                self._wait_behind_outbox(call, now)
                return
            if self._csms_lost and self._answered_while_away(call):
                return
        if not self._passthrough:
            self._start_flow(call, leg, now)
            return
        self._enqueue(_OTHER[leg], call, text, leg, call.unique_id, action, now, now)

    def _wait_behind_outbox(self, call: Call, now: float) -> None:
        """A transaction message the outbox does not take must not overtake it: it waits until it is empty."""
        if self._csms_lost:
            self._emit(AwayCall(call.action, "held"))
        if len(self._behind) >= self._max_queued:
            self._refuse(Leg.CHARGER, call.unique_id, call.action,
                         Overloaded(f"{len(self._behind)} calls already wait behind the outbox"))
            return
        slot = self._slots[Leg.CSMS]
        pending = Pending(call.unique_id, call.action, Leg.CHARGER, call.unique_id, call.action, now,
                          now + slot.timeout)
        self._behind.append((pending, call))

    def _answered_while_away(self, call: Call) -> bool:
        """Apply the CSMS-away policy to a charger call; False if it is to be routed (and wait) as usual."""
        action = call.action
        if _is_transaction_message(call):
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

    # ---- outbox -------------------------------------------------------------------------

    def _outbox_form(self, call: Call) -> str | None:
        """How a charger call goes into the outbox: "up", "flow" or "charger"; None if it does not."""
        action = call.action
        if action == "MeterValues":
            if call.payload.get("transactionId") is None:
                return None
        elif action not in _TRANSACTION_ACTIONS:
            return None
        if self._passthrough:
            # The CSMS assigns a 1.x transactionId: a StartTransaction cannot be answered without it.
            return None if action == "StartTransaction" else "up"
        if self._dialects[Leg.CHARGER] is Dialect.OCPP201:
            return "charger"  # its 1.6 ids come from the CSMS's StartTransaction answer, at replay
        if action == "StartTransaction" and self._dialects[Leg.CSMS] is not Dialect.OCPP201:
            return None  # 1.5 behind 1.6: the CSMS assigns the id
        return "flow"

    def _queued(self, call: Call, now: float) -> bool:
        """Put a transaction message in the outbox and answer it; False if it is not one the outbox takes."""
        form = self._outbox_form(call)
        if form is None:
            return False
        action = call.action
        if self._backlog >= self._outbox_limit:
            if not self._droppable_count:
                self._emit(AwayCall(action, "refused"))
                self._refuse(Leg.CHARGER, call.unique_id, action, OutboxFull(
                    f"the outbox holds {self._backlog} transaction messages (outbox.max_messages) and "
                    "none of them may be dropped; the charger keeps this one"))
                return True
            self._emit(DropOldest(action))
            self._backlog -= 1
            self._droppable_count -= 1
        self._emit(AwayCall(action, "queued"))
        if form == "flow":
            if self._translator is None:
                return False
            self._start_flow(call, Leg.CHARGER, now, offline=True)
            return True
        dialect = self._dialects[Leg.CSMS if form == "up" else Leg.CHARGER]
        payload = _marked_offline(action, call.payload) if form == "up" else call.payload
        self._append(action, payload, f"{form}:{dialect}")
        answer: JsonObject = {}
        try:
            self._check_emitted(Leg.CHARGER, action, "response", answer)
        except SchemaViolation as exc:  # pragma: no cover - every queued action's answer may be empty
            self._refuse(Leg.CHARGER, call.unique_id, action, exc)
            return True
        message = CallResult(call.unique_id, answer)
        self._emit(Send(Leg.CHARGER, ocppj.serialize(message), message, action))
        return True

    def _append(self, action: str, payload: JsonObject, kind: str) -> None:
        assert self._wall_clock is not None  # an outbox limit needs it (__init__)
        droppable = _droppable(action, payload)
        self._emit(Enqueue(action, payload, kind, droppable, self._wall_clock()))
        self._backlog += 1
        self._droppable_count += droppable

    def replay(self, seq: int, kind: str, action: str, payload: JsonObject, created_at: float, now: float) -> None:
        """Send one outbox entry to the CSMS; Replayed tells how it ended.

        Args:
            seq: the entry's place in the outbox.
            kind: how it was stored ("up:<dialect>" or "charger:<dialect>").
            action: its action.
            payload: its payload.
            created_at: when it was queued (wall clock), part of its stable message id.
            now: the current time.
        """
        form, _, dialect = kind.partition(":")
        leg = Leg.CSMS if form == "up" else Leg.CHARGER
        if form not in ("up", "charger") or dialect != self._dialects[leg]:
            # Queued for another upstream dialect (the configuration changed since): it cannot be sent.
            self._emit(Replayed(seq, action, "stale", f"queued as {kind}"))
            return
        call = Call(replay_id(seq, created_at), action, payload)
        try:
            schemas.validate(self._dialects[leg], action, "request", payload)
        except GatewayError as exc:
            self._emit(Replayed(seq, action, "invalid", str(exc)))
            return
        if form == "charger":
            self._start_flow(call, Leg.CHARGER, now, replay=seq, replay_payload=payload)
            return
        self._enqueue(Leg.CSMS, call, None, Leg.CHARGER, call.unique_id, action, now, now, _Replay(seq, payload))

    def _after_replay(self, seq: int, action: str, entry: JsonObject, answer: JsonObject, now: float) -> None:
        """A replayed entry was answered: report it, and stop its transaction if the CSMS refused the token late.

        TRANSLATION.md 1.10: the charger was answered (Accepted) when the entry was queued; a refusal that
        comes with the replay stops a transaction still running (RequestStopTransaction; behind the 2.0.1
        CSMS a 1.x charger gets it translated, RemoteStopTransaction with its own id).
        """
        refusal = _late_refusal(answer)
        self._emit(Replayed(seq, action, "result", refusal))
        if not (refusal and self._stop_on_late_refusal and action == "TransactionEvent"):
            return
        info = entry.get("transactionInfo")
        if entry.get("eventType") == "Ended" or not isinstance(info, dict):
            return
        call = Call(self._new_id(), "RequestStopTransaction", {"transactionId": info.get("transactionId")})
        if self._dialects[Leg.CHARGER] is not Dialect.OCPP201:
            self._start_flow(call, Leg.CSMS, now, own=True)
            return
        try:
            self._check_emitted(Leg.CHARGER, call.action, "request", call.payload)
        except SchemaViolation as exc:
            self._emit(OwnCall(call.action, "invalid", str(exc)))
            return
        self._enqueue(Leg.CHARGER, call, None, Leg.CSMS, call.unique_id, call.action, now, now, _Own(call.action))

    def _enqueue(self, leg: Leg, call: Call, text: str | None, source: Leg, source_id: str, source_action: str,
                 received_at: float, now: float, flow: _FlowRun | _Replay | _Own | None = None) -> None:
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

    # ---- translation flows --------------------------------------------------------------

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
        run = _FlowRun(flow, origin, call.unique_id, call.action, now, offline=offline, replay=replay,
                       replay_payload=replay_payload, own=own)
        self._advance(run, None, now)

    def _advance(self, run: _FlowRun, value: Reply | None, now: float) -> None:
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

    def _queue_step(self, action: str, payload: JsonObject) -> Reply:
        """An offline flow's call to the CSMS goes into the outbox; the flow goes on as if answered {}."""
        try:
            self._check_emitted(Leg.CSMS, action, "response", {})
        except SchemaViolation:
            # Only an answer the CSMS alone can give (an id) would let the flow go on: the charger retries.
            return Reply(error=CallError("", "GenericError", f"the CSMS is unreachable and {action} needs its answer"))
        self._append(action, _marked_offline(action, payload), f"up:{self._dialects[Leg.CSMS]}")
        return Reply(payload={})

    def _answer_flow(self, run: _FlowRun, payload: JsonObject, now: float) -> None:
        run.answered = True
        if run.replay is not None:
            self._after_replay(run.replay, run.source_action, run.replay_payload or {}, payload, now)
            return
        if run.own:
            self._emit(OwnCall(run.source_action, "result", ""))
            return
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

    def _end_flow_with_error(self, run: _FlowRun, error: GatewayError, now: float, blame: Leg | None = None,
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
        elif isinstance(pending.flow, _FlowRun):
            pending.flow.failure = "error"
            self._advance(pending.flow, Reply(error=reply), now)
        elif isinstance(pending.flow, _Replay):
            self._emit(Replayed(pending.flow.seq, pending.action, "error", reply.error_code))
        elif isinstance(pending.flow, _Own):
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
            if isinstance(pending.flow, _Replay):
                self._after_replay(pending.flow.seq, pending.action, pending.flow.payload, reply.payload, now)
                return
            if isinstance(pending.flow, _Own):
                self._emit(OwnCall(pending.action, "result", ""))
                return
            self._advance(pending.flow, Reply(payload=reply.payload), now)
            return
        # Pass-through: the very text the peer sent goes on, so ids and payloads stay unchanged.
        source, source_action = pending.source, pending.source_action
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
        if isinstance(flow, _FlowRun):
            flow.failure = outcome
            code = error.ocpp_code
            self._advance(flow, Reply(error=CallError(pending.out_id, code, str(error))), now)
            return
        if isinstance(flow, _Replay):
            self._emit(Replayed(flow.seq, pending.action, outcome, str(error)))
            return
        if isinstance(flow, _Own):
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


@dataclass(slots=True)
class _FlowRun:
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
