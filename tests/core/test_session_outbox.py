"""The outbox of a ChargerSession (docs/reliability.md), as protocol traces.

While the CSMS is away, or earlier entries still wait, a transaction message is persisted (enqueue)
and answered at once; the adapter replays entries one at a time and removes each only after its
Replayed.
"""

from __future__ import annotations

from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.session_outbox import replay_id
from tests.core.playbook import ANY, CSMS, Playbook, readable

#: 2024-05-01T10:00:00Z
NOON = 1714557600.0
METER_VALUE = [{"timestamp": "2024-05-01T09:59:00Z", "sampledValue": [{"value": "1200"}]}]
METER_VALUES = {"connectorId": 1, "transactionId": 7, "meterValue": METER_VALUE}
STOP = {"transactionId": 7, "meterStop": 1500, "timestamp": "2024-05-01T09:59:30Z"}
START = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2024-05-01T09:58:00Z"}
HEARTBEAT = [2, "h", "Heartbeat", {}]
UP16 = "up:ocpp1.6"
UP201 = "up:ocpp2.0.1"
#: The id minted at NOON: seconds since 2020-01-01T00:00Z.
MINTED = int(NOON) - 1_577_836_800


def _event(event_type: str, seq_no: int, trigger: str = "MeterValuePeriodic") -> dict[str, Any]:
    return {"eventType": event_type, "timestamp": "2024-05-01T09:59:00Z", "triggerReason": trigger,
            "seqNo": seq_no, "transactionInfo": {"transactionId": "T1"}}


def _away(charger: Dialect = Dialect.OCPP16, limit: int = 10) -> Playbook:
    pb = Playbook(charger, wall_clock=lambda: NOON, outbox_limit=limit)
    pb.down(CSMS)
    return pb


def test_stop_transaction_is_stored_then_answered_at_once() -> None:
    """Acknowledged means stored: the enqueue comes before the empty StopTransaction.conf."""
    assert _away().charger([2, "1", "StopTransaction", STOP]) == [
        ("received", "charger", "call", "StopTransaction"),
        ("away", "StopTransaction", "queued"),
        ("enqueue", UP16, "StopTransaction", STOP, False),
        ("send", "charger", [3, "1", {}]),
    ]


def test_meter_values_of_a_transaction_are_stored_as_droppable() -> None:
    """Meter samples are what a full outbox may give up first."""
    assert ("enqueue", UP16, "MeterValues", METER_VALUES, True) in _away().charger(
        [2, "1", "MeterValues", METER_VALUES])


def test_pass_through_start_transaction_gets_a_gateway_minted_id_at_once() -> None:
    """TRANSLATION.md 1.10/3.3.1: the id is max(last + 1, seconds since 2020), saved before it is told."""
    assert _away().charger([2, "1", "StartTransaction", START])[1:] == [
        ("away", "StartTransaction", "queued"),
        ("save", "outbox.ids16"),
        ("enqueue", f"{UP16}#{MINTED}", "StartTransaction", START, False),
        ("send", "charger", [3, "1", {"transactionId": MINTED, "idTagInfo": {"status": "Accepted"}}]),
    ]


def test_a_retransmitted_start_gets_the_same_minted_id_and_is_queued_once() -> None:
    pb = _away()
    pb.charger([2, "1", "StartTransaction", START])
    assert pb.charger([2, "2", "StartTransaction", START])[1:] == [
        ("away", "StartTransaction", "queued"),
        ("send", "charger", [3, "2", {"transactionId": MINTED, "idTagInfo": {"status": "Accepted"}}]),
    ]


def test_a_queued_transaction_event_is_marked_offline() -> None:
    """TRANSLATION.md 1.10: the CSMS learns the event reached it late."""
    trace = _away(Dialect.OCPP201).charger([2, "1", "TransactionEvent", _event("Ended", 3, "StopAuthorized")])
    assert trace[2] == ("enqueue", UP201, "TransactionEvent", {**_event("Ended", 3, "StopAuthorized"),
                                                               "offline": True}, False)
    assert trace[3] == ("send", "charger", [3, "1", {}])


