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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol

from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect, error_code
from gateway.core.ocppj import Call, CallError, CallResult, Message
from gateway.errors import (
    FormatViolation,
    GatewayError,
    NotImplementedAction,
    Overloaded,
    PeerUnavailable,
    RemoteError,
    SchemaViolation,
)

#: How many timed-out message ids are remembered to tell a late reply from an unknown one.
_LATE_MEMORY: Final = 64


class Leg(StrEnum):
    """One side of the gateway, named the Envoy way: downstream chargers, upstream CSMS."""

    CHARGER = "charger"
    CSMS = "csms"

    @property
    def other(self) -> Leg:
        return Leg.CSMS if self is Leg.CHARGER else Leg.CHARGER


@dataclass(frozen=True, slots=True)
class Pending:
    """A CALL the gateway sent (or queued) on a leg, and who waits for its answer."""

    out_id: str
    action: str
    source: Leg
    source_id: str
    source_action: str
    received_at: float
    deadline: float


# Commands the adapter carries out, in order.
@dataclass(frozen=True, slots=True)
class Send:
    """Write `text` (the serialized `message`) on `leg`."""

    leg: Leg
    text: str
    message: Message
    action: str


@dataclass(frozen=True, slots=True)
class Received:
    """A well-formed message arrived on `leg` (for counting; results carry their call's action)."""

    leg: Leg
    kind: str
    action: str


