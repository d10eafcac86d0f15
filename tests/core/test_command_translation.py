"""Stateful CSMS-initiated commands (TRANSLATION.md 4.4-4.6, 4.10, 4.14, 4.15, 2.10) as session traces."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Request
from gateway.core.mapping import RuleSet
from gateway.core.ocppj import Call
from gateway.core.session import Leg, Save
from gateway.core.translate.commands import deferred_reset_after_stop, installed_certificate_ids
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import Topology, TranslationSettings
from gateway.core.translate.state import ChargerState
from gateway.core.translate.translator import Translation
from gateway.core.translate.trigger import trigger_transaction_meter_values
from gateway.mapping_files import load_mappings
from tests.core.playbook import ANY, Playbook, readable

C16, C201 = Dialect.OCPP16, Dialect.OCPP201
NOW = 1_795_000_000.0
TX16 = {"id16": 7, "id201": "tx-seven", "connector16": 1, "state": "active"}
TX201 = {"evse": {"id": 1, "connectorId": 1}, "state": "active16", "id201": "st-1"}


class TracePlaybook(Playbook):
    """A Playbook that also spells Save commands, as ("save", key, value)."""

    def _drain(self) -> list[tuple[Any, ...]]:
        self.raw = self.session.commands()
        return [("save", c.key, c.value) if isinstance(c, Save) else readable(c) for c in self.raw]


@cache
def rules() -> RuleSet:
    return load_mappings()


def context(charger: Dialect, docs: dict[str, Any] | None = None,
            topology: tuple[tuple[int, int], ...] = ()) -> HandlerContext:
    upstream = C201 if charger is C16 else C16
    settings = TranslationSettings(topology=Topology(topology))
    return HandlerContext("CB1", charger, upstream, ChargerState(docs), settings, lambda: NOW)


def playbook(charger: Dialect, docs: dict[str, Any] | None = None,
             topology: tuple[tuple[int, int], ...] = ()) -> tuple[Playbook, ChargerState]:
    """A session between a `charger` and a CSMS of the other version, translating with the built-in rules."""
    ctx = context(charger, docs, topology)
    upstream = C201 if charger is C16 else C16
    return TracePlaybook(charger, upstream, Translation(ctx, rules())), ctx.state


def sent(commands: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
    """The frames a step sent, as (leg, frame)."""
    return [(c[1], c[2]) for c in commands if c[0] == "send"]


def drive(flow: Flow | None, *replies: dict[str, Any]) -> tuple[list[Request], Any]:
    """Run a flow by hand, answering its requests with `replies` in order: (requests, returned value)."""
    assert flow is not None
    requests: list[Request] = []
    answers = iter(replies)
    value: Reply | None = None
    while True:
        try:
            step = flow.send(value)
        except StopIteration as stop:
            return requests, stop.value
        assert isinstance(step, Request)
        requests.append(step)
        value = Reply(payload=next(answers))


# ---- UnlockConnector, U201 -> C16 (4.6) ------------------------------------------------------


def test_unlock_201_reaches_the_16_connector_and_status_returns() -> None:
    """UnlockConnector(evse 2, connector 1) reaches the 1.6 charger as connector 2; Unlocked returns."""
    pb, _ = playbook(C16)
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"evseId": 2, "connectorId": 1}])) == [
        ("charger", [2, "gw-1", "UnlockConnector", {"connectorId": 2}])]
    assert sent(pb.charger([3, "gw-1", {"status": "Unlocked"}])) == [("csms", [3, "m1", {"status": "Unlocked"}])]


def test_unlock_201_not_supported_becomes_unlock_failed_with_reason() -> None:
    """The 1.6 NotSupported has no 2.0.1 value: UnlockFailed with reasonCode NotSupported."""
    pb, _ = playbook(C16)
    pb.csms([2, "m1", "UnlockConnector", {"evseId": 1, "connectorId": 1}])
    assert sent(pb.charger([3, "gw-1", {"status": "NotSupported"}])) == [
        ("csms", [3, "m1", {"status": "UnlockFailed", "statusInfo": {"reasonCode": "NotSupported"}}])]


def test_unlock_201_unknown_pair_is_answered_locally() -> None:
    """Connector 2 of an EVSE the default topology gives one connector is UnknownConnector, nothing sent."""
    pb, _ = playbook(C16)
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"evseId": 1, "connectorId": 2}])) == [
        ("csms", [3, "m1", {"status": "UnknownConnector"}])]


def test_unlock_201_uses_the_configured_topology() -> None:
    """With topology [[1,1],[1,2]] the second connector of EVSE 1 is 1.6 connector 2."""
    pb, _ = playbook(C16, topology=((1, 1), (1, 2)))
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"evseId": 1, "connectorId": 2}])) == [
        ("charger", [2, "gw-1", "UnlockConnector", {"connectorId": 2}])]


def test_unlock_201_during_a_transaction_is_refused_locally() -> None:
    """A running transaction on the connector: OngoingAuthorizedTransaction, and the 1.6 charger is not told."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": TX16}}})
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"evseId": 1, "connectorId": 1}])) == [
        ("csms", [3, "m1", {"status": "OngoingAuthorizedTransaction"}])]


