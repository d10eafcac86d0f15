"""The interop SOAP charger's day (`tests.interop.soap_charger_session`) at a site, as its own process.

    python -m tests.tunnel.site_session --version 1.6 --id SOAP1 --post-url http://127.0.0.1:8180/ \
        --port 41234 [--advertise URL]

The charger (zeep, official WSDLs; retrying a request the agent answers 503) posts its day to
`--post-url` (the tunnel agent's --listen); its ChargePointService (spyne) listens on 127.0.0.1:PORT
of wherever the process runs, in a network namespace its own loopback. wsa:From is `--advertise`,
by default that endpoint's URL.

It prints {"event": "ready", "endpoint": url}, waits for one line on stdin (the agent is connected),
runs the day, and prints {"event": "summary", "violations": [...], "errors": [...], "received": [...],
"calls_out": n}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any
from wsgiref.simple_server import make_server

from tests.interop.soap_charger_session import WAIT, SoapChargerSession
from tests.interop.spyne_endpoint import SpyneChargePointService, _QuietHandler, _ThreadingServer
from tests.soap.charger import SoapCharger
from tests.tunnel.site_charger import emit, patient_call

#: How long a request is retried while the agent answers 503.


class SiteService(SpyneChargePointService):
    """The spyne endpoint on a given port of 127.0.0.1."""

    port_wanted = 0

    async def start(self) -> SiteService:
        self._loop = asyncio.get_running_loop()
        self._server = make_server("127.0.0.1", self.port_wanted, self._app, server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="spyne-endpoint", daemon=True)
        self._thread.start()
        return self


class PatientCharger(SoapCharger):
    """Retries a request while the agent answers 503 ("the tunnel is down, retry later"), as a charger does.

    Right after the agent registered it may not yet have read the gateway's answer, so the day's
    first request can meet that 503; every 503 stays in `exchanges`, and its fault is checked.
    """

    async def call(self, operation: str, /, **fields: Any) -> dict[str, Any]:
        return await patient_call(super().call, operation, fields)


async def day(args: argparse.Namespace) -> None:
    session = SoapChargerSession(args.version, args.post_url, args.id)
    service = SiteService(args.version, args.id, session.endpoint.dispatch)
    service.port_wanted = args.port
    session.endpoint = service
    async with session:
        assert session.charger is not None
        await session.charger.close()
        session.charger = PatientCharger(args.version, args.post_url, args.id,
                                         from_url=args.advertise or service.url, timeout=WAIT)
        emit({"event": "ready", "endpoint": service.url})
        await asyncio.to_thread(sys.stdin.readline)
        await session.run()
    emit({"event": "summary", "violations": session.violations, "errors": session.errors,
          "received": session.received, "calls_out": session.calls_out})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", choices=["1.5", "1.6"], required=True)
    parser.add_argument("--id", required=True, help="chargeBoxIdentity")
    parser.add_argument("--post-url", required=True, help="where the charger posts its own requests")
    parser.add_argument("--port", type=int, required=True, help="the endpoint's port on 127.0.0.1")
    parser.add_argument("--advertise", help="wsa:From address (default: the endpoint's URL)")
    asyncio.run(day(parser.parse_args()))


if __name__ == "__main__":
    main()