def test_an_updated_event_of_meter_samples_is_droppable_but_a_started_one_is_not() -> None:
    pb = _away(Dialect.OCPP201)
    assert pb.charger([2, "1", "TransactionEvent", _event("Started", 0, "Authorized")])[2][4] is False
    assert pb.charger([2, "2", "TransactionEvent", _event("Updated", 1)])[2][4] is True
    assert pb.charger([2, "3", "TransactionEvent", _event("Updated", 2, "ChargingStateChanged")])[2][4] is False


def test_other_calls_keep_the_csms_away_policy() -> None:
    """Only transaction messages go to the outbox: a Heartbeat is still answered with the time."""
    assert ("away", "Heartbeat", "answered") in _away().charger(HEARTBEAT)


def test_a_full_outbox_drops_its_oldest_meter_sample_for_a_new_message() -> None:
    pb = _away(limit=1)
    pb.charger([2, "1", "MeterValues", METER_VALUES])
    assert pb.charger([2, "2", "StopTransaction", STOP])[1:4] == [
        ("drop_oldest", "StopTransaction"),
        ("away", "StopTransaction", "queued"),
        ("enqueue", UP16, "StopTransaction", STOP, False),
    ]


def test_a_full_outbox_without_meter_samples_refuses_the_new_message() -> None:
    """Nothing the charger was told is stored is ever dropped: the newcomer gets an error and is retried."""
    pb = _away(limit=1)
    pb.charger([2, "1", "StopTransaction", STOP])
    assert pb.charger([2, "2", "StopTransaction", {**STOP, "transactionId": 8}])[1:] == [
        ("away", "StopTransaction", "refused"),
        ("refused", "charger", "StopTransaction", "OutboxFull"),
        ("send", "charger", [4, "2", "GenericError", ANY, {}]),
    ]


def test_while_entries_wait_transaction_messages_queue_behind_them_even_with_the_csms_up() -> None:
    """Order: a Stop must not overtake the MeterValues of its transaction still waiting for replay."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.session.set_outbox(1, 1)
    assert ("enqueue", UP16, "StopTransaction", STOP, False) in pb.charger([2, "1", "StopTransaction", STOP])


def test_while_entries_wait_other_calls_go_straight_to_the_csms() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.session.set_outbox(1, 1)
    assert pb.charger(HEARTBEAT) == [("received", "charger", "call", "Heartbeat"), ("send", "csms", HEARTBEAT)]


def test_without_an_outbox_limit_transaction_messages_are_held_in_memory() -> None:
    pb = Playbook(wall_clock=lambda: NOON)
    pb.down(CSMS)
    assert pb.charger([2, "1", "StopTransaction", STOP])[1:] == [("away", "StopTransaction", "held")]


# ---- replay ------------------------------------------------------------------------------


def test_a_replayed_entry_goes_to_the_csms_under_a_stable_message_id() -> None:
    """Every attempt at one entry carries the same id, so a CSMS can recognise a resend."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    out_id = replay_id(5, NOON)
    assert pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON) == [
        ("send", "csms", [2, out_id, "StopTransaction", STOP])]


