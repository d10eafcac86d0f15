"""The values a ChargerSession exchanges with its adapter: legs, pending calls, commands, translators."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from gateway.core.ocppj import Call, Message
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.core.flow import Flow


class Leg(StrEnum):
    """One side of the gateway, named the Envoy way: downstream chargers, upstream CSMS."""

    CHARGER = "charger"
    CSMS = "csms"

    @property
    def other(self) -> Leg:
        return Leg.CSMS if self is Leg.CHARGER else Leg.CHARGER


class Pending(NamedTuple):
    """A CALL the gateway sent (or queued) on a leg, and who waits for its answer.

    `flow` is set when the call is a step of a translation flow: the reply goes back into the flow
    instead of straight to the source.
    """

    out_id: str
    action: str
    source: Leg
    source_id: str
    source_action: str
    received_at: float
    deadline: float
    flow: Any = None


# Commands the adapter carries out, in order. NamedTuples rather than frozen dataclasses: they are
# just as immutable and several are built for every frame, where tuples cost a third as much.
class Send(NamedTuple):
    """Write `text` (the serialized `message`) on `leg`."""

    leg: Leg
    text: str
    message: Message
    action: str


class Save(NamedTuple):
    """Persist one per-charger state document before anything after it is sent."""

    key: str
    value: Any


class Received(NamedTuple):
    """A well-formed message arrived on `leg` (for counting; results carry their call's action)."""

    leg: Leg
    kind: str
    action: str


class Completed(NamedTuple):
    """A call that crossed the gateway ended: outcome is result, error, timeout or unavailable."""

    action: str
    origin: Leg
    seconds: float
    outcome: str


class Refused(NamedTuple):
    """A message from `leg` was refused; the error says why and has already been answered."""

    leg: Leg
    action: str
    error: GatewayError


class Dropped(NamedTuple):
    """A reply on `leg` matched no outstanding call; `late` if that call had timed out."""

    leg: Leg
    unique_id: str
    late: bool


class AwayCall(NamedTuple):
    """A charger call met the CSMS-away policy: answered (locally), queued (outbox), held (waits) or refused."""

    action: str
    policy: str


class Enqueue(NamedTuple):
    """Append a call to the charger's durable outbox before anything after it is sent.

    kind is "up:<dialect>" (a call ready for the CSMS) or "charger:<dialect>" (a charger call,
    translated when it is replayed); created_at is wall-clock seconds.
    """

    action: str
    payload: Any
    kind: str
    droppable: bool
    created_at: float


class DropOldest(NamedTuple):
    """The outbox is full: remove its oldest droppable entry (a meter sample) to make room."""

    action: str


class Replayed(NamedTuple):
    """A replayed outbox entry ended: result, error (detail: the code), timeout, unavailable, invalid or stale."""

    seq: int
    action: str
    outcome: str
    detail: str


class OwnCall(NamedTuple):
    """A call the gateway made itself (the stop after a late refusal) ended: result, error, timeout, unavailable."""

    action: str
    outcome: str
    detail: str


Command = Send | Save | Received | Completed | Refused | Dropped | AwayCall | Enqueue | DropOldest | Replayed | OwnCall


class Translator(Protocol):
    """Translates calls between the charger's and the upstream's dialect, keeping per-charger state."""

    def flow(self, call: Call, origin: Leg, now: float) -> Flow:
        """The flow that carries `call` (from `origin`) to the other leg and answers it."""
        ...

    def writes(self) -> list[tuple[str, Any]]:
        """State documents changed since the last call, as (key, value), to persist in that order."""
        ...
