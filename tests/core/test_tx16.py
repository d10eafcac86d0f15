"""The 1.6-charger transaction engine driven by hand (flows, no event loop)."""

from __future__ import annotations

from gateway.core.dialects import Dialect
from gateway.core.flow import Reply, Request
from gateway.core.ocppj import Call
from gateway.core.translate import tx16
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import ChargerState


def test_start_transaction_ignores_records_of_the_201_engine() -> None:
    """A charge box that spoke 2.0.1 before (its records mirrored under "201:" keys) can start a 1.6 transaction."""
    mirror = {"201:abc": {"id201": "abc", "upstream16": 7, "connector16": 1, "state": "active"}}
    state = ChargerState({"tx": {"records": mirror}})
    ctx = HandlerContext("CB1", Dialect.OCPP16, Dialect.OCPP201, state, TranslationSettings(), lambda: 1_800_000_000)
    call = Call("1", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                          "timestamp": "2026-11-22T10:00:00Z"})
    flow = tx16.start_transaction(ctx, call, 0.0)
    step = next(flow)
    assert isinstance(step, Request) and step.payload["eventType"] == "Started"
    try:
        flow.send(Reply(payload={}))
    except StopIteration as stop:
        assert stop.value["idTagInfo"] == {"status": "Accepted"}
        assert stop.value["transactionId"] == 1_800_000_000 - 1_577_836_800
    else:
        raise AssertionError("the flow should end after the CSMS's answer")