def test_the_csms_answer_to_a_replayed_entry_ends_it_without_reaching_the_charger() -> None:
    """The charger had its answer when the entry was stored."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON)
    assert pb.csms([3, replay_id(5, NOON), {}]) == [
        ("received", "csms", "result", "StopTransaction"),
        ("replayed", 5, "StopTransaction", "result"),
    ]


def test_a_callerror_to_a_replayed_entry_is_reported_with_its_code() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON)
    trace = pb.csms([4, replay_id(5, NOON), "InternalError", "busy", {}])
    assert trace[-1] == ("replayed", 5, "StopTransaction", "error")
    assert pb.raw[-1].detail == "InternalError"  # type: ignore[union-attr]


def test_a_replayed_entry_whose_csms_leg_drops_is_unavailable() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON)
    assert pb.down(CSMS) == [("replayed", 5, "StopTransaction", "unavailable")]


def test_a_replayed_entry_the_csms_does_not_answer_times_out() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10, csms_timeout=30.0)
    pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON, now=0.0)
    assert pb.tick(30.0) == [("replayed", 5, "StopTransaction", "timeout")]


def test_an_entry_stored_for_another_upstream_dialect_is_stale() -> None:
    """The operator changed upstream.dialect since: the entry cannot be sent as it is."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    assert pb.replay(5, UP201, [2, "", "TransactionEvent", _event("Ended", 3)]) == [
        ("replayed", 5, "TransactionEvent", "stale")]


def test_an_entry_that_fails_the_schema_is_invalid() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    assert pb.replay(5, UP16, [2, "", "StopTransaction", {"transactionId": "seven"}]) == [
        ("replayed", 5, "StopTransaction", "invalid")]


def test_a_replay_waits_behind_a_call_already_at_the_csms() -> None:
    """One CALL in flight toward the CSMS: the replay goes when the earlier call is answered."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.charger(HEARTBEAT)
    assert pb.replay(5, UP16, [2, "", "StopTransaction", STOP], NOON) == []
    assert pb.csms([3, "h", {"currentTime": "2024-05-01T10:00:00Z"}])[-1] == (
        "send", "csms", [2, replay_id(5, NOON), "StopTransaction", STOP])


def test_set_outbox_tells_the_session_what_waits() -> None:
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.session.set_outbox(3, 1)
    assert pb.session.backlog == 3


def test_a_replayed_answer_that_refuses_the_token_is_reported() -> None:
    """The charger was told Accepted when the entry was stored; the adapter logs the CSMS's late refusal."""
    pb = Playbook(wall_clock=lambda: NOON, outbox_limit=10)
    pb.replay(5, UP16, [2, "", "StopTransaction", {**STOP, "idTag": "TAG"}], NOON)
    pb.csms([3, replay_id(5, NOON), {"idTagInfo": {"status": "Blocked"}}])
    assert pb.raw[-1].detail == "the CSMS answered the token Blocked"  # type: ignore[union-attr]


# ---- late refusals (TRANSLATION.md 1.10) -------------------------------------------------

INVALID = {"idTokenInfo": {"status": "Invalid"}}


def _replayed_201(event: dict[str, Any], stop: bool = True) -> Playbook:
    pb = Playbook(Dialect.OCPP201, wall_clock=lambda: NOON, outbox_limit=10, stop_on_late_refusal=stop)
    pb.replay(5, UP201, [2, "", "TransactionEvent", event], NOON)
    return pb


def test_a_token_refused_in_the_answer_to_a_replayed_start_stops_the_transaction() -> None:
    """The charger was answered when the event was queued; the CSMS's late refusal becomes a stop."""
    started = {**_event("Started", 0, "Authorized"), "idToken": {"idToken": "TAG", "type": "ISO14443"}}
    pb = _replayed_201(started)
    trace = pb.csms([3, replay_id(5, NOON), INVALID])
    assert trace[1] == ("replayed", 5, "TransactionEvent", "result")
    assert trace[2][:2] == ("send", "charger")
    assert trace[2][2][2:] == ["RequestStopTransaction", {"transactionId": "T1"}]


def test_the_charger_answer_to_the_gateway_stop_goes_nowhere_but_the_log() -> None:
    pb = _replayed_201(_event("Started", 0, "Authorized"))
    stop_id = pb.csms([3, replay_id(5, NOON), INVALID])[2][2][1]
    assert pb.charger([3, stop_id, {"status": "Accepted"}]) == [
        ("received", "charger", "result", "RequestStopTransaction"),
        ("own", "RequestStopTransaction", "result"),
    ]


