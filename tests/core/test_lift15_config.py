"""GetConfiguration / ChangeConfiguration from a 1.6 CSMS to a 1.5 charger (TRANSLATION.md 5.5, 5.6)."""

from __future__ import annotations

from typing import Any

from gateway.core.translate.context import PeerCallError
from gateway.core.translate.lift15_config import FEATURE_PROFILES
from tests.core.test_lift15_kit import CHARGER, Lift, error

PROFILES = {"key": "SupportedFeatureProfiles", "readonly": True, "value": FEATURE_PROFILES}


def get(lift: Lift, keys: list[str] | None, charger_answer: dict[str, Any] | None = None) -> Any:
    """The CSMS asks for `keys` (None: every key); the 1.5 charger answers `charger_answer`."""
    request = {} if keys is None else {"key": keys}
    return lift.down("GetConfiguration", request, {"GetConfiguration": charger_answer or {}})


def test_heartbeat_interval_is_asked_and_answered_in_each_versions_spelling() -> None:
    """HeartbeatInterval (1.6) is HeartBeatInterval to the 1.5 charger and back (5.6)."""
    exchange = get(Lift(), ["HeartbeatInterval"],
                   {"configurationKey": [{"key": "HeartBeatInterval", "readonly": False, "value": "300"}]})
    assert exchange.calls(CHARGER) == [{"key": ["HeartBeatInterval"]}]
    assert exchange.answer == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}


def test_keys_match_without_regard_to_case() -> None:
    """A key in any letter case is renamed (and leaves in the target's spelling)."""
    exchange = get(Lift(), ["HEARTBEATINTERVAL"])
    assert exchange.calls(CHARGER) == [{"key": ["HeartBeatInterval"]}]


def test_other_keys_pass_as_they_are() -> None:
    """1.5 keys with the same name (and 1.5-only ones) are asked under their own name."""
    exchange = get(Lift(), ["ConnectionTimeOut", "ProximityContactRetries"],
                   {"configurationKey": [{"key": "ConnectionTimeOut", "readonly": False, "value": "60"}],
                    "unknownKey": ["ProximityContactRetries"]})
    assert exchange.calls(CHARGER) == [{"key": ["ConnectionTimeOut", "ProximityContactRetries"]}]
    assert exchange.answer == {"configurationKey": [{"key": "ConnectionTimeOut", "readonly": False, "value": "60"}],
                               "unknownKey": ["ProximityContactRetries"]}


def test_unknown_keys_come_back_in_1_6_spelling() -> None:
    """A renamed key the charger does not know is reported unknown under its 1.6 name."""
    exchange = get(Lift(), ["HeartbeatInterval"], {"unknownKey": ["HeartBeatInterval"]})
    assert exchange.answer == {"unknownKey": ["HeartbeatInterval"]}


def test_supported_feature_profiles_is_answered_by_the_gateway() -> None:
    """A 1.5 charger has no such key; the gateway lists its 1.6 profiles, RemoteTrigger emulated (5.5.1)."""
    exchange = get(Lift(), ["SupportedFeatureProfiles"])
    assert exchange.sent == []
    assert exchange.answer == {"configurationKey": [PROFILES]}
    assert FEATURE_PROFILES == "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger"


def test_number_of_connectors_comes_from_the_topology() -> None:
    """With a configured topology, NumberOfConnectors is its length."""
    exchange = get(Lift(topology=((1, 1), (2, 1), (3, 1))), ["NumberOfConnectors"])
    assert exchange.answer == {"configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "3"}]}


def test_number_of_connectors_comes_from_what_the_charger_reported() -> None:
    """Without topology, the highest connector the charger reported a status for."""
    lift = Lift()
    lift.status(0, "Available")
    lift.status(2, "Available")
    assert get(lift, ["numberofconnectors"]).answer == {
        "configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}]}


def test_number_of_connectors_not_known_yet_is_an_unknown_key() -> None:
    """Before any report and without topology the gateway does not guess."""
    assert get(Lift(), ["NumberOfConnectors"]).answer == {"unknownKey": ["NumberOfConnectors"]}


def test_local_and_charger_keys_are_merged() -> None:
    """Other keys asked too: the charger's answer and the gateway's are one answer."""
    exchange = get(Lift(), ["SupportedFeatureProfiles", "HeartbeatInterval"],
                   {"configurationKey": [{"key": "HeartBeatInterval", "readonly": False, "value": "300"}]})
    assert exchange.calls(CHARGER) == [{"key": ["HeartBeatInterval"]}]
    assert exchange.answer == {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}, PROFILES]}


