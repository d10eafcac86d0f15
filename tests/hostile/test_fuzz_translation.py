"""Fuzzing the translation entry point: a ChargerSession with the real translator, fed any JSON object.

tests/core/test_mapping_properties.py and test_lift15_properties.py feed schema-valid payloads to
the mapping rules and the lift alone. Here the payloads go through the session (as the gateway's
runner feeds it) and are drawn from three pools per known action: schema-valid, schema-valid with
one mutation (a key dropped, a value's type changed, an unknown key added) and arbitrary JSON
objects; the peers' answers are drawn the same way, or are CALLERRORs. Every pair of dialects the
gateway translates is covered: 1.6 <-> 2.0.1 both ways, the 1.5 lift to 1.6, and 1.5 behind 2.0.1
(the lift chained with 1.6 -> 2.0.1).

Whatever comes in: `receive` never raises, the translator never fails with an exception of its own
(InternalBug), every call sent on is valid under its leg's schema, and the source's call is answered
exactly once, with a schema-valid CALLRESULT or a CALLERROR.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import ocppj, schemas
from gateway.core.dialects import Dialect
from gateway.core.mapping import RuleSet
from gateway.core.ocppj import Call, CallError, CallResult
from gateway.core.session import ChargerSession, InternalBug, Leg, Refused, Send, Translator
from gateway.core.translate.chain import Chain
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import KEY_PREFIX, LIFT15_KEY_PREFIX, ChargerState
from gateway.core.translate.translator import Translation
from gateway.mapping_files import load_mappings
from tests.core.test_mapping_properties import payloads

V15, V16, V201 = Dialect.OCPP15_SOAP, Dialect.OCPP16, Dialect.OCPP201
CHARGER, CSMS = Leg.CHARGER, Leg.CSMS
NOW = 1_800_000_000.0
#: Calls a flow may send before its source is answered; a flow that needs more is itself a finding.
MAX_STEPS = 12

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@cache
def rules() -> RuleSet:
    return load_mappings()


def _translation(charger: Dialect, upstream: Dialect, prefix: str = KEY_PREFIX) -> Translation:
    ctx = HandlerContext("FUZZ1", charger, upstream, ChargerState({}, prefix=prefix), TranslationSettings(),
                         lambda: NOW)
    return Translation(ctx, rules())


@dataclass(frozen=True)
class Pair:
    """A charger dialect, an upstream dialect, and how the gateway builds their translator."""

    charger: Dialect
    upstream: Dialect
    build: Callable[[], Translator]

    def dialect(self, leg: Leg) -> Dialect:
        return self.charger if leg is CHARGER else self.upstream


PAIRS = {
    "1.6->2.0.1": Pair(V16, V201, lambda: _translation(V16, V201)),
    "2.0.1->1.6": Pair(V201, V16, lambda: _translation(V201, V16)),
    "1.5->1.6": Pair(V15, V16, lambda: _translation(V15, V16, LIFT15_KEY_PREFIX)),
    "1.5->2.0.1": Pair(V15, V201, lambda: Chain(_translation(V15, V16, LIFT15_KEY_PREFIX), _translation(V16, V201))),
}


def _translated(pair: Pair, origin: Leg) -> list[str]:
    """The actions a leg may send that the first translation stage has a rule for."""
    chained = pair.charger is V15 and pair.upstream is V201  # 1.5 -> 1.6 (lift), then 1.6 -> 2.0.1
    direction: Literal["up", "down"]
    if origin is CHARGER:
        source, target, direction = pair.charger, (V16 if chained else pair.upstream), "up"
    else:
        source, target, direction = pair.upstream, (V16 if chained else pair.charger), "down"
    return sorted(a for a in schemas.actions(source) if rules().find(source, a, direction, target) is not None)


# ---- payloads: valid, mutated, garbage --------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=30)
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8)
_objects = st.dictionaries(st.text(max_size=12), _json, max_size=4)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((*here, key))
        found.extend(_paths(child, (*here, key)))
    return found


@st.composite
def _mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A schema-valid payload with one thing changed: a value replaced, a key dropped or an unknown key added."""
    payload: dict[str, Any] = copy.deepcopy(draw(valid))
    paths = _paths(payload)
    kind = draw(st.sampled_from(["replace", "drop", "add"]))
    if kind == "add" or not paths:
        target = payload
        dicts = [p for p in paths if isinstance(_at(payload, p), dict)]
        if dicts:
            target = _at(payload, draw(st.sampled_from(dicts)))
        target[draw(st.text(max_size=10))] = draw(_json)
        return payload
    path = draw(st.sampled_from(paths))
    parent = _at(payload, path[:-1])
    if kind == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(_json)
    return payload


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def any_payload(dialect: Dialect, action: str, direction: schemas.Direction) -> st.SearchStrategy[dict[str, Any]]:
    valid = payloads(dialect, action, direction)
    return st.one_of(valid, _mutated(valid), _objects)