def test_a_refusal_in_the_answer_to_an_ended_event_stops_nothing() -> None:
    pb = _replayed_201(_event("Ended", 4, "StopAuthorized"))
    assert pb.csms([3, replay_id(5, NOON), INVALID])[1:] == [("replayed", 5, "TransactionEvent", "result")]


def test_without_stop_on_late_refusal_the_refusal_is_only_reported() -> None:
    pb = _replayed_201(_event("Started", 0, "Authorized"), stop=False)
    assert pb.csms([3, replay_id(5, NOON), INVALID])[1:] == [("replayed", 5, "TransactionEvent", "result")]


def test_an_accepted_token_in_the_answer_stops_nothing() -> None:
    pb = _replayed_201(_event("Started", 0, "Authorized"))
    answer = {"idTokenInfo": {"status": "Accepted"}}
    assert pb.csms([3, replay_id(5, NOON), answer])[1:] == [("replayed", 5, "TransactionEvent", "result")]


def test_with_the_outbox_disabled_a_start_waits_while_it_still_holds_entries() -> None:
    """Entries left from before outbox.enabled was turned off are still replayed first: nothing overtakes them."""
    pb = Playbook(wall_clock=lambda: NOON)
    pb.session.set_outbox(2, 2)
    assert pb.charger([2, "s", "StartTransaction", START]) == [("received", "charger", "call", "StartTransaction")]
    pb.session.set_outbox(1, 1, now=1.0)
    assert pb.session.commands() == []
    assert pb.tick(2.0) == []


def test_a_start_released_from_behind_the_outbox_goes_to_the_csms() -> None:
    pb = Playbook(wall_clock=lambda: NOON)
    pb.session.set_outbox(1, 1)
    pb.charger([2, "s", "StartTransaction", START])
    pb.session.set_outbox(0, 0, now=1.0)
    assert [readable(c) for c in pb.session.commands()] == [("send", "csms", [2, "s", "StartTransaction", START])]


def test_a_start_that_waits_behind_the_outbox_too_long_gets_an_error() -> None:
    pb = Playbook(wall_clock=lambda: NOON, csms_timeout=30.0)
    pb.session.set_outbox(1, 1)
    pb.charger([2, "s", "StartTransaction", START], now=0.0)
    assert pb.session.next_deadline() == 30.0
    assert pb.tick(30.0)[0] == ("send", "charger", [4, "s", "InternalError", ANY, {}])


# ---- gateway-issued 1.6 ids in pass-through (gateway.core.ids16) --------------------------


def _confirmed(upstream_id: int = 42) -> Playbook:
    """A Start answered from the outbox (MINTED), replayed, and answered by the CSMS with `upstream_id`."""
    pb = _away()
    pb.charger([2, "1", "StartTransaction", START])
    pb.up(CSMS)
    pb.replay(1, f"{UP16}#{MINTED}", [2, "", "StartTransaction", START], NOON)
    pb.csms([3, replay_id(1, NOON), {"transactionId": upstream_id, "idTagInfo": {"status": "Accepted"}}])
    pb.session.set_outbox(0, 0)
    return pb


def test_the_csms_id_of_a_replayed_start_is_saved() -> None:
    pb = _away()
    pb.charger([2, "1", "StartTransaction", START])
    pb.up(CSMS)
    pb.replay(1, f"{UP16}#{MINTED}", [2, "", "StartTransaction", START], NOON)
    answer = {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}
    assert pb.csms([3, replay_id(1, NOON), answer])[1:] == [
        ("save", "outbox.ids16"), ("replayed", 1, "StartTransaction", "result")]


def test_a_replayed_message_of_a_minted_transaction_carries_the_csms_id() -> None:
    pb = _confirmed()
    meter = {**METER_VALUES, "transactionId": MINTED}
    assert pb.replay(2, UP16, [2, "", "MeterValues", meter], NOON) == [
        ("send", "csms", [2, replay_id(2, NOON), "MeterValues", {**meter, "transactionId": 42}])]


