"""Regressions the fuzzers found: a peer's frame that parsed but could not be serialized again.

Both were CALLERRORs whose details the session re-serializes to pass them on: before the fix the
encoder's ValueError (a number no float holds, read as inf) or RecursionError (nesting the decoder
followed but the encoder, called deeper in the stack, could not) escaped `ChargerSession.receive`,
and the runner closed the charger's connection. Now ocppj.parse refuses such frames, and a refused
reply still ends the call it answers: the charger hears a CALLERROR.
"""

from __future__ import annotations

import pytest

from gateway.core import ocppj
from tests.core.playbook import ANY, Playbook


@pytest.mark.parametrize(
    "details",
    [pytest.param('{"limit":1e999}', id="number-too-large-for-a-float"),
     pytest.param('{"x":' + "[" * 990 + "]" * 990 + "}", id="nested-990-deep")],
)
def test_csms_callerror_that_cannot_be_serialized_again_still_answers_the_charger(details: str) -> None:
    """The CSMS's unusable CALLERROR ends the charger's call with a CALLERROR instead of an exception."""
    pb = Playbook(max_frame=1_000_000)
    pb.charger([2, "c1", "Heartbeat", {}])
    out = pb.csms(f'[4,"c1","GenericError","",{details}]', now=1.0)
    assert ("send", "charger", [4, "c1", "FormationViolation", ANY, {}]) in out
    assert ocppj.MAX_DEPTH < 990
