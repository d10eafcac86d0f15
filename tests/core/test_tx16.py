"""The 1.6-charger transaction engine driven by hand (flows, no event loop)."""

from __future__ import annotations

from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Request
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


# ---- ended records are kept for a bounded time and number (docs/translation.md, "State and restarts") ----

DAY = 24 * 3600
ACCEPTED = {"idTokenInfo": {"status": "Accepted"}}


class Charger:
    """One 1.6 charger's transaction engine with a clock the test moves."""

    def __init__(self, state: ChargerState | None = None) -> None:
        self.now = 1_800_000_000.0
        self.state = state or ChargerState()
        self.ctx = HandlerContext("CB1", Dialect.OCPP16, Dialect.OCPP201, self.state, TranslationSettings(),
                                  lambda: self.now)
        self.meter = 0

    def run(self, flow: Flow | None) -> tuple[list[Request], Any]:
        """Drive a flow, the CSMS accepting every call: the calls it sent upstream and its answer."""
        assert flow is not None
        sent: list[Request] = []
        reply: Reply | None = None
        try:
            while True:
                step = flow.send(reply)
                reply = None
                if isinstance(step, Request):
                    sent.append(step)
                    reply = Reply(payload=ACCEPTED if step.payload.get("eventType") != "Updated" else {})
        except StopIteration as stop:
            return sent, stop.value

    def start(self) -> int:
        self.meter += 10
        call = Call("s", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": self.meter,
                                              "timestamp": "2026-11-22T10:00:00Z"})
        _, answer = self.run(tx16.start_transaction(self.ctx, call, 0.0))
        return int(answer["transactionId"])

    def stop(self, transaction_id: int) -> tuple[list[Request], Any]:
        call = Call("t", "StopTransaction", {"transactionId": transaction_id, "idTag": "T", "meterStop": self.meter + 5,
                                             "timestamp": "2026-11-22T11:00:00Z"})
        return self.run(tx16.stop_transaction(self.ctx, call, 0.0))

    def transaction(self) -> int:
        """Start and stop one transaction a second after the previous one; returns its id."""
        self.now += 1
        transaction_id = self.start()
        self.stop(transaction_id)
        return transaction_id

    def ended_ids(self) -> list[int]:
        records = self.state.read("tx").get("records", {}).values()
        return sorted(int(r["id16"]) for r in records if r["state"] == "ended")


def test_only_the_newest_ended_transactions_are_kept_however_many_there_were() -> None:
    """Ended records beyond the newest KEEP_ENDED_MAX are forgotten when the next transaction starts."""
    charger = Charger()
    ids = [charger.transaction() for _ in range(3 * tx16.KEEP_ENDED_MAX)]
    assert charger.ended_ids() == ids[-tx16.KEEP_ENDED_MAX - 1:]  # the last one ended after the last start


def test_an_ended_transaction_is_forgotten_24_h_after_its_stop() -> None:
    """At the next start, records that ended more than KEEP_ENDED_S ago are gone, younger ones stay."""
    charger = Charger()
    old = charger.transaction()
    charger.now += DAY - 10
    recent = charger.transaction()
    charger.now += 11
    charger.start()
    assert old not in charger.ended_ids()
    assert charger.ended_ids() == [recent]


def test_a_retried_stop_of_a_kept_transaction_is_answered_from_its_record() -> None:
    """Within the retention the retransmitted Stop is not sent upstream again (TRANSLATION.md 3.5)."""
    charger = Charger()
    transaction_id = charger.transaction()
    sent, answer = charger.stop(transaction_id)
    assert sent == [] and answer == {"idTagInfo": {"status": "Accepted"}}


def test_a_retried_stop_of_a_forgotten_transaction_is_handled_as_a_stop_of_an_unknown_one() -> None:
    """After its record was forgotten the CSMS gets a Started (seqNo 0) and an Ended (seqNo 1) for the same 2.0.1 id."""
    charger = Charger()
    forgotten = charger.transaction()
    first_id201 = charger.state.read("tx")["records"][str(forgotten)]["id201"]
    charger.now += DAY + 1
    charger.start()
    assert forgotten not in charger.ended_ids()
    sent, answer = charger.stop(forgotten)
    assert [(r.payload["eventType"], r.payload["seqNo"]) for r in sent] == [("Started", 0), ("Ended", 1)]
    assert {r.payload["transactionInfo"]["transactionId"] for r in sent} == {first_id201}
    assert answer == {"idTagInfo": {"status": "Accepted"}}


def test_records_ended_before_they_carried_their_end_time_are_kept_24_h_from_the_first_start() -> None:
    """State written by an older gateway (no closedAt) is not forgotten all at once on upgrade."""
    legacy = {"id16": 5, "id201": "x", "connector16": 1, "idTag": "T", "startTs": "2026-11-22T10:00:00Z",
              "meterStart": 0, "state": "ended", "seq": 2, "chargingState": "EVConnected", "startedAcked": True,
              "stopAnswer": {}}
    charger = Charger(ChargerState({"tx": {"records": {"5": legacy}}}))
    charger.start()
    assert charger.ended_ids() == [5]
    charger.now += DAY + 1
    charger.start()
    assert charger.ended_ids() == []
