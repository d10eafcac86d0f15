"""Independent SOAP chargers (zeep + spyne, official WSDLs) and a strict OCPP-J CSMS run a day through the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GatewayFactory
from tests.interop.conftest_helpers import run_csms, stop_csms, wait_csms_event
from tests.interop.soap_charger_session import SoapChargerSession

pytestmark = pytest.mark.timeout(90)

IDENTITY = "SOAP1"

# The CSMS-initiated calls of csms.js's script that must reach the charger itself. Not listed:
# TriggerMessage for a 1.5 charger (the gateway emulates it from its cache, TRANSLATION.md 5.5.1);
# with a 2.0.1 CSMS, UnlockConnector and Reset OnIdle (the gateway answers them itself while a
# transaction is open on the connector or charger, 4.4 and 4.6), and GetBaseReport, which arrives
# as GetConfiguration (4.8).
REACHES_THE_CHARGER = {
    "ocpp1.6": {"ChangeConfiguration", "GetConfiguration", "TriggerMessage", "RemoteStartTransaction",
                "RemoteStopTransaction", "ChangeAvailability", "UnlockConnector", "Reset", "DataTransfer"},
    "ocpp2.0.1": {"ChangeConfiguration", "GetConfiguration", "TriggerMessage", "RemoteStartTransaction",
                  "RemoteStopTransaction", "ChangeAvailability", "DataTransfer"},
}


@pytest.mark.parametrize(
    ("soap_version", "dialect"),
    [("1.5", "ocpp1.6"), ("1.5", "ocpp2.0.1"), ("1.6", "ocpp1.6"), ("1.6", "ocpp2.0.1")],
)
async def test_soap_charger_day_is_translated_with_no_violation(
    soap_version: str, dialect: str, tmp_path: Path, start_gateway: GatewayFactory
) -> None:
    """A SOAP charger and a strict CSMS complete a full day through the gateway with 0 violations.

    The CSMS validates every frame against the official JSON schemas and checks meaning (a remote
    start comes back as a transaction carrying its remoteStartId, the remote stop ends it with
    reason Remote); the charger validates every answer and every request it gets against the
    official WSDLs' XSD and WS-Addressing rules.
    """
    csms_dir = tmp_path / "csms"
    csms_dir.mkdir()
    # behind_translation: a 1.x charger's transaction meter values reach a 2.0.1 CSMS as TransactionEvent
    process, port = await run_csms(csms_dir, behind_translation=True)
    try:
        gateway = await start_gateway(f"ws://127.0.0.1:{port}/ocpp", dialect, chargers={IDENTITY: {}})
        async with SoapChargerSession(soap_version, f"http://127.0.0.1:{gateway.port}/soap", IDENTITY) as charger:
            await charger.run()
            await wait_csms_event(csms_dir, "script done")
    finally:
        lines = await stop_csms(process, csms_dir)
    summaries = [line for line in lines if line.get("event") == "summary"]
    assert (charger.violations, charger.errors) == ([], [])
    assert [(s["violations"], s["errors"], s["protocol"]) for s in summaries] == [(0, [], dialect)]
    expected = REACHES_THE_CHARGER[dialect] - ({"TriggerMessage"} if soap_version == "1.5" else set())
    assert expected <= set(charger.received), "the CSMS's calls reached the charger"
    assert summaries[0]["calls_out"] > 5 and charger.calls_out > 5, "CSMS-initiated and charger calls ran"
