"""Reconnect delays: exponential growth to a cap, full jitter within bounds, repeatable with a seed."""

from __future__ import annotations

import random
from itertools import islice

from gateway.core import backoff


def _upper(low: float, high: float) -> float:
    return high


def _lower(low: float, high: float) -> float:
    return low


def test_ceiling_doubles_up_to_the_maximum() -> None:
    """With jitter pinned to the top, delays double from the initial value and then stay at the cap."""
    assert list(islice(backoff.delays(1.0, 10.0, _upper), 7)) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_floor_is_half_the_initial_delay() -> None:
    """With jitter pinned to the bottom, every delay is half the initial value."""
    assert set(islice(backoff.delays(1.0, 10.0, _lower), 10)) == {0.5}


def test_jittered_delays_stay_within_bounds() -> None:
    """Every delay lies between half the initial value and the current ceiling."""
    initial, maximum = 0.5, 20.0
    delays = list(islice(backoff.delays(initial, maximum, random.Random(7).uniform), 200))
    ceilings = [min(maximum, initial * 2**n) for n in range(200)]
    assert all(initial / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_delays_never_exceed_maximum() -> None:
    """No delay is longer than the maximum, even when the initial delay is configured above it."""
    assert max(islice(backoff.delays(8.0, 2.0, _upper), 5)) <= 2.0


def test_same_seed_gives_same_delays() -> None:
    """Two generators fed with equally seeded Randoms yield the same delays."""
    first = list(islice(backoff.delays(1.0, 60.0, random.Random(42).uniform), 20))
    second = list(islice(backoff.delays(1.0, 60.0, random.Random(42).uniform), 20))
    assert first == second


def test_jitter_spreads_delays() -> None:
    """Different seeds give different delays, so a fleet does not reconnect in lock-step."""
    first = list(islice(backoff.delays(1.0, 60.0, random.Random(1).uniform), 10))
    second = list(islice(backoff.delays(1.0, 60.0, random.Random(2).uniform), 10))
    assert first != second
