"""CSMS away, for SOAP chargers: the same policy as over WebSocket (docs/reliability.md), where
"closing the charger" becomes answering every request with 503, Retry-After and a Receiver fault."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from gateway.app import Gateway
from tests.conftest import GatewayFactory
from tests.logwatch import LogWatch, watch_log
from tests.net.scrape import metric
from tests.peers import Csms
from tests.soap.charger import SoapCharger, SoapFaultError
from tests.soap.conftest import ChargerFactory


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


async def _serving_then_csms_gone(
    csms: Csms, gateway: Gateway, soap_charger: ChargerFactory, log: LogWatch, version: str
) -> SoapCharger:
    """A SOAP charger with a live session, whose CSMS then vanished (the gateway has noticed)."""
    charger = soap_charger(version, f"http://127.0.0.1:{gateway.port}/soap", "CB1", None)
    await charger.call("Heartbeat")
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for("upstream connection lost")
    return charger


@pytest.mark.parametrize("version", ["1.5", "1.6"], ids=["soap1.5", "soap1.6"])
async def test_soap_heartbeat_is_answered_with_the_gateway_time(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, log: LogWatch, version: str
) -> None:
    """While the CSMS is away a SOAP Heartbeat gets the gateway's time as a schema-valid response."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}})
    charger = await _serving_then_csms_gone(csms, gateway, soap_charger, log, version)
    answer = await charger.call("Heartbeat")
    assert datetime.fromisoformat(answer["currentTime"]).tzinfo is not None
    assert await metric(gateway, "gateway_csms_away_calls_total", action="Heartbeat", policy="answered") == 1
    assert charger.violations == []


async def test_soap_charger_hears_503_after_offline_close_after(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, log: LogWatch
) -> None:
    """Once the CSMS has been away for upstream.offline_close_after, every request (here one the gateway
    would otherwise answer itself) is answered 503 with Retry-After and a Receiver fault."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, upstream={"offline_close_after": 0.5})
    charger = await _serving_then_csms_gone(csms, gateway, soap_charger, log, "1.6")
    await log.wait_for("closing the charger with 1013")
    with pytest.raises(SoapFaultError) as fault:
        await charger.call("Heartbeat")
    assert (fault.value.code, fault.value.subcode, fault.value.http_status) == ("Receiver", "InternalError", 503)
    assert charger.exchanges[-1].response_headers["Retry-After"].isdigit()
    assert await metric(gateway, "gateway_csms_away_closes_total") == 1
    assert charger.violations == []
