"""A charger's ChargePointService served by spyne, an independent SOAP server, for interop tests.

The operations and their message types are not written by hand: spyne's own XSD parser reads
them from the official WSDL (`shared/spec/soap/`), and spyne's SOAP 1.2 protocol decodes the
gateway's requests and encodes the answers. Spyne neither validates against the official XSD
(its lxml validator cannot rebuild the 1.6 schema: it loses the `DecimalOne` type) nor speaks
WS-Addressing, so this module adds both around it: every request is checked as it came with
`tests.soap.xsd` (SOAP 1.2 envelope, the WS-A headers OCPP-S requires, payload and
chargeBoxIdentity against the official XSD) into `violations`, and every answer gets its
`wsa:Action`, `wsa:MessageID`, `wsa:RelatesTo` and `wsa:To`.

Spyne is a WSGI application, so it runs in wsgiref threads; `dispatch(operation, fields)` runs
on the asyncio loop that started the service. An `Answer` may carry `then`, a callable run on that
loop once the answer has been written to the gateway (a charger starts a remote transaction after
it accepted the request, not before).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import importlib.util
import io
import itertools
import threading
import uuid
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lxml import etree

from tests.soap import xsd

# spyne 2.14 vendors an old `six` whose import hook Python 3.11 warns about (ImportWarning) and
# imports the deprecated `cgi` module; the suite turns warnings into errors, and these say nothing
# about the gateway.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ImportWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from spyne import Application, Fault, ServiceBase, rpc  # type: ignore[import-untyped]
    from spyne.protocol.soap import Soap12  # type: ignore[import-untyped]
    from spyne.server.wsgi import WsgiApplication  # type: ignore[import-untyped]
    from spyne.util.dictdoc import get_doc_as_object, get_object_as_doc  # type: ignore[import-untyped]
    from spyne.util.six import _SixMetaPathImporter  # type: ignore[import-untyped]
    from spyne.util.xml import parse_schema_element  # type: ignore[import-untyped]


def _speak_pep451(importer: Any) -> None:
    """Give spyne's six import hook the finder/loader methods Python 3 looks for first.

    The hook stays in `sys.meta_path` for the whole test run and only has the old PEP 302
    methods, so every later import that no other finder resolves (an optional dependency of
    urllib3, say) would raise Python's ImportWarning, an error in this suite, far from here.
    """

    def find_spec(self: Any, fullname: str, path: object = None, target: object = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if self.find_module(fullname) else None

    def create_module(self: Any, spec: Any) -> Any:
        return self.load_module(spec.name)

    def exec_module(self: Any, module: Any) -> None:
        pass  # load_module has already run it

    importer.find_spec, importer.create_module, importer.exec_module = find_spec, create_module, exec_module


_speak_pep451(_SixMetaPathImporter)

Fields = dict[str, Any]
FollowUp = Callable[[], None]

_instances = itertools.count(1)

# A handler that never answers must fail the test, not hang a wsgiref thread forever.
HANDLER_TIMEOUT = 30.0


@dataclass
class Answer:
    """A handler's answer: the response fields, and what to start (on the loop) once they were sent."""

    fields: Fields
    then: FollowUp | None = None


Dispatch = Callable[[str, Fields], Coroutine[Any, Any, Answer]]


class HandlerFailedError(Exception):
    """The test's own handler raised or timed out (answered with a Receiver fault)."""


def _plain(value: Any) -> Any:
    """spyne's decoded values as JSON-like data, as `tests.soap.charger.plain` gives zeep's."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None and item != []}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _lower_first(name: str) -> str:
    return name[0].lower() + name[1:]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the gateway's requests are recorded in `received`; no access log on stderr


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A handler may wait for the gateway (RemoteStop waits for its StartTransaction answer),
    # so each request gets its own thread.
    daemon_threads = True


class _AfterClose:
    """A WSGI body whose close() (called once the server has written it, PEP 3333) runs `on_close`."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


