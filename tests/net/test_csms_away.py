"""CSMS away: what a charger hears while the CSMS it was connected through is unreachable.

The CSMS `vanish`es mid-session (no Close frame, nothing listening), as a crashed host or a cut
network does; docs/reliability.md is the policy these tests specify.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from ocpp.exceptions import GenericError
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from ocpp.v201 import datatypes as d201

from gateway.app import Gateway
from tests.conftest import GatewayFactory, charger_url
from tests.logwatch import LogWatch, watch_log
from tests.net.scrape import metric
from tests.peers import Charger, Csms, connect_charger

LOST = "upstream connection lost"
#: Charger dialect -> upstream dialect: the two pass-through pairings and the two translated ones.
PAIRS = [("ocpp1.6", "ocpp1.6"), ("ocpp2.0.1", "ocpp2.0.1"), ("ocpp1.6", "ocpp2.0.1"), ("ocpp2.0.1", "ocpp1.6")]
PAIR_IDS = ["16-16", "201-201", "16-201", "201-16"]


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


async def _connected_then_csms_gone(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str = "ocpp1.6",
    upstream: str = "ocpp1.6", outbox: dict[str, bool] | None = None, **upstream_config: float,
) -> tuple[Gateway, Charger]:
    """A charger connected through the gateway, whose CSMS then vanished (the gateway has noticed)."""
    gateway = await start_gateway(csms.url, upstream, upstream=upstream_config, outbox=outbox or {})
    charger = await connect_charger(charger_url(gateway), "CB1", dialect)
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for(LOST)
    return gateway, charger


def _heartbeat(dialect: str) -> c16.Heartbeat | c201.Heartbeat:
    return c201.Heartbeat() if dialect == "ocpp2.0.1" else c16.Heartbeat()


@pytest.mark.parametrize(("dialect", "upstream"), PAIRS, ids=PAIR_IDS)
async def test_heartbeat_is_answered_with_the_gateway_time(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str, upstream: str
) -> None:
    """While the CSMS is away a Heartbeat gets the gateway's current time, in the charger's dialect."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, dialect, upstream)
    before = datetime.now().astimezone()
    reply = await charger.cp.call(_heartbeat(dialect), suppress=False)  # the `ocpp` charger checks the schema
    after = datetime.now().astimezone()
    answered = datetime.fromisoformat(reply.current_time)
    assert before - timedelta(seconds=1) <= answered <= after  # milliseconds are truncated
    assert await metric(gateway, "gateway_csms_away_calls_total", action="Heartbeat", policy="answered") == 1
    await charger.close()


async def test_local_answers_are_logged_once_per_outage(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """A charger heartbeating through an outage does not fill the log: the first local answer is logged."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log)
    for _ in range(3):
        await charger.cp.call(c16.Heartbeat(), suppress=False)
    assert log.count("answers Heartbeat itself") == 1
    assert await metric(gateway, "gateway_csms_away_calls_total", action="Heartbeat", policy="answered") == 3
    await charger.close()


@pytest.mark.parametrize(
    ("dialect", "call"),
    [
        ("ocpp1.6", c16.Authorize(id_tag="TAG1")),
        ("ocpp1.6", c16.BootNotification(charge_point_model="M", charge_point_vendor="V")),
        ("ocpp1.6", c16.StatusNotification(connector_id=1, error_code="NoError", status="Available")),
        ("ocpp2.0.1", c201.Authorize(id_token=d201.IdTokenType(id_token="TAG1", type="ISO14443"))),
        ("ocpp2.0.1", c201.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                            reason="PowerUp")),
    ],
    ids=["16-Authorize", "16-BootNotification", "16-StatusNotification", "201-Authorize", "201-BootNotification"],
)
async def test_calls_only_the_csms_can_answer_are_refused_at_once(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, dialect: str, call: object
) -> None:
    """While the CSMS is away, calls other than Heartbeat and transaction messages get GenericError
    "the CSMS is unreachable" without waiting for upstream.response_timeout (which would say "in time")."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, dialect, dialect,
                                                       response_timeout=30)
    with pytest.raises(GenericError, match="the CSMS is unreachable"):
        await charger.cp.call(call, suppress=False)
    action = type(call).__name__
    assert await metric(gateway, "gateway_csms_away_calls_total", action=action, policy="refused") == 1
    assert await metric(gateway, "gateway_call_errors_total", leg="charger", code="GenericError") == 1
    assert not charger.ws.close_code
    await charger.close()


async def test_without_the_outbox_stop_transaction_waits_and_reaches_the_csms_when_it_is_back(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """With outbox.enabled false a transaction message made while the CSMS is away waits for it (up to
    upstream.response_timeout): when the CSMS is back in time, it gets the message and the charger its answer."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, outbox={"enabled": False},
                                                       response_timeout=30)
    stop = c16.StopTransaction(meter_stop=1200, timestamp="2026-01-01T10:00:00Z", transaction_id=7)
    reply = asyncio.create_task(charger.cp.call(stop, suppress=False))
    await log.wait_for("StopTransaction waits for it")
    await csms.start(port=csms.port)
    back = await csms.next_connection()
    assert (await back.next_call())[0] == "StopTransaction"
    assert (await reply) is not None
    assert await metric(gateway, "gateway_csms_away_calls_total", action="StopTransaction", policy="held") == 1
    await charger.close()


async def test_charger_is_closed_with_1013_after_offline_close_after(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """When the CSMS stays away for upstream.offline_close_after seconds, the charger is closed with
    1013 (try again later), so it goes to its own offline mode; the close is counted."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, offline_close_after=0.5)
    async with asyncio.timeout(10):
        await charger.ws.wait_closed()
    assert (charger.ws.close_code, charger.ws.close_reason) == (1013, "CSMS unreachable")
    assert await metric(gateway, "gateway_csms_away_closes_total") == 1
    await charger.close()


async def test_offline_close_after_zero_never_closes_the_charger(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    """With upstream.offline_close_after 0 the charger stays connected however many redials fail."""
    gateway, charger = await _connected_then_csms_gone(csms, start_gateway, log, offline_close_after=0)
    await log.wait_for("upstream still unavailable", count=5)
    reply = await charger.cp.call(c16.Heartbeat(), suppress=False)
    assert reply.current_time and not charger.ws.close_code
    assert await metric(gateway, "gateway_csms_away_closes_total") == 0
    await charger.close()
