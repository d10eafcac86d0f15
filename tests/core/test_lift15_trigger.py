"""TriggerMessage toward a 1.5 charger, emulated by the gateway (TRANSLATION.md 5.5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.core.test_lift15_kit import CHARGER, CSMS, NOW, Exchange, Lift

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Wall-5", "firmwareVersion": "1.5.3"}


def booted(interval: int = 300) -> Lift:
    """A lift whose charger booted and was told `interval`."""
    lift = Lift()
    lift.up("BootNotification", BOOT, {"BootNotification": {"status": "Accepted", "currentTime": NOW,
                                                            "interval": interval}})
    return lift


def trigger(lift: Lift, requested: str, connector: int | None = None, **replies: dict[str, Any]) -> Exchange:
    """The CSMS triggers `requested` (for `connector`); the peers answer from `replies` by action."""
    request: dict[str, Any] = {"requestedMessage": requested}
    if connector is not None:
        request["connectorId"] = connector
    return lift.down("TriggerMessage", request, replies)


def test_boot_trigger_sends_the_cached_boot_notification() -> None:
    """The charger's last BootNotification goes up again; the CSMS heard Accepted first."""
    exchange = trigger(booted(), "BootNotification")
    assert exchange.answer == {"status": "Accepted"} and exchange.answered_after == 0
    assert exchange.calls(CSMS) == [BOOT]


def test_boot_trigger_without_a_cached_boot_is_rejected() -> None:
    """Before the charger's first boot nothing can be sent (6.2): Rejected, nothing sent."""
    exchange = trigger(Lift(), "BootNotification")
    assert exchange.answer == {"status": "Rejected"} and exchange.sent == []


def test_boot_trigger_with_a_new_interval_pushes_it_to_the_charger() -> None:
    """The charger did not see the new answer: its interval goes down as ChangeConfiguration HeartBeatInterval."""
    exchange = trigger(booted(300), "BootNotification",
                       BootNotification={"status": "Accepted", "currentTime": NOW, "interval": 120})
    assert exchange.calls(CHARGER) == [{"key": "HeartBeatInterval", "value": "120"}]


def test_boot_trigger_with_the_same_interval_pushes_nothing() -> None:
    """An unchanged interval needs no ChangeConfiguration."""
    assert trigger(booted(300), "BootNotification").calls(CHARGER) == []


def test_interval_push_is_repeated_until_the_charger_accepts_it() -> None:
    """A refused push leaves the old interval as the charger's, so the next trigger tries again."""
    lift = booted(300)
    new = {"status": "Accepted", "currentTime": NOW, "interval": 120}
    trigger(lift, "BootNotification", BootNotification=new, ChangeConfiguration={"status": "Rejected"})
    assert trigger(lift, "BootNotification", BootNotification=new).calls(CHARGER) == [
        {"key": "HeartBeatInterval", "value": "120"}]


def test_heartbeat_trigger_sends_a_heartbeat() -> None:
    """The gateway sends the Heartbeat itself."""
    exchange = trigger(Lift(), "Heartbeat")
    assert exchange.answer == {"status": "Accepted"} and exchange.answered_after == 0
    assert exchange.calls(CSMS, "Heartbeat") == [{}]


def test_status_trigger_for_a_connector_sends_its_last_status() -> None:
    """The connector's last 1.6 status (as refined and sent) goes up again, with a fresh timestamp."""
    lift = Lift()
    lift.status(1, "Occupied", "Mode3Error")
    lift.status(2, "Available")
    exchange = trigger(lift, "StatusNotification", 1)
    assert exchange.answer == {"status": "Accepted"}
    [sent] = exchange.calls(CSMS)
    assert {k: sent[k] for k in ("connectorId", "status", "errorCode")} == {
        "connectorId": 1, "status": "Preparing", "errorCode": "EVCommunicationError"}
    assert sent["timestamp"].endswith("Z")


def test_status_trigger_without_connector_sends_every_connector() -> None:
    """No connectorId: the last status of every connector, connector 0 included."""
    lift = Lift()
    for connector, status in ((2, "Available"), (0, "Available"), (1, "Faulted")):
        lift.status(connector, status)
    exchange = trigger(lift, "StatusNotification")
    assert [(s["connectorId"], s["status"]) for s in exchange.calls(CSMS)] == [
        (0, "Available"), (1, "Faulted"), (2, "Available")]


def test_status_trigger_for_an_unknown_connector_is_rejected() -> None:
    """Nothing known about that connector yet: Rejected (a 1.5 charger cannot be asked)."""
    lift = Lift()
    lift.status(1, "Available")
    exchange = trigger(lift, "StatusNotification", 3)
    assert exchange.answer == {"status": "Rejected"} and exchange.sent == []


def test_status_trigger_before_any_status_is_rejected() -> None:
    """No status seen at all: Rejected."""
    assert trigger(Lift(), "StatusNotification").answer == {"status": "Rejected"}


@pytest.mark.parametrize(("last", "sent"), [(None, "Idle"), ("Downloaded", "Downloaded"), ("Installed", "Idle"),
                                            ("DownloadFailed", "Idle"), ("InstallationFailed", "Idle")])
def test_firmware_trigger_sends_the_running_status_or_idle(last: str | None, sent: str) -> None:
    """The last firmware status while a job runs (Downloaded: install next), else Idle."""
    lift = Lift()
    if last is not None:
        lift.up("FirmwareStatusNotification", {"status": last})
    exchange = trigger(lift, "FirmwareStatusNotification")
    assert exchange.answer == {"status": "Accepted"}
    assert exchange.calls(CSMS, "FirmwareStatusNotification") == [{"status": sent}]


@pytest.mark.parametrize("last", [None, "Uploaded", "UploadFailed"])
def test_diagnostics_trigger_sends_idle(last: str | None) -> None:
    """Every 1.5 diagnostics status ends the upload, so the triggered status is Idle."""
    lift = Lift()
    if last is not None:
        lift.up("DiagnosticsStatusNotification", {"status": last})
    assert trigger(lift, "DiagnosticsStatusNotification").calls(CSMS, "DiagnosticsStatusNotification") == [
        {"status": "Idle"}]


def test_meter_values_trigger_is_not_implemented() -> None:
    """A 1.5 charger cannot be asked for a reading: NotImplemented, nothing sent (1.3 b)."""
    exchange = trigger(booted(), "MeterValues", 1)
    assert exchange.answer == {"status": "NotImplemented"} and exchange.sent == []
