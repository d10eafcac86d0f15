"""Real OCPP-J peers for tests, built on the `ocpp` package (mobilityhouse) over `websockets`.

`Csms` is a CSMS server speaking 1.6 or 2.0.1 per connection; `connect_charger` opens a charger.
Both validate every message they receive against the official schemas (the `ocpp` package does
this for every CALL it handles and every response to its own calls) and record raw frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as r201
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


def now() -> str:
    return datetime.now(UTC).isoformat()


class Recorder:
    """Wraps a websockets connection for the `ocpp` package and keeps every raw frame."""

    def __init__(self, ws: ClientConnection | ServerConnection) -> None:
        self.ws = ws
        self.received: list[str] = []
        self.sent: list[str] = []

    async def recv(self) -> str:
        frame = await self.ws.recv()
        assert isinstance(frame, str), "OCPP-J frames are text"
        self.received.append(frame)
        return frame

    async def send(self, frame: str) -> None:
        self.sent.append(frame)
        await self.ws.send(frame)


# ---- CSMS side --------------------------------------------------------------------------


class CsmsCp16(Cp16):
    """A 1.6 CSMS's view of one charger."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tx = itertools.count(1001)

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.put_nowait((action, payload))

    @on("BootNotification")
    def boot(self, **kw: Any) -> r16.BootNotification:
        self._record("BootNotification", kw)
        return r16.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw: Any) -> r16.Heartbeat:
        self._record("Heartbeat", kw)
        return r16.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **kw: Any) -> r16.StatusNotification:
        self._record("StatusNotification", kw)
        return r16.StatusNotification()

    @on("Authorize")
    def authorize(self, **kw: Any) -> r16.Authorize:
        self._record("Authorize", kw)
        return r16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def start_transaction(self, **kw: Any) -> r16.StartTransaction:
        self._record("StartTransaction", kw)
        return r16.StartTransaction(transaction_id=next(self._tx), id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **kw: Any) -> r16.MeterValues:
        self._record("MeterValues", kw)
        return r16.MeterValues()

    @on("StopTransaction")
    def stop_transaction(self, **kw: Any) -> r16.StopTransaction:
        self._record("StopTransaction", kw)
        return r16.StopTransaction()

    @on("DataTransfer")
    def data_transfer(self, **kw: Any) -> r16.DataTransfer:
        self._record("DataTransfer", kw)
        return r16.DataTransfer(status="Accepted", data="pong")


