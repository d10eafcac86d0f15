"""StartTransaction / StopTransaction of a 1.5 charger lifted to 1.6 (TRANSLATION.md 5.1, 5.3, 5.4)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.translate.context import PeerCallError
from gateway.core.translate.lift15_tx import STOP_CAUSE_WINDOW_S
from tests.core.test_lift15_kit import CHARGER, CSMS, NOW, T1, Lift, error


def stop_reason(lift: Lift, transaction_id: int = 7) -> Any:
    """The reason the CSMS hears for the next stop (None: left out)."""
    return lift.stop(transaction_id).calls(CSMS, "StopTransaction")[0].get("reason")


def test_start_transaction_goes_up_unchanged_and_its_answer_down() -> None:
    """The 1.5 and 1.6 StartTransaction have the same fields both ways (5.1)."""
    request = {"connectorId": 2, "idTag": "04A2B3C4", "timestamp": T1, "meterStart": 1520, "reservationId": 4}
    answer = {"transactionId": 11, "idTagInfo": {"status": "Accepted", "expiryDate": NOW, "parentIdTag": "P"}}
    exchange = Lift().up("StartTransaction", request, {"StartTransaction": answer})
    assert exchange.calls(CSMS) == [request]
    assert exchange.answer == answer


def test_stop_transaction_keeps_its_fields() -> None:
    """transactionId, idTag, timestamp and meterStop go up as they are; the answer comes back unchanged."""
    lift = Lift()
    exchange = lift.up("StopTransaction", {"transactionId": 7, "idTag": "04A2B3C4", "timestamp": NOW,
                                           "meterStop": 900},
                       {"StopTransaction": {"idTagInfo": {"status": "Expired"}}})
    assert exchange.calls(CSMS) == [{"transactionId": 7, "idTag": "04A2B3C4", "timestamp": NOW, "meterStop": 900}]
    assert exchange.answer == {"idTagInfo": {"status": "Expired"}}


def test_stop_transaction_data_loses_the_1_5_wrapper() -> None:
    """Each 1.5 MeterValue in transactionData[].values[] becomes one 1.6 transactionData entry (5.3)."""
    data = [{"values": [{"timestamp": T1, "value": [{"value": "100", "context": "Transaction.Begin"}]},
                        {"timestamp": NOW, "value": [{"value": "16", "unit": "Amp", "measurand": "Current.Import"},
                                                     {"value": "229", "unit": "Volt", "measurand": "Voltage"}]}]},
            {"values": [{"timestamp": NOW, "value": [{"value": "900", "context": "Transaction.End"}]}]}]
    sent = Lift().stop(transactionData=data).calls(CSMS, "StopTransaction")[0]
    assert sent["transactionData"] == [
        {"timestamp": T1, "sampledValue": [{"value": "100", "context": "Transaction.Begin"}]},
        {"timestamp": NOW, "sampledValue": [{"value": "16", "unit": "A", "measurand": "Current.Import"},
                                            {"value": "229", "unit": "V", "measurand": "Voltage"}]},
        {"timestamp": NOW, "sampledValue": [{"value": "900", "context": "Transaction.End"}]}]


def test_stop_with_empty_transaction_data_sends_none() -> None:
    """1.5 TransactionData wrappers without values leave 1.6 transactionData out."""
    sent = Lift().stop(transactionData=[{}, {"values": []}]).calls(CSMS, "StopTransaction")[0]
    assert "transactionData" not in sent


def test_stop_without_any_cause_has_no_reason() -> None:
    """Nothing the gateway did explains the stop: reason left out, which 1.6 reads as Local (5.4)."""
    lift = Lift()
    lift.start()
    assert stop_reason(lift) is None


def test_accepted_remote_stop_makes_the_reason_remote() -> None:
    """A RemoteStopTransaction the charger accepted for this transaction: Remote."""
    lift = Lift()
    lift.start()
    lift.down("RemoteStopTransaction", {"transactionId": 7})
    assert stop_reason(lift) == "Remote"


def test_refused_remote_stop_is_no_cause() -> None:
    """A RemoteStopTransaction the charger rejected did not stop anything."""
    lift = Lift()
    lift.start()
    lift.down("RemoteStopTransaction", {"transactionId": 7}, {"RemoteStopTransaction": {"status": "Rejected"}})
    assert stop_reason(lift) is None


def test_remote_stop_for_another_transaction_is_no_cause() -> None:
    """The remote stop names a transaction; another one's stop is not Remote."""
    lift = Lift()
    lift.start(connector=1, transaction_id=7)
    lift.down("RemoteStopTransaction", {"transactionId": 8})
    assert stop_reason(lift, 7) is None


