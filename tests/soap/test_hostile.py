"""Hostile and malformed SOAP requests, end to end through HTTP: refused, harmless, counted, logged.

Codec-level refusals are in test_xml_safety.py; here the same attacks go through `POST /soap` of a
running gateway, raw over aiohttp (a zeep client cannot produce them). Each one must come back as a
Sender/ProtocolError fault, read nothing from disk or network, count in `gateway_soap_faults_total`,
log one WARNING, and leave the gateway serving: a bystander SOAP charger, booted before the attack,
completes a call on its same upstream connection and /healthz stays 200.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.app import Gateway
from tests.conftest import GatewayFactory
from tests.net.scrape import metric
from tests.peers import Csms, CsmsLink
from tests.soap import xsd
from tests.soap.charger import SoapCharger
from tests.soap.conftest import ChargerFactory

DATA = Path(__file__).resolve().parents[1] / "data" / "soap"
MAX_BODY = 4096  # the smallest soap.max_body_bytes the config allows: oversize attacks stay cheap
SOAP12 = "application/soap+xml; charset=utf-8"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


BOOT16 = data("boot16_request.xml")


@dataclass
class Answer:
    status: int
    body: bytes


@dataclass
class Site:
    """A gateway with a bystander SOAP charger (CB2) that booted before any attack."""

    gateway: Gateway
    bystander: SoapCharger
    bystander_link: CsmsLink

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}/soap"

    async def post(self, body: bytes | Callable[[], AsyncIterator[bytes]],
                   headers: dict[str, str] | None = None) -> Answer:
        async with aiohttp.ClientSession() as http, http.post(
            self.url, data=body if isinstance(body, bytes) else body(),
            headers={"Content-Type": SOAP12, **(headers or {})}, timeout=aiohttp.ClientTimeout(total=10),
        ) as response:
            return Answer(response.status, await response.read())

    async def still_serves(self) -> None:
        """The bystander's next call completes on its original upstream; /healthz answers 200."""
        assert "currentTime" in await self.bystander.call("Heartbeat")
        assert await self.bystander_link.next_call() == ("Heartbeat", {})
        assert not self.bystander_link.closed.is_set()
        assert self.bystander.violations == []
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{self.gateway.admin_port}/healthz"
        ) as response:
            assert response.status == 200


@pytest.fixture
async def site(csms: Csms, start_gateway: GatewayFactory, soap_charger: ChargerFactory) -> Site:
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB-0001": {}, "CB2": {}},
                                  listen={"allow_unknown_chargers": False}, soap={"max_body_bytes": MAX_BODY})
    bystander = soap_charger("1.6", f"http://127.0.0.1:{gateway.port}/soap", "CB2", "http://127.0.0.1:9/cb2")
    await bystander.call("BootNotification", chargePointVendor="ACME", chargePointModel="M")
    link = await csms.next_connection()
    assert (await link.next_call())[0] == "BootNotification"
    return Site(gateway, bystander, link)


# ---- the attacks ---------------------------------------------------------------------------------


def _padded_boot(size: int) -> bytes:
    """A valid BootNotification grown past `size` bytes with whitespace before the Body."""
    return BOOT16.replace(b"  <s:Body>", b" " * size + b"<s:Body>", 1)


async def _oversize_chunks() -> AsyncIterator[bytes]:
    # Chunked transfer: no Content-Length to refuse on, so the limit must hold while reading.
    body = _padded_boot(4 * MAX_BODY)
    for start in range(0, len(body), 1024):
        yield body[start:start + 1024]


def _deep() -> bytes:
    nested = b"<x>" * 100 + b"</x>" * 100
    return BOOT16.replace(b"</s:Header>", b"<z:deep xmlns:z='urn:x'>" + nested + b"</z:deep></s:Header>", 1)


