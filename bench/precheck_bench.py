"""Schema validation of the hot payloads: the pre-check alone and `schemas.validate`, optionally against a baseline.

    .venv/bin/python bench/precheck_bench.py
    .venv/bin/python bench/precheck_bench.py --baseline /tmp/schema_precheck_before.py

`--baseline` is another version of gateway/core/schema_precheck.py (e.g. `git show HEAD:...`): both are timed
in this process, round by round, interleaved, so that drift and the neighbours' load hit both alike.
Printed per payload, in microseconds per call: the best and the median of the rounds.

Timestamps: "same ts" validates one payload over and over (a timestamp seen before, as when a translated call
validates the charger's timestamp again on the way out); "new ts" gives every call a timestamp never seen
before in the process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from types import ModuleType
from typing import Any

from bench_frames import OCPP16, request_payload, response_payload

from gateway.core import schemas
from gateway.core.dialects import Dialect

D16, D201 = Dialect.OCPP16, Dialect.OCPP201
_EPOCH = 1_796_000_000


def _transaction_event(ts: str) -> dict[str, Any]:
    """A TransactionEvent Updated as the gateway makes one of a 1.6 MeterValues with four sampled values."""
    sampled = [
        {"value": 12345.6, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": 7360.0, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": 32.0, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
        {"value": 230.0, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
    ]
    return {"eventType": "Updated", "timestamp": ts, "triggerReason": "MeterValuePeriodic", "seqNo": 1,
            "transactionInfo": {"transactionId": "4d8f4b68-1ea2-5aa7-9f8a-2bad6ee02412",
                                "chargingState": "EVConnected"},
            "meterValue": [{"timestamp": ts, "sampledValue": sampled}]}


#: name -> (dialect, action, direction, payload for a timestamp)
CASES: dict[str, tuple[Dialect, str, schemas.Direction, Callable[[str], Any]]] = {
    "1.6 MeterValues request": (D16, "MeterValues", "request", lambda ts: request_payload(OCPP16, "MeterValues", ts)),
    "1.6 StatusNotification request": (D16, "StatusNotification", "request",
                                       lambda ts: request_payload(OCPP16, "StatusNotification", ts)),
    "1.6 Heartbeat response": (D16, "Heartbeat", "response", lambda ts: response_payload(OCPP16, "Heartbeat", ts)),
    "1.6 BootNotification request": (D16, "BootNotification", "request",
                                     lambda ts: request_payload(OCPP16, "BootNotification", ts)),
    "2.0.1 TransactionEvent request": (D201, "TransactionEvent", "request", _transaction_event),
}


def _timestamps() -> Iterator[str]:
    second = _EPOCH
    while True:
        second += 1
        yield datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_NEW_TS = _timestamps()


def _parsed(make: Callable[[str], Any], ts: str) -> Any:
    # Through JSON, as the gateway gets it: fresh strings, not the literals above.
    return json.loads(json.dumps(make(ts)))


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("precheck_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(dialect: Dialect, action: str, direction: str) -> Any:
    folder = "v16/schemas" if dialect is D16 else "v201/schemas"
    if dialect is D16:
        name = f"{action}Response.json" if direction == "response" else f"{action}.json"
    else:
        name = f"{action}{'Response' if direction == 'response' else 'Request'}.json"
    return json.loads(resources.files("ocpp").joinpath(folder, name).read_text(encoding="utf-8"))


def _validators(compile_precheck: Callable[[Any], Any]) -> dict[tuple[Dialect, str, str], Any]:
    """A `schemas._BY_KEY` whose validators use this compile_precheck (swapped in to time `schemas.validate`)."""
    saved = vars(schemas)["compile_precheck"]
    setattr(schemas, "compile_precheck", compile_precheck)  # noqa: B010  # what schemas._validator calls
    schemas._validator.cache_clear()
    schemas._BY_KEY = {}
    try:
        for dialect, action, direction, make in CASES.values():
            schemas.validate(dialect, action, direction, _parsed(make, next(_NEW_TS)))
        return schemas._BY_KEY
    finally:
        setattr(schemas, "compile_precheck", saved)  # noqa: B010
        schemas._validator.cache_clear()


def _time(fn: Callable[[Any], Any], payloads: list[Any]) -> float:
    start = time.perf_counter()
    for payload in payloads:
        fn(payload)
    return (time.perf_counter() - start) / len(payloads) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--baseline", help="another schema_precheck.py to compare with")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=5000, help="calls per case and round")
    args = ap.parse_args()

    from gateway.core import schema_precheck

    variants = {"now": schema_precheck}
    if args.baseline:
        variants = {"baseline": _load(args.baseline), **variants}
    by_key = {name: _validators(module.compile_precheck) for name, module in variants.items()}
    prechecks = {name: {case: module.compile_precheck(_schema(d, a, r)) for case, (d, a, r, _) in CASES.items()}
                 for name, module in variants.items()}

    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for case, (dialect, action, direction, make) in CASES.items():
            def public(payload: Any, d: Dialect = dialect, a: str = action, r: schemas.Direction = direction) -> None:
                schemas.validate(d, a, r, payload)

            same = [_parsed(make, "2026-12-07T00:32:24Z")] * args.calls
            for name in variants:
                check = prechecks[name][case]
                assert check(same[0]) is True, (name, case)
                schemas._BY_KEY = by_key[name]
                for entry, fn in (("precheck", check), ("validate", public)):
                    new = [_parsed(make, next(_NEW_TS)) for _ in range(args.calls)]  # new to this variant too
                    for ts_kind, payloads in (("same ts", same), ("new ts", new)):
                        results.setdefault(f"| {case} | {ts_kind} | {entry} | {name} |", []).append(
                            _time(fn, payloads))
    print("| payload | timestamps | entry | variant | best µs | median µs |")
    print("|---|---|---|---|---|---|")
    for row, values in sorted(results.items()):
        print(f"{row} {min(values):.2f} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
