"""TLS on both legs: wss:// chargers (Security Profile 2) and a wss:// CSMS trusted through upstream.ca_file."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ocpp.v16 import call as c16

from tests.conftest import GatewayFactory
from tests.peers import Csms, connect_charger


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return _self_signed(tmp_path)


async def test_wss_charger_reaches_wss_csms(
    certificate: tuple[Path, Path], start_gateway: GatewayFactory, csms_tls: Csms
) -> None:
    """A charger on wss:// with HTTP Basic (profile 2) reaches a wss:// CSMS verified with the configured CA."""
    cert, key = certificate
    gateway = await start_gateway(
        csms_tls.url, "ocpp1.6", listen={"tls": {"cert": str(cert), "key": str(key)}},
        upstream={"ca_file": str(cert)}, chargers={"CB1": {"password": "secret"}},
    )
    client_tls = ssl.create_default_context(cafile=str(cert))
    charger = await connect_charger(f"wss://127.0.0.1:{gateway.port}/ocpp", "CB1", "ocpp1.6",
                                    password="secret", tls=client_tls)
    link = await csms_tls.next_connection()
    await charger.cp.call(c16.Heartbeat())
    assert (await link.next_call())[0] == "Heartbeat"
    await charger.close()


async def test_untrusted_csms_certificate_closes_the_charger(
    tmp_path: Path, certificate: tuple[Path, Path], start_gateway: GatewayFactory, csms_tls: Csms
) -> None:
    """A CSMS whose certificate the configured CA does not sign is unreachable: the charger is told with 1013."""
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_cert, _ = _self_signed(other_dir)
    gateway = await start_gateway(csms_tls.url, "ocpp1.6", upstream={"ca_file": str(other_cert)})
    charger = await connect_charger(f"ws://127.0.0.1:{gateway.port}/ocpp", "CB1", "ocpp1.6")
    await asyncio.wait_for(charger.ws.wait_closed(), 10)
    assert charger.ws.close_code == 1013
    await charger.close()


@pytest.fixture
async def csms_tls(certificate: tuple[Path, Path]) -> AsyncIterator[Csms]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = await Csms(tls=context).start()
    yield server
    await server.stop()