ATTACKS: dict[str, tuple[bytes | Callable[[], AsyncIterator[bytes]], dict[str, str]]] = {
    "billion-laughs": (data("billion_laughs_request.xml"), {}),
    "external-dtd": (data("external_dtd_request.xml"), {}),
    "xxe": (data("xxe_request.xml").replace(b"SECRET_PATH", b"/etc/hostname"), {}),
    "oversize-with-length": (_padded_boot(2 * MAX_BODY), {}),
    "oversize-chunked": (_oversize_chunks, {}),
    "gzip-bomb": (gzip.compress(b"<a>" + b" " * 10_000_000 + b"</a>"), {"Content-Encoding": "gzip"}),
    "deep-nesting": (_deep(), {}),
    "soap-1.1-envelope": (data("soap11_boot_request.xml"), {"Content-Type": "text/xml; charset=utf-8"}),
    "wrong-namespace": (BOOT16.replace(b"urn://Ocpp/Cs/2015/10/", b"urn://Ocpp/Cs/2099/01/"), {}),
    "no-identity": (b"".join(line for line in BOOT16.splitlines(keepends=True) if b"chargeBoxIdentity" not in line),
                    {}),
    "not-xml": (b"\x00\xff GET /etc/passwd", {}),
    "empty": (b"", {}),
}


@pytest.mark.parametrize("attack", ATTACKS)
async def test_hostile_request_is_a_protocol_fault(site: Site, attack: str) -> None:
    """The answer is a well-formed SOAP 1.2 Sender/ProtocolError fault with HTTP 400."""
    body, headers = ATTACKS[attack]
    answer = await site.post(body, headers)
    assert answer.status == 400
    assert xsd.fault_of(answer.body)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    assert xsd.envelope_errors(answer.body, expect_action="", request=False) == []


@pytest.mark.parametrize("attack", ATTACKS)
async def test_gateway_keeps_serving_after_a_hostile_request(site: Site, attack: str) -> None:
    """Other chargers carry on on their upstream connections, and the gateway stays healthy."""
    body, headers = ATTACKS[attack]
    await site.post(body, headers)
    await site.still_serves()


@pytest.mark.parametrize("attack", ATTACKS)
async def test_hostile_request_is_counted_and_logged(
    site: Site, attack: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One gateway_soap_faults_total{direction="sent",subcode="ProtocolError"} and one WARNING per refusal."""
    caplog.set_level(logging.WARNING, logger="gateway")
    before = await metric(site.gateway, "gateway_soap_faults_total", direction="sent", subcode="ProtocolError")
    body, headers = ATTACKS[attack]
    await site.post(body, headers)
    after = await metric(site.gateway, "gateway_soap_faults_total", direction="sent", subcode="ProtocolError")
    assert after == before + 1
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
    assert len(refusals) == 1


# ---- nothing is read from disk or network --------------------------------------------------------


def _utf16(document: bytes) -> bytes:
    # A DOCTYPE invisible to a byte search for "<!DOCTYPE": only a real parse can notice it.
    return document.replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1).decode("utf-8").encode("utf-16")


@pytest.mark.parametrize("encode", [lambda d: d, _utf16], ids=["utf-8", "utf-16"])
async def test_external_entity_file_is_never_read(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture, encode: Callable[[bytes], bytes]
) -> None:
    """XXE naming a local file: the file's unique content appears neither in the answer nor in any log line."""
    caplog.set_level(logging.DEBUG)
    marker = "XXE-MARKER-5d41402abc4b2a76"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker, encoding="utf-8")
    body = encode(data("xxe_request.xml").replace(b"SECRET_PATH", str(secret).encode()))
    answer = await site.post(body)
    assert xsd.fault_of(answer.body)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    assert marker.encode() not in answer.body
    assert marker not in caplog.text
    await site.still_serves()


@pytest.fixture
async def dtd_host() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request: where a hostile DTD or entity points."""
    fetched: list[str] = []

    async def record(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(text='<!ENTITY leak "FETCHED">')

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", fetched
    await runner.cleanup()


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(lambda url: data("external_dtd_request.xml").replace(b"http://192.0.2.1", url.encode()),
                     id="external-dtd"),
        pytest.param(lambda url: data("xxe_request.xml").replace(b"file://SECRET_PATH", f"{url}/entity".encode()),
                     id="external-entity"),
    ],
)
async def test_external_dtd_and_entities_are_never_fetched(
    site: Site, dtd_host: tuple[str, list[str]], document: Callable[[str], bytes]
) -> None:
    """A DOCTYPE or entity pointing at a reachable HTTP server: the gateway never asks that server."""
    url, fetched = dtd_host
    answer = await site.post(document(url))
    assert xsd.fault_of(answer.body)[:2] == ("Sender", "ProtocolError")  # type: ignore[index]
    await site.still_serves()  # gives any stray fetch time to land before looking
    assert fetched == []

