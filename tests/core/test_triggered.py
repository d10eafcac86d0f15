"""What a 2.0.1 CSMS triggers from a 1.6 charger (TRANSLATION.md 2.2 rule 1, 2.5.1, 4.10), as session traces.

A triggered BootNotification says reason Triggered; a triggered StatusNotification passes the dedup
once per connector asked. The mark is consumed, dropped on refusal, lapses after the window and
lives in the charger's cache document, so a restarted gateway still honours it.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.translate import triggered
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import Topology, TranslationSettings
from gateway.core.translate.state import ChargerState
from gateway.core.translate.translator import Translation
from tests.core.playbook import BOOT_16, BOOT_ANSWER
from tests.core.test_command_translation import NOW, TracePlaybook, rules, sent

C16, C201 = Dialect.OCPP16, Dialect.OCPP201
T = "2026-12-06T08:00:00Z"


class Clock:
    """The gateway's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Station:
    """A 1.6 charger's session toward a 2.0.1 CSMS, driven frame by frame."""

    def __init__(self, docs: dict[str, Any] | None = None, topology: tuple[tuple[int, int], ...] = ()) -> None:
        self.clock = Clock()
        settings = TranslationSettings(topology=Topology(topology))
        self.ctx = HandlerContext("CB1", C16, C201, ChargerState(docs), settings, self.clock)
        self.pb = TracePlaybook(C16, C201, Translation(self.ctx, rules()))
        self._ids = 0

    def _id(self) -> str:
        self._ids += 1
        return f"x{self._ids}"

    def trigger(self, request: dict[str, Any], answer: str = "Accepted") -> None:
        """The CSMS sends TriggerMessage; the charger answers `answer`, which reaches the CSMS."""
        call_id = self._id()
        frames = sent(self.pb.csms([2, call_id, "TriggerMessage", request]))
        assert [(leg, frame[2]) for leg, frame in frames] == [("charger", "TriggerMessage")]
        assert sent(self.pb.charger([3, frames[0][1][1], {"status": answer}])) == [
            ("csms", [3, call_id, {"status": answer}])]

    def boot_reason(self) -> str:
        """The charger boots: the reason the CSMS hears."""
        frames = sent(self.pb.charger([2, self._id(), "BootNotification", BOOT_16]))
        assert [(leg, frame[2]) for leg, frame in frames] == [("csms", "BootNotification")]
        self.pb.csms([3, frames[0][1][1], BOOT_ANSWER])
        reason: str = frames[0][1][3]["reason"]
        return reason

    def status(self, connector: int, status: str = "Available") -> str | None:
        """The charger reports a status: the connectorStatus the CSMS hears, None if answered locally."""
        call_id = self._id()
        frames = sent(self.pb.charger([2, call_id, "StatusNotification", {
            "connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": T}]))
        if frames == [("charger", [3, call_id, {}])]:
            return None
        assert [(leg, frame[2]) for leg, frame in frames] == [("csms", "StatusNotification")]
        self.pb.csms([3, frames[0][1][1], {}])
        connector_status: str = frames[0][1][3]["connectorStatus"]
        return connector_status


# ---- BootNotification (2.2 boot_reason rule 1) -----------------------------------------------


def test_accepted_boot_trigger_makes_the_next_boot_triggered() -> None:
    """The BootNotification after an accepted TriggerMessage(BootNotification) says reason Triggered."""
    station = Station()
    station.trigger({"requestedMessage": "BootNotification"})
    assert station.boot_reason() == "Triggered"


def test_triggered_boot_uses_up_the_trigger() -> None:
    """Only the first boot after the trigger is the triggered one; the next one is a plain power-up."""
    station = Station()
    station.trigger({"requestedMessage": "BootNotification"})
    station.boot_reason()
    assert station.boot_reason() == "PowerUp"


def test_refused_boot_trigger_leaves_the_boot_reason_alone() -> None:
    """A charger that rejects the trigger sends no triggered boot: its next boot keeps its own reason."""
    station = Station()
    station.trigger({"requestedMessage": "BootNotification"}, answer="Rejected")
    assert station.boot_reason() == "PowerUp"


def test_boot_trigger_lapses_after_the_window() -> None:
    """A boot more than WINDOW_S after the accepted trigger is not the triggered one."""
    station = Station()
    station.trigger({"requestedMessage": "BootNotification"})
    station.clock.now += triggered.WINDOW_S + 1
    assert station.boot_reason() == "PowerUp"


def test_triggered_boot_wins_over_a_reset() -> None:
    """Rule 1 before rule 2: a Reset then a triggered boot is still reported Triggered."""
    station = Station()
    station.ctx.state.doc("cache")["resetSinceBoot"] = True
    station.trigger({"requestedMessage": "BootNotification"})
    assert station.boot_reason() == "Triggered"


