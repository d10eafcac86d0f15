"""The charger leg of a SOAP charger: HTTP exchanges in, SOAP calls out.

SOAP has no connection, so the link stands in for one. Each request the charger POSTs becomes an
OCPP-J CALL fed to the runner; the session's answer completes that HTTP exchange. Each CALL the
session sends to the charger becomes a SOAP POST to the charger's callback URL, whose answer (or
failure) is fed back as the CALLRESULT or CALLERROR. The link lives while the charger does: it ends
after `soap.missed_heartbeats` heartbeat intervals without a request, so the CSMS sees it go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final, NamedTuple

import aiohttp
from multidict import CIMultiDict

from gateway.core import ocppj
from gateway.core.dialects import Dialect
from gateway.core.ocppj import Call, CallError, CallResult
from gateway.core.session import Leg, Send
from gateway.core.tunnel import TunnelUnavailable
from gateway.errors import GatewayError, Overloaded
from gateway.net.context import ChargerLog, GatewayContext
from gateway.soap import codec
from gateway.soap.codec import FaultReceived, SoapFault, SoapRequest, XmlLimits
from gateway.soap.xml_safe import decompress
from gateway.store import ChargerRecord

if TYPE_CHECKING:
    from gateway.net.runner import SessionRunner
    from gateway.net.tunnels import TunnelRegistry

#: The SOAP 1.2 HTTP binding: Sender faults are the client's fault (400), the rest are ours (500).
_FAULT_STATUS: Final = {"Sender": 400, "Receiver": 500}
_CONTENT_TYPE: Final = "application/soap+xml; charset=utf-8"
#: Extra seconds an exchange may wait beyond the session's own deadline before it is given up.
_EXCHANGE_GRACE: Final = 5.0
#: Seconds a charger refused by a back-pressure bound is asked to wait: its earlier requests are
#: normally answered by then (a slow CSMS may take longer; the charger then hears 503 again).
RETRY_AFTER: Final = "5"
#: RFC 6455 7.4.2 (IANA registry) "Try Again Later": the runner closes a link with it when the CSMS is
#: unreachable (at the first request, or after upstream.offline_close_after).
_TRY_AGAIN_LATER: Final = 1013
log = logging.getLogger(__name__)


class SoapReply(NamedTuple):
    """What goes back on the charger's HTTP exchange."""

    status: int
    body: bytes
    content_type: str = _CONTENT_TYPE
    #: Extra HTTP headers, e.g. the Basic challenge of a 401.
    headers: tuple[tuple[str, str], ...] = ()


class _Exchange(NamedTuple):
    future: asyncio.Future[SoapReply]
    message_id: str | None
    action: str


def fault_reply(dialect: Dialect | None, fault: SoapFault, relates_to: str | None) -> SoapReply:
    """A SOAP fault as the HTTP answer to a request."""
    body = codec.encode_fault(dialect, fault, relates_to=relates_to, message_id=_message_id())
    return SoapReply(_FAULT_STATUS.get(fault.code, 500), body)


def overloaded_reply(dialect: Dialect | None, relates_to: str | None, *, reason: str) -> SoapReply:
    """The answer to a request refused by a back-pressure bound: HTTP 503, Retry-After and a Receiver fault.

    SOAP 1.2 (part 1, 5.4.6) defines env:Receiver as "the message could succeed if resent at a later
    point in time", and 503 with Retry-After (RFC 9110 15.6.4) says the same to HTTP-level retry logic,
    which is all some charger stacks look at; the fault body still answers the request's MessageID.
    The tunnel agent answers "tunnel down" the same way, so a charger has one retry-later answer to know.
    """
    fault = SoapFault(reason, code="Receiver", subcode="InternalError")
    body = codec.encode_fault(dialect, fault, relates_to=relates_to, message_id=_message_id())
    return SoapReply(503, body, headers=(("Retry-After", RETRY_AFTER),))


def _message_id() -> str:
    return f"urn:uuid:{ocppj.new_message_id()}"