# ---- UnlockConnector, U16 -> C201 (4.6) ------------------------------------------------------


def test_unlock_16_reaches_the_station_evse() -> None:
    """UnlockConnector connectorId 1 reaches the station as evseId 1, connectorId 1; Unlocked returns."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"connectorId": 1}])) == [
        ("charger", [2, "gw-1", "UnlockConnector", {"evseId": 1, "connectorId": 1}])]
    assert sent(pb.charger([3, "gw-1", {"status": "Unlocked"}])) == [("csms", [3, "m1", {"status": "Unlocked"}])]


@pytest.mark.parametrize(("status_201", "status_16"), [
    ("UnknownConnector", "NotSupported"), ("OngoingAuthorizedTransaction", "UnlockFailed"),
    ("UnlockFailed", "UnlockFailed")])
def test_unlock_16_maps_the_station_status(status_201: str, status_16: str) -> None:
    """The station's 2.0.1-only statuses reach the 1.6 CSMS as their closest 1.6 value."""
    pb, _ = playbook(C201)
    pb.csms([2, "m1", "UnlockConnector", {"connectorId": 1}])
    assert sent(pb.charger([3, "gw-1", {"status": status_201}])) == [("csms", [3, "m1", {"status": status_16}])]


def test_unlock_16_stops_the_open_transaction_first() -> None:
    """An open 2.0.1 transaction on the EVSE is stopped (RequestStopTransaction) before the unlock."""
    pb, state = playbook(C201, {"tx": {"records201": {"st-1": TX201}}})
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"connectorId": 1}])) == [
        ("charger", [2, "gw-1", "RequestStopTransaction", {"transactionId": "st-1"}])]
    assert state.read("cache")["unlockStops"] == ["st-1"]  # before the station can send its Ended
    assert sent(pb.charger([3, "gw-1", {"status": "Accepted"}])) == [
        ("charger", [2, "gw-2", "UnlockConnector", {"evseId": 1, "connectorId": 1}])]
    assert sent(pb.charger([3, "gw-2", {"status": "Unlocked"}])) == [("csms", [3, "m1", {"status": "Unlocked"}])]
    assert state.read("cache")["unlockStops"] == ["st-1"]


def test_unlock_16_refused_stop_answers_unlock_failed() -> None:
    """When the station refuses to stop the transaction the connector stays locked: UnlockFailed."""
    pb, state = playbook(C201, {"tx": {"records201": {"st-1": TX201}}})
    pb.csms([2, "m1", "UnlockConnector", {"connectorId": 1}])
    assert sent(pb.charger([3, "gw-1", {"status": "Rejected"}])) == [("csms", [3, "m1", {"status": "UnlockFailed"}])]
    assert state.read("cache")["unlockStops"] == []


def test_unlock_16_ignores_closed_transactions_and_other_evses() -> None:
    """Closed records and transactions on another EVSE do not delay the unlock."""
    records = {"a": {**TX201, "state": "closed"}, "b": {**TX201, "evse": 2, "id201": "b"}}
    pb, _ = playbook(C201, {"tx": {"records201": records}})
    assert sent(pb.csms([2, "m1", "UnlockConnector", {"connectorId": 1}])) == [
        ("charger", [2, "gw-1", "UnlockConnector", {"evseId": 1, "connectorId": 1}])]


# ---- Reset OnIdle, U201 -> C16 (4.4) ---------------------------------------------------------


def test_reset_on_idle_without_transaction_is_a_soft_reset_now() -> None:
    """No transaction open: Reset Soft goes to the charger and its answer returns."""
    pb, state = playbook(C16)
    assert sent(pb.csms([2, "m1", "Reset", {"type": "OnIdle"}])) == [
        ("charger", [2, "gw-1", "Reset", {"type": "Soft"}])]
    assert sent(pb.charger([3, "gw-1", {"status": "Accepted"}])) == [("csms", [3, "m1", {"status": "Accepted"}])]
    assert state.read("cache")["lastResetType"] == "Soft"


