"""compare.py --matched: the relay is paced to the calls/s the gateway reached in the same round."""

from __future__ import annotations

import argparse

from tests.bench.scripts import load_bench_script

compare = load_bench_script("compare.py")


def test_the_relay_is_paced_to_the_gateways_measured_throughput() -> None:
    args = argparse.Namespace(rate=0.0, chargers=100, matched=True)

    paced = compare._paced_like(args, {"loadgen": {"calls_per_s": 4018.6}})

    assert paced.rate == 4019
    assert paced.chargers == 100
    assert args.rate == 0.0  # the gateway's next round still runs flat out


def test_a_failed_gateway_run_leaves_the_relay_unpaced() -> None:
    args = argparse.Namespace(rate=0.0, matched=True)

    assert compare._paced_like(args, {"error": "loadgen gave no result"}).rate == 0.0


def test_a_round_whose_relay_fell_short_of_the_gateways_rate_is_reported_as_not_matched() -> None:
    labels = ("relay", "gateway")
    per = [
        ({"round": 1, "sut": "gateway"}, {"calls/s": 16140.0}),
        ({"round": 1, "sut": "relay"}, {"calls/s": 12810.0}),
        ({"round": 2, "sut": "gateway"}, {"calls/s": 11842.0}),
        ({"round": 2, "sut": "relay"}, {"calls/s": 11841.0}),
    ]

    assert compare._unmatched_rounds(per, labels) == ["round 1, 12810 of 16140 calls/s"]
