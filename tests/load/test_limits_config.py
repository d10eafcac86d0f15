"""The back-pressure bounds' configuration keys: documented defaults, and no bound that admits nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError
from tests.conftest import write_config

UPSTREAM = "ws://127.0.0.1:1/ocpp"


def test_bounds_default_to_the_documented_values(tmp_path: Path) -> None:
    """soap.max_concurrent_requests is 8 and tunnel.max_requests_in_flight 64 unless configured."""
    config = load_config(write_config(tmp_path, UPSTREAM, "ocpp1.6"))
    assert (config.soap.max_concurrent_requests, config.tunnel.max_requests_in_flight) == (8, 64)


@pytest.mark.parametrize(("section", "key"), [("soap", "max_concurrent_requests"),
                                              ("tunnel", "max_requests_in_flight")])
def test_a_bound_below_one_is_refused_naming_its_key(tmp_path: Path, section: str, key: str) -> None:
    """A bound of 0 would refuse every request: the configuration is rejected with the key's name."""
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        load_config(write_config(tmp_path, UPSTREAM, "ocpp1.6", **{section: {key: 0}}))
