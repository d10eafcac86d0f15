"""OCPP-J frames used by the benchmark: charger requests and CSMS responses.

Shared by `loadgen.py` (builds CALL frames) and `sink.py` (builds CALLRESULT
frames) so both sides agree on what is schema-valid for each dialect.
Payloads are serialised once and only the timestamp is refreshed (at most once
per second): the benchmark should spend its CPU in the system under test, not
in json.dumps.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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

# With loadgen --transactions (1.6 only): each charger's StatusNotifications cycle through these.
# Behind a translating gateway (1.6 -> 2.0.1) a 2.0.1 StatusNotification goes out only when the
# connectorStatus changes (Charging -> Occupied, Available -> Available), so per four notifications
# two are forwarded (each with a TransactionEvent ChargingStateChanged) and two are answered locally.
TX_STATUS_CYCLE = ("Charging", "Charging", "Available", "Available")


@dataclass
class FrameParams:
    """Per-charger values that go into request payloads."""

    transaction_id: int = 1  # 1.6 MeterValues.transactionId (loadgen --transactions: the CSMS-given id)
    status: str = "Charging"  # 1.6 StatusNotification.status
    id_tag: str = "BENCHTAG"  # 1.6 StartTransaction.idTag (CiString20)


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


def _meter_values_16(ts: str, energy_wh: float, p: FrameParams) -> Json:
    # OCPP 1.6 sampled values are strings; unit/measurand are enums.
    return {
        "connectorId": 1,
        "transactionId": p.transaction_id,
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


def _meter_values_201(ts: str, energy_wh: float, p: FrameParams) -> Json:
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


_REQUESTS: dict[str, dict[str, Callable[[str, float, FrameParams], Json]]] = {
    OCPP16: {
        "BootNotification": lambda ts, e, p: {
            "chargePointVendor": "Bench",
            "chargePointModel": "LoadGen-1",
            "firmwareVersion": "1.0.0",
        },
        "Heartbeat": lambda ts, e, p: {},
        "StatusNotification": lambda ts, e, p: {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": p.status,
            "timestamp": ts,
        },
        "MeterValues": _meter_values_16,
        "StartTransaction": lambda ts, e, p: {
            "connectorId": 1,
            "idTag": p.id_tag,
            "meterStart": int(e),
            "timestamp": ts,
        },
    },
    OCPP201: {
        "BootNotification": lambda ts, e, p: {
            "chargingStation": {"model": "LoadGen-1", "vendorName": "Bench", "firmwareVersion": "1.0.0"},
            "reason": "PowerUp",
        },
        "Heartbeat": lambda ts, e, p: {},
        "StatusNotification": lambda ts, e, p: {
            "timestamp": ts,
            "connectorStatus": "Occupied",
            "evseId": 1,
            "connectorId": 1,
        },
        "MeterValues": _meter_values_201,
    },
}


def request_payload(
    dialect: str, action: str, ts: str, energy_wh: float = 12345.6, params: FrameParams | None = None
) -> Json:
    """Schema-valid request payload (exposed for the schema self-check)."""
    return _REQUESTS[dialect][action](ts, energy_wh, params or FrameParams())


#: Cached MeterValues bodies carry this reading, replaced by the charger's current one in every frame.
_ENERGY_MARK = 1_500_000_000.0
_ENERGY_MARK_TEXT = "1500000000.0"


class RequestFrames:
    """Builds `[2,"id","Action",{...}]` text for one dialect with cached payload JSON.

    One instance per charger: `params` (transaction id, idTag) are that charger's, and with a
    status cycle each StatusNotification takes the next status of it.
    """

    def __init__(
        self, dialect: str, params: FrameParams | None = None, status_cycle: tuple[str, ...] | None = None
    ) -> None:
        if dialect not in _REQUESTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self.params = params or FrameParams()
        self._status_cycle = status_cycle
        self._status_next = 0
        self._sec = ""
        self._cache: dict[str, str] = {}
        #: The energy register, 0.1 Wh more in every MeterValues: a real meter's readings differ from one
        #: message to the next, and a repeated one would be taken for a retransmission by a translating SUT.
        self._energy_wh = 12345.6

    def set_transaction(self, transaction_id: int) -> None:
        """Use this transactionId in later MeterValues."""
        self.params.transaction_id = transaction_id
        self._cache.clear()

    def frame(self, action: str, msg_id: str) -> str:
        ts = CLOCK.now()
        if ts != self._sec:  # new second: payloads with timestamps are stale
            self._sec = ts
            self._cache.clear()
        key = action
        if action == "StatusNotification" and self._status_cycle:
            self.params.status = self._status_cycle[self._status_next % len(self._status_cycle)]
            self._status_next += 1
            key = f"{action}/{self.params.status}"
        body = self._cache.get(key)
        if body is None:
            body = json.dumps(request_payload(self.dialect, action, ts, energy_wh=_ENERGY_MARK, params=self.params),
                              separators=(",", ":"))
            self._cache[key] = body
        if action == "MeterValues":
            self._energy_wh += 0.1
            body = body.replace(_ENERGY_MARK_TEXT, f"{self._energy_wh:.1f}")
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

# A 2.0.1 TransactionEvent(Started) carrying an idToken gets its authorization back, as a real
# CSMS would answer; every other TransactionEvent gets {} (sink.py tells them apart by eventType).
TX_STARTED_RESPONSE_201: Json = {"idTokenInfo": {"status": "Accepted"}}

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


# --- schema self-check ---------------------------------------------------------


def _schema(dialect: str, action: str, response: bool) -> Json:
    from importlib.resources import files

    if dialect == OCPP16:
        name = f"{action}Response.json" if response else f"{action}.json"
        pkg = "ocpp.v16"
    else:
        name = f"{action}{'Response' if response else 'Request'}.json"
        pkg = "ocpp.v201"
    loaded: Json = json.loads(files(pkg).joinpath("schemas", name).read_text(encoding="utf-8"))
    return loaded


def self_check() -> list[str]:
    """Validate every payload the bench sends or answers against the `ocpp` package's schemas."""
    import jsonschema  # type: ignore[import-untyped]

    problems: list[str] = []
    ts = CLOCK.now()

    def check(dialect: str, action: str, payload: Json, response: bool) -> None:
        schema = _schema(dialect, action, response)
        cls = jsonschema.validators.validator_for(schema)
        for err in cls(schema).iter_errors(payload):
            kind = "response" if response else "request"
            problems.append(f"{dialect} {action} {kind}: {err.message} at {list(err.absolute_path)}")

    for dialect, actions in _REQUESTS.items():
        for action in actions:
            statuses = TX_STATUS_CYCLE if (dialect, action) == (OCPP16, "StatusNotification") else ("Charging",)
            for status in statuses:
                params = FrameParams(transaction_id=1_700_000_123, status=status, id_tag="R1CP00042")
                check(dialect, action, request_payload(dialect, action, ts, params=params), False)
        for action in (*_STATIC_RESPONSES[dialect], *_timed_responses(ts)):
            payload = response_payload(dialect, action, ts)
            assert payload is not None
            check(dialect, action, payload, True)
    check(OCPP201, "TransactionEvent", TX_STARTED_RESPONSE_201, True)
    return problems


if __name__ == "__main__":
    found = self_check()
    for line in found:
        print(line, file=sys.stderr)
    print("bench_frames: all payloads schema-valid" if not found else f"bench_frames: {len(found)} problem(s)")
    sys.exit(1 if found else 0)
