"""The OCPP-J hostile corpus (tests/data/hostile/ojson) replayed against one running gateway.

One gateway and one CSMS serve the whole module. A well-behaved `ocpp` ChargePoint (BYSTANDER)
boots before the first hostile frame and stays connected throughout. Each corpus file is one case,
sent on its own WebSocket, and must get exactly the answer tests/data/hostile/README.md names for it.
The last test checks what the corpus must not have changed: the bystander's calls are still
answered on its original upstream connection, /healthz is 200, no exception was caught while
serving, and the metrics count every CALLERROR and dropped reply the corpus caused.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from ocpp.v16 import call as c16
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.typing import Subprotocol

from gateway.app import Gateway
from gateway.config import load_config
from tests.conftest import charger_url, write_config
from tests.hostile import corpus
from tests.net.scrape import metric
from tests.peers import Charger, Csms, CsmsLink, connect_charger

#: The tests share the module's gateway, so they run on the module's event loop.
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

ROWS = corpus.rows("ojson")
#: The gateway's default limits.max_queued_calls: a burst always gets at least this many calls through
#: (one more when the upstream leg is already up and the first call goes out at once).
MAX_QUEUED = 16
ANSWER_TIMEOUT = 10


@dataclass
class Site:
    """The one gateway the corpus is replayed against, its CSMS, the bystander, and what each file got back."""

    gateway: Gateway
    csms: Csms
    bystander: Charger
    bystander_link: CsmsLink
    replies: dict[str, list[list[Any]]] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    csms = await Csms().start()
    path: Path = tmp_path_factory.mktemp("hostile-ojson")
    gateway = Gateway(load_config(write_config(path, csms.url, "ocpp1.6")))
    await gateway.start()
    bystander = await connect_charger(charger_url(gateway), "BYSTANDER", "ocpp1.6")
    await bystander.cp.call(c16.BootNotification(charge_point_vendor="ACME", charge_point_model="M"))
    link = await csms.next_connection()
    assert (link.charge_box_id, (await link.next_call())[0]) == ("BYSTANDER", "BootNotification")
    try:
        yield Site(gateway, csms, bystander, link)
    finally:
        await bystander.close()
        await gateway.stop()
        await csms.stop()


async def _next(ws: ClientConnection) -> list[Any]:
    async with asyncio.timeout(ANSWER_TIMEOUT):
        return list(json.loads(await ws.recv()))


async def _send(ws: ClientConnection, data: bytes, frame: str) -> None:
    # Bytes sent as a text frame go unchecked: that is how a frame that is not UTF-8 gets on the wire.
    await ws.send(data, text=frame == "text")


async def _heartbeat_answered(ws: ClientConnection) -> list[Any]:
    """Send a Heartbeat; the next reply on the connection must be its CALLRESULT."""
    await ws.send('[2,"after","Heartbeat",{}]')
    return await _next(ws)


async def replay(site: Site, number: int, row: corpus.Row) -> list[list[Any]]:
    """Send one corpus file on a fresh connection and check the answer the README names for it."""
    frames = corpus.load("ojson", row.file)
    expected = corpus.ocppj_expectation(row["expected answer"])
    url = f"{charger_url(site.gateway)}/HOSTILE-{number}"
    async with connect(url, subprotocols=[Subprotocol(row["subprotocol"])], open_timeout=5, max_size=None,
                       close_timeout=5) as ws:
        replies: list[list[Any]] = []
        if expected.kind == "close":
            with contextlib.suppress(ConnectionClosed):  # the gateway may close while the frame is still going out
                await _send(ws, frames[0], row["frame"])
            async with asyncio.timeout(ANSWER_TIMEOUT):
                await ws.wait_closed()
            assert ws.close_code == expected.close_code
        elif expected.kind == "burst":
            for data in frames:
                await _send(ws, data, row["frame"])
            replies = [await _next(ws) for _ in frames]
            ids = [f"burst-{n}" for n in range(len(frames))]
            assert sorted(r[1] for r in replies) == sorted(ids)  # each call answered exactly once
            assert all(r[0] == 3 or r[:3] == [4, r[1], expected.code] for r in replies)
            assert sum(r[0] == 3 for r in replies) >= MAX_QUEUED
        else:
            await _send(ws, frames[0], row["frame"])
            if expected.kind == "callerror":
                reply = await _next(ws)
                replies.append(reply)
                assert reply[:3] == [4, expected.unique_id, expected.code]
                assert isinstance(reply[3], str) and reply[4] == {} and len(reply) == 5
            after = await _heartbeat_answered(ws)  # with silence expected, this is the first reply
            assert after[:2] == [3, "after"] and "currentTime" in after[2]
    site.replies[row.file] = replies
    return replies


@ON_MODULE_LOOP
@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
async def test_hostile_frame_gets_its_expected_answer(site: Site, row: corpus.Row) -> None:
    """The CALLERROR, close code or silence the README names; after a CALLERROR the connection still works."""
    await replay(site, ROWS.index(row), row)


def test_every_corpus_file_has_an_expected_answer() -> None:
    """The README lists each file of ojson/ exactly once, and no file that is not there."""
    listed = [row.file for row in ROWS]
    assert sorted(listed) == corpus.files("ojson") and len(set(listed)) == len(listed)


@ON_MODULE_LOOP
async def test_after_the_corpus_the_gateway_and_other_chargers_are_unaffected(site: Site) -> None:
    """The bystander still gets answers on its first upstream connection, /healthz is 200, refusals are counted."""
    for number, row in enumerate(ROWS):
        if row.file not in site.replies:  # this test run alone: replay the corpus first
            await replay(site, number, row)
    reply = await site.bystander.cp.call(c16.Heartbeat())
    assert reply.current_time
    assert await site.bystander_link.next_call() == ("Heartbeat", {})
    assert site.bystander.ws.state is State.OPEN and not site.bystander_link.closed.is_set()
    assert site.csms.links["BYSTANDER"] is site.bystander_link
    async with aiohttp.ClientSession() as http, http.get(
        f"http://127.0.0.1:{site.gateway.admin_port}/healthz"
    ) as response:
        assert response.status == 200
    gateway = site.gateway
    assert await metric(gateway, "gateway_internal_errors_total") == 0
    errors = collections.Counter(r[2] for replies in site.replies.values() for r in replies if r[0] == 4)
    for code, count in errors.items():
        assert await metric(gateway, "gateway_call_errors_total", leg="charger", code=code) == count, code
    assert await metric(gateway, "gateway_call_errors_total", leg="charger") == sum(errors.values())
    silent = sum(corpus.ocppj_expectation(row["expected answer"]).kind == "silence" for row in ROWS)
    assert await metric(gateway, "gateway_replies_dropped_total", leg="charger", reason="unknown") == silent
