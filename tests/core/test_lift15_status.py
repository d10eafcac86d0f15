"""StatusNotification of a 1.5 charger lifted to 1.6 (TRANSLATION.md 5.1, 5.2): refinement, renames, re-evaluation."""

from __future__ import annotations

import pytest

from gateway.core.translate.context import PeerCallError
from tests.core.test_lift15_kit import CSMS, NOW, Lift, error


def test_available_is_forwarded_as_available() -> None:
    """A status 1.6 also has goes up unchanged, and the charger is answered empty."""
    exchange = Lift().status(1, "Available")
    assert exchange.calls(CSMS) == [{"connectorId": 1, "errorCode": "NoError", "status": "Available"}]
    assert exchange.answer == {}


@pytest.mark.parametrize("status", ["Faulted", "Unavailable", "Reserved"])
def test_statuses_1_6_shares_are_kept(status: str) -> None:
    """Faulted, Unavailable and Reserved are the same in both versions (5.2 table)."""
    assert Lift().status(2, status).calls(CSMS, "StatusNotification")[0]["status"] == status


def test_occupied_without_transaction_is_preparing() -> None:
    """Occupied with no transaction open and none stopped is Preparing (a plug-in before the start)."""
    lift = Lift()
    lift.status(1, "Available")
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Preparing"


def test_occupied_with_an_open_transaction_is_charging() -> None:
    """Occupied while a transaction the lift carried is open is Charging (1.5 cannot say more)."""
    lift = Lift()
    lift.start(connector=1)
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Charging"


def test_open_transaction_on_another_connector_does_not_count() -> None:
    """Refinement is per connector."""
    lift = Lift()
    lift.start(connector=2)
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Preparing"


def test_occupied_after_a_stop_is_finishing() -> None:
    """Occupied after the connector's transaction stopped (and no Available since) is Finishing."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    lift.stop()
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Finishing"


def test_available_clears_the_finishing_state() -> None:
    """Once the connector was Available, the next Occupied is a new EV: Preparing."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    lift.stop()
    lift.status(1, "Available")
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Preparing"


def test_stop_after_the_ev_left_does_not_make_the_next_ev_finishing() -> None:
    """Available before the stop arrived: the stop does not mark the connector, the next Occupied is Preparing."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    lift.status(1, "Available")
    lift.stop()
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Preparing"


def test_mode3_error_becomes_ev_communication_error() -> None:
    """1.6 renamed Mode3Error to EVCommunicationError (5.1)."""
    exchange = Lift().status(1, "Faulted", "Mode3Error")
    assert exchange.calls(CSMS)[0]["errorCode"] == "EVCommunicationError"


@pytest.mark.parametrize("code", ["ConnectorLockFailure", "HighTemperature", "GroundFailure", "OtherError",
                                  "WeakSignal", "UnderVoltage"])
def test_other_error_codes_are_kept(code: str) -> None:
    """Every other 1.5 error code is spelt the same in 1.6."""
    assert Lift().status(1, "Faulted", code).calls(CSMS)[0]["errorCode"] == code


def test_long_texts_are_truncated_to_the_1_6_limits() -> None:
    """info and vendorErrorCode are cut to 50, vendorId to 255 characters; timestamp is kept."""
    exchange = Lift().up("StatusNotification", {
        "connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "info": "i" * 80,
        "timestamp": NOW, "vendorId": "v" * 300, "vendorErrorCode": "e" * 70})
    assert exchange.calls(CSMS)[0] == {"connectorId": 1, "errorCode": "OtherError", "status": "Faulted",
                                       "info": "i" * 50, "timestamp": NOW, "vendorId": "v" * 255,
                                       "vendorErrorCode": "e" * 50}


def test_the_chargers_own_repeated_status_is_still_forwarded() -> None:
    """Only the gateway's re-evaluations are deduplicated; the charger's notifications always go up."""
    lift = Lift()
    lift.status(1, "Occupied")
    assert lift.status(1, "Occupied").calls(CSMS)[0]["status"] == "Preparing"


def test_csms_error_on_a_status_reaches_the_charger() -> None:
    """A CALLERROR from the CSMS is the charger's answer (a SOAP Fault), with the same code."""
    exchange = Lift().up("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"},
                         {"StatusNotification": error("InternalError")})
    assert isinstance(exchange.error, PeerCallError) and exchange.error.ocpp_code == "InternalError"


def test_start_on_an_occupied_connector_sends_charging_after_the_answer() -> None:
    """After StartTransaction on an Occupied connector the CSMS hears Charging (5.2), after the charger's answer."""
    lift = Lift()
    lift.status(1, "Occupied")
    exchange = lift.start()
    assert [a for _, a, _ in exchange.sent] == ["StartTransaction", "StatusNotification"]
    assert exchange.answered_after == 1
    charging = exchange.calls(CSMS, "StatusNotification")[0]
    assert (charging["connectorId"], charging["status"], charging["errorCode"]) == (1, "Charging", "NoError")


def test_start_on_an_available_connector_sends_no_status() -> None:
    """A transaction started before the EV is plugged changes nothing the CSMS knows yet."""
    lift = Lift()
    lift.status(1, "Available")
    assert lift.start().calls(CSMS, "StatusNotification") == []


def test_charging_is_not_sent_twice() -> None:
    """The re-evaluation is deduplicated against the last status sent (a repeated start sends nothing)."""
    lift = Lift()
    lift.start()
    lift.status(1, "Occupied")  # Charging, sent by the charger's own notification
    assert lift.start().calls(CSMS, "StatusNotification") == []


def test_stop_on_an_occupied_connector_sends_finishing() -> None:
    """After StopTransaction the still Occupied connector is Finishing (5.2)."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    exchange = lift.stop()
    assert [a for _, a, _ in exchange.sent] == ["StopTransaction", "StatusNotification"]
    assert exchange.answered_after == 1
    assert exchange.calls(CSMS, "StatusNotification")[0]["status"] == "Finishing"


def test_stop_after_available_sends_no_status() -> None:
    """The EV already left (Available): no Finishing."""
    lift = Lift()
    lift.status(1, "Occupied")
    lift.start()
    lift.status(1, "Available")
    assert lift.stop().calls(CSMS, "StatusNotification") == []


def test_failed_re_evaluation_does_not_fail_the_start() -> None:
    """The extra StatusNotification is secondary (1.1): a CALLERROR for it leaves the charger's answer alone."""
    lift = Lift()
    lift.status(1, "Occupied")
    exchange = lift.up("StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": NOW, "meterStart": 0},
                       {"StatusNotification": error("GenericError")})
    assert exchange.error is None
    assert exchange.answer == {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}


def test_re_evaluation_keeps_the_connectors_error_code() -> None:
    """Charging is sent with the connector's last error code, in 1.6 spelling."""
    lift = Lift()
    lift.status(1, "Occupied", "Mode3Error")
    assert lift.start().calls(CSMS, "StatusNotification")[0]["errorCode"] == "EVCommunicationError"
