"""ChargerLog: every line names the charger, and a flood of refusals cannot flood the log."""

from __future__ import annotations

import logging
import time

import pytest

from gateway.net.context import ChargerLog

LIMIT = ChargerLog.FLOOD_LINES


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "monotonic", fake)
    return fake


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "test.flood"]


def test_every_line_carries_the_charge_box_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "test.flood"):
        ChargerLog(logging.getLogger("test.flood"), "CB7").info("hello")
    assert [record.charge_box_id for record in caplog.records] == ["CB7"]  # type: ignore[attr-defined]


def test_a_refusal_flood_logs_only_the_first_lines_of_a_window(caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    log = ChargerLog(logging.getLogger("test.flood"), "CB1")
    with caplog.at_level(logging.WARNING, "test.flood"):
        for n in range(LIMIT * 5):
            log.flood_warning("refused %d", n)
    assert _lines(caplog) == [f"refused {n}" for n in range(LIMIT)]


def test_the_next_window_says_how_many_lines_were_left_out(caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    log = ChargerLog(logging.getLogger("test.flood"), "CB1")
    with caplog.at_level(logging.WARNING, "test.flood"):
        for n in range(LIMIT + 3):
            log.flood_warning("refused %d", n)
        clock.now += ChargerLog.FLOOD_WINDOW
        log.flood_warning("refused again")
    assert _lines(caplog)[LIMIT:] == [
        f"3 more refusals of this charger were not logged in {ChargerLog.FLOOD_WINDOW:g} s (the metrics count them)",
        "refused again",
    ]


def test_each_charger_has_its_own_budget(caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    noisy, quiet = (ChargerLog(logging.getLogger("test.flood"), box) for box in ("CB1", "CB2"))
    with caplog.at_level(logging.WARNING, "test.flood"):
        for _ in range(LIMIT * 2):
            noisy.flood_warning("noise")
        quiet.flood_warning("the quiet one")
    assert _lines(caplog)[-1] == "the quiet one"