def test_causes_expire_after_120_seconds() -> None:
    """A command longer ago than the window is no cause any more (5.4 "recently")."""
    lift = Lift()
    lift.start()
    lift.down("RemoteStopTransaction", {"transactionId": 7})
    lift.now += STOP_CAUSE_WINDOW_S + 1
    assert stop_reason(lift) is None


@pytest.mark.parametrize(("reset", "reason"), [("Hard", "HardReset"), ("Soft", "SoftReset")])
def test_accepted_reset_gives_its_reset_reason(reset: str, reason: str) -> None:
    """A Reset the charger accepted stops every transaction: HardReset or SoftReset."""
    lift = Lift()
    lift.start()
    lift.down("Reset", {"type": reset})
    assert stop_reason(lift) == reason


def test_reset_is_known_even_for_a_transaction_never_seen_starting() -> None:
    """A charger-wide cause applies to a stop whose start the lift did not carry."""
    lift = Lift()
    lift.down("Reset", {"type": "Hard"})
    assert stop_reason(lift, 99) == "HardReset"


def test_unlock_of_the_transactions_connector_is_unlock_command() -> None:
    """An accepted UnlockConnector on the transaction's connector: UnlockCommand."""
    lift = Lift()
    lift.start(connector=2)
    lift.down("UnlockConnector", {"connectorId": 2})
    assert stop_reason(lift) == "UnlockCommand"


def test_unlock_of_another_connector_is_no_cause() -> None:
    """Unlocking connector 1 does not explain a stop on connector 2."""
    lift = Lift()
    lift.start(connector=2)
    lift.down("UnlockConnector", {"connectorId": 1})
    assert stop_reason(lift) is None


def test_refused_start_makes_the_reason_deauthorized() -> None:
    """The CSMS answered the start with a non-Accepted idTagInfo: DeAuthorized."""
    lift = Lift()
    lift.start(status="Invalid")
    assert stop_reason(lift) == "DeAuthorized"


def test_available_before_the_stop_is_ev_disconnected() -> None:
    """The connector was reported Available while the transaction ran: the plug was pulled, EVDisconnected."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    lift.status(1, "Available")
    assert stop_reason(lift) == "EVDisconnected"


def test_available_before_the_start_is_no_cause() -> None:
    """An Available older than the transaction says nothing about its end."""
    lift = Lift()
    lift.status(1, "Available")
    lift.now += 5
    lift.start()
    assert stop_reason(lift) is None


def test_remote_stop_wins_over_ev_disconnected() -> None:
    """Causes are checked in the order of the 5.4 table."""
    lift = Lift()
    lift.start()
    lift.down("RemoteStopTransaction", {"transactionId": 7})
    lift.status(1, "Available")
    assert stop_reason(lift) == "Remote"


def test_stop_of_an_unknown_transaction_is_forwarded() -> None:
    """A stop whose start the lift never saw still reaches the CSMS, without reason or status."""
    exchange = Lift().stop(42)
    assert [a for _, a, _ in exchange.sent] == ["StopTransaction"]
    assert exchange.answer == {}


def test_refused_stop_keeps_the_transaction_open() -> None:
    """A CALLERROR from the CSMS reaches the charger; the transaction stays open for the charger's retry."""
    lift = Lift()
    lift.start()
    failed = lift.up("StopTransaction", {"transactionId": 7, "timestamp": NOW, "meterStop": 1},
                     {"StopTransaction": error("InternalError")})
    assert isinstance(failed.error, PeerCallError)
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Charging"


def test_a_new_start_replaces_an_unstopped_one_on_the_connector() -> None:
    """A connector has one transaction: a start over a never-stopped one closes the old record."""
    lift = Lift()
    lift.start(connector=1, transaction_id=7)
    lift.start(connector=1, transaction_id=8)
    lift.stop(8)
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Finishing"


def test_stop_answer_is_given_before_the_status_re_evaluation() -> None:
    """The charger hears its StopTransaction answer before the gateway's own StatusNotification goes up."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    exchange = lift.stop()
    assert exchange.answered_after == 1 and len(exchange.calls(CSMS)) == 2
    assert not exchange.calls(CHARGER)