@dataclass(frozen=True, slots=True)
class Completed:
    """A call that crossed the gateway ended: outcome is result, error, timeout or unavailable."""

    action: str
    origin: Leg
    seconds: float
    outcome: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A message from `leg` was refused; the error says why and has already been answered."""

    leg: Leg
    action: str
    error: GatewayError


@dataclass(frozen=True, slots=True)
class Dropped:
    """A reply on `leg` matched no outstanding call; `late` if that call had timed out."""

    leg: Leg
    unique_id: str
    late: bool


Command = Send | Received | Completed | Refused | Dropped


class Translator(Protocol):
    """Turns a message of one leg's dialect into the other's; raises GatewayError when it cannot."""

    def call(self, call: Call, origin: Leg) -> Call: ...

    def result(self, result: CallResult, pending: Pending) -> CallResult: ...


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
        """
        self._dialects = {Leg.CHARGER: charger_dialect, Leg.CSMS: upstream_dialect}
        self._passthrough = charger_dialect == upstream_dialect
        self._translator = translator
        self._max_queued = max_queued
        self._max_frame = max_frame
        self._slots = {Leg.CHARGER: _Slot(True, charger_timeout), Leg.CSMS: _Slot(False, csms_timeout)}
        self._late: deque[str] = deque(maxlen=_LATE_MEMORY)
        self._commands: list[Command] = []

    @property
    def passthrough(self) -> bool:
        return self._passthrough

    def commands(self) -> list[Command]:
        """Take the commands produced since the last call, in the order to carry them out."""
        out, self._commands = self._commands, []
        return out

    # ---- events -------------------------------------------------------------------------

    def receive(self, leg: Leg, text: str, now: float) -> None:
        """Feed one text frame that arrived on `leg`."""
        # Characters are a lower bound of UTF-8 bytes; only count bytes when it could matter.
        if len(text) > self._max_frame or (len(text) * 4 > self._max_frame and len(text.encode()) > self._max_frame):
            self.receive_unreadable(leg, text[:128], f"frame exceeds the {self._max_frame}-byte limit", now)
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
        self._slots[leg].up = True
        self._pump(leg, now)

    def leg_down(self, leg: Leg, now: float) -> None:
        """The leg's connection is gone: its outstanding call can never be answered."""
        slot = self._slots[leg]
        slot.up = False
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

    def next_deadline(self) -> float | None:
        """The earliest time at which `tick` has work to do, or None."""
        deadlines = [
            d
            for slot in self._slots.values()
            for d in (
                slot.outstanding.deadline if slot.outstanding else None,
                slot.queue[0][0].deadline if slot.queue else None,
            )
            if d is not None
        ]
        return min(deadlines, default=None)

    def iter_pending(self) -> Iterator[Pending]:
        """Every call in flight or queued, outstanding first."""
        for slot in self._slots.values():
            if slot.outstanding is not None:
                yield slot.outstanding
            yield from (pending for pending, _ in slot.queue)

    # ---- calls --------------------------------------------------------------------------

    def _on_call(self, leg: Leg, call: Call, text: str, now: float) -> None:
        self._emit(Received(leg, "call", call.action))
        target = leg.other
        try:
            schemas.validate(self._dialects[leg], call.action, "request", call.payload)
            out = call if self._passthrough else self._translate_call(call, leg)
        except GatewayError as exc:
            self._refuse(leg, call.unique_id, call.action, exc)
            return
        pending = Pending(
            out_id=out.unique_id,
            action=out.action,
            source=leg,
            source_id=call.unique_id,
            source_action=call.action,
            received_at=now,
            deadline=now + self._slots[target].timeout,
        )
        slot = self._slots[target]
        if slot.outstanding is None and slot.up and not slot.queue:
            self._send_call(target, pending, out, text if self._passthrough else None)
        elif len(slot.queue) >= self._max_queued:
            self._refuse(leg, call.unique_id, call.action, Overloaded(f"{len(slot.queue)} calls already wait"))
        else:
            slot.queue.append((pending, out))

    def _translate_call(self, call: Call, origin: Leg) -> Call:
        if self._translator is None:
            raise NotImplementedAction(
                f"translation {self._dialects[origin]} -> {self._dialects[origin.other]} is not available"
            )
        out = self._translator.call(call, origin)
        self._check_emitted(origin.other, out.action, "request", out.payload)
        return out

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
        self._emit(Received(leg, reply.kind, pending.action))
        slot.outstanding = None
        if isinstance(reply, CallResult):
            self._answer_result(leg, pending, reply, text, now)
        else:
            self._answer_error(pending, reply, now)
        self._pump(leg, now)

    def _answer_result(self, leg: Leg, pending: Pending, reply: CallResult, text: str, now: float) -> None:
        try:
            schemas.validate(self._dialects[leg], pending.action, "response", reply.payload)
            out = reply if self._passthrough else self._translate_result(reply, pending)
        except GatewayError as exc:
            self._emit(Refused(leg, pending.action, exc))
            self._fail(pending, exc, now, "error")
            return
        reuse = self._passthrough and pending.source_id == reply.unique_id
        message = CallResult(pending.source_id, out.payload)
        self._emit(Send(pending.source, text if reuse else ocppj.serialize(message), message, pending.source_action))
        self._emit(Completed(pending.source_action, pending.source, now - pending.received_at, "result"))

    def _translate_result(self, reply: CallResult, pending: Pending) -> CallResult:
        assert self._translator is not None  # a call was translated, so a translator exists
        out = self._translator.result(reply, pending)
        self._check_emitted(pending.source, pending.source_action, "response", out.payload)
        return out

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
        message = ocppj.call_error_for(error, unique_id, self._dialects[leg])
        self._emit(Refused(leg, action, error))
        self._emit(Send(leg, ocppj.serialize(message), message, action))

    def _fail(self, pending: Pending, error: GatewayError, now: float, outcome: str) -> None:
        message = ocppj.call_error_for(error, pending.source_id, self._dialects[pending.source])
        self._emit(Send(pending.source, ocppj.serialize(message), message, pending.source_action))
        self._emit(Completed(pending.source_action, pending.source, now - pending.received_at, outcome))

    def _check_emitted(self, leg: Leg, action: str, direction: schemas.Direction, payload: object) -> None:
        try:
            schemas.validate(self._dialects[leg], action, direction, payload)
        except RemoteError as exc:
            raise SchemaViolation(f"translated {action} {direction} fails the {leg} schema: {exc}") from None

    def _emit(self, command: Command) -> None:
        self._commands.append(command)
