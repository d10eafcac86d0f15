"""The outbox for SOAP chargers: a 1.6 SOAP charger's transaction message met by an away CSMS is persisted
and answered at once (not a Fault), then delivered when the CSMS is back (docs/reliability.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import GatewayFactory
from tests.logwatch import LogWatch, watch_log
from tests.net.scrape import metric
from tests.peers import Csms, CsmsLink
from tests.soap.conftest import ChargerFactory

pytestmark = pytest.mark.timeout(30)

T1 = "2026-12-06T08:30:00Z"
OUTBOX = {"enabled": True, "max_messages": 1000, "max_attempts": 5, "retry_interval": 10}


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


@pytest.mark.parametrize("version", ["1.6", "1.5"], ids=["soap1.6", "soap1.5"])
async def test_soap_stop_transaction_is_answered_at_once_and_delivered_when_the_csms_is_back(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, log: LogWatch, version: str
) -> None:
    """While the CSMS is away a SOAP StopTransaction (1.6, or 1.5 lifted to 1.6) gets its response at once;
    once the CSMS is back, the charger's next request finds it and the StopTransaction reaches it with the
    charger's data."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, outbox=OUTBOX,
                                  upstream={"response_timeout": 30})
    charger = soap_charger(version, f"http://127.0.0.1:{gateway.port}/soap", "CB1", None)
    await charger.call("Heartbeat")
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for("upstream connection lost")
    async with asyncio.timeout(2):  # a held call would wait upstream.response_timeout (30 s)
        answer = await charger.call("StopTransaction", transactionId=7, idTag="T1", timestamp=T1, meterStop=2000,
                                    **({"reason": "Local"} if version == "1.6" else {}))
    assert set(answer) <= {"idTagInfo"}
    assert await metric(gateway, "gateway_csms_away_calls_total", action="StopTransaction", policy="queued") == 1

    await csms.start(port=csms.port)
    await charger.call("Heartbeat")  # the next request that finds the CSMS (a live session redials by itself)
    link = await csms.next_connection()
    async with asyncio.timeout(10):
        while (call := await link.next_call())[0] != "StopTransaction":
            assert call[0] == "Heartbeat", f"unexpected {call}"
    stop = call[1]
    assert (stop["transaction_id"], stop["meter_stop"], stop["id_tag"]) == (7, 2000, "T1")
    assert stop.get("reason") == ("Local" if version == "1.6" else None)
    assert datetime.fromisoformat(stop["timestamp"]) == datetime.fromisoformat(T1)
    assert charger.violations == []


async def test_soap_16_start_gets_a_gateway_id_at_once_and_its_stop_reaches_the_csms_under_the_csms_id(
    csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory, log: LogWatch
) -> None:
    """A 1.6 SOAP charger behind a 1.6 CSMS: the Start made while the CSMS is away is answered with an id the
    gateway issues (xs:int, validated against the WSDL by the charger); after the replay, the charger's Stop
    naming that id reaches the CSMS with the id the CSMS assigned."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, outbox=OUTBOX,
                                  upstream={"response_timeout": 30})
    charger = soap_charger("1.6", f"http://127.0.0.1:{gateway.port}/soap", "CB1", None)
    await charger.call("Heartbeat")
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for("upstream connection lost")
    async with asyncio.timeout(2):
        start = await charger.call("StartTransaction", connectorId=1, idTag="T1", timestamp=T1, meterStart=100)
    assert start["idTagInfo"]["status"] == "Accepted"
    minted = start["transactionId"]

    await csms.start(port=csms.port)
    await charger.call("Heartbeat")
    link = await csms.next_connection()
    await log.wait_for("outbox replayed")
    await charger.call("StopTransaction", transactionId=minted, idTag="T1", timestamp=T1, meterStop=900,
                       reason="Local")
    async with asyncio.timeout(10):
        calls = [call async for call in _calls_until(link, "StopTransaction")]
    assert [action for action, _ in calls if action != "Heartbeat"] == ["StartTransaction", "StopTransaction"]
    assert calls[-1][1]["transaction_id"] == 1001 != minted  # the test CSMS's first id
    assert charger.violations == []


async def _calls_until(link: CsmsLink, action: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    while True:
        call = await link.next_call()
        yield call
        if call[0] == action:
            return
