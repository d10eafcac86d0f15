"""The lift inside a ChargerSession: a 1.5 charger (its SOAP decoded to frames) behind a 1.6 CSMS, as a trace."""

from __future__ import annotations

from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.session import Save
from tests.core.playbook import ANY, Playbook, readable
from tests.core.test_lift15_kit import Lift


class LiftBook(Playbook):
    """A Playbook that keeps the Save commands of a translating session in `raw` but out of the trace."""

    def _drain(self) -> list[tuple[Any, ...]]:
        self.raw = self.session.commands()
        return [readable(command) for command in self.raw if not isinstance(command, Save)]


def session() -> LiftBook:
    """A session whose charger leg speaks 1.5 and whose translator is a lift."""
    return LiftBook(Dialect.OCPP15_SOAP, Dialect.OCPP16, Lift().translation)


def test_occupied_status_reaches_the_csms_refined_and_the_charger_is_answered() -> None:
    """The charger's Occupied goes up as Preparing; the CSMS's answer comes back to the charger."""
    book = session()
    sent = book.charger([2, "c1", "StatusNotification", {"connectorId": 1, "status": "Occupied",
                                                         "errorCode": "Mode3Error"}])
    assert ("send", "csms", [2, ANY, "StatusNotification", {"connectorId": 1, "errorCode": "EVCommunicationError",
                                                             "status": "Preparing"}]) in sent
    out_id = next(c[2][1] for c in sent if c[0] == "send")
    assert ("send", "charger", [3, "c1", {}]) in book.csms([3, out_id, {}])


def test_lift_state_is_saved_under_l15_keys_before_the_frame_leaves() -> None:
    """The session saves the lift's documents (l15.*) before sending the translated frame."""
    book = session()
    book.charger([2, "c1", "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}])
    saves = [command.key for command in book.raw if isinstance(command, Save)]
    assert saves and all(key.startswith("l15.") for key in saves)


def test_trigger_message_is_answered_by_the_gateway() -> None:
    """A 1.6 TriggerMessage never reaches the 1.5 charger: the CSMS hears Accepted, then the Heartbeat."""
    book = session()
    sent = book.csms([2, "s1", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    assert ("send", "csms", [3, "s1", {"status": "Accepted"}]) in sent
    assert ("send", "csms", [2, ANY, "Heartbeat", {}]) in sent
    assert not [c for c in sent if c[0] == "send" and c[1] == "charger"]


def test_invalid_1_5_payload_is_refused_before_translation() -> None:
    """A charger payload that breaks the 1.5 schema (a 1.6 status name) is refused, nothing goes up."""
    book = session()
    sent = book.charger([2, "c1", "StatusNotification", {"connectorId": 1, "status": "Charging",
                                                         "errorCode": "NoError"}])
    assert ("refused", "charger", "StatusNotification", "PropertyConstraintViolation") in sent
    assert not [c for c in sent if c[0] == "send" and c[1] == "csms"]