def test_boot_trigger_survives_a_restart() -> None:
    """The mark is saved with the cache document: a gateway restarted from the saves still says Triggered."""
    station = Station()
    station.trigger({"requestedMessage": "BootNotification"})
    restarted = Station({"cache": copy.deepcopy(station.ctx.state.read("cache"))})
    assert restarted.boot_reason() == "Triggered"


def test_boot_trigger_mark_is_saved_before_the_trigger_reaches_the_charger() -> None:
    """The cache document carrying the mark is saved before the TriggerMessage leaves (6.3)."""
    station = Station()
    steps = [c for c in station.pb.csms([2, "m1", "TriggerMessage", {"requestedMessage": "BootNotification"}])
             if c[0] in ("save", "send")]
    assert steps[0] == ("save", "tr.cache", {"triggered": {"boot": {"at": NOW}}})
    assert steps[1][:2] == ("send", "charger")


# ---- StatusNotification (2.5.1 dedup, 4.10) ---------------------------------------------------


def test_triggered_unchanged_status_is_forwarded() -> None:
    """After an accepted trigger for EVSE 1 the unchanged Available of connector 1 reaches the CSMS."""
    station = Station()
    assert station.status(1) == "Available"
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    assert station.status(1) == "Available"


def test_untriggered_unchanged_status_is_answered_locally() -> None:
    """Without a trigger an unchanged connectorStatus is deduplicated, as before."""
    station = Station()
    station.status(1)
    assert station.status(1) is None


def test_triggered_status_uses_up_the_trigger() -> None:
    """Only the first status after the trigger passes the dedup; the next unchanged one is answered locally."""
    station = Station()
    station.status(1)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    station.status(1)
    assert station.status(1) is None


def test_status_trigger_for_one_connector_keeps_the_others_deduplicated() -> None:
    """A trigger for connector 1 does not let connector 2's unchanged status through."""
    station = Station()
    station.status(1)
    station.status(2)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    assert station.status(2) is None


def test_status_trigger_names_the_connector_by_topology() -> None:
    """EVSE 1 connector 2 is 1.6 connector 2 under topology [[1,1],[1,2]]: that one passes the dedup."""
    station = Station(topology=((1, 1), (1, 2)))
    station.status(2)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 2}})
    assert station.status(2) == "Available"


def test_status_trigger_without_evse_lets_each_connector_through_once() -> None:
    """Without evse every connector was asked: each one's next status passes, a second one does not."""
    station = Station()
    station.status(1)
    station.status(2, "Unavailable")
    station.trigger({"requestedMessage": "StatusNotification"})
    assert [station.status(1), station.status(2, "Unavailable"), station.status(1)] == [
        "Available", "Unavailable", None]


def test_status_triggers_for_two_connectors_both_pass() -> None:
    """A second trigger before the first status arrives adds its connector instead of replacing the first."""
    station = Station()
    station.status(1)
    station.status(2)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}})
    assert [station.status(2), station.status(1)] == ["Available", "Available"]


def test_connector_trigger_after_an_all_connector_one_asks_that_connector_again() -> None:
    """A connector already heard after a trigger of all is owed one more status when triggered by itself."""
    station = Station()
    station.status(1)
    station.status(2)
    station.trigger({"requestedMessage": "StatusNotification"})
    station.status(1)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    assert [station.status(1), station.status(2), station.status(1)] == ["Available", "Available", None]


def test_refused_status_trigger_keeps_the_dedup() -> None:
    """A charger that rejects the trigger sends nothing for it: its next unchanged status stays local."""
    station = Station()
    station.status(1)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
                    answer="Rejected")
    assert station.status(1) is None


def test_status_trigger_lapses_after_the_window() -> None:
    """An unchanged status more than WINDOW_S after the trigger is deduplicated again."""
    station = Station()
    station.status(1)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    station.clock.now += triggered.WINDOW_S + 1
    assert station.status(1) is None


def test_triggered_changed_status_uses_up_the_trigger_too() -> None:
    """A changed status answers the trigger as well: the unchanged one after it is deduplicated."""
    station = Station()
    station.status(1)
    station.trigger({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    assert station.status(1, "Unavailable") == "Unavailable"
    assert station.status(1, "Unavailable") is None


def test_other_triggers_leave_no_mark() -> None:
    """TriggerMessage(Heartbeat) changes neither the boot reason nor the dedup."""
    station = Station()
    station.status(1)
    station.trigger({"requestedMessage": "Heartbeat"})
    assert (station.status(1), station.boot_reason()) == (None, "PowerUp")
    assert "triggered" not in station.ctx.state.read("cache")
