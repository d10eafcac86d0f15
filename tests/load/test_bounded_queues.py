"""Memory under a slow CSMS: a charger that keeps to OCPP-J's rules never grows the gateway's queues.

OCPP-J (1.6 and 2.0.1 part 4, section 4.1.1) lets a charger send its next CALL once the previous one
was answered *or timed out*. Against a CSMS that does not answer, an impatient charger (the `ocpp`
package with a short response timeout) therefore keeps sending, one call at a time, while the gateway
still holds every earlier call for the CSMS's own, longer timeout. Those calls wait in the charger's
session, behind the one in flight; once limits.max_queued_calls wait, each further call is answered
CALLERROR GenericError at once and nothing more is kept. The CSMS (held until the test releases it)
receives one call at a time and never more than the bound let through.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from ocpp.exceptions import GenericError
from ocpp.v16 import call as c16

from gateway.app import Gateway
from tests.conftest import GatewayFactory, charger_url
from tests.load.slow_csms import SlowCsms, start_slow_csms, stop_slow_csms
from tests.net.scrape import metric
from tests.peers import Charger, CsmsLink, connect_charger

MAX_QUEUED = 4
#: Calls the charger sends once the queue is full: each one a chance for the queue to grow.
MORE = 30
#: The charger's own response timeout: it gives up on a held call after this and sends the next.
IMPATIENCE = 0.2


@pytest.fixture
async def slow_csms() -> AsyncIterator[SlowCsms]:
    slow = await start_slow_csms(["IMPATIENT1"])
    yield slow
    await stop_slow_csms(slow)


@pytest.fixture
async def gateway(slow_csms: SlowCsms, start_gateway: GatewayFactory) -> Gateway:
    # The gateway waits far longer for the CSMS than the charger does: held calls stay held.
    return await start_gateway(slow_csms.csms.url, "ocpp1.6", upstream={"response_timeout": 60},
                               limits={"max_queued_calls": MAX_QUEUED})


@pytest.fixture
async def charger(slow_csms: SlowCsms, gateway: Gateway) -> AsyncIterator[tuple[Charger, CsmsLink]]:
    """IMPATIENT1, booted, whose first 1 + MAX_QUEUED Heartbeats it gave up on while the CSMS holds them."""
    charger = await connect_charger(charger_url(gateway), "IMPATIENT1", "ocpp1.6", response_timeout=IMPATIENCE)
    try:
        await charger.cp.call(c16.BootNotification(charge_point_vendor="ACME", charge_point_model="M"))
        link = await slow_csms.csms.next_connection()
        for _ in range(1 + MAX_QUEUED):
            with pytest.raises(TimeoutError):
                await charger.cp.call(c16.Heartbeat(), suppress=False)
        yield charger, link
    finally:
        await charger.close()


async def test_calls_after_the_queue_is_full_are_refused_not_kept(
    gateway: Gateway, charger: tuple[Charger, CsmsLink]
) -> None:
    """Every call past max_queued_calls is answered CALLERROR GenericError at once, and counted."""
    cp, _ = charger
    for _ in range(MORE):
        with pytest.raises(GenericError):
            await cp.cp.call(c16.Heartbeat(), suppress=False)
    assert await metric(gateway, "gateway_overload_refusals_total", limit="limits.max_queued_calls") == MORE


async def test_csms_receives_only_what_the_queue_held_one_call_at_a_time(
    slow_csms: SlowCsms, charger: tuple[Charger, CsmsLink]
) -> None:
    """While held, the CSMS has one call; released, it gets the max_queued_calls that waited, and no more."""
    cp, link = charger
    for _ in range(MORE):
        with pytest.raises(GenericError):
            await cp.cp.call(c16.Heartbeat(), suppress=False)
    assert slow_csms.heartbeats_from("IMPATIENT1") == 1
    slow_csms.release.set()
    assert [(await link.next_call())[0] for _ in range(2 + MAX_QUEUED)] == \
        ["BootNotification"] + ["Heartbeat"] * (1 + MAX_QUEUED)
    # The queue has drained: the next call is relayed again rather than refused. Whether the charger
    # still waits for its answer does not matter here, only that the CSMS receives it.
    with contextlib.suppress(TimeoutError):
        await cp.cp.call(c16.Heartbeat(), suppress=False)
    assert await link.next_call() == ("Heartbeat", {})
    assert slow_csms.heartbeats_from("IMPATIENT1") == 2 + MAX_QUEUED
