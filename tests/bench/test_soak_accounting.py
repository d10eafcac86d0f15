"""The soak benchmark's loss/duplicate accounting (bench/soak.py `account`, `read_csms_log`)."""

from __future__ import annotations

import collections
from pathlib import Path

from tests.bench.scripts import load_bench_script

soak = load_bench_script("soak.py")


def test_lost_duplicates_retries_and_leftovers() -> None:
    a, b, c, d, e = (("CP1", "MeterValues", str(r)) for r in (10, 20, 30, 40, 50))
    acked = {a: 1, b: 3, c: 1}  # b needed two retries
    received = collections.Counter({a: 1, b: 2, d: 1})  # c never arrived, b twice, d unacknowledged but received
    result = soak.account(acked, received, {d, e})
    assert result == {
        "acknowledged": 3,
        "lost": 1,
        "duplicates": 1,
        "duplicated_messages": 1,
        "retried": 1,
        "attempts": 5,
        "unacknowledged_at_end": 2,
        "unacknowledged_but_received": 1,
        "received_never_sent": 0,
    }


def test_csms_log_maps_201_events_back_to_charger_actions(tmp_path: Path) -> None:
    log = tmp_path / "received.tsv"
    log.write_text("CP1\tBootNotification\t\nCP1\tTransactionEvent.Started\t10\nCP1\tTransactionEvent.Updated\t20\n"
                   "CP1\tTransactionEvent.Updated\t20\nCP1\tTransactionEvent.Ended\t30\n")
    received, kinds = soak.read_csms_log(log, "ocpp2.0.1")
    assert received == {("CP1", "StartTransaction", "10"): 1, ("CP1", "MeterValues", "20"): 2,
                        ("CP1", "StopTransaction", "30"): 1}
    assert kinds["BootNotification"] == 1


def test_rss_slope() -> None:
    assert soak.slope_mib_per_min([(0.0, 1024), (60.0, 2048), (120.0, 3072)]) == 1.0
    assert soak.slope_mib_per_min([(0.0, 1024)]) is None
