"""The outbox part of a ChargerSession (docs/reliability.md "The outbox", TRANSLATION.md 1.10).

With an outbox limit, a transaction message that meets a lost CSMS (or a non-empty outbox, so that
order is kept) is not held in memory but persisted (Enqueue, carried out before anything after it
is sent) and answered at once:

    pairing                  queued                                    persisted as
    1.6 -> 1.6               StartTransaction (a gateway-minted id,    the charger's call ("up:"); a
                             gateway.core.ids16), StopTransaction,     Start carries its minted id
                             MeterValues with a transactionId          ("up:ocpp1.6#<id>")
    2.0.1 -> 2.0.1           TransactionEvent                          the charger's call, offline: true
    1.x charger, 2.0.1 CSMS  StartTransaction (the gateway owns the    what the translation flow asks of the
                             1.x id), Stop, MeterValues                CSMS ("up:"); each ask is answered {}
    1.5 charger, 1.6 CSMS    StopTransaction, MeterValues              as above
    2.0.1 charger, 1.6 CSMS  TransactionEvent                          the charger's call ("charger:"),
                                                                       translated when replayed (the CSMS
                                                                       assigns the 1.6 id then)

The adapter replays the outbox in order when the CSMS leg is up (`replay`), one entry at a time;
each ends with Replayed, and only then may the adapter remove it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect
from gateway.core.flow import Reply
from gateway.core.ids16 import STORE_KEY as IDS16_KEY
from gateway.core.ids16 import IdMap16
from gateway.core.ocppj import Call, CallError, CallResult, JsonObject
from gateway.core.session_types import (
    AwayCall,
    Command,
    DropOldest,
    Enqueue,
    Leg,
    OwnCall,
    Pending,
    Replayed,
    Save,
    Send,
    Translator,
)
from gateway.errors import GatewayError, OutboxFull, Overloaded, PeerUnavailable, SchemaViolation

__all__ = ["IDS16_KEY", "OutboxMixin", "Own", "Replay", "is_transaction_message", "replay_id"]

#: Charger calls that carry a transaction: a charger retries them until the CSMS has them (OCPP 1.6
#: "Transaction-related messages", 2.0.1 block E) (MeterValues: only with a transactionId, checked apart).
_TRANSACTION_ACTIONS: Final = frozenset({"StartTransaction", "StopTransaction", "TransactionEvent"})
#: TransactionEvent Updated triggers that carry nothing but meter samples: what a full outbox may drop.
_SAMPLE_TRIGGERS: Final = frozenset({"MeterValuePeriodic", "MeterValueClock"})
_ACCEPTED: Final = {"status": "Accepted"}


def is_transaction_message(call: Call) -> bool:
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
class Replay:
    """Pending.flow of a replayed entry: its answer ends the replay instead of going to the charger."""

    seq: int
    #: The entry's payload: a late refusal's stop names its transaction.
    payload: JsonObject
    #: The id the gateway gave a replayed 1.6 StartTransaction, confirmed by the CSMS's answer.
    minted: int | None = None


@dataclass(frozen=True, slots=True)
class Own:
    """Pending.flow of a call the gateway makes itself: its answer goes to the log, nowhere else."""

    action: str


class OutboxMixin:
    """The outbox state and rules of a ChargerSession; the session provides the routing it calls."""

    if TYPE_CHECKING:
        _dialects: dict[Leg, Dialect]
        _passthrough: bool
        _translator: Translator | None
        _max_queued: int
        _csms_lost: bool
        _new_id: Callable[[], str]
        _wall_clock: Callable[[], float] | None

        def _emit(self, command: Command) -> None: ...
        def _refuse(self, leg: Leg, unique_id: str | None, action: str, error: GatewayError) -> None: ...
        def _fail(self, pending: Pending, error: GatewayError, now: float, outcome: str) -> None: ...
        def _check_emitted(self, leg: Leg, action: str, direction: schemas.Direction, payload: object) -> None: ...
        def _enqueue(self, leg: Leg, call: Call, text: str | None, source: Leg, source_id: str,
                     source_action: str, received_at: float, now: float, flow: Any = None) -> None: ...
        def _start_flow(self, call: Call, origin: Leg, now: float, *, offline: bool = False,
                        replay: int | None = None, replay_payload: JsonObject | None = None,
                        own: bool = False) -> None: ...

    def _init_outbox(self, limit: int, stop_on_late_refusal: bool, csms_timeout: float) -> None:
        self._outbox_limit = limit if self._wall_clock is not None else 0
        #: How long a call waits behind the outbox: as long as it may wait for the CSMS.
        self._behind_timeout = csms_timeout
        self._stop_on_late_refusal = stop_on_late_refusal
        #: What the charger's outbox holds (the adapter's store is the truth; set_outbox syncs).
        self._backlog = 0
        self._droppable_count = 0
        #: Transaction messages the outbox does not take, waiting for it to empty (order is kept).
        self._behind: deque[tuple[Pending, Call]] = deque()
        self._ids16 = IdMap16()

    def outbox_removed(self, droppable: bool, now: float) -> None:
        """One entry left the stored outbox after its replay (a DropOldest already counted its own)."""
        self.set_outbox(self._backlog - 1, self._droppable_count - droppable, now)

    def set_outbox(self, total: int, droppable: int, now: float = 0.0) -> None:
        """Tell the session what the charger's stored outbox holds (at start, and after removals).

        Once it is empty, the transaction messages that waited behind it (ones the outbox does not
        take) go on to the CSMS, in order.
        """
        self._backlog, self._droppable_count = total, droppable
        if total:
            return
        self._expire_behind(now)
        while self._behind:
            pending, call = self._behind.popleft()
            if not self._passthrough:
                self._start_flow(call, Leg.CHARGER, now)  # translated as it would have been on arrival
                continue
            self._enqueue(Leg.CSMS, call, None, Leg.CHARGER, call.unique_id, call.action, pending.received_at, now)

    def load_ids16(self, document: object) -> None:
        """Give the session the stored map of gateway-issued 1.6 transaction ids (ids16.STORE_KEY)."""
        self._ids16 = IdMap16(document)

    def _wall(self) -> float:
        assert self._wall_clock is not None  # an outbox needs it (_init_outbox)
        return self._wall_clock()

    @property
    def backlog(self) -> int:
        """Entries in the charger's outbox, as far as the session knows."""
        return self._backlog

    def _expire_behind(self, now: float) -> None:
        behind = self._behind
        while behind and now >= behind[0][0].deadline:
            pending, _ = behind.popleft()
            self._fail(pending, PeerUnavailable("the call waited too long behind the outbox"), now, "timeout")

    def _behind_deadline(self) -> float | None:
        return self._behind[0][0].deadline if self._behind else None

    # ---- charger calls ------------------------------------------------------------------

    def _outbox_takes(self, call: Call, now: float) -> bool:
        """Apply the outbox to a charger call met by a lost CSMS or a non-empty outbox; False: route it on."""
        if self._outbox_limit and self._queued(call, now):
            return True
        if self._backlog and is_transaction_message(call):
            self._wait_behind_outbox(call, now)
            return True
        return False

    def _wait_behind_outbox(self, call: Call, now: float) -> None:
        """A transaction message the outbox does not take must not overtake it: it waits until it is empty."""
        if self._csms_lost:
            self._emit(AwayCall(call.action, "held"))
        if len(self._behind) >= self._max_queued:
            self._refuse(Leg.CHARGER, call.unique_id, call.action,
                         Overloaded(f"{len(self._behind)} calls already wait behind the outbox"))
            return
        pending = Pending(call.unique_id, call.action, Leg.CHARGER, call.unique_id, call.action, now,
                          now + self._behind_timeout)
        self._behind.append((pending, call))

    def _outbox_form(self, call: Call) -> str | None:
        """How a charger call goes into the outbox: "up", "mint", "flow" or "charger"; None if it does not."""
        if not is_transaction_message(call):
            return None
        action = call.action
        if self._passthrough:
            # A 1.6 CSMS assigns transactionIds: the gateway answers with its own and maps them (ids16).
            return "mint" if action == "StartTransaction" else "up"
        if self._dialects[Leg.CHARGER] is Dialect.OCPP201:
            return "charger"  # its 1.6 ids come from the CSMS's StartTransaction answer, at replay
        if action == "StartTransaction" and self._dialects[Leg.CSMS] is not Dialect.OCPP201:
            return None  # 1.5 behind 1.6: the lift passes the CSMS's id through
        return "flow"

    def _queued(self, call: Call, now: float) -> bool:
        """Put a transaction message in the outbox and answer it; False if it is not one the outbox takes."""
        form = self._outbox_form(call)
        if form is None or (form == "flow" and self._translator is None):
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
            self._start_flow(call, Leg.CHARGER, now, offline=True)
            return True
        answer: JsonObject = {}
        if form == "mint":
            minted, new = self._ids16.mint(call.payload, self._wall())
            if new:
                self._emit(Save(IDS16_KEY, self._ids16.document()))  # before the id is told to anyone
                self._append(action, call.payload, f"up:{self._dialects[Leg.CSMS]}#{minted}")
            answer = {"transactionId": minted, "idTagInfo": dict(_ACCEPTED)}
        else:
            dialect = self._dialects[Leg.CSMS if form == "up" else Leg.CHARGER]
            payload = _marked_offline(action, call.payload) if form == "up" else call.payload
            self._append(action, payload, f"{form}:{dialect}")
        try:
            self._check_emitted(Leg.CHARGER, action, "response", answer)
        except SchemaViolation as exc:  # pragma: no cover - every queued action's answer is built valid
            self._refuse(Leg.CHARGER, call.unique_id, action, exc)
            return True
        message = CallResult(call.unique_id, answer)
        self._emit(Send(Leg.CHARGER, ocppj.serialize(message), message, action))
        return True

    def _append(self, action: str, payload: JsonObject, kind: str) -> None:
        droppable = _droppable(action, payload)
        self._emit(Enqueue(action, payload, kind, droppable, self._wall()))
        self._backlog += 1
        self._droppable_count += droppable

    def _queue_step(self, action: str, payload: JsonObject) -> Reply:
        """An offline flow's call to the CSMS goes into the outbox; the flow goes on as if answered {}."""
        try:
            self._check_emitted(Leg.CSMS, action, "response", {})
        except SchemaViolation:
            # Only an answer the CSMS alone can give (an id) would let the flow go on: the charger retries.
            return Reply(error=CallError("", "GenericError", f"the CSMS is unreachable and {action} needs its answer"))
        self._append(action, _marked_offline(action, payload), f"up:{self._dialects[Leg.CSMS]}")
        return Reply(payload={})

    def _mapped_ids(self, leg: Leg, call: Call) -> Call | None:
        """A pass-through call naming a gateway-issued 1.6 transaction, with the other side's id; None: as is."""
        if leg is Leg.CHARGER:
            payload = self._ids16.to_csms(call.action, call.payload, self._wall())
            if self._ids16.take_changed():  # its Stop: the ids are kept a while longer, then pruned
                self._emit(Save(IDS16_KEY, self._ids16.document()))
        else:
            payload = self._ids16.to_charger(call.action, call.payload)
        return None if payload is None else Call(call.unique_id, call.action, payload)

    @staticmethod
    def _with_queue_state(answer: JsonObject) -> JsonObject:
        """A GetTransactionStatus answer while the outbox holds entries: messages are still to be sent.

        The outbox does not index entries by transaction, so it says so for every transaction of the
        charger: a CSMS that waits for more messages waits a little longer, rather than closing a
        transaction whose StopTransaction is still queued.
        """
        return {**answer, "messagesInQueue": True}

    # ---- replay -------------------------------------------------------------------------

    def replay(self, seq: int, kind: str, action: str, payload: JsonObject, created_at: float, now: float) -> None:
        """Send one outbox entry to the CSMS; Replayed tells how it ended.

        Args:
            seq: the entry's place in the outbox.
            kind: how it was stored ("up:<dialect>", "up:<dialect>#<minted id>" or "charger:<dialect>").
            action: its action.
            payload: its payload.
            created_at: when it was queued (wall clock), part of its stable message id.
            now: the current time.
        """
        form, _, rest = kind.partition(":")
        dialect, _, minted = rest.partition("#")
        leg = Leg.CSMS if form == "up" else Leg.CHARGER
        if form not in ("up", "charger") or dialect != self._dialects[leg]:
            # Queued for another upstream dialect (the configuration changed since): it cannot be sent.
            self._emit(Replayed(seq, action, "stale", f"queued as {kind}"))
            return
        try:
            schemas.validate(self._dialects[leg], action, "request", payload)
        except GatewayError as exc:
            self._emit(Replayed(seq, action, "invalid", str(exc)))
            return
        call = Call(replay_id(seq, created_at), action, payload)
        if form == "charger":
            self._start_flow(call, Leg.CHARGER, now, replay=seq, replay_payload=payload)
            return
        if self._ids16 and not minted:
            call = self._mapped_ids(Leg.CHARGER, call) or call
        self._enqueue(Leg.CSMS, call, None, Leg.CHARGER, call.unique_id, action, now, now,
                      Replay(seq, payload, int(minted) if minted else None))

    def _after_replay(self, seq: int, action: str, entry: Replay, answer: JsonObject, now: float) -> None:
        """A replayed entry was answered: report it, and stop its transaction if the CSMS refused the token late.

        TRANSLATION.md 1.10: the charger was answered (Accepted) when the entry was queued; a refusal that
        comes with the replay stops a transaction still running (RequestStopTransaction; behind the 2.0.1
        CSMS a 1.x charger gets it translated, RemoteStopTransaction with its own id).
        """
        if entry.minted is not None and isinstance(answer.get("transactionId"), int):
            self._ids16.confirm(entry.minted, answer["transactionId"])
            self._emit(Save(IDS16_KEY, self._ids16.document()))
        refusal = _late_refusal(answer)
        self._emit(Replayed(seq, action, "result", refusal))
        if refusal and self._stop_on_late_refusal:
            self._stop_refused(action, entry, now)

    def _stop_refused(self, action: str, entry: Replay, now: float) -> None:
        if entry.minted is not None:
            call = Call(self._new_id(), "RemoteStopTransaction", {"transactionId": entry.minted})
        elif action == "TransactionEvent" and entry.payload.get("eventType") != "Ended":
            info = entry.payload.get("transactionInfo")
            call = Call(self._new_id(), "RequestStopTransaction", {"transactionId": info.get("transactionId")}
                        if isinstance(info, dict) else {})
            if self._dialects[Leg.CHARGER] is not Dialect.OCPP201:
                self._start_flow(call, Leg.CSMS, now, own=True)
                return
        else:
            return
        try:
            self._check_emitted(Leg.CHARGER, call.action, "request", call.payload)
        except SchemaViolation as exc:
            self._emit(OwnCall(call.action, "invalid", str(exc)))
            return
        self._enqueue(Leg.CHARGER, call, None, Leg.CSMS, call.unique_id, call.action, now, now, Own(call.action))
