"""A ChargerSession driven as a protocol trace: feed it frames and events, read its commands as tuples."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.session import (
    AwayCall,
    ChargerSession,
    Command,
    Completed,
    DropOldest,
    Dropped,
    Enqueue,
    Leg,
    OwnCall,
    Received,
    Refused,
    Replayed,
    Save,
    Send,
    Translator,
)

CHARGER = Leg.CHARGER
CSMS = Leg.CSMS

# Schema-valid payloads, named by dialect and action.
BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
BOOT_ANSWER = {"status": "Accepted", "currentTime": "2024-05-01T10:00:00Z", "interval": 300}
HEARTBEAT_ANSWER = {"currentTime": "2024-05-01T10:00:00Z"}
RESET_16 = {"type": "Soft"}
RESET_201 = {"type": "Immediate"}
RESET_ANSWER = {"status": "Accepted"}


class _Anything:
    """Equal to every value; stands for the free-text parts of a frame (CALLERROR descriptions)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Anything()


def readable(command: Command) -> tuple[Any, ...]:
    """Spell a command as a tuple a test can compare: sent frames appear decoded."""
    match command:
        case Send(leg, text, _, _):
            return ("send", leg.value, json.loads(text))
        case Received(leg, kind, action):
            return ("received", leg.value, kind, action)
        case Completed(action, origin, seconds, outcome):
            return ("completed", action, origin.value, outcome, seconds)
        case Refused(leg, action, error):
            return ("refused", leg.value, action, type(error).__name__)
        case Dropped(leg, unique_id, late):
            return ("dropped", leg.value, unique_id, late)
        case AwayCall(action, policy):
            return ("away", action, policy)
        case Enqueue(action, payload, kind, droppable, _):
            return ("enqueue", kind, action, payload, droppable)
        case DropOldest(action):
            return ("drop_oldest", action)
        case Replayed(seq, action, outcome, _):
            return ("replayed", seq, action, outcome)
        case OwnCall(action, outcome, _):
            return ("own", action, outcome)
        case Save(key, _):
            return ("save", key)
    raise AssertionError(f"unknown command {command!r}")


class Playbook:
    """One ChargerSession with its CSMS leg up (unless told otherwise) and helpers to feed it."""

    def __init__(
        self,
        charger: Dialect = Dialect.OCPP16,
        upstream: Dialect | None = None,
        translator: Translator | None = None,
        *,
        csms_up: bool = True,
        charger_timeout: float = 10.0,
        csms_timeout: float = 30.0,
        max_queued: int = 2,
        max_frame: int = 4096,
        wall_clock: Callable[[], float] | None = None,
        outbox_limit: int = 0,
        stop_on_late_refusal: bool = True,
    ) -> None:
        self.session = ChargerSession(
            charger,
            upstream or charger,
            translator,
            charger_timeout=charger_timeout,
            csms_timeout=csms_timeout,
            max_queued=max_queued,
            max_frame=max_frame,
            wall_clock=wall_clock,
            outbox_limit=outbox_limit,
            stop_on_late_refusal=stop_on_late_refusal,
        )
        #: The raw commands of the last step, for tests that look past the readable form.
        self.raw: list[Command] = []
        if csms_up:
            self.up(CSMS)

    def _drain(self) -> list[tuple[Any, ...]]:
        self.raw = self.session.commands()
        return [readable(command) for command in self.raw]

    def receive(self, leg: Leg, frame: list[Any] | str, now: float = 0.0) -> list[tuple[Any, ...]]:
        """Feed a frame (a list is encoded as compact JSON, a str goes as is) and drain the commands."""
        text = frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))
        self.session.receive(leg, text, now)
        return self._drain()

    def charger(self, frame: list[Any] | str, now: float = 0.0) -> list[tuple[Any, ...]]:
        """The charger sends `frame`."""
        return self.receive(CHARGER, frame, now)

    def csms(self, frame: list[Any] | str, now: float = 0.0) -> list[tuple[Any, ...]]:
        """The CSMS sends `frame`."""
        return self.receive(CSMS, frame, now)

    def up(self, leg: Leg, now: float = 0.0) -> list[tuple[Any, ...]]:
        """The leg connects."""
        self.session.leg_up(leg, now)
        return self._drain()

    def down(self, leg: Leg, now: float = 0.0) -> list[tuple[Any, ...]]:
        """The leg disconnects."""
        self.session.leg_down(leg, now)
        return self._drain()

    def replay(self, seq: int, kind: str, frame: list[Any], created_at: float = 0.0,
               now: float = 0.0) -> list[tuple[Any, ...]]:
        """The adapter replays outbox entry `seq`: `frame` is the [2, id, action, payload] it holds."""
        self.session.replay(seq, kind, frame[2], frame[3], created_at, now)
        return self._drain()

    def tick(self, now: float) -> list[tuple[Any, ...]]:
        """Time passes."""
        self.session.tick(now)
        return self._drain()
