"""Recording CSMS for the soak benchmark: answers OCPP-J CALLs and logs every one it received.

Serves ws://HOST:PORT/ocpp/{chargeBoxId} with subprotocols ocpp1.6 and ocpp2.0.1, like sink.py,
but decodes every frame and, *before* answering, appends one line to --log:

    <chargeBoxId> TAB <kind> TAB <register Wh or empty> NEWLINE

kind is the 1.6 action (StartTransaction, MeterValues, StopTransaction, Heartbeat, ...) or, for a
2.0.1 TransactionEvent, `TransactionEvent.<eventType>`. The register is the transaction message's
energy reading: StartTransaction.meterStart, StopTransaction.meterStop, or the first
Energy.Active.Import.Register sampled value of MeterValues / TransactionEvent. Each line is one
unbuffered os.write on an O_APPEND file, so a SIGKILLed CSMS (the soak's "crash") has logged
everything it answered: a message is never acknowledged without being on record. The log survives
restarts (soak.py starts the next CSMS process on the same port and file).

    .venv/bin/python bench/soak_csms.py --port 9100 --log /tmp/received.log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from procstat import raise_nofile_limit, wait_for_stop_signal

OCPP16, OCPP201 = "ocpp1.6", "ocpp2.0.1"
ENERGY = "Energy.Active.Import.Register"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def energy_register(meter_values: Any) -> str:
    """The first Energy.Active.Import.Register reading (measurand absent = that one, OCPP default)."""
    if not isinstance(meter_values, list):
        return ""
    for mv in meter_values:
        for sv in (mv or {}).get("sampledValue", []) or []:
            if sv.get("measurand", ENERGY) == ENERGY and "value" in sv:
                value = sv["value"]
                # 1.6 carries a decimal string, 2.0.1 a number: normalise to an integer Wh string.
                with contextlib.suppress(ValueError, TypeError):
                    return str(round(float(value)))
                return str(value)
    return ""


class Csms:
    def __init__(self, log_fd: int) -> None:
        self.log_fd = log_fd
        # transactionIds unique across restarts of this CSMS (a restart does not reuse the previous ones)
        self.tx_ids = itertools.count((int(time.time()) % 200_000) * 10_000 + 1)
        self.calls = 0

    def record(self, cid: str, dialect: str, action: str, payload: dict[str, Any]) -> None:
        kind, reg = action, ""
        if dialect == OCPP16:
            if action == "StartTransaction":
                reg = str(payload.get("meterStart", ""))
            elif action == "StopTransaction":
                reg = str(payload.get("meterStop", ""))
            elif action == "MeterValues":
                reg = energy_register(payload.get("meterValue"))
        elif action == "TransactionEvent":
            kind = f"TransactionEvent.{payload.get('eventType')}"
            reg = energy_register(payload.get("meterValue"))
        os.write(self.log_fd, f"{cid}\t{kind}\t{reg}\n".encode())

    def answer(self, dialect: str, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": _now(), "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": _now()}
        if dialect == OCPP16:
            if action == "StartTransaction":
                return {"transactionId": next(self.tx_ids), "idTagInfo": {"status": "Accepted"}}
            if action == "StopTransaction":
                return {"idTagInfo": {"status": "Accepted"}}
            if action in ("MeterValues", "StatusNotification", "Authorize"):
                return {"idTagInfo": {"status": "Accepted"}} if action == "Authorize" else {}
            return None
        if action == "TransactionEvent":
            return {"idTokenInfo": {"status": "Accepted"}} if payload.get("eventType") == "Started" else {}
        if action in ("StatusNotification", "MeterValues"):
            return {}
        if action == "Authorize":
            return {"idTokenInfo": {"status": "Accepted"}}
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        cid = request.match_info["charge_box_id"]
        ws = web.WebSocketResponse(protocols=(OCPP16, OCPP201), max_msg_size=1 << 20, heartbeat=None)
        await ws.prepare(request)
        dialect = ws.ws_protocol or OCPP16
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            if not (isinstance(frame, list) and len(frame) == 4 and frame[0] == 2):
                continue  # a CALLRESULT/CALLERROR: this CSMS never calls
            _, msg_id, action, payload = frame
            self.calls += 1
            body = self.answer(dialect, action, payload)
            if body is None:
                await ws.send_str(json.dumps([4, msg_id, "NotImplemented", f"{action} not in soak CSMS", {}]))
                continue
            self.record(cid, dialect, action, payload)  # on record before the answer leaves
            await ws.send_str(json.dumps([3, msg_id, body], separators=(",", ":")))
        return ws


async def serve(host: str, port: int, log_path: str, max_seconds: float) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    csms = Csms(fd)
    app = web.Application()
    app.router.add_get("/ocpp/{charge_box_id}", csms.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096, reuse_address=True).start()
    print(f"soak csms listening on {host}:{port}, pid {os.getpid()}", file=sys.stderr, flush=True)
    await wait_for_stop_signal(max_seconds)
    await runner.cleanup()
    os.close(fd)
    print(f"soak csms done: calls={csms.calls}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--log", required=True, help="append one line per received CALL here")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args()
    raise_nofile_limit()
    asyncio.run(serve(args.host, args.port, args.log, args.max_seconds))


if __name__ == "__main__":
    main()
