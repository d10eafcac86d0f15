"""Flows: how a translated call unfolds, written as a generator the session drives step by step.

A translator answers a CALL it must translate with a flow: a generator that yields `Request`s (send
a CALL on a leg; the session sends back the `Reply`) and `Respond`s (answer the source now; the flow
may go on afterwards, e.g. to send NotifyReport after accepting GetBaseReport). Returning a payload
answers the source if it was not answered yet; raising a GatewayError answers it with a CALLERROR.

Because a flow is plain Python driven by the session, it is sans-I/O: tests feed replies and read
the steps without any event loop.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeAlias

from gateway.core.ocppj import CallError, JsonObject
from gateway.core.session_types import Leg


@dataclass(frozen=True, slots=True)
class Request:
    """Send a CALL on `leg` and wait for its reply."""

    leg: Leg
    action: str
    payload: JsonObject


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the flow's source now with this payload."""

    payload: JsonObject


@dataclass(frozen=True, slots=True)
class Reply:
    """What a Request came back with: a result payload, or an error (timeouts become InternalError)."""

    payload: JsonObject | None = None
    error: CallError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Step: TypeAlias = Request | Respond
Flow: TypeAlias = Generator[Step, Reply | None, JsonObject | None]
