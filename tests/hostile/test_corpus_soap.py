"""The SOAP hostile corpus (tests/data/hostile/soap) replayed against one running gateway.

One gateway and one CSMS serve the whole module. A zeep SOAP charger (CB2, the bystander) boots
before the first hostile request; its upstream WebSocket must outlive the corpus. Each corpus file is
one case, POSTed to /soap, and must come back as the HTTP status and SOAP 1.2 fault code/subcode
tests/data/hostile/README.md names, in a valid fault envelope.

Nothing may be read from disk or network: the corpus' external entities, DTDs, XIncludes and schema
locations point at a file holding a canary and at a loopback listener. No answer may contain the
canary, and the listener must never be connected to. The last test checks what the corpus must
not have changed: the bystander's calls are still answered on its original upstream connection,
/healthz is 200, and `gateway_soap_faults_total` counts every refusal by subcode.
"""

from __future__ import annotations

import asyncio
import collections
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from lxml import etree

from gateway.app import Gateway
from gateway.config import load_config
from tests.conftest import write_config
from tests.hostile import corpus
from tests.net.scrape import metric
from tests.peers import Csms, CsmsLink
from tests.soap import xsd
from tests.soap.charger import SoapCharger

ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
ROWS = corpus.rows("soap")
SOAP12 = "application/soap+xml; charset=utf-8"


@dataclass
class Listener:
    """A loopback TCP server that only records that someone connected: where hostile references point."""

    server: asyncio.Server
    connections: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@dataclass
class Site:
    """The one gateway, the bystander, the canary and the listener, and what each file got back."""

    gateway: Gateway
    csms: Csms
    bystander: SoapCharger
    bystander_link: CsmsLink
    canary: bytes
    placeholders: dict[str, str]
    listener: Listener
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}/soap"


async def _listen() -> Listener:
    listener: Listener

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    listener = Listener(await asyncio.start_server(record, "127.0.0.1", 0))
    return listener


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    path: Path = tmp_path_factory.mktemp("hostile-soap")
    canary = f"CANARY-{uuid.uuid4()}"
    canary_file = path / "canary.txt"
    canary_file.write_text(canary, encoding="utf-8")
    listener = await _listen()
    csms = await Csms().start()
    gateway = Gateway(load_config(write_config(path, csms.url, "ocpp1.6", chargers={"CB-0001": {}, "CB2": {}},
                                               listen={"allow_unknown_chargers": False})))
    await gateway.start()
    bystander = SoapCharger("1.6", f"http://127.0.0.1:{gateway.port}/soap", "CB2", from_url="http://127.0.0.1:9/cb2")
    try:
        await bystander.call("BootNotification", chargePointVendor="ACME", chargePointModel="M")
        link = await csms.next_connection()
        assert (link.charge_box_id, (await link.next_call())[0]) == ("CB2", "BootNotification")
        yield Site(gateway, csms, bystander, link, canary.encode(),
                   {"CANARY_FILE": str(canary_file), "LISTENER": listener.url}, listener)
    finally:
        await bystander.close()
        await gateway.stop()
        await csms.stop()
        listener.server.close()
        await listener.server.wait_closed()


async def replay(site: Site, row: corpus.Row) -> tuple[int, bytes]:
    """POST one corpus file and check the status, fault and envelope the README names for it."""
    [body] = corpus.load("soap", row.file, site.placeholders)
    status, code, subcode = corpus.soap_expectation(row["expected answer"])
    headers = {"Content-Type": SOAP12, **corpus.headers(row["request headers"])}
    async with aiohttp.ClientSession() as http, http.post(
        site.url, data=io.BytesIO(body), headers=headers, timeout=aiohttp.ClientTimeout(total=30)
    ) as response:
        answer = response.status, await response.read()
    site.answers[row.file] = answer
    assert answer[0] == status
    fault = xsd.fault_of(answer[1])
    assert fault is not None and fault[:2] == (code, subcode)
    assert xsd.envelope_errors(answer[1], expect_action="", request=False) == []
    assert site.canary not in answer[1]
    assert site.listener.connections == []
    return answer


@ON_MODULE_LOOP
@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
async def test_hostile_request_gets_its_expected_fault(site: Site, row: corpus.Row) -> None:
    """The HTTP status and Code/Subcode the README names, in a valid SOAP 1.2 fault; nothing fetched or read."""
    await replay(site, row)


def test_every_corpus_file_has_an_expected_answer() -> None:
    """The README lists each file of soap/ exactly once, and no file that is not there."""
    listed = [row.file for row in ROWS]
    assert sorted(listed) == corpus.files("soap") and len(set(listed)) == len(listed)


def test_the_corpus_points_at_the_canary_and_the_listener() -> None:
    """The disk and network probes are really in the corpus: some files name the canary file, some the listener."""
    texts = [b"".join(corpus.load("soap", row.file)) for row in ROWS if not row.file.endswith(".gz")]
    assert sum(b"CANARY_FILE" in t for t in texts) >= 3 and sum(b"LISTENER" in t for t in texts) >= 4


@pytest.mark.parametrize("name", ["xxe_file_entity.xml", "xinclude_of_a_file.xml"])
def test_a_parser_that_resolves_references_would_leak_the_canary(tmp_path: Path, name: str) -> None:
    """The canary probe can fail: lxml told to expand entities or XIncludes puts the file's text in the document."""
    canary_file = tmp_path / "canary.txt"
    canary_file.write_text("CANARY-PROBE", encoding="utf-8")
    [body] = corpus.load("soap", name, {"CANARY_FILE": str(canary_file), "LISTENER": "http://127.0.0.1:9"})
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True))
    root.getroottree().xinclude()
    assert b"CANARY-PROBE" in etree.tostring(root)


@ON_MODULE_LOOP
async def test_after_the_corpus_the_gateway_and_other_chargers_are_unaffected(site: Site) -> None:
    """The bystander is answered on its first upstream, /healthz is 200, every fault counted, nothing fetched."""
    for row in ROWS:
        if row.file not in site.answers:  # this test run alone: replay the corpus first
            await replay(site, row)
    assert "currentTime" in await site.bystander.call("Heartbeat")
    assert await site.bystander_link.next_call() == ("Heartbeat", {})
    assert not site.bystander_link.closed.is_set() and site.csms.links["CB2"] is site.bystander_link
    assert site.bystander.violations == []
    async with aiohttp.ClientSession() as http, http.get(
        f"http://127.0.0.1:{site.gateway.admin_port}/healthz"
    ) as response:
        assert response.status == 200
    assert await metric(site.gateway, "gateway_internal_errors_total") == 0
    subcodes = collections.Counter(corpus.soap_expectation(row["expected answer"])[2] for row in ROWS)
    for subcode, count in subcodes.items():
        assert await metric(site.gateway, "gateway_soap_faults_total", direction="sent", subcode=subcode) == count
    assert site.listener.connections == []
    assert all(site.canary not in body for _, body in site.answers.values())