def test_all_keys_add_the_local_ones_to_the_chargers() -> None:
    """A GetConfiguration without keys asks the charger for all and adds the gateway's keys."""
    lift = Lift()
    lift.status(1, "Available")
    exchange = get(lift, None, {"configurationKey": [{"key": "HeartBeatInterval", "readonly": False,
                                                      "value": "300"}]})
    assert exchange.calls(CHARGER) == [{}]
    assert exchange.answer == {"configurationKey": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}, PROFILES,
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"}]}


def test_values_and_keys_beyond_1_6_limits_are_cut() -> None:
    """Values are cut to 500 characters; a key longer than 50 cannot be named in 1.6 and is left out."""
    exchange = get(Lift(), None, {"configurationKey": [
        {"key": "VendorBlob", "readonly": True, "value": "b" * 700},
        {"key": "K" * 60, "readonly": True, "value": "x"}], "unknownKey": ["U" * 60]})
    assert exchange.answer is not None
    assert exchange.answer["configurationKey"][0] == {"key": "VendorBlob", "readonly": True, "value": "b" * 500}
    assert all(len(entry["key"]) <= 50 for entry in exchange.answer["configurationKey"])
    assert "unknownKey" not in exchange.answer


def test_charger_error_on_get_configuration_reaches_the_csms() -> None:
    """A CALLERROR (SOAP Fault) from the charger is the CSMS's answer."""
    exchange = Lift().down("GetConfiguration", {"key": ["ConnectionTimeOut"]},
                           {"GetConfiguration": error("NotSupported")})
    assert isinstance(exchange.error, PeerCallError) and exchange.error.ocpp_code == "NotSupported"


def test_change_heartbeat_interval_uses_the_1_5_key() -> None:
    """ChangeConfiguration HeartbeatInterval reaches the charger as HeartBeatInterval; the status comes back."""
    exchange = Lift().down("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    assert exchange.calls(CHARGER) == [{"key": "HeartBeatInterval", "value": "120"}]
    assert exchange.answer == {"status": "Accepted"}


def test_change_of_another_key_passes_it_as_is() -> None:
    """Keys 5.6 does not rename keep their name; the charger's NotSupported is the CSMS's answer."""
    exchange = Lift().down("ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests", "value": "true"},
                           {"ChangeConfiguration": {"status": "NotSupported"}})
    assert exchange.calls(CHARGER) == [{"key": "AuthorizeRemoteTxRequests", "value": "true"}]
    assert exchange.answer == {"status": "NotSupported"}


def test_change_of_a_gateway_key_is_rejected() -> None:
    """SupportedFeatureProfiles and NumberOfConnectors are read-only and not the charger's: Rejected."""
    exchange = Lift().down("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"})
    assert exchange.answer == {"status": "Rejected"} and exchange.sent == []


def test_accepted_interval_change_is_what_a_boot_trigger_compares_with() -> None:
    """After the CSMS set the interval, a triggered boot with that interval pushes nothing."""
    lift = Lift()
    lift.up("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    lift.down("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    exchange = lift.down("TriggerMessage", {"requestedMessage": "BootNotification"}, {"BootNotification": {
        "status": "Accepted", "currentTime": "2024-05-01T10:00:00Z", "interval": 120}})
    assert exchange.calls(CHARGER) == []