# ---- driving one call through the session ----------------------------------------------------


def _calls_sent(sends: list[Send], leg: Leg) -> list[Call]:
    return [s.message for s in sends if s.leg is leg and isinstance(s.message, Call)]


def _check(session: ChargerSession, pair: Pair, sent: list[Send]) -> None:
    """What the session emitted: no InternalBug, every call on a leg valid under that leg's schema."""
    for command in session.commands():
        if isinstance(command, Refused):
            assert not isinstance(command.error, InternalBug), repr(command.error.__cause__)
        if isinstance(command, Send):
            assert ocppj.parse(command.text) == command.message
            if isinstance(command.message, Call):
                schemas.validate(pair.dialect(command.leg), command.action, "request", command.message.payload)
            sent.append(command)


def _run_call(session: ChargerSession, pair: Pair, origin: Leg, number: int, data: st.DataObject) -> None:
    """One call from `origin`, every call it causes answered from `data`; the source hears exactly one answer."""
    action = data.draw(st.sampled_from(_translated(pair, origin)), label="action")
    payload = data.draw(any_payload(pair.dialect(origin), action, "request"), label="payload")
    source_id = f"src-{number}"
    sent: list[Send] = []
    session.receive(origin, ocppj.serialize(Call(source_id, action, payload)), NOW + number)
    _check(session, pair, sent)
    replied: set[str] = set()
    for _ in range(MAX_STEPS):
        waiting = [s for s in sent if isinstance(s.message, Call) and s.message.unique_id not in replied]
        if not waiting:
            break
        leg, call = waiting[0].leg, waiting[0].message
        assert isinstance(call, Call)
        replied.add(call.unique_id)
        reply: CallResult | CallError
        if data.draw(st.integers(0, 9), label="callerror?") == 0:
            code = data.draw(st.sampled_from(["InternalError", "NotSupported", "GenericError", "SecurityError"]))
            reply = CallError(call.unique_id, code)
        else:
            answer = data.draw(any_payload(pair.dialect(leg), call.action, "response"), label="answer")
            reply = CallResult(call.unique_id, answer)
        session.receive(leg, ocppj.serialize(reply), NOW + number)
        _check(session, pair, sent)
    answers = [s.message for s in sent if s.leg is origin and s.message.unique_id == source_id]
    assert len(answers) == 1, answers
    result = answers[0]
    if isinstance(result, CallResult):
        schemas.validate(pair.dialect(origin), action, "response", result.payload)
    else:
        assert isinstance(result, CallError) and result.error_code


@pytest.mark.parametrize("pair_name", PAIRS)
@SETTINGS
@given(data=st.data())
def test_any_json_calls_are_translated_validly_or_refused_cleanly(pair_name: str, data: st.DataObject) -> None:
    """Any JSON objects as calls from either side, any answers: schema-valid results or CALLERRORs, no exception.

    A few calls go through one session in a row, so the translator's state (transactions, statuses,
    configuration) carries garbage-driven changes from one call to the next.
    """
    pair = PAIRS[pair_name]
    session = ChargerSession(pair.charger, pair.upstream, pair.build(), charger_timeout=10, csms_timeout=10,
                             max_queued=4, max_frame=1_000_000)
    session.leg_up(CSMS, NOW)
    session.commands()
    origins = data.draw(st.lists(st.sampled_from([CHARGER, CSMS]), min_size=1, max_size=4), label="origins")
    for number, origin in enumerate(origins, start=1):
        _run_call(session, pair, origin, number, data)