def test_reset_on_idle_during_a_transaction_is_scheduled() -> None:
    """A transaction open: the pending reset is saved, then Scheduled is answered; the charger hears nothing."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": TX16}}})
    steps = [c for c in pb.csms([2, "m1", "Reset", {"type": "OnIdle"}]) if c[0] in ("save", "send")]
    assert steps == [("save", "tr.cache", {"pendingReset": {"type": "Soft", "at": NOW}}),
                     ("send", "csms", [3, "m1", {"status": "Scheduled"}])]


def test_deferred_reset_is_sent_after_the_last_stop() -> None:
    """With a pending reset and no transaction left, the flow step sends Reset Soft once."""
    ctx = context(C16, {"tx": {"records": {"7": {**TX16, "state": "ended"}}},
                        "cache": {"pendingReset": {"type": "Soft", "at": NOW}}})
    requests, _ = drive(deferred_reset_after_stop(ctx), {"status": "Accepted"})
    assert requests == [Request(Leg.CHARGER, "Reset", {"type": "Soft"})]
    assert "pendingReset" not in ctx.state.read("cache")
    assert drive(deferred_reset_after_stop(ctx)) == ([], None)


def test_deferred_reset_waits_while_a_transaction_is_open() -> None:
    """A pending reset is not sent while another transaction still runs."""
    ctx = context(C16, {"tx": {"records": {"7": TX16}}, "cache": {"pendingReset": {"type": "Soft", "at": NOW}}})
    assert drive(deferred_reset_after_stop(ctx)) == ([], None)
    assert "pendingReset" in ctx.state.read("cache")


# ---- ChangeAvailability of one EVSE, U201 -> C16 (4.5) ---------------------------------------


@pytest.mark.parametrize(("first", "second", "combined"), [
    ("Accepted", "Accepted", "Accepted"), ("Accepted", "Rejected", "Rejected"),
    ("Scheduled", "Accepted", "Scheduled"), ("Scheduled", "Rejected", "Rejected")])
def test_change_availability_of_an_evse_fans_out(first: str, second: str, combined: str) -> None:
    """Each 1.6 connector of the EVSE gets its own call, one after the other; the statuses combine."""
    pb, _ = playbook(C16, topology=((1, 1), (1, 2), (2, 1)))
    request = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert sent(pb.csms([2, "m1", "ChangeAvailability", request])) == [
        ("charger", [2, "gw-1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}])]
    assert sent(pb.charger([3, "gw-1", {"status": first}])) == [
        ("charger", [2, "gw-2", "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}])]
    assert sent(pb.charger([3, "gw-2", {"status": second}])) == [("csms", [3, "m1", {"status": combined}])]


def test_change_availability_of_an_unknown_evse_is_rejected_locally() -> None:
    """An EVSE the configured topology does not list is refused in-band with reasonCode UnknownEvse."""
    pb, _ = playbook(C16, topology=((1, 1), (1, 2), (2, 1)))
    assert sent(pb.csms([2, "m1", "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 3}}])) == [
        ("csms", [3, "m1", {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}])]


# ---- TriggerMessage (4.10) -------------------------------------------------------------------


def test_trigger_station_status_is_answered_then_synthesized() -> None:
    """TriggerMessage StatusNotification for connector 0: Accepted, then a connector-0 Available status."""
    pb, _ = playbook(C201)
    assert sent(pb.csms([2, "m1", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 0}])) == [
        ("csms", [3, "m1", {"status": "Accepted"}]),
        ("csms", [2, "gw-1", "StatusNotification",
                  {"connectorId": 0, "errorCode": "NoError", "status": "Available", "timestamp": ANY}])]


def test_trigger_station_status_reports_the_known_availability() -> None:
    """The station's last reported availability is what the triggered StatusNotification says, even unchanged."""
    pb, _ = playbook(C201, {"status": {"station201": {"availability": "Unavailable"},
                                       "sent16": {"0": {"status": "Unavailable", "errorCode": "NoError"}}}})
    steps = sent(pb.csms([2, "m1", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 0}]))
    assert (steps[1][1][2], steps[1][1][3]["status"]) == ("StatusNotification", "Unavailable")


def test_trigger_meter_values_during_a_16_transaction_asks_for_a_transaction_event() -> None:
    """MeterValues on a connector whose 1.6 transaction runs becomes a TransactionEvent trigger on its EVSE."""
    ctx = context(C201, {"tx": {"records201": {"st-1": TX201}}})
    flow = trigger_transaction_meter_values(ctx, Call("m1", "TriggerMessage",
                                                      {"requestedMessage": "MeterValues", "connectorId": 1}), NOW)
    requests, answer = drive(flow, {"status": "Accepted"})
    assert requests == [Request(Leg.CHARGER, "TriggerMessage",
                                {"requestedMessage": "TransactionEvent", "evse": {"id": 1, "connectorId": 1}})]
    assert answer == {"status": "Accepted"}


