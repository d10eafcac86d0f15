"""The CSMS-away policy of a ChargerSession (docs/reliability.md), as protocol traces.

Once the CSMS leg was up and went down: Heartbeat is answered with the gateway's time, transaction
messages wait in the queue as before, every other charger call is refused at once.
"""

from __future__ import annotations

from gateway.core.dialects import Dialect
from tests.core.playbook import ANY, BOOT_16, CSMS, Playbook

#: 2024-05-01T10:00:00Z
NOON = 1714557600.0
HEARTBEAT = [2, "1", "Heartbeat", {}]
METER_VALUE = [{"timestamp": "2024-05-01T09:59:00Z", "sampledValue": [{"value": "1200"}]}]


def _csms_lost(charger: Dialect = Dialect.OCPP16) -> Playbook:
    pb = Playbook(charger, wall_clock=lambda: NOON)
    pb.down(CSMS)
    return pb


def test_heartbeat_is_answered_with_the_wall_clock_time() -> None:
    """The answer is the gateway's own time, in the RFC 3339 form the schemas take."""
    assert _csms_lost().charger(HEARTBEAT) == [
        ("received", "charger", "call", "Heartbeat"),
        ("away", "Heartbeat", "answered"),
        ("send", "charger", [3, "1", {"currentTime": "2024-05-01T10:00:00.000Z"}]),
    ]


def test_heartbeat_without_a_wall_clock_is_refused_like_other_calls() -> None:
    """A session given no clock reads none: it cannot answer a Heartbeat, so it refuses it."""
    pb = Playbook()
    pb.down(CSMS)
    assert pb.charger(HEARTBEAT)[1:] == [
        ("away", "Heartbeat", "refused"),
        ("refused", "charger", "Heartbeat", "CsmsAway"),
        ("send", "charger", [4, "1", "GenericError", ANY, {}]),
    ]


def test_boot_notification_is_refused_at_once_with_generic_error() -> None:
    """The gateway does not invent a Boot answer: the charger hears GenericError naming the CSMS."""
    trace = _csms_lost().charger([2, "1", "BootNotification", BOOT_16])
    assert trace[1:3] == [("away", "BootNotification", "refused"),
                          ("refused", "charger", "BootNotification", "CsmsAway")]
    assert trace[3][:2] == ("send", "charger") and trace[3][2][:3] == [4, "1", "GenericError"]
    assert "the CSMS is unreachable" in trace[3][2][3]


def test_meter_values_of_a_transaction_wait_for_the_csms() -> None:
    """MeterValues with a transactionId are transaction data: queued, sent when the CSMS is back."""
    pb = _csms_lost()
    call = [2, "1", "MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": METER_VALUE}]
    assert pb.charger(call) == [("received", "charger", "call", "MeterValues"), ("away", "MeterValues", "held")]
    assert pb.up(CSMS) == [("send", "csms", call)]


def test_meter_values_outside_a_transaction_are_refused() -> None:
    """MeterValues without a transactionId are not transaction data: refused at once."""
    call = [2, "1", "MeterValues", {"connectorId": 1, "meterValue": METER_VALUE}]
    assert ("away", "MeterValues", "refused") in _csms_lost().charger(call)


def test_transaction_event_waits_for_the_csms() -> None:
    """A 2.0.1 TransactionEvent is held like the 1.6 transaction messages."""
    pb = _csms_lost(charger=Dialect.OCPP201)
    event = {"eventType": "Ended", "timestamp": "2024-05-01T10:00:00Z", "triggerReason": "StopAuthorized",
             "seqNo": 3, "transactionInfo": {"transactionId": "T1"}}
    assert pb.charger([2, "1", "TransactionEvent", event])[1:] == [("away", "TransactionEvent", "held")]


def test_calls_before_the_first_leg_up_wait_instead() -> None:
    """A CSMS leg not up yet is not lost: the adapter is still dialing, and the call waits for it."""
    pb = Playbook(csms_up=False, wall_clock=lambda: NOON)
    assert pb.charger([2, "1", "BootNotification", BOOT_16]) == [("received", "charger", "call", "BootNotification")]
    assert pb.up(CSMS) == [("send", "csms", [2, "1", "BootNotification", BOOT_16])]


def test_the_policy_ends_when_the_csms_is_back() -> None:
    """After leg_up, a Heartbeat goes to the CSMS again."""
    pb = _csms_lost()
    pb.up(CSMS)
    assert pb.charger(HEARTBEAT) == [("received", "charger", "call", "Heartbeat"), ("send", "csms", HEARTBEAT)]