class SoapLink:
    """One SOAP charger, as the runner's charger leg."""

    def __init__(self, ctx: GatewayContext, charge_box_id: str, dialect: Dialect, callback_url: str | None) -> None:
        self._ctx = ctx
        self.log = ChargerLog(log, charge_box_id)
        self.charge_box_id = charge_box_id
        self.dialect = dialect
        #: Where CSMS-initiated calls go: the latest wsa:From, else the configured soap_url.
        self.callback_url = callback_url
        self._exchanges: dict[str, _Exchange] = {}
        #: Requests between arrival and answer, including those still waiting for the runner's lock.
        self._in_progress = 0
        self._outbound: set[asyncio.Task[None]] = set()
        self._runner: SessionRunner | None = None
        #: Set once the runner serves the link (upstream dialed, translator loaded) or the link closed.
        self.started = asyncio.Event()
        self._activity = asyncio.Event()
        self._closed = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._heartbeat = ctx.config.soap.heartbeat_interval
        self._last_request = asyncio.get_running_loop().time()

    # ---- the ChargerLink protocol -------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_code(self) -> int | None:
        return None

    async def serve(self, runner: SessionRunner) -> None:
        """Keep the charger's upstream leg while it keeps sending requests."""
        self._runner = runner
        self.started.set()
        loop = asyncio.get_running_loop()
        soap = self._ctx.config.soap
        while not self._closed:
            silent_for = loop.time() - self._last_request
            allowed = soap.missed_heartbeats * self._heartbeat
            if silent_for >= allowed:
                runner.log.info("no SOAP request for %.0f s (%d heartbeat intervals); closing its upstream leg",
                                silent_for, soap.missed_heartbeats)
                self._closed = True
                break
            self._activity.clear()
            try:
                async with asyncio.timeout(allowed - silent_for):
                    await self._activity.wait()
            except TimeoutError:
                continue
        self._fail_exchanges("the gateway stopped serving this charger")

    async def send(self, command: Send) -> None:
        message = command.message
        if type(message) is Call:
            task = asyncio.create_task(self._call_charger(message))
            self._outbound.add(task)
            task.add_done_callback(self._outbound.discard)
            return
        exchange = self._exchanges.pop(message.unique_id, None)
        if exchange is None or exchange.future.done():
            self.log.info("%s answer for a SOAP request that is gone", command.action)
            return
        exchange.future.set_result(self._reply(exchange, message))

    async def close(self, code: int, reason: str) -> None:
        self._closed = True
        if self._close_code is None:  # the runner closes again on its way out; the first reason is the one
            self._close_code, self._close_reason = code, reason
        self.started.set()
        self._activity.set()
        self._fail_exchanges(reason)
        for task in list(self._outbound):
            task.cancel()

    # ---- charger -> gateway -------------------------------------------------------------

    async def exchange(self, request: SoapRequest) -> SoapReply:
        """Carry one charger request through the session and wait for its answer."""
        runner = self._runner
        if self._close_code == _TRY_AGAIN_LATER:
            return self._csms_away(request.addressing.message_id)
        if self._closed or runner is None:
            fault = SoapFault("the gateway is not serving this charger now; retry", code="Receiver",
                              subcode="InternalError")
            return fault_reply(self.dialect, fault, request.addressing.message_id)
        self._last_request = asyncio.get_running_loop().time()
        self._activity.set()
        # Each HTTP request is its own task, so unlike a WebSocket reader nothing else stops a charger
        # from piling requests (and their bodies) on the runner; checked before the first await.
        limit = self._ctx.config.soap.max_concurrent_requests
        if self._in_progress >= limit:
            return self._overloaded(request, limit)
        self._in_progress += 1
        try:
            return await self._exchange(runner, request)
        finally:
            self._in_progress -= 1

    def _csms_away(self, relates_to: str | None) -> SoapReply:
        # A SOAP charger has no socket to close: it hears "retry later" on every request instead, until
        # a request finds the CSMS back (each one starts a new runner, which dials). The runner logged why.
        self._ctx.metrics.soap_faults.labels("sent", "InternalError").inc()
        return overloaded_reply(self.dialect, relates_to, reason=f"{self._close_reason}; retry later")

    def _overloaded(self, request: SoapRequest, limit: int) -> SoapReply:
        error = Overloaded(f"{limit} requests of this charger are already in progress; retry later")
        metrics = self._ctx.metrics
        metrics.overload_refusals.labels("soap.max_concurrent_requests").inc()
        metrics.soap_faults.labels("sent", "InternalError").inc()
        self.log.flood_warning("SOAP %s refused with 503: %s", request.action, error)
        return overloaded_reply(self.dialect, request.addressing.message_id, reason=str(error))

    async def _exchange(self, runner: SessionRunner, request: SoapRequest) -> SoapReply:
        await self._remember_callback(request.addressing.from_address)
        unique_id = ocppj.new_message_id()
        future: asyncio.Future[SoapReply] = asyncio.get_running_loop().create_future()
        self._exchanges[unique_id] = _Exchange(future, request.addressing.message_id, request.action)
        try:
            await runner.feed_text(Leg.CHARGER, ocppj.serialize(Call(unique_id, request.action, request.payload)))
            # The session always answers by its own deadline; the grace only guards against a bug.
            async with asyncio.timeout(self._ctx.config.upstream.response_timeout + _EXCHANGE_GRACE):
                return await future
        except TimeoutError:
            fault = SoapFault("the CSMS did not answer in time", code="Receiver", subcode="InternalError")
            return fault_reply(self.dialect, fault, request.addressing.message_id)
        finally:
            self._exchanges.pop(unique_id, None)

    def _reply(self, exchange: _Exchange, message: object) -> SoapReply:
        if type(message) is CallResult:
            self._learn_heartbeat(exchange.action, message.payload)
            try:
                body = codec.encode_response(self.dialect, "cs", exchange.action, message.payload,
                                             relates_to=exchange.message_id, message_id=_message_id())
                return SoapReply(200, body)
            except GatewayError as exc:
                self.log.error("cannot encode the %s answer: %s", exchange.action, exc)
                fault = SoapFault("the answer could not be encoded", code="Receiver", subcode="InternalError")
        else:
            assert isinstance(message, CallError)
            fault = codec.fault_for_call_error(message.error_code, message.error_description)
        self._ctx.metrics.soap_faults.labels("sent", fault.subcode).inc()
        return fault_reply(self.dialect, fault, exchange.message_id)

    def _learn_heartbeat(self, action: str, payload: ocppj.JsonObject) -> None:
        if action == "BootNotification":
            interval = payload.get("interval", payload.get("heartbeatInterval"))
            if isinstance(interval, int) and interval > 0:
                self._heartbeat = float(interval)
                self._activity.set()  # serve() is waiting on a deadline computed from the old interval

    async def _remember_callback(self, address: str | None) -> None:
        # OCPP-S 3: every request carries the charger's current endpoint; it may change (mobile networks).
        if not address or address == codec.ANONYMOUS or address == self.callback_url:
            return
        self.callback_url = address
        record = ChargerRecord(self.charge_box_id, self.dialect, time.time(), soap_url=address)
        await self._ctx.store.upsert_charger(record)
        self.log.info("SOAP callback URL is now %s", address)

    def _fail_exchanges(self, reason: str) -> None:
        for exchange in list(self._exchanges.values()):
            if exchange.future.done():
                continue
            if self._close_code == _TRY_AGAIN_LATER:
                exchange.future.set_result(self._csms_away(exchange.message_id))
            else:
                fault = SoapFault(reason, code="Receiver", subcode="InternalError")
                exchange.future.set_result(fault_reply(self.dialect, fault, exchange.message_id))
        self._exchanges.clear()

    # ---- gateway -> charger -------------------------------------------------------------

    async def _call_charger(self, call: Call) -> None:
        answer = await self._post(call)
        runner = self._runner
        if runner is not None and not self._closed:
            await runner.feed_text(Leg.CHARGER, ocppj.serialize(answer))

    async def _post(self, call: Call) -> CallResult | CallError:
        """Carry one CSMS-initiated call to the charger: through its tunnel when it belongs to a tunnel
        site (only then, whatever wsa:From says), else POSTed to its callback URL."""
        metrics = self._ctx.metrics
        tunnels = self._ctx.tunnels
        if tunnels is not None and not tunnels.carries(self.charge_box_id):
            tunnels = None  # not a tunnel charger: POST to its callback URL
        try:
            url = tunnels.local_url(self.charge_box_id) if tunnels is not None else self.callback_url
        except TunnelUnavailable as exc:
            return self._unreachable(call, "no_endpoint", f"the charger is unreachable through the tunnel: {exc}")
        if url is None:
            metrics.soap_calls.labels("no_endpoint").inc()
            return CallError(call.unique_id, "GenericError",
                             "no SOAP endpoint is known for this charger (no wsa:From yet, no soap_url)", {})
        soap = self._ctx.config.soap
        body = codec.encode_request(self.dialect, call.action, call.payload, charge_box_id=self.charge_box_id,
                                    message_id=_message_id(), from_address=self._public_url(), to=url)
        headers = {"Content-Type": codec.content_type(f"/{call.action}")}
        try:
            if tunnels is not None:
                raw, encoding = await self._through_tunnel(tunnels, body, headers)
            else:
                raw, encoding = await self._over_http(url, body, headers)
            raw = decompress(raw, encoding, soap.max_body_bytes)
            payload = codec.decode_response(raw, dialect=self.dialect, service="cp", action=call.action,
                                            limits=XmlLimits(soap.max_body_bytes, soap.max_depth))
        except FaultReceived as fault:
            metrics.soap_calls.labels("fault").inc()
            metrics.soap_faults.labels("received", fault.subcode or "none").inc()
            self.log.warning("%s: the charger answered with a fault: %s", call.action, fault)
            return CallError(call.unique_id, codec.call_error_code_for_fault(fault), str(fault)[:255], {})
        except SoapFault as exc:
            metrics.soap_calls.labels("bad_reply").inc()
            self.log.warning("%s: unusable answer from %s: %s", call.action, url, exc)
            return CallError(call.unique_id, "ProtocolError", f"the charger's SOAP answer is unusable: {exc}"[:255], {})
        except TunnelUnavailable as exc:
            outcome = "no_endpoint" if exc.outcome == "no_agent" else "unreachable"
            return self._unreachable(call, outcome, f"the charger is unreachable through the tunnel: {exc}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            return self._unreachable(call, "unreachable", f"the charger's SOAP endpoint is unreachable ({reason})",
                                     url)
        metrics.soap_calls.labels("result").inc()
        return CallResult(call.unique_id, payload)

    async def _over_http(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, str | None]:
        """POST the call to the charger's URL; (raw answer body, its Content-Encoding)."""
        soap = self._ctx.config.soap
        async with self._ctx.http.post(url, data=body, headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=soap.call_timeout)) as response:
            raw = await response.content.read(soap.max_body_bytes + 1)
            encoding = response.headers.get("Content-Encoding")
        if len(raw) > soap.max_body_bytes:
            raise SoapFault(f"answer exceeds {soap.max_body_bytes} bytes")
        return raw, encoding

    async def _through_tunnel(self, tunnels: TunnelRegistry, body: bytes,
                              headers: dict[str, str]) -> tuple[bytes, str | None]:
        """Carry the call through the charger's tunnel; (raw answer body, its Content-Encoding)."""
        soap = self._ctx.config.soap
        reply = await tunnels.deliver(self.charge_box_id, body, headers, soap.call_timeout)
        if len(reply.body) > soap.max_body_bytes:
            raise SoapFault(f"answer exceeds {soap.max_body_bytes} bytes")
        return reply.body, CIMultiDict(reply.headers).get("Content-Encoding")

    def _unreachable(self, call: Call, outcome: str, description: str, url: str | None = None) -> CallError:
        self._ctx.metrics.soap_calls.labels(outcome).inc()
        where = f" ({url})" if url else ""
        self.log.warning("%s%s: %s", call.action, where, description)
        return CallError(call.unique_id, "GenericError", description[:255], {})

    def _public_url(self) -> str:
        return self._ctx.config.soap.public_url or self._ctx.soap_url

