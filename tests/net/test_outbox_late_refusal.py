"""Late refusals (TRANSLATION.md 1.10, docs/reliability.md "Late refusals"): a transaction the gateway
answered from its outbox while the CSMS was away, whose token the CSMS then refuses in its answer to
the replayed event, is stopped at the charger by the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v201 import call_result as r201

from tests.conftest import GatewayFactory, charger_url
from tests.logwatch import LogWatch, watch_log
from tests.peers import Csms, CsmsCp201, connect_charger

START = c16.StartTransaction(connector_id=1, id_tag="STOLEN", meter_start=100, timestamp="2026-01-01T10:00:00Z")


class RefusingCp201(CsmsCp201):
    """Refuses the token of every transaction event that reached it late (offline: true)."""

    @on("TransactionEvent")
    def transaction_event(self, **kw: Any) -> r201.TransactionEvent:
        self._record("TransactionEvent", kw)
        status = "Invalid" if kw.get("offline") and kw.get("event_type") == "Started" else "Accepted"
        return r201.TransactionEvent(id_token_info={"status": status})


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


@pytest.mark.parametrize("stop", [True, False], ids=["stop", "no-stop"])
async def test_a_16_transaction_accepted_offline_is_stopped_when_the_201_csms_refuses_its_token(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch, stop: bool
) -> None:
    """The charger got Accepted and id X while the CSMS was away; the replayed Started is answered
    Invalid, so the charger is sent RemoteStopTransaction for X (unless stop_on_late_refusal is off)."""
    csms.cp201_class = RefusingCp201
    gateway = await start_gateway(csms.url, "ocpp2.0.1", outbox={"stop_on_late_refusal": stop})
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for("upstream connection lost")
    async with asyncio.timeout(2):  # answered from the outbox, not after the CSMS is back
        answer = await charger.cp.call(START, suppress=False)
    assert answer.id_tag_info["status"] == "Accepted"
    await csms.start(port=csms.port)
    link = await csms.next_connection()
    action, event = await link.next_call()
    assert (action, event["event_type"], event["offline"]) == ("TransactionEvent", "Started", True)
    await log.wait_for("CSMS answered the token Invalid")
    if stop:
        command = await asyncio.wait_for(charger.cp.commands.get(), 10)
        assert command == ("RemoteStopTransaction", {"transaction_id": answer.transaction_id})
        await log.wait_for("the charger answered the gateway's RequestStopTransaction")
    else:
        # A Heartbeat round trip after the refusal: had a stop been sent, it would have come first.
        await charger.cp.call(c16.Heartbeat(), suppress=False)
        assert charger.cp.commands.empty()
    await charger.close()
