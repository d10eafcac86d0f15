"""Two translators stacked: a 1.5 charger behind a 2.0.1 CSMS is lifted to 1.6, then translated to 2.0.1.

TRANSLATION.md 0.2: apply chapter 5 (1.5 <-> 1.6) first and chapters 2-4 afterwards. `lower` faces
the charger (1.5 <-> 1.6), `upper` the CSMS (1.6 <-> 2.0.1). A call from the charger runs the lower
flow; every call that flow sends toward the CSMS (in 1.6) runs, nested, as the upper flow, whose
answer becomes the lower flow's reply. CSMS-initiated calls go the other way round. Nothing else
needs to know that two translators are at work: the chain is one Translator and its flows are flows.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator
from typing import Any, Final

from gateway.core.flow import Flow, Reply, Request, Respond, Step
from gateway.core.ocppj import Call, CallError, JsonObject
from gateway.core.session_types import Leg, Translator
from gateway.core.translate.translator import Translation
from gateway.errors import GatewayError

#: Nested calls never reach the wire; their ids only tell them apart in error messages.
_ids = itertools.count(1)
_NESTED: Final = "chain-{}"


class Chain:
    """A Translator made of a charger-facing `lower` and a CSMS-facing `upper` translator."""

    def __init__(self, lower: Translator, upper: Translator) -> None:
        self.lower = lower
        self.upper = upper
        # The session checks only what the chain emits; what one translator hands the other it never sees.
        for translator in (lower, upper):
            if isinstance(translator, Translation):
                translator.validates = True

    def writes(self) -> list[tuple[str, Any]]:
        return self.lower.writes() + self.upper.writes()

    def flow(self, call: Call, origin: Leg, now: float) -> Flow:
        """The lower flow for a charger's call, the upper one for the CSMS's; the other one nests inside."""
        if origin is Leg.CHARGER:
            return self._drive(self.lower.flow(call, origin, now), nest_on=Leg.CSMS, now=now)
        return self._drive(self.upper.flow(call, origin, now), nest_on=Leg.CHARGER, now=now)

    def _drive(self, flow: Flow, *, nest_on: Leg, now: float) -> Flow:
        """Run `flow`, turning its Requests on `nest_on` into nested flows of the other translator."""
        reply: Reply | None = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as stop:
                result: JsonObject | None = stop.value
                return result
            if isinstance(step, Request) and step.leg is nest_on:
                reply = yield from self._nested(step, now)
            else:
                reply = yield step
                if isinstance(step, Respond):
                    reply = None

    def _nested(self, request: Request, now: float) -> Generator[Step, Reply | None, Reply]:
        """Run the other translator's flow for `request`; its answer (or error) is the Reply."""
        call = Call(_NESTED.format(next(_ids)), request.action, request.payload)
        # A request toward the CSMS comes from the lower flow: the upper translator sees it as a
        # charger's call. A request toward the charger comes from the upper flow: the lower one sees
        # it as the CSMS's.
        origin = Leg.CHARGER if request.leg is Leg.CSMS else Leg.CSMS
        translator = self.upper if request.leg is Leg.CSMS else self.lower
        try:
            inner = translator.flow(call, origin, now)
        except GatewayError as exc:
            return _error_reply(call, exc)
        try:
            # The inner flow may answer early (Respond) and go on; its source here is the outer flow,
            # which hears the answer once the inner flow has finished.
            answer = yield from self._inner_steps(self._drive(inner, nest_on=request.leg.other, now=now))
        except GatewayError as exc:
            return _error_reply(call, exc)
        return Reply(payload=answer if answer is not None else {})

    @staticmethod
    def _inner_steps(flow: Flow) -> Generator[Step, Reply | None, JsonObject | None]:
        """Pass an inner flow's Requests to the session; keep its first Respond as the answer."""
        answer: JsonObject | None = None
        reply: Reply | None = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as stop:
                return answer if answer is not None else stop.value
            if isinstance(step, Respond):
                if answer is None:
                    answer = step.payload
                reply = None
                continue
            reply = yield step


def _error_reply(call: Call, error: GatewayError) -> Reply:
    return Reply(error=CallError(call.unique_id, error.ocpp_code, str(error)[:255], {}))