def test_a_live_stop_of_a_minted_transaction_carries_the_csms_id() -> None:
    pb = _confirmed()
    stop = {**STOP, "transactionId": MINTED}
    assert pb.charger([2, "s", "StopTransaction", stop])[-1] == (
        "send", "csms", [2, "s", "StopTransaction", {**stop, "transactionId": 42}])


def test_a_remote_stop_of_the_csms_id_reaches_the_charger_with_the_minted_id() -> None:
    pb = _confirmed()
    assert pb.csms([2, "r", "RemoteStopTransaction", {"transactionId": 42}])[-1] == (
        "send", "charger", [2, "r", "RemoteStopTransaction", {"transactionId": MINTED}])


def test_a_tx_profile_for_the_csms_id_reaches_the_charger_with_the_minted_id() -> None:
    pb = _confirmed()
    profile = {"chargingProfileId": 1, "transactionId": 42, "stackLevel": 0,
               "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A",
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}
    trace = pb.csms([2, "p", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}])
    assert trace[-1][2][3]["csChargingProfiles"]["transactionId"] == MINTED


def test_other_transactions_pass_through_unchanged() -> None:
    pb = _confirmed()
    assert pb.charger([2, "s", "StopTransaction", STOP])[-1] == ("send", "csms", [2, "s", "StopTransaction", STOP])


def test_a_late_refusal_of_a_minted_start_stops_it_at_the_charger() -> None:
    pb = _away()
    pb.charger([2, "1", "StartTransaction", START])
    pb.up(CSMS)
    pb.replay(1, f"{UP16}#{MINTED}", [2, "", "StartTransaction", START], NOON)
    trace = pb.csms([3, replay_id(1, NOON), {"transactionId": 42, "idTagInfo": {"status": "Blocked"}}])
    assert trace[-1][:2] == ("send", "charger")
    assert trace[-1][2][2:] == ["RemoteStopTransaction", {"transactionId": MINTED}]


def test_a_call_released_from_behind_the_outbox_in_a_translated_session_is_translated() -> None:
    """A 1.5 StartTransaction behind a 1.6 CSMS waits like a pass-through one, then takes the translation."""
    from tests.core.test_session import TableTranslator

    lifted = {**START, "reservationId": 1}
    pb = Playbook(Dialect.OCPP15_SOAP, Dialect.OCPP16, TableTranslator({"StartTransaction": lifted}),
                  wall_clock=lambda: NOON)
    pb.session.set_outbox(1, 1)
    pb.charger([2, "s", "StartTransaction", START])
    pb.session.set_outbox(0, 0, now=1.0)
    [send] = [readable(c) for c in pb.session.commands()]
    assert send[:2] == ("send", "csms") and send[2][2:] == ["StartTransaction", lifted]


def test_get_transaction_status_says_messages_are_queued_while_the_outbox_holds_entries() -> None:
    """A 2.0.1 CSMS must not close a transaction whose events still wait in the gateway's outbox."""
    pb = Playbook(Dialect.OCPP201, wall_clock=lambda: NOON, outbox_limit=10)
    pb.session.set_outbox(1, 0)
    pb.csms([2, "g", "GetTransactionStatus", {"transactionId": "T1"}])
    assert pb.charger([3, "g", {"messagesInQueue": False}])[-2] == ("send", "csms", [3, "g", {"messagesInQueue": True}])


def test_get_transaction_status_passes_unchanged_with_an_empty_outbox() -> None:
    pb = Playbook(Dialect.OCPP201, wall_clock=lambda: NOON, outbox_limit=10)
    pb.csms([2, "g", "GetTransactionStatus", {"transactionId": "T1"}])
    unchanged = ("send", "csms", [3, "g", {"messagesInQueue": False}])
    assert pb.charger([3, "g", {"messagesInQueue": False}])[-2] == unchanged
