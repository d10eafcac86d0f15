"""A SOAP charger at a site, run as its own process (inside the site's network namespace).

    python -m tests.tunnel.site_charger --version 1.6 --id CB1 --post-url http://127.0.0.1:8180/ \
        --port 41234 [--advertise http://127.0.0.1:9/ChargePointService]

It is the zeep charger of `tests.soap.charger` (official WSDLs) and the aiohttp endpoint of
`tests.soap.endpoint`, which listens on 127.0.0.1:PORT of wherever the process runs: in a network
namespace that is the namespace's own loopback, which the gateway's host cannot reach. The charger
posts its own requests to `--post-url` (the tunnel agent's --listen) and announces `--advertise`
(default: its endpoint's URL) as wsa:From.

The test drives it with JSON lines on stdin and reads JSON lines on stdout:

    {"id": 1, "cmd": "call", "operation": "BootNotification", "fields": {...}, "patient": false}
        -> {"id": 1, "ok": true, "result": {...}}
        -> {"id": 1, "ok": false, "kind": "fault"|"http"|"error", "error": "...", ...}
        (patient: retried for a while as long as the agent answers 503, "the tunnel is down, retry")
    {"id": 2, "cmd": "answer", "operation": "Reset", "fields": {"status": "Rejected"}}
    {"id": 3, "cmd": "hold", "operation": "Reset"}  # the endpoint never answers Reset
    {"id": 4, "cmd": "compress", "coding": "gzip"}   # requests and answers gzip-coded (null: none)
    {"id": 5, "cmd": "violations"}                    -> {"id": 5, "ok": true, "result": [...]}
    event lines: {"event": "ready", "endpoint": url}, {"event": "received", "operation", "fields", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.soap.charger import SoapCallError, SoapCharger, SoapFaultError, SoapHttpError
from tests.soap.endpoint import ChargerEndpoint, Fields, ReceivedRequest


class SiteEndpoint(ChargerEndpoint):
    """The endpoint on a given port of 127.0.0.1, reporting every request it receives on stdout."""

    def __init__(self, version: str, port: int) -> None:
        super().__init__(version)
        self._wanted_port = port

    async def start(self) -> SiteEndpoint:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._stray)
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._wanted_port).start()
        self.port = int(self._runner.addresses[0][1])
        asyncio.get_running_loop().create_task(self._report())
        return self

    async def _report(self) -> None:
        while True:
            received: ReceivedRequest = await self._queue.get()
            emit({"event": "received", "operation": received.operation, "fields": received.fields,
                  "from": received.from_address, "to": received.to, "violations": received.violations})


#: How long a patient charger keeps retrying a request its agent answers 503 (the tunnel is not up yet).
PATIENCE = 10.0


async def patient_call(call: Callable[..., Awaitable[Fields]], operation: str, fields: Fields) -> Fields:
    """`charger.call`, retried while the agent answers 503 (its "retry later"), as a charger does."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        try:
            return await call(operation, **fields)
        except SoapFaultError as exc:
            if exc.http_status != 503 or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.1)  # a charger's retry interval; the agent's tunnel has no event to await


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


async def held(_fields: Fields) -> Fields:
    await asyncio.Event().wait()  # never answers: the call stays in flight until the process dies
    return {}


async def call(charger: SoapCharger, operation: str, fields: Fields, patient: bool) -> dict[str, Any]:
    try:
        if patient:
            return {"ok": True, "result": await patient_call(charger.call, operation, fields)}
        return {"ok": True, "result": await charger.call(operation, **fields)}
    except SoapFaultError as exc:
        return {"ok": False, "kind": "fault", "error": str(exc), "code": exc.code, "subcode": exc.subcode,
                "status": exc.http_status}
    except SoapHttpError as exc:
        return {"ok": False, "kind": "http", "error": str(exc), "status": exc.status}
    except (SoapCallError, aiohttp.ClientError, TimeoutError) as exc:
        return {"ok": False, "kind": "error", "error": repr(exc)}


async def serve(args: argparse.Namespace) -> None:
    endpoint = await SiteEndpoint(args.version, args.port).start()
    endpoint.charge_box_id = args.id
    charger = SoapCharger(args.version, args.post_url, args.id, from_url=args.advertise or endpoint.url,
                          timeout=args.timeout)
    charger.build("Heartbeat")  # the WSDL is loaded before the test is told the charger is ready
    emit({"event": "ready", "endpoint": endpoint.url})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    async def run(command: dict[str, Any]) -> None:
        cmd, operation = command["cmd"], command.get("operation", "")
        if cmd == "call":
            reply = await call(charger, operation, command.get("fields", {}), command.get("patient", False))
        elif cmd == "answer":
            answer = command["fields"]
            endpoint.handlers[operation] = lambda _fields: dict(answer)
            reply = {"ok": True}
        elif cmd == "hold":
            endpoint.handlers[operation] = held
            reply = {"ok": True}
        elif cmd == "compress":  # content coding of the charger's requests and its endpoint's answers
            endpoint.compression = charger.compression = command["coding"]
            reply = {"ok": True}
        elif cmd == "violations":
            reply = {"ok": True, "result": charger.violations + endpoint.violations}
        else:
            reply = {"ok": False, "kind": "error", "error": f"unknown command {cmd!r}"}
        emit({"id": command["id"], **reply})

    try:
        while line := await reader.readline():  # stdin closed: the test is done with this charger
            task = loop.create_task(run(json.loads(line)))  # calls run concurrently, as a charger's do
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await charger.close()
        await endpoint.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", choices=["1.5", "1.6"], required=True)
    parser.add_argument("--id", required=True, help="chargeBoxIdentity")
    parser.add_argument("--post-url", required=True, help="where the charger posts its own requests")
    parser.add_argument("--port", type=int, required=True, help="the endpoint's port on 127.0.0.1")
    parser.add_argument("--advertise", help="wsa:From address (default: the endpoint's URL)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one charger request may take")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
