"""Translation: the Translator a ChargerSession uses when charger and CSMS speak different dialects.

For each call it finds the mapping rule (`mappings/*.yaml`) for (source dialect, action, direction):
a mapped message is forwarded and its answer mapped back; a local answer is given at once; a named
handler (stateful code: transactions, statuses, configuration...) takes over; anything else is
CALLERROR NotSupported, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, Final, Literal

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Request, Respond, Step
from gateway.core.mapping import Answer, Delegate, Forward, RuleSet
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import commands, config201, lift15_handlers, status16, status201, tx16, tx201
from gateway.core.translate.context import HandlerContext, PeerCallError, iso
from gateway.core.translate.hooks import call_hook
from gateway.errors import NotSupportedAction

#: A handler may return None to say "not mine after all": the rule's plain mapping applies then.
CodeHandler = Callable[[HandlerContext, Call, float], Flow | None]

#: Code handlers by (name used in the mapping files, source dialect family); each module lists its own.
HANDLERS: Final[dict[tuple[str, Dialect], CodeHandler]] = {
    ("start_transaction", Dialect.OCPP16): tx16.start_transaction,
    ("stop_transaction", Dialect.OCPP16): tx16.stop_transaction,
    ("meter_values_in_transaction", Dialect.OCPP16): tx16.meter_values,
    ("status_notification", Dialect.OCPP16): status16.status_notification,
    **tx201.HANDLERS,
    **config201.HANDLERS,
    **commands.HANDLERS,
    **lift15_handlers.HANDLERS,
}


class _MappingContext:
    """What mapping rules see of a charger: the time and the hooks."""

    def __init__(self, ctx: HandlerContext) -> None:
        self._ctx = ctx

    @property
    def now_iso(self) -> str:
        return iso(self._ctx.wall_clock())

    def hook(self, name: str, source: Mapping[str, Any], value: Any) -> Any:
        return call_hook(self._ctx, name, source, value)


class Translation:
    """The translator of one charger (implements gateway.core.session.Translator)."""

    def __init__(self, ctx: HandlerContext, rules: RuleSet) -> None:
        self.ctx = ctx
        self._rules = rules
        self._mapping = _MappingContext(ctx)
        #: Whether the rules check the payloads they map. The session checks every payload a flow emits
        #: before it leaves, so by default they need not; a Chain turns this on, as its nested payloads
        #: never reach the session.
        self.validates = False

    def writes(self) -> list[tuple[str, Any]]:
        return self.ctx.state.writes()

    def flow(self, call: Call, origin: Leg, now: float) -> Flow:
        """The flow carrying `call` from `origin` to the other leg (raises GatewayError to refuse it)."""
        direction: Literal["up", "down"] = "up" if origin is Leg.CHARGER else "down"
        source = self.ctx.charger if origin is Leg.CHARGER else self.ctx.upstream
        target = self.ctx.upstream if origin is Leg.CHARGER else self.ctx.charger
        # The target is named: 1.6 messages have rules toward 2.0.1 and toward 1.5 (TRANSLATION.md 0.2).
        rule = self._rules.find(source.json_family, call.action, direction, target.json_family)
        if rule is None:
            raise NotSupportedAction(f"{call.action} has no counterpart in OCPP {target.json_family}")
        outcome = rule.apply(call.payload, self._mapping, validate=self.validates)
        if isinstance(outcome, Delegate):
            handler = HANDLERS.get((outcome.handler, source.json_family))
            if handler is None:
                raise NotSupportedAction(f"{call.action} ({outcome.handler}) is not translated yet")
            flow = handler(self.ctx, call, now)
            if flow is not None:
                return flow
            outcome = rule.apply_mapping(call.payload, self._mapping, validate=self.validates)
        if isinstance(outcome, Answer):
            return _answer(outcome.payload)
        return self._forward(origin.other, outcome, call.payload)

    def _forward(self, leg: Leg, outcome: Forward, request: JsonObject) -> Flow:
        reply = yield Request(leg, outcome.action, outcome.payload)
        assert isinstance(reply, Reply)
        if reply.error is not None:
            raise PeerCallError(reply.error)
        station_boot = (outcome.action == "BootNotification" and leg is Leg.CSMS
                        and self.ctx.charger.json_family is Dialect.OCPP201)
        # A station's boot answer is acted on once sent (after_boot), whatever the session's check of it said:
        # the rule checks it, so that an invalid one ends the flow before that.
        answer = outcome.rule.map_response(reply.payload or {}, self._mapping, request=request,
                                           validate=self.validates or station_boot)
        if station_boot:
            yield Respond(answer)
            yield from self._after_station_boot(answer)
        return answer

    def _after_station_boot(self, answer: JsonObject) -> Generator[Step, Reply | None, None]:
        """A 2.0.1 station behind a 1.6 CSMS just booted (TRANSLATION.md 2.2 side effects)."""
        if answer.get("status") != "Accepted":
            return
        yield from status201.after_boot(self.ctx, answer)  # connector 0 Available upstream (2.5.4)
        # Refresh the device-model cache that GetConfiguration answers come from (4.7.6).
        request_id = self.ctx.state.next_counter("reportRequestId", self.ctx.wall_clock())
        yield Request(Leg.CHARGER, "GetBaseReport", {"requestId": request_id, "reportBase": "ConfigurationInventory"})


def _answer(payload: JsonObject) -> Flow:
    return payload
    yield  # a generator that answers at once
