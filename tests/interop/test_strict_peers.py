"""An independent OCPP-J implementation (ocpp-rpc in strict mode) runs full sessions through the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GatewayFactory, charger_url
from tests.interop.conftest_helpers import run_charger, run_csms, stop_csms

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("dialect", ["ocpp1.6", "ocpp2.0.1"])
async def test_strict_session_passes_through_with_no_violation(
    dialect: str, tmp_path: Path, start_gateway: GatewayFactory
) -> None:
    """A strict charger and a strict CSMS complete a full session, both directions, with 0 violations."""
    csms_dir = tmp_path / "csms"
    csms_dir.mkdir()
    process, port = await run_csms(csms_dir)
    try:
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", dialect)
        charger = await run_charger(charger_url(gateway), "STRICT1", dialect)
    finally:
        lines = await stop_csms(process, csms_dir)
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert charger["violations"] == 0 and charger["errors"] == [], charger["errors"]
    assert [(s["violations"], s["errors"], s["protocol"]) for s in summaries] == [(0, [], dialect)]
    assert summaries[0]["calls_out"] > 5 and charger["calls_out"] > 5, "CSMS-initiated and charger calls ran"
    sent = {e["id"] for e in charger["events"] if e.get("event") == "call" and e.get("dir") == "out"}
    received = {line["id"] for line in lines if line.get("event") == "call" and line.get("dir") == "in"}
    assert sent == received, "message ids pass through unchanged"


@pytest.mark.parametrize(("charger_dialect", "upstream_dialect"), [("ocpp1.6", "ocpp2.0.1"), ("ocpp2.0.1", "ocpp1.6")])
async def test_strict_session_is_translated_with_no_violation(
    charger_dialect: str, upstream_dialect: str, tmp_path: Path, start_gateway: GatewayFactory
) -> None:
    """A strict charger and a strict CSMS of different versions complete a full day through the translation.

    Both peers validate every frame against the official schemas and check meaning: a remote start
    must come back as a transaction carrying the CSMS's remoteStartId, and the remote stop of that
    transaction id must end it with reason Remote, so transaction ids correlate end to end.
    """
    csms_dir = tmp_path / "csms"
    csms_dir.mkdir()
    process, port = await run_csms(csms_dir, behind_translation=True)
    try:
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", upstream_dialect)
        charger = await run_charger(charger_url(gateway), "STRICT2", charger_dialect)
    finally:
        lines = await stop_csms(process, csms_dir)
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert (charger["violations"], charger["errors"]) == (0, [])
    assert [(s["violations"], s["errors"], s["protocol"]) for s in summaries] == [(0, [], upstream_dialect)]