class SpyneChargePointService:
    """A charger's ChargePointService of OCPP `version` ("1.5"/"1.6") on 127.0.0.1, served by spyne.

    Args:
        version: The charger's OCPP SOAP version.
        charge_box_id: The charger's identity: requests naming another are violations.
        dispatch: Called for every request the gateway sends, on the starting loop.

    Attributes:
        violations: Every problem found in a request (or a failed handler), prefixed with its operation.
        received: The operations received, in arrival order.
    """

    path = "/ChargePointService"

    def __init__(self, version: str, charge_box_id: str, dispatch: Dispatch) -> None:
        self.version = version
        self.namespace = xsd.namespace(version, "cp")
        self.charge_box_id = charge_box_id
        self.dispatch = dispatch
        self.violations: list[str] = []
        self.received: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wsgi = WsgiApplication(self._application())

    @property
    def url(self) -> str:
        """The endpoint's address, as the charger announces it in `wsa:From`."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> SpyneChargePointService:
        self._loop = asyncio.get_running_loop()
        self._server = make_server(
            "127.0.0.1", 0, self._app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="spyne-endpoint", daemon=True)
        self._thread.start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            self._server = None

    async def __aenter__(self) -> SpyneChargePointService:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- spyne service from the official WSDL -------------------------------------------------

    def _application(self) -> Any:
        schema = etree.parse(str(xsd.wsdl_path(self.version, "cp"))).find(f".//{{{xsd.XSD}}}schema")
        types = parse_schema_element(schema)[self.namespace].types
        operations = sorted(name.removesuffix("Request") for name in types if name.endswith("Request"))
        methods = {op: self._method(op, types[f"{op}Request"], types[f"{op}Response"]) for op in operations}
        service = type("ChargePointService", (ServiceBase,), methods)
        # spyne registers applications by (namespace, name) process-wide and warns when one is
        # replaced: each endpoint gets its own name, which appears only in the WSDL spyne could serve.
        application = Application(
            [service], tns=self.namespace, name=f"ChargePointService{next(_instances)}",
            in_protocol=Soap12(), out_protocol=Soap12(),
        )
        application.event_manager.add_listener("method_return_document", self._add_addressing)
        application.event_manager.add_listener("method_exception_document", self._add_addressing)
        return application

    def _method(self, operation: str, request_type: Any, response_type: Any) -> Any:
        endpoint = self

        def answer(ctx: Any, fields: Fields) -> Any:
            answer = endpoint._run_handler(operation, fields)
            ctx.transport.req_env["ocpp.then"] = answer.then
            return get_doc_as_object(answer.fields, response_type)

        def method(ctx: Any, request: Any) -> Any:
            return answer(ctx, {} if request is None else _plain(get_object_as_doc(request, request_type)))

        def no_fields(ctx: Any) -> Any:
            return answer(ctx, {})

        # spyne's bare style refuses an empty message type as the parameter (ClearCache has one):
        # such an operation takes no parameter, and spyne makes the empty element itself.
        empty = not request_type._type_info
        function = no_fields if empty else method
        # spyne keys methods by function name, so each needs its own before decoration.
        function.__name__ = function.__qualname__ = operation
        return rpc(
            *([] if empty else [request_type]),
            _returns=response_type,
            _body_style="bare",  # OCPP's document/literal body is the message element itself
            _in_message_name=f"{{{self.namespace}}}{_lower_first(operation)}Request",
            _out_message_name=f"{_lower_first(operation)}Response",
            _operation_name=operation,
        )(function)

    def _run_handler(self, operation: str, fields: Fields) -> Answer:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self.dispatch(operation, fields), self._loop)
        try:
            return future.result(HANDLER_TIMEOUT)
        except Exception as exc:
            future.cancel()
            with self._lock:
                self.violations.append(f"{operation} handler (test code, not the gateway) failed: {exc!r}")
            raise Fault(faultcode="Receiver", faultstring=f"test handler failed: {exc!r}") from exc

    def _add_addressing(self, ctx: Any) -> None:
        environ = ctx.transport.req_env
        operation = environ.get("ocpp.operation", "")
        fault = ctx.out_error is not None
        wsa = f"{{{xsd.WSA}}}"
        header = etree.Element(f"{{{xsd.ENV}}}Header", nsmap={"wsa": xsd.WSA})
        action = etree.SubElement(header, f"{wsa}Action")
        action.text = f"{xsd.WSA}/soap/fault" if fault else f"/{operation}Response"
        action.set(f"{{{xsd.ENV}}}mustUnderstand", "true")
        etree.SubElement(header, f"{wsa}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
        if environ.get("ocpp.message_id"):
            etree.SubElement(header, f"{wsa}RelatesTo").text = environ["ocpp.message_id"]
        etree.SubElement(header, f"{wsa}To").text = xsd.ANONYMOUS
        ctx.out_document.insert(0, header)

    # ---- WSGI: checks around spyne --------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        self._check(environ, body)
        result = self._wsgi(environ, start_response)
        return _AfterClose(result, lambda: self._follow_up(environ.get("ocpp.then")))

    def _follow_up(self, then: FollowUp | None) -> None:
        if then is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(then)

    def _check(self, environ: dict[str, Any], body: bytes) -> None:
        problems: list[str] = []
        operation = "?"
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            problems.append(f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} instead of POST {self.path}")
        if environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower() != "identity":
            problems.append(f"Content-Encoding {environ['HTTP_CONTENT_ENCODING']!r} (the charger asked for none)")
        media_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media_type != "application/soap+xml":
            problems.append(f"Content-Type is {media_type!r}, not application/soap+xml (SOAP 1.2)")
        try:
            envelope = xsd.parse(body)
        except etree.XMLSyntaxError as exc:
            problems.append(f"not well-formed XML: {exc}")
        else:
            header = envelope.find(f"{{{xsd.ENV}}}Header")
            payload = envelope.find(f"{{{xsd.ENV}}}Body/*")
            if payload is not None and isinstance(payload.tag, str):
                operation = xsd.operation_of(etree.QName(payload).localname)
            environ["ocpp.operation"] = operation
            problems += xsd.envelope_errors(body, expect_action=f"/{operation}", request=True)
            problems += xsd.payload_errors(body, namespace=self.namespace)
            if header is not None:
                environ["ocpp.message_id"] = header.findtext(f"{{{xsd.WSA}}}MessageID")
                to = header.findtext(f"{{{xsd.WSA}}}To")
                if to is not None and to.strip() != self.url:
                    problems.append(f"wsa:To is {to!r}, not this endpoint's URL {self.url!r}")
                identity = header.findtext(f"{{{self.namespace}}}chargeBoxIdentity")
                if identity != self.charge_box_id:
                    problems.append(f"chargeBoxIdentity is {identity!r}, this charger is {self.charge_box_id!r}")
        with self._lock:
            self.received.append(operation)
            self.violations += [f"{operation} request: {problem}" for problem in problems]
