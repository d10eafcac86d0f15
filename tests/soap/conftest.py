"""Fixtures for SOAP tests: chargers' own endpoints and SOAP chargers, cleaned up after each test.

    async def test_reset_reaches_the_charger(start_endpoint, soap_charger, ...):
        endpoint = await start_endpoint("1.5")
        charger = soap_charger("1.5", gateway_soap_url, "CB1", endpoint.url)
        ...
        assert endpoint.violations == [] and charger.violations == []

`charger_endpoint` is a started 1.6 endpoint; parametrize it indirectly for another version:
`@pytest.mark.parametrize("charger_endpoint", ["1.5", "1.6"], indirect=True)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.soap.charger import SoapCharger
from tests.soap.endpoint import ChargerEndpoint

EndpointFactory = Callable[..., Awaitable[ChargerEndpoint]]
ChargerFactory = Callable[..., SoapCharger]


@pytest.fixture
async def start_endpoint() -> AsyncIterator[EndpointFactory]:
    """Factory `await start_endpoint(version="1.6", path=...)` -> a started `ChargerEndpoint`."""
    started: list[ChargerEndpoint] = []

    async def start(version: str = "1.6", **kwargs: Any) -> ChargerEndpoint:
        endpoint = await ChargerEndpoint(version, **kwargs).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        await endpoint.stop()


@pytest.fixture
async def charger_endpoint(request: pytest.FixtureRequest, start_endpoint: EndpointFactory) -> ChargerEndpoint:
    """A started ChargerEndpoint, version 1.6 unless indirectly parametrized with "1.5"."""
    version = getattr(request, "param", "1.6")
    return await start_endpoint(version)


@pytest.fixture
async def soap_charger() -> AsyncIterator[ChargerFactory]:
    """Factory `soap_charger(version, url, charge_box_id, from_url, **options)` -> a `SoapCharger`.

    `options` are SoapCharger's keywords (basic_auth, compression, must_understand, timeout).
    """
    made: list[SoapCharger] = []

    def make(version: str, url: str, charge_box_id: str, from_url: str | None, **options: Any) -> SoapCharger:
        charger = SoapCharger(version, url, charge_box_id, from_url=from_url, **options)
        made.append(charger)
        return charger

    yield make
    for charger in made:
        await charger.close()
