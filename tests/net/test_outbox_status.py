"""GetTransactionStatus while the outbox still holds a charger's messages (docs/reliability.md): the
2.0.1 CSMS hears messagesInQueue true, so it does not close a transaction whose end is still queued."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from tests.conftest import GatewayFactory, charger_url
from tests.logwatch import LogWatch, watch_log
from tests.peers import Csms, CsmsCp201, connect_charger

pytestmark = pytest.mark.timeout(30)


class RefusingOnceCp201(CsmsCp201):
    """Refuses the first TransactionEvent it gets (the replay then waits outbox.retry_interval)."""

    refused: asyncio.Event

    @on("TransactionEvent")
    def transaction_event(self, **kw: Any) -> r201.TransactionEvent:
        self._record("TransactionEvent", kw)
        if not self.refused.is_set():
            self.refused.set()
            raise GenericError(description="the test CSMS refuses this one")
        return r201.TransactionEvent()


@pytest.fixture
def log() -> Iterator[LogWatch]:
    with watch_log() as watch:
        yield watch


async def test_a_16_charger_behind_a_201_csms_reports_queued_messages_while_its_outbox_drains(
    csms: Csms, start_gateway: GatewayFactory, log: LogWatch
) -> None:
    gateway = await start_gateway(csms.url, "ocpp2.0.1", outbox={"retry_interval": 20})
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    await csms.next_connection()
    await csms.vanish()
    await log.wait_for("upstream connection lost")
    start = c16.StartTransaction(connector_id=1, id_tag="TAG", meter_start=100, timestamp="2026-01-01T10:00:00Z")
    transaction_id = (await charger.cp.call(start, suppress=False)).transaction_id
    stop = c16.StopTransaction(meter_stop=900, timestamp="2026-01-01T10:30:00Z", transaction_id=transaction_id)
    await charger.cp.call(stop, suppress=False)
    RefusingOnceCp201.refused = asyncio.Event()
    csms.cp201_class = RefusingOnceCp201
    await csms.start(port=csms.port)
    link = await csms.next_connection()
    await asyncio.wait_for(RefusingOnceCp201.refused.wait(), 10)
    started = (await link.next_call())[1]
    status = await link.cp.call(c201.GetTransactionStatus(
        transaction_id=started["transaction_info"]["transaction_id"]), suppress=False)
    assert status.messages_in_queue is True
    await charger.close()