class CsmsCp201(Cp201):
    """A 2.0.1 CSMS's view of one charger."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.put_nowait((action, payload))

    @on("BootNotification")
    def boot(self, **kw: Any) -> r201.BootNotification:
        self._record("BootNotification", kw)
        return r201.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw: Any) -> r201.Heartbeat:
        self._record("Heartbeat", kw)
        return r201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def status(self, **kw: Any) -> r201.StatusNotification:
        self._record("StatusNotification", kw)
        return r201.StatusNotification()

    @on("Authorize")
    def authorize(self, **kw: Any) -> r201.Authorize:
        self._record("Authorize", kw)
        return r201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def transaction_event(self, **kw: Any) -> r201.TransactionEvent:
        self._record("TransactionEvent", kw)
        return r201.TransactionEvent(id_token_info={"status": "Accepted"})

    @on("MeterValues")
    def meter_values(self, **kw: Any) -> r201.MeterValues:
        self._record("MeterValues", kw)
        return r201.MeterValues()

    @on("DataTransfer")
    def data_transfer(self, **kw: Any) -> r201.DataTransfer:
        self._record("DataTransfer", kw)
        return r201.DataTransfer(status="Accepted", data="pong")


@dataclass
class CsmsLink:
    """One charger as the CSMS sees it."""

    charge_box_id: str
    subprotocol: str
    headers: Headers
    cp: CsmsCp16 | CsmsCp201
    recorder: Recorder
    ws: ServerConnection
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def next_call(self, timeout: float = 10) -> tuple[str, dict[str, Any]]:
        """The next charger-initiated call the CSMS handled: (action, snake_case payload)."""
        async with asyncio.timeout(timeout):
            return await self.cp.calls.get()


class Csms:
    """A CSMS on loopback: `ws://127.0.0.1:{port}/ocpp/{id}`, subprotocols ocpp1.6 and ocpp2.0.1."""

    #: The per-charger handler classes; a test subclass swaps them to handle more actions.
    cp16_class: type[CsmsCp16] = CsmsCp16
    cp201_class: type[CsmsCp201] = CsmsCp201

    def __init__(self, subprotocols: Iterable[str] = ("ocpp1.6", "ocpp2.0.1"), *, agree: bool = True,
                 tls: ssl.SSLContext | None = None) -> None:
        self.subprotocols = list(subprotocols)
        self.tls = tls
        self.agree = agree  # False: complete handshakes without choosing any subprotocol
        self.refuse_with: HTTPStatus | None = None
        self.links: dict[str, CsmsLink] = {}
        self.connections: asyncio.Queue[CsmsLink] = asyncio.Queue()
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ocpp"

    async def start(self, port: int = 0) -> Csms:
        self._server = await serve(
            self._handle, "127.0.0.1", port, subprotocols=self.subprotocols,  # type: ignore[arg-type]
            process_request=self._admit,
            select_subprotocol=None if self.agree else (lambda _connection, _offered: None),
            ssl=self.tls,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def vanish(self) -> None:
        """Go away as a crashed host or a cut network does: no Close frames, and no new connections
        until `start(port=self.port)` (which brings it back on the same URL)."""
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=False)
        for link in self.links.values():
            link.ws.transport.abort()
        if server is not None:
            await server.wait_closed()  # handlers end with their aborted connections

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_with is not None:
            return connection.respond(self.refuse_with, "refused by test CSMS\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        charge_box_id = ws.request.path.rsplit("/", 1)[-1]
        recorder = Recorder(ws)
        cls = self.cp201_class if ws.subprotocol == "ocpp2.0.1" else self.cp16_class
        cp = cls(charge_box_id, recorder)
        link = CsmsLink(charge_box_id, str(ws.subprotocol), ws.request.headers, cp, recorder, ws)
        self.links[charge_box_id] = link
        self.connections.put_nowait(link)
        try:
            with contextlib.suppress(ConnectionClosed):
                await cp.start()
        finally:
            link.closed.set()

    async def next_connection(self, timeout: float = 10) -> CsmsLink:
        async with asyncio.timeout(timeout):
            return await self.connections.get()


# ---- charger side -----------------------------------------------------------------------


class ChargerCp16(Cp16):
    """A 1.6 charger that accepts every CSMS-initiated command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.commands.put_nowait((action, payload))

    @on("Reset")
    def reset(self, **kw: Any) -> r16.Reset:
        self._record("Reset", kw)
        return r16.Reset(status="Accepted")

    @on("ChangeConfiguration")
    def change_configuration(self, **kw: Any) -> r16.ChangeConfiguration:
        self._record("ChangeConfiguration", kw)
        return r16.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    def get_configuration(self, **kw: Any) -> r16.GetConfiguration:
        self._record("GetConfiguration", kw)
        return r16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        )

    @on("RemoteStartTransaction")
    def remote_start(self, **kw: Any) -> r16.RemoteStartTransaction:
        self._record("RemoteStartTransaction", kw)
        return r16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **kw: Any) -> r16.RemoteStopTransaction:
        self._record("RemoteStopTransaction", kw)
        return r16.RemoteStopTransaction(status="Accepted")

    @on("ChangeAvailability")
    def change_availability(self, **kw: Any) -> r16.ChangeAvailability:
        self._record("ChangeAvailability", kw)
        return r16.ChangeAvailability(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> r16.UnlockConnector:
        self._record("UnlockConnector", kw)
        return r16.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> r16.TriggerMessage:
        self._record("TriggerMessage", kw)
        return r16.TriggerMessage(status="Accepted")

    @on("DataTransfer")
    def data_transfer(self, **kw: Any) -> r16.DataTransfer:
        self._record("DataTransfer", kw)
        return r16.DataTransfer(status="Accepted")


class ChargerCp201(Cp201):
    """A 2.0.1 charging station that accepts every CSMS-initiated command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.commands.put_nowait((action, payload))

    @on("Reset")
    def reset(self, **kw: Any) -> r201.Reset:
        self._record("Reset", kw)
        return r201.Reset(status="Accepted")

    @on("GetVariables")
    def get_variables(self, **kw: Any) -> r201.GetVariables:
        self._record("GetVariables", kw)
        results = [
            {"attribute_status": "Accepted", "component": item["component"], "variable": item["variable"],
             "attribute_value": "300"}
            for item in kw["get_variable_data"]
        ]
        return r201.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def set_variables(self, **kw: Any) -> r201.SetVariables:
        self._record("SetVariables", kw)
        results = [
            {"attribute_status": "Accepted", "component": item["component"], "variable": item["variable"]}
            for item in kw["set_variable_data"]
        ]
        return r201.SetVariables(set_variable_result=results)

    @on("RequestStartTransaction")
    def request_start(self, **kw: Any) -> r201.RequestStartTransaction:
        self._record("RequestStartTransaction", kw)
        return r201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def request_stop(self, **kw: Any) -> r201.RequestStopTransaction:
        self._record("RequestStopTransaction", kw)
        return r201.RequestStopTransaction(status="Accepted")

    @on("ChangeAvailability")
    def change_availability(self, **kw: Any) -> r201.ChangeAvailability:
        self._record("ChangeAvailability", kw)
        return r201.ChangeAvailability(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **kw: Any) -> r201.UnlockConnector:
        self._record("UnlockConnector", kw)
        return r201.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def trigger(self, **kw: Any) -> r201.TriggerMessage:
        self._record("TriggerMessage", kw)
        return r201.TriggerMessage(status="Accepted")


@dataclass
class Charger:
    """A connected charger: `cp` makes calls, `commands` receives what the CSMS sent."""

    cp: ChargerCp16 | ChargerCp201
    ws: ClientConnection
    recorder: Recorder
    task: asyncio.Task[None]

    async def next_command(self, timeout: float = 10) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            return await self.cp.commands.get()

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def connect_charger(
    url: str,
    charge_box_id: str,
    subprotocol: str,
    *,
    password: str | None = None,
    response_timeout: float = 10,
    tls: ssl.SSLContext | None = None,
) -> Charger:
    """Connect a charger to `{url}/{charge_box_id}` and start serving CSMS-initiated calls."""
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{charge_box_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    ws = await connect(f"{url}/{charge_box_id}", subprotocols=[subprotocol],  # type: ignore[list-item]
                       additional_headers=headers, open_timeout=10, ssl=tls)
    recorder = Recorder(ws)
    cls = ChargerCp201 if subprotocol == "ocpp2.0.1" else ChargerCp16
    cp = cls(charge_box_id, recorder, response_timeout=response_timeout)
    task = asyncio.create_task(_serve(cp))
    return Charger(cp, ws, recorder, task)


async def _serve(cp: Cp16 | Cp201) -> None:
    with contextlib.suppress(ConnectionClosed):  # the charger's receive loop ends with its connection
        await cp.start()
