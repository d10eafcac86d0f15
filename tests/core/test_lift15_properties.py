"""Property tests of the lift: any schema-valid 1.5 or 1.6 message, in any order, yields only schema-valid messages.

Random sequences of calls from both sides go through one lift, with random schema-valid answers from
the peers; `Lift.run` checks every payload it sees against its schema. The only refusals allowed are
the policy ones (NotSupported). The MeterValues mapping and the code that lifts StopTransaction's
meter values must agree.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.dialects import Dialect
from gateway.core.mapping import Forward
from gateway.core.session_types import Leg
from gateway.core.translate.lift15_meter import meter_value_16
from gateway.errors import NotSupportedAction
from gateway.soap.types import operations
from tests.core.test_lift15_kit import CHARGER, CSMS, Lift, lift_rules
from tests.core.test_lift15_mapping import Hooks
from tests.core.test_mapping_properties import payloads

C15, U16 = Dialect.OCPP15_SOAP, Dialect.OCPP16
#: Every call the lift carries: 1.5 charger-initiated actions up, the 1.6 CSMS actions it has rules for down.
CALLS = sorted([(CHARGER, action) for action in operations(C15, "cs")]
               + [(CSMS, r.action) for r in lift_rules() if r.source is U16 and r.target is C15],
               key=lambda call: (call[0].value, call[1]))

_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _dialect(leg: Leg) -> Dialect:
    return C15 if leg is CHARGER else U16


@pytest.mark.parametrize(("origin", "action"), CALLS, ids=lambda v: v.value if isinstance(v, Leg) else v)
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_valid_call_yields_valid_messages(origin: Leg, action: str, data: st.DataObject) -> None:
    """One schema-valid call, any schema-valid answers: every message sent and every answer is schema-valid."""
    lift = Lift()
    payload = data.draw(payloads(_dialect(origin), action, "request"))

    def respond(leg: Leg, sent_action: str, _payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = data.draw(payloads(_dialect(leg), sent_action, "response"))
        return answer

    exchange = lift.run(origin, action, payload, responder=respond)
    assert exchange.error is None or isinstance(exchange.error, NotSupportedAction)


@_SETTINGS
@given(data=st.data())
def test_any_sequence_of_calls_keeps_every_message_valid(data: st.DataObject) -> None:
    """Calls from both sides in any order (the lift's state in between): every message stays schema-valid."""
    lift = Lift()
    steps = data.draw(st.lists(st.sampled_from(CALLS), min_size=1, max_size=8))

    def respond(leg: Leg, sent_action: str, _payload: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = data.draw(payloads(_dialect(leg), sent_action, "response"))
        return answer

    for origin, action in steps:
        payload = data.draw(payloads(_dialect(origin), action, "request"))
        lift.now += data.draw(st.integers(0, 200))
        exchange = lift.run(origin, action, payload, responder=respond)
        assert exchange.error is None or isinstance(exchange.error, NotSupportedAction)


@_SETTINGS
@given(data=st.data())
def test_meter_values_mapping_and_stop_transaction_code_agree(data: st.DataObject) -> None:
    """The YAML MeterValues mapping and the code lifting StopTransaction's meter values give the same meterValue."""
    payload = data.draw(payloads(C15, "MeterValues", "request"))
    rule = lift_rules().find(C15, "MeterValues", "up", U16)
    assert rule is not None
    outcome = rule.apply(copy.deepcopy(payload), Hooks())
    if not payload.get("values"):
        return  # answered locally, covered in test_lift15_mapping
    assert isinstance(outcome, Forward)
    assert outcome.payload["meterValue"] == [meter_value_16(mv) for mv in payload["values"]]