def test_trigger_meter_values_without_a_16_transaction_is_left_to_the_mapping() -> None:
    """A 2.0.1 transaction the 1.6 CSMS does not know (open201) leaves the plain MeterValues trigger."""
    ctx = context(C201, {"tx": {"records201": {"st-1": {**TX201, "state": "open201"}}}})
    call = Call("m1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
    assert trigger_transaction_meter_values(ctx, call, NOW) is None


def test_trigger_transaction_event_on_an_evse_asks_its_connector_for_meter_values() -> None:
    """TriggerMessage TransactionEvent for EVSE 2 becomes MeterValues on the 1.6 connector of its transaction."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": TX16, "8": {**TX16, "id16": 8, "connector16": 2}}}})
    request = {"requestedMessage": "TransactionEvent", "evse": {"id": 2}}
    assert sent(pb.csms([2, "m1", "TriggerMessage", request])) == [
        ("charger", [2, "gw-1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 2}])]
    assert sent(pb.charger([3, "gw-1", {"status": "Accepted"}])) == [("csms", [3, "m1", {"status": "Accepted"}])]


def test_trigger_transaction_event_without_evse_uses_the_only_open_transaction() -> None:
    """Without evse the only open transaction's connector is asked."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": {**TX16, "connector16": 3}}}})
    assert sent(pb.csms([2, "m1", "TriggerMessage", {"requestedMessage": "TransactionEvent"}])) == [
        ("charger", [2, "gw-1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 3}])]


def test_trigger_transaction_event_without_transaction_is_rejected_locally() -> None:
    """No open transaction: Rejected at once, nothing sent to the charger."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": {**TX16, "state": "ended"}}}})
    assert sent(pb.csms([2, "m1", "TriggerMessage", {"requestedMessage": "TransactionEvent"}])) == [
        ("csms", [3, "m1", {"status": "Rejected", "statusInfo": {"reasonCode": "NoTransaction"}}])]


# ---- 2.0.1-only queries (4.14, 4.15, 2.10) ---------------------------------------------------


@pytest.mark.parametrize(("state", "ongoing"), [("active", True), ("ended", False)])
def test_get_transaction_status_is_answered_from_the_record(state: str, ongoing: bool) -> None:
    """ongoingIndicator says whether the named transaction is open; no message ever waits in a queue."""
    pb, _ = playbook(C16, {"tx": {"records": {"7": {**TX16, "state": state}}}})
    assert sent(pb.csms([2, "m1", "GetTransactionStatus", {"transactionId": "tx-seven"}])) == [
        ("csms", [3, "m1", {"messagesInQueue": False, "ongoingIndicator": ongoing}])]


def test_get_transaction_status_without_id_has_no_ongoing_indicator() -> None:
    """Without a transactionId only messagesInQueue is answered."""
    pb, _ = playbook(C16)
    assert sent(pb.csms([2, "m1", "GetTransactionStatus", {}])) == [("csms", [3, "m1", {"messagesInQueue": False}])]


def test_get_charging_profiles_answers_no_profiles() -> None:
    """The gateway keeps no profile store yet: NoProfiles, and the charger is not asked."""
    pb, _ = playbook(C16)
    request = {"requestId": 5, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}
    assert sent(pb.csms([2, "m1", "GetChargingProfiles", request])) == [("csms", [3, "m1", {"status": "NoProfiles"}])]


def test_get_installed_certificate_ids_without_security_extension_is_not_supported() -> None:
    """Without the 1.6 security extension the request is answered CALLERROR NotSupported."""
    pb, _ = playbook(C16)
    assert sent(pb.csms([2, "m1", "GetInstalledCertificateIds", {}])) == [
        ("csms", [4, "m1", "NotSupported", ANY, {}])]


def test_installed_certificate_ids_ask_each_16_type_and_join_the_hashes() -> None:
    """With the extension each requested 1.6 type is asked in turn and the hashes come back as one chain."""
    hash_data = {"hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "1"}
    flow = installed_certificate_ids({"certificateType": ["CSMSRootCertificate", "V2GRootCertificate",
                                                          "ManufacturerRootCertificate"]})
    requests, answer = drive(flow, {"status": "Accepted", "certificateHashData": [hash_data]}, {"status": "NotFound"})
    assert [r.payload for r in requests] == [{"certificateType": "CentralSystemRootCertificate"},
                                             {"certificateType": "ManufacturerRootCertificate"}]
    assert answer == {"status": "Accepted", "certificateHashDataChain": [
        {"certificateType": "CSMSRootCertificate", "certificateHashData": hash_data}]}
