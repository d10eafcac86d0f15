"""How a 1.5 -> 1.6 lift is built and driven by hand; the `Lift` driver the other test_lift15 modules share.

`Lift` is one charger's Translation (1.5 SOAP charger, 1.6 CSMS) with a settable clock. `Lift.run`
drives one call through its flow without a session: it answers each call the flow sends from a
table of replies and checks every payload on the way against its schema (1.6 from the `ocpp`
package, 1.5 from the SOAP codec), as the session would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.core.flow import Reply, Request, Respond
from gateway.core.mapping import HANDLERS_USED, HOOKS_USED, RuleSet
from gateway.core.ocppj import Call, CallError
from gateway.core.session_types import Leg
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.hooks import HOOKS
from gateway.core.translate.settings import Topology, TranslationSettings
from gateway.core.translate.state import KEY_PREFIX, LIFT15_KEY_PREFIX, ChargerState
from gateway.core.translate.translator import HANDLERS, Translation
from gateway.errors import GatewayError
from gateway.mapping_files import load_mappings

C15, U16 = Dialect.OCPP15_SOAP, Dialect.OCPP16
CHARGER, CSMS = Leg.CHARGER, Leg.CSMS
#: 2027-01-15T08:00:00Z, the lift's wall clock unless a test moves it.
T0 = 1_800_000_000.0
NOW = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T09:59:00Z"

#: What the peers answer when a test does not say otherwise (schema-valid for their dialect).
DEFAULT_REPLIES: Mapping[tuple[Leg, str], dict[str, Any]] = {
    (CSMS, "BootNotification"): {"status": "Accepted", "currentTime": NOW, "interval": 300},
    (CSMS, "Heartbeat"): {"currentTime": NOW},
    (CSMS, "Authorize"): {"idTagInfo": {"status": "Accepted"}},
    (CSMS, "StartTransaction"): {"transactionId": 7, "idTagInfo": {"status": "Accepted"}},
    (CSMS, "StopTransaction"): {},
    (CSMS, "StatusNotification"): {},
    (CSMS, "MeterValues"): {},
    (CSMS, "FirmwareStatusNotification"): {},
    (CSMS, "DiagnosticsStatusNotification"): {},
    (CSMS, "DataTransfer"): {"status": "Accepted"},
    (CHARGER, "ChangeConfiguration"): {"status": "Accepted"},
    (CHARGER, "GetConfiguration"): {"configurationKey": []},
    (CHARGER, "Reset"): {"status": "Accepted"},
    (CHARGER, "RemoteStopTransaction"): {"status": "Accepted"},
    (CHARGER, "UnlockConnector"): {"status": "Accepted"},
}

Replies = Mapping[str, "dict[str, Any] | CallError | list[dict[str, Any] | CallError]"]
#: Answers one call the flow sends (leg, action, payload) with a reply payload or a CallError.
Responder = Callable[[Leg, str, dict[str, Any]], "dict[str, Any] | CallError"]


@cache
def lift_rules() -> RuleSet:
    """The built-in rules (every file), loaded once, as the gateway loads them."""
    return load_mappings()


def valid(dialect: Dialect, action: str, direction: schemas.Direction, payload: Mapping[str, Any]) -> None:
    """Validate a copy against the dialect's schema (1.5: the SOAP codec's, so the codec can encode it)."""
    schemas.validate(dialect, action, direction, copy.deepcopy(dict(payload)))


@dataclass
class Exchange:
    """What one call through the lift came to: the source's answer or error, and the calls sent meanwhile."""

    answer: dict[str, Any] | None = None
    error: GatewayError | None = None
    sent: list[tuple[Leg, str, dict[str, Any]]] = field(default_factory=list)
    #: How many calls had been sent when the source was answered (None: not answered).
    answered_after: int | None = None

    def calls(self, leg: Leg, action: str | None = None) -> list[dict[str, Any]]:
        """The payloads sent on `leg` (of `action`, when given), in order."""
        return [p for sent_leg, a, p in self.sent if sent_leg is leg and action in (None, a)]


