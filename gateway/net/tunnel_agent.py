"""`ocpp-gateway tunnel`: the site agent of the NAT tunnel (docs/tunnel.md).

It dials *out* to the gateway's `/tunnel` (one WebSocket, pinged), registers its chargers, POSTs each
carried call to the charger's local URL and sends back the reply (or an error frame saying why not).
With `listen` it also accepts the chargers' own SOAP requests and carries them to the gateway; while
the tunnel is down those get HTTP 503 with a SOAP Receiver fault, so the charger retries. A lost
tunnel is redialled with jittered exponential backoff, and the chargers are registered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import signal
import ssl
import uuid
from collections.abc import Callable, Mapping
from typing import Final, final

import aiohttp
from aiohttp import WSMsgType, web

from gateway.agent_config import AgentConfig
from gateway.core import backoff
from gateway.core import tunnel as frames
from gateway.core.dialects import Dialect
from gateway.core.tunnel import Carried, Registered, TunnelFrameError
from gateway.errors import GatewayError
from gateway.net.context import ChargerLog
from gateway.soap import codec
from gateway.soap.codec import SoapFault
from gateway.soap.xml_safe import decompress

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT: Final = 10.0
#: How long a charger's own request may wait for the gateway's answer (the gateway answers within
#: its upstream.response_timeout plus a few seconds).
REQUEST_TIMEOUT: Final = 90.0
_WS_TIMEOUT: Final = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
#: Headers carried with a call to the charger, and back with its reply.
_CALL_HEADERS: Final = ("Content-Type", "SOAPAction", "Content-Encoding")
_REPLY_HEADERS: Final = ("Content-Type", "Content-Encoding")
#: Headers of a charger's own request carried to the gateway, and back with the gateway's response.
_REQUEST_HEADERS: Final = ("Content-Type", "SOAPAction", "Content-Encoding", "Authorization")
_RESPONSE_HEADERS: Final = ("Content-Type", "Content-Encoding", "WWW-Authenticate", "Retry-After")


def _pick(headers: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: headers[name] for name in names if name in headers}


class AgentReplaced(GatewayError):
    """A newer agent of the same site took over (close code 4000): this one stops (exit code 1)."""


@final
class TunnelAgent:
    """One agent: the tunnel to the gateway, the calls it carries, and the optional local listener.

    Attributes:
        started: set once the local listener is bound (at once without one).
        registered: set while a tunnel is up and the gateway has answered the registration.
        accepted: the charger ids the gateway accepted at the latest registration.
        listen_port: the bound port of the local listener (0 before it is started, or without one).
        replaced: True once the gateway closed the tunnel for a newer agent of the same site (run then raises).
    """

    def __init__(self, config: AgentConfig, *, uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.config = config
        self.started = asyncio.Event()
        self.registered = asyncio.Event()
        self.accepted: tuple[str, ...] = ()
        self.listen_port = 0
        self._uniform = uniform
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)
        self._requests: dict[int, asyncio.Future[Carried]] = {}
        self._stopping = False
        self.replaced = False

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the tunnel up (and the local listener, if configured) until `stop` is set.

        Raises:
            AgentReplaced: the gateway closed the tunnel because a newer agent of the site connected.
        """
        config = self.config
        tls = ssl.create_default_context(cafile=config.ca_file) if config.gateway.startswith("wss://") else None
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False) as http:
            self._http = http
            listener = await self._listen() if config.listen is not None else None
            self.started.set()
            try:
                async with asyncio.TaskGroup() as tasks:
                    dialer = tasks.create_task(self._dial_loop(http, tls))
                    stopped = tasks.create_task(stop.wait())
                    await asyncio.wait((dialer, stopped), return_when=asyncio.FIRST_COMPLETED)
                    self._stopping = True
                    ws = self._ws
                    if ws is not None and not ws.closed:
                        log.info("stopping: closing the tunnel")
                        await ws.close(code=1001, message=b"agent stopping")
                    dialer.cancel()
                    stopped.cancel()
            finally:
                if listener is not None:
                    await listener.cleanup()
        if self.replaced:
            raise AgentReplaced(f"replaced by a newer agent of site {config.site}: another agent of this site "
                                "is running")

    # ---- the tunnel -------------------------------------------------------------------------------

    async def _dial_loop(self, http: aiohttp.ClientSession, tls: ssl.SSLContext | None) -> None:
        config = self.config
        delays = backoff.delays(config.reconnect_initial_delay, config.reconnect_max_delay, self._uniform)
        while not self._stopping:
            try:
                async with asyncio.timeout(_CONNECT_TIMEOUT):
                    ws = await http.ws_connect(
                        config.gateway, params={"site": config.site},
                        headers={"Authorization": f"Bearer {config.token}"},
                        heartbeat=config.ping_interval or None, ssl=tls if tls is not None else True,
                        max_msg_size=config.max_body_bytes + frames.MAX_HEADER_BYTES + 4, timeout=_WS_TIMEOUT,
                    )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 401:
                    log.error("the gateway refused site %s and its token (HTTP 401); check both", config.site)
                else:
                    log.warning("the gateway refused the tunnel: HTTP %s", exc.status)
            except TimeoutError:
                log.warning("gateway %s did not accept the tunnel within %g s", config.gateway, _CONNECT_TIMEOUT)
            except (aiohttp.ClientError, OSError) as exc:
                log.warning("gateway %s unreachable: %s", config.gateway, exc)
            else:
                registered, close_code = await self._serve(ws)
                if registered:
                    delays = backoff.delays(config.reconnect_initial_delay, config.reconnect_max_delay,
                                            self._uniform)
                if self._stopping:
                    return
                if close_code == frames.CLOSE_REPLACED:
                    log.error("the gateway replaced this tunnel by a newer agent of site %s: another agent of "
                              "this site is running; stopping", config.site)
                    self.replaced = True
                    return
                log.warning("tunnel closed (code %s); reconnecting", close_code or ws.close_code)
            await asyncio.sleep(next(delays))

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[bool, int | None]:
        """Register, then carry frames until the tunnel closes.

        Returns:
            Whether the gateway answered the registration, and the close code it sent (None: no close frame).
        """
        self._ws = ws
        calls: set[asyncio.Task[None]] = set()
        close_code: int | None = None
        try:
            await ws.send_str(frames.encode_control(frames.Register(dict(self.config.chargers))))
            async with asyncio.TaskGroup() as tasks:
                while True:
                    msg = await ws.receive()
                    if msg.type is WSMsgType.BINARY:
                        frame = self._decode(msg.data)
                        if frame is None:
                            continue
                        if frame.kind == "call":
                            task = tasks.create_task(self._carry_call(ws, frame))
                            calls.add(task)
                            task.add_done_callback(calls.discard)
                        elif frame.kind in ("response", "error"):
                            self._answered(frame)
                        else:
                            log.warning("frame dropped: a gateway does not send %s frames", frame.kind)
                    elif msg.type is WSMsgType.TEXT:
                        self._control(msg.data)
                    elif msg.type is WSMsgType.ERROR:
                        log.warning("tunnel error: %s", ws.exception())
                    else:  # CLOSE (the gateway's close frame: its code is in data), CLOSING, CLOSED
                        close_code = msg.data if msg.type is WSMsgType.CLOSE else None
                        break
                # The gateway has already failed the calls in flight; their replies could not be sent.
                for task in calls:
                    task.cancel()
        except (ConnectionError, aiohttp.ClientError) as exc:
            log.warning("tunnel lost: %s", exc)
        finally:
            was_registered = self.registered.is_set()
            if not ws.closed:
                await ws.close()
            self._ws = None
            self.registered.clear()
            for future in self._requests.values():
                if not future.done():
                    future.set_exception(ConnectionError("the tunnel closed before the gateway answered"))
            self._requests.clear()
        return was_registered, close_code

    def _control(self, text: str) -> None:
        try:
            control = frames.decode_control(text)
        except TunnelFrameError as exc:
            log.warning("control frame dropped: %s", exc)
            return
        if not isinstance(control, Registered):
            log.warning("control frame dropped: a gateway does not send register frames")
            return
        for charge_box_id in control.refused:
            ChargerLog(log, charge_box_id).error("the gateway refused this charger for site %s", self.config.site)
        self.accepted = control.accepted
        self.registered.set()
        log.info("tunnel registered as site %s, carrying %s", self.config.site,
                 ", ".join(control.accepted) or "no charger")

    def _decode(self, data: bytes) -> Carried | None:
        try:
            return frames.decode_carried(data)
        except TunnelFrameError as exc:
            log.warning("frame dropped: %s", exc)
            if isinstance(exc.frame_id, int):
                self._answered(Carried("error", exc.frame_id, error=f"malformed frame from the gateway: {exc}"))
            return None

    def _answered(self, frame: Carried) -> None:
        future = self._requests.pop(frame.id, None) if isinstance(frame.id, int) else None
        if future is None or future.done():
            log.info("%s for request %s, which is no longer waiting", frame.kind, frame.id)
            return
        future.set_result(frame)

    async def _carry_call(self, ws: aiohttp.ClientWebSocketResponse, call: Carried) -> None:
        """POST one carried call to its charger and send back the reply, or an error frame with the reason."""
        charge_box_id = call.charger or "-"
        clog = ChargerLog(log, charge_box_id)
        url = self.config.chargers.get(charge_box_id)
        try:
            if url is None:
                answer = Carried("error", call.id, charge_box_id, error="this agent does not serve this charger")
            else:
                answer = await self._post(clog, call, url)
            if ws.closed:
                clog.info("the tunnel closed before the answer to call %s could be sent", call.id)
                return
            with contextlib.suppress(ConnectionError):
                await ws.send_bytes(frames.encode_carried(answer))
        except Exception:
            clog.exception("carrying call %s failed", call.id)

    async def _post(self, clog: ChargerLog, call: Carried, url: str) -> Carried:
        assert self._http is not None
        config = self.config
        charge_box_id = call.charger
        try:
            async with self._http.post(url, data=call.body, headers=_pick(call.headers, _CALL_HEADERS),
                                       allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=config.call_timeout)) as response:
                body = await response.content.read(config.max_body_bytes + 1)
                if len(body) > config.max_body_bytes:
                    reason = f"the charger's answer exceeds {config.max_body_bytes} bytes"
                else:
                    clog.debug("call %s: HTTP %s from %s", call.id, response.status, url)
                    return Carried("reply", call.id, charge_box_id, status=response.status,
                                   headers=_pick(response.headers, _REPLY_HEADERS), body=body)
        except TimeoutError:
            reason = f"no answer from {url} within {config.call_timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            reason = f"cannot connect to {url}: {'connection refused' if refused else exc.os_error}"
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"HTTP exchange with {url} failed: {type(exc).__name__}: {exc}"
        clog.warning("call %s failed: %s", call.id, reason)
        return Carried("error", call.id, charge_box_id, error=reason)

    # ---- the chargers' own requests (listen) ------------------------------------------------------

    async def _listen(self) -> web.AppRunner:
        assert self.config.listen is not None
        host, port = self.config.listen
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_route("POST", "/{tail:.*}", self._local_request)
        # Bodies travel as they came; the gateway decompresses them under its own limit.
        runner = web.AppRunner(app, auto_decompress=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self.listen_port = next(int(a[1]) for a in runner.addresses if isinstance(a, tuple))
        log.info("accepting chargers' SOAP requests on %s:%s", host, self.listen_port)
        return runner

    async def _local_request(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ws = self._ws

        def unavailable(reason: str) -> web.Response:
            return _unavailable(raw, request.headers, reason, self.config.max_body_bytes)

        if ws is None or ws.closed or not self.registered.is_set():
            return unavailable("the tunnel to the central system is down; retry later")
        frame_id = next(self._ids)
        future: asyncio.Future[Carried] = asyncio.get_running_loop().create_future()
        self._requests[frame_id] = future
        try:
            await ws.send_bytes(frames.encode_carried(
                Carried("request", frame_id, headers=_pick(request.headers, _REQUEST_HEADERS), body=raw)))
            async with asyncio.timeout(REQUEST_TIMEOUT):
                answer = await future
        except TimeoutError:
            return unavailable("the central system did not answer in time; retry later")
        except (ConnectionError, aiohttp.ClientError):
            return unavailable("the tunnel closed before the central system answered; retry")
        finally:
            self._requests.pop(frame_id, None)
        if answer.kind != "response" or answer.status is None:
            return unavailable(f"the gateway could not serve the request: {answer.error}")
        return web.Response(status=answer.status, body=answer.body, headers=_pick(answer.headers, _RESPONSE_HEADERS))


def _unavailable(raw: bytes, headers: Mapping[str, str], reason: str, max_bytes: int) -> web.Response:
    """HTTP 503 with a SOAP 1.2 Receiver fault in the request's OCPP version, so the charger retries."""
    dialect, message_id, charge_box_id = _sniff(raw, headers, max_bytes)
    ChargerLog(log, charge_box_id).warning("charger request answered 503: %s", reason)
    fault = SoapFault(reason, code="Receiver", subcode="InternalError")
    body = codec.encode_fault(dialect, fault, relates_to=message_id, message_id=f"urn:uuid:{uuid.uuid4()}")
    return web.Response(status=503, body=body, headers={"Content-Type": "application/soap+xml; charset=utf-8",
                                                        "Retry-After": "10"})


def _sniff(raw: bytes, headers: Mapping[str, str], max_bytes: int) -> tuple[Dialect | None, str | None, str]:
    """The request's dialect, MessageID and chargeBoxIdentity, as far as they can be read (for the fault)."""
    try:
        body = decompress(raw, headers.get("Content-Encoding"), max_bytes)
        request = codec.decode_request(body, content_type=headers.get("Content-Type"),
                                       soap_action=headers.get("SOAPAction"))
    except SoapFault as fault:
        return fault.dialect, fault.relates_to, "-"
    return request.dialect, request.addressing.message_id, request.charge_box_id[:48]


async def serve_agent(config: AgentConfig) -> None:
    """Run an agent until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("tunnel agent of site %s: gateway %s, chargers %s", config.site, config.gateway,
             ", ".join(f"{k}={v}" for k, v in config.chargers.items()) or "none")
    await TunnelAgent(config).run(stop)
    log.info("stopped")
