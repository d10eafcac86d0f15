"""Jittered exponential delays between upstream reconnect attempts."""

from __future__ import annotations

from collections.abc import Callable, Iterator


def delays(initial: float, maximum: float, uniform: Callable[[float, float], float]) -> Iterator[float]:
    """Yield reconnect delays: "full jitter" over an exponentially growing ceiling.

    Full jitter spreads a fleet's reconnects after a CSMS restart instead of having every
    charger's upstream leg retry in lock-step.

    Args:
        initial: ceiling of the first delay, seconds (> 0).
        maximum: the ceiling stops growing here, seconds.
        uniform: random source, e.g. `random.Random().uniform`; injected so tests are repeatable.
    """
    first = min(initial, maximum)
    ceiling = first
    while True:
        yield uniform(first / 2, ceiling)
        ceiling = min(maximum, ceiling * 2)