class Lift:
    """One 1.5 charger's lift to a 1.6 CSMS, built the way the gateway builds it."""

    def __init__(self, topology: tuple[tuple[int, int], ...] = (), documents: dict[str, Any] | None = None) -> None:
        self.now = T0
        self.state = ChargerState(documents, prefix=LIFT15_KEY_PREFIX)
        settings = TranslationSettings(topology=Topology(topology))
        self.ctx = HandlerContext("CB15", C15, U16, self.state, settings, lambda: self.now)
        self.translation = Translation(self.ctx, lift_rules())
        self.saved: dict[str, Any] = {}

    def run(self, origin: Leg, action: str, payload: dict[str, Any], replies: Replies | None = None,
            responder: Responder | None = None) -> Exchange:
        """Drive one call from `origin` through the lift; every payload is checked against its schema.

        Calls the flow sends are answered by `responder` when given, else from `replies` (by action; a
        list is used in order, its last entry repeating), else from DEFAULT_REPLIES.
        """
        source = C15 if origin is CHARGER else U16
        valid(source, action, "request", payload)
        before = copy.deepcopy(payload)
        exchange = Exchange()
        pending = {name: list(r) if isinstance(r, list) else [r] for name, r in (replies or {}).items()}
        try:
            flow = self.translation.flow(Call("src-1", action, payload), origin, 0.0)
            value: Reply | None = None
            while True:
                try:
                    step = flow.send(value)
                except StopIteration as stop:
                    if exchange.answer is None:
                        exchange.answer, exchange.answered_after = dict(stop.value or {}), len(exchange.sent)
                    break
                value = None
                if isinstance(step, Respond):
                    if exchange.answer is None:
                        exchange.answer, exchange.answered_after = dict(step.payload), len(exchange.sent)
                    continue
                value = self._reply(step, pending, exchange, responder)
        except GatewayError as exc:
            exchange.error = exc
        assert payload == before, "the lift changed the source payload"
        if exchange.answer is not None and exchange.error is None:
            valid(source, action, "response", exchange.answer)
        self.saved.update(dict(self.translation.writes()))
        return exchange

    def _reply(self, step: Request, pending: dict[str, list[Any]], exchange: Exchange,
               responder: Responder | None) -> Reply:
        target = U16 if step.leg is CSMS else C15
        valid(target, step.action, "request", step.payload)
        exchange.sent.append((step.leg, step.action, copy.deepcopy(step.payload)))
        queue = pending.get(step.action)
        if responder is not None:
            answer = responder(step.leg, step.action, step.payload)
        elif queue:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        else:
            answer = DEFAULT_REPLIES[(step.leg, step.action)]
        if isinstance(answer, CallError):
            return Reply(error=answer)
        valid(target, step.action, "response", answer)
        return Reply(payload=copy.deepcopy(answer))

    def up(self, action: str, payload: dict[str, Any], replies: Replies | None = None) -> Exchange:
        """The charger sends a 1.5 call."""
        return self.run(CHARGER, action, payload, replies)

    def down(self, action: str, payload: dict[str, Any], replies: Replies | None = None) -> Exchange:
        """The CSMS sends a 1.6 call."""
        return self.run(CSMS, action, payload, replies)

    def status(self, connector: int, status: str, error_code: str = "NoError") -> Exchange:
        """The charger reports a 1.5 status."""
        return self.up("StatusNotification", {"connectorId": connector, "status": status, "errorCode": error_code})

    def start(self, connector: int = 1, transaction_id: int = 7, status: str = "Accepted") -> Exchange:
        """The charger starts a transaction; the CSMS numbers it `transaction_id`."""
        request = {"connectorId": connector, "idTag": "04A2B3C4", "timestamp": T1, "meterStart": 100}
        return self.up("StartTransaction", request,
                       {"StartTransaction": {"transactionId": transaction_id, "idTagInfo": {"status": status}}})

    def stop(self, transaction_id: int = 7, **extra: Any) -> Exchange:
        """The charger stops a transaction."""
        return self.up("StopTransaction", {"transactionId": transaction_id, "timestamp": NOW, "meterStop": 900,
                                           **extra})


def error(code: str) -> CallError:
    """A CALLERROR reply with `code`."""
    return CallError("x", code, "refused")


Step = Callable[[Lift], Exchange]


# ------------------------------------------------------------------------------ how the lift is built

def test_lift_state_is_saved_under_its_own_prefix() -> None:
    """The lift's documents go to `l15.*` store keys, never to the 1.6 <-> 2.0.1 translator's `tr.*`."""
    lift = Lift()
    lift.status(1, "Available")
    assert lift.saved and all(key.startswith(LIFT15_KEY_PREFIX) for key in lift.saved)
    assert not any(key.startswith(KEY_PREFIX) for key in lift.saved)


def test_store_keys_follow_the_prefix_and_default_to_the_translator_ones() -> None:
    """ChargerState.store_keys names the keys to load for either translator; the default is unchanged."""
    assert ChargerState.store_keys() == [KEY_PREFIX + name for name in ("tx", "tokens", "counters", "status", "jobs",
                                                                       "cache")]
    assert ChargerState.store_keys(LIFT15_KEY_PREFIX)[0] == "l15.tx"


def test_lift_resumes_from_documents_loaded_under_its_prefix() -> None:
    """Documents saved by one lift instance are what the next one (after a restart) starts from."""
    first = Lift()
    first.status(1, "Occupied")
    first.start()
    restarted = Lift(documents={key.removeprefix(LIFT15_KEY_PREFIX): doc for key, doc in first.saved.items()})
    assert restarted.status(1, "Occupied").calls(CSMS, "StatusNotification")[0]["status"] == "Charging"


def test_every_lift_hook_and_handler_is_registered_and_declared() -> None:
    """The translator implements every lift15 hook and handler the mapping file names, under the right source."""
    hooks = {name for name in HOOKS_USED if name.startswith("lift15_")}
    handlers = {name for name in HANDLERS_USED if name.startswith("lift15_")}
    assert hooks and hooks <= set(HOOKS)
    assert handlers == {name for name, source in HANDLERS if source in (C15, U16) and name.startswith("lift15_")}


def test_1_6_messages_find_the_2_0_1_rules_unless_1_5_is_named() -> None:
    """1.6 is the pivot: without a target a 1.6 call finds its 1.6 -> 2.0.1 rule, with 1.5 named the lift's."""
    rules = lift_rules()
    default = rules.find(U16, "Reset", "down")
    lowered = rules.find(U16, "Reset", "down", C15)
    assert default is not None and default.target is Dialect.OCPP201
    assert lowered is not None and lowered.target is C15
    assert rules.find(U16, "Reset", "down", Dialect.OCPP201) is default
