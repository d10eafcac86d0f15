"""OCPP-J frames used by the benchmark: charger requests and CSMS responses.

Shared by `loadgen.py` (builds CALL frames) and `sink.py` (builds CALLRESULT
frames) so both sides agree on what is schema-valid for each dialect.
Payloads are serialised once and only the timestamp is refreshed (at most once
per second): the benchmark should spend its CPU in the system under test, not
in json.dumps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]  # a decoded JSON object

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
DIALECTS = (OCPP16, OCPP201)

# Load mix: MeterValues dominates real charger traffic; Heartbeat keeps idle
# links alive; StatusNotification is rare. BootNotification is sent once per
# connection and is not part of the mix.
DEFAULT_MIX = (("MeterValues", 70), ("Heartbeat", 25), ("StatusNotification", 5))


class _SecondClock:
    """ISO-8601 UTC timestamp, re-rendered only when the wall-clock second changes."""

    def __init__(self) -> None:
        self._sec = -1
        self._text = ""

    def now(self) -> str:
        sec = int(time.time())
        if sec != self._sec:
            self._sec = sec
            self._text = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._text


CLOCK = _SecondClock()


# --- charger -> CSMS requests -------------------------------------------------


def _meter_values_16(ts: str, energy_wh: float) -> Json:
    # OCPP 1.6 sampled values are strings; unit/measurand are enums.
    return {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": ts,
                "sampledValue": [
                    {"value": f"{energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7360.0", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "32.0", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "230.0", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                ],
            }
        ],
    }


def _meter_values_201(ts: str, energy_wh: float) -> Json:
    # OCPP 2.0.1 sampled values are numbers and carry unitOfMeasure objects.
    return {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": ts,
                "sampledValue": [
                    {
                        "value": round(energy_wh, 1),
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {"value": 7360.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                    {"value": 32.0, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                    {"value": 230.0, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
                ],
            }
        ],
    }


_REQUESTS: dict[str, dict[str, Callable[[str, float], Json]]] = {
    OCPP16: {
        "BootNotification": lambda ts, e: {
            "chargePointVendor": "Bench",
            "chargePointModel": "LoadGen-1",
            "firmwareVersion": "1.0.0",
        },
        "Heartbeat": lambda ts, e: {},
        "StatusNotification": lambda ts, e: {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": "Charging",
            "timestamp": ts,
        },
        "MeterValues": _meter_values_16,
    },
    OCPP201: {
        "BootNotification": lambda ts, e: {
            "chargingStation": {"model": "LoadGen-1", "vendorName": "Bench", "firmwareVersion": "1.0.0"},
            "reason": "PowerUp",
        },
        "Heartbeat": lambda ts, e: {},
        "StatusNotification": lambda ts, e: {
            "timestamp": ts,
            "connectorStatus": "Occupied",
            "evseId": 1,
            "connectorId": 1,
        },
        "MeterValues": _meter_values_201,
    },
}


def request_payload(dialect: str, action: str, ts: str, energy_wh: float = 12345.6) -> Json:
    """Schema-valid request payload (exposed for the schema self-check)."""
    return _REQUESTS[dialect][action](ts, energy_wh)


class RequestFrames:
    """Builds `[2,"id","Action",{...}]` text for one dialect with cached payload JSON."""

    def __init__(self, dialect: str) -> None:
        if dialect not in _REQUESTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self._sec = ""
        self._cache: dict[str, str] = {}

    def frame(self, action: str, msg_id: str) -> str:
        ts = CLOCK.now()
        if ts != self._sec:  # new second: payloads with timestamps are stale
            self._sec = ts
            self._cache.clear()
        body = self._cache.get(action)
        if body is None:
            body = json.dumps(request_payload(self.dialect, action, ts), separators=(",", ":"))
            self._cache[action] = body
        # msg_id is generated by us (digits/letters only), so no JSON escaping needed.
        return f'[2,"{msg_id}","{action}",{body}]'


# --- CSMS -> charger responses -------------------------------------------------

# Bodies that do not depend on time, per dialect. Time-dependent ones are below.
_STATIC_RESPONSES: dict[str, dict[str, Json]] = {
    OCPP16: {
        "StatusNotification": {},
        "MeterValues": {},
        "Authorize": {"idTagInfo": {"status": "Accepted"}},
        "DataTransfer": {"status": "Accepted"},
        "StopTransaction": {},
        "StartTransaction": {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
        "FirmwareStatusNotification": {},
        "DiagnosticsStatusNotification": {},
    },
    OCPP201: {
        "StatusNotification": {},
        "MeterValues": {},
        "Authorize": {"idTokenInfo": {"status": "Accepted"}},
        "DataTransfer": {"status": "Accepted"},
        "TransactionEvent": {},
        "FirmwareStatusNotification": {},
        "NotifyReport": {},
        "NotifyEvent": {},
    },
}

BOOT_INTERVAL_S = 300


def _timed_responses(ts: str) -> dict[str, Json]:
    # Same shape in 1.6 and 2.0.1.
    return {
        "BootNotification": {"status": "Accepted", "currentTime": ts, "interval": BOOT_INTERVAL_S},
        "Heartbeat": {"currentTime": ts},
    }


def response_payload(dialect: str, action: str, ts: str) -> Json | None:
    """Schema-valid response payload, or None if the sink does not implement `action`."""
    timed = _timed_responses(ts)
    if action in timed:
        return timed[action]
    return _STATIC_RESPONSES[dialect].get(action)


class ResponseBodies:
    """Serialised CALLRESULT payloads for one dialect; timed ones refreshed each second."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._static = {a: json.dumps(p, separators=(",", ":")) for a, p in _STATIC_RESPONSES[dialect].items()}
        self._sec = ""
        self._timed: dict[str, str] = {}

    def body(self, action: str) -> str | None:
        found = self._static.get(action)
        if found is not None:
            return found
        ts = CLOCK.now()
        if ts != self._sec:
            self._sec = ts
            self._timed = {a: json.dumps(p, separators=(",", ":")) for a, p in _timed_responses(ts).items()}
        return self._timed.get(action)
