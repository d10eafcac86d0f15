"""The gateway's configuration: parsed once from YAML into frozen values, or a one-line ConfigError."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import yaml

from gateway.config_reader import Reader
from gateway.core.dialects import UPSTREAM_DIALECTS, Dialect
from gateway.core.tunnel import MAX_HEADER_BYTES
from gateway.errors import ConfigError

#: A charge box id travels in URL paths and SOAP headers; OCPP 2.0.1 caps the identity at 48.
CHARGE_BOX_ID: Final = re.compile(r"[A-Za-z0-9._~:@!$&'()*+,;=-]{1,48}")
#: A tunnel site's name travels in the agent's URL query (`/tunnel?site=NAME`).
SITE_NAME: Final = re.compile(r"[A-Za-z0-9._~-]{1,64}")


@dataclass(frozen=True, slots=True)
class Tls:
    """A certificate and its private key, PEM files."""

    cert: str
    key: str


@dataclass(frozen=True, slots=True)
class Listen:
    """The charger-facing listener."""

    host: str
    port: int
    tls: Tls | None = None
    ping_interval: float = 30.0
    response_timeout: float = 30.0
    allow_unknown_chargers: bool = True


@dataclass(frozen=True, slots=True)
class Upstream:
    """The CSMS the gateway dials, one WebSocket per charger."""

    url: str
    dialect: Dialect
    connect_timeout: float = 10.0
    response_timeout: float = 30.0
    ping_interval: float = 30.0
    ca_file: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    #: Seconds the CSMS may stay unreachable before chargers are closed (1013) to go offline; 0 never.
    offline_close_after: float = 60.0


@dataclass(frozen=True, slots=True)
class Admin:
    """The admin listener: /metrics and /healthz."""

    host: str = "127.0.0.1"
    port: int = 9300


@dataclass(frozen=True, slots=True)
class State:
    """Where state persists."""

    path: str = "./gateway-state.sqlite"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one charger from exhausting the gateway."""

    max_frame_bytes: int = 262_144
    max_transport_frame_bytes: int = 8_388_608
    max_queued_calls: int = 16


@dataclass(frozen=True, slots=True)
class Outbox:
    """The durable per-charger queue of transaction messages met by an away CSMS (docs/reliability.md)."""

    #: False: transaction messages wait in memory up to upstream.response_timeout instead.
    enabled: bool = True
    #: Entries one charger's outbox may hold; when full the oldest meter sample goes, never a start or stop.
    max_messages: int = 1000
    #: CALLERROR answers one replayed entry may get before it is dropped (counted and logged).
    max_attempts: int = 5
    #: Seconds between attempts at a replayed entry the CSMS answered with a CALLERROR.
    retry_interval: float = 10.0
    #: Stop a running transaction whose token the CSMS refuses in its answer to a replayed event.
    stop_on_late_refusal: bool = True


@dataclass(frozen=True, slots=True)
class Charger:
    """Per-charger settings."""

    password: str | None = None
    upstream_password: str | None = None
    #: Where a SOAP charger listens for CSMS-initiated calls when its requests carry no wsa:From.
    soap_url: str | None = None
    #: 1.6 connector k (1-based) -> (2.0.1 EVSE id, connector id); empty = one connector per EVSE.
    topology: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Soap:
    """SOAP chargers (OCPP 1.5 and 1.6 over SOAP 1.2, POST /soap on the listen port)."""

    #: The gateway's own /soap URL as chargers reach it; sent as wsa:From on calls to chargers.
    public_url: str | None = None
    #: Seconds a charger has to answer a CSMS-initiated SOAP call.
    call_timeout: float = 30.0
    #: The upstream leg of a SOAP charger closes after this many heartbeat intervals without a request.
    missed_heartbeats: int = 3
    #: Assumed heartbeat interval until the charger's BootNotification answer tells the real one.
    heartbeat_interval: float = 300.0
    #: Largest request body (after decompression) and XML nesting depth accepted.
    max_body_bytes: int = 1_048_576
    max_depth: int = 64
    #: Requests of one charger being served at once; more are answered 503 with a Receiver fault.
    max_concurrent_requests: int = 8


@dataclass(frozen=True, slots=True)
class TunnelSite:
    """One site's tunnel agent: the bearer token it presents and the only charger ids it may carry."""

    token: str
    chargers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tunnel:
    """The NAT tunnel: agents on chargers' sites dial `GET /tunnel` on the listen port (docs/tunnel.md)."""

    sites: Mapping[str, TunnelSite] = field(default_factory=dict)
    #: Seconds between WebSocket pings to each agent; 0 disables.
    ping_interval: float = 30.0
    #: Largest WebSocket message accepted from an agent (a carried body plus its frame header).
    max_frame_bytes: int = 2_097_152
    #: Seconds an agent has, after the upgrade, to send its register frame.
    register_timeout: float = 10.0
    #: Charger requests one agent may have the gateway serve at once; more are answered 503.
    max_requests_in_flight: int = 64
    #: Charge box id -> its site (derived from `sites`; an id belongs to at most one site).
    site_of: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Translation:
    """Translation decisions an operator may change (TRANSLATION.md 6.4)."""

    mappings_dir: str | None = None
    id_token_default_type: str = "ISO14443"
    no_authorization_idtag: str = "NoAuthorization"
    boot_default_reason: str = "PowerUp"
    attach_untagged_meter_values: bool = True
    start16_requires_ev_connected: bool = True
    end_on_deauthorization: bool = True
    remote_start_expiry_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    listen: Listen
    upstream: Upstream
    admin: Admin = Admin()
    state: State = State()
    limits: Limits = Limits()
    outbox: Outbox = Outbox()
    chargers: Mapping[str, Charger] = field(default_factory=dict)
    soap: Soap = Soap()
    tunnel: Tunnel = Tunnel()
    translation: Translation = Translation()
    log_level: str = "INFO"


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file.

    Args:
        path: the YAML file.
        environ: where `${VAR}` references are looked up; defaults to the process environment.

    Raises:
        ConfigError: one line, `FILE: key.path: problem`.
    """
    name = str(path)
    return parse_config(Reader(name, "", read_yaml(name), os.environ if environ is None else environ))


def read_yaml(name: str) -> object:
    """The YAML document in file `name`.

    Raises:
        ConfigError: unreadable, or not YAML (with the line).
    """
    try:
        text = Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise ConfigError(f"{name}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def parse_config(top: Reader) -> Config:
    """Build a Config from the top-level reader (see load_config)."""
    config = Config(
        listen=_listen(top.section("listen")),
        upstream=_upstream(top.section("upstream")),
        admin=_admin(top.section("admin")),
        state=_state(top.section("state")),
        limits=_limits(top.section("limits")),
        outbox=_outbox(top.section("outbox")),
        chargers=_chargers(top.section("chargers")),
        soap=_soap(top.section("soap")),
        tunnel=_tunnel(top.section("tunnel")),
        translation=_translation(top.section("translation")),
        log_level=top.choice("log_level", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
    )
    top.done()
    if not config.listen.allow_unknown_chargers and not config.chargers:
        raise top.error("is false but no chargers are listed, so every charger would be refused",
                        "listen.allow_unknown_chargers")
    needed = config.soap.max_body_bytes + MAX_HEADER_BYTES + 4
    if config.tunnel.max_frame_bytes < needed:
        raise top.error(f"must be at least soap.max_body_bytes + {MAX_HEADER_BYTES + 4} ({needed}), so that "
                        "any SOAP body fits in one frame", "tunnel.max_frame_bytes")
    return config


def _listen(r: Reader) -> Listen:
    tls = _tls(r.section("tls")) if r.has("tls") else None
    listen = Listen(
        host=r.string("host", "0.0.0.0"),
        port=r.port("port", 9000),
        tls=tls,
        ping_interval=r.number("ping_interval", 30.0),
        response_timeout=r.number("response_timeout", 30.0, minimum=0.1),
        allow_unknown_chargers=r.boolean("allow_unknown_chargers", True),
    )
    r.done()
    return listen


def _tls(r: Reader) -> Tls:
    tls = Tls(cert=_file(r, "cert"), key=_file(r, "key"))
    r.done()
    return tls


def _file(r: Reader, key: str, default: object = ...) -> str:
    value: str = r.string(key) if default is ... else r.string(key, default)
    if value is not None and not Path(value).is_file():
        raise r.error(f"file not found: {value}", key)
    return value


def _upstream(r: Reader) -> Upstream:
    url = r.string("url")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise r.error(f"expected a ws:// or wss:// URL, got {url!r}", "url")
    upstream = Upstream(
        url=url.rstrip("/"),
        dialect=Dialect(r.choice("dialect", tuple(UPSTREAM_DIALECTS))),
        connect_timeout=r.number("connect_timeout", 10.0, minimum=0.1),
        response_timeout=r.number("response_timeout", 30.0, minimum=0.1),
        ping_interval=r.number("ping_interval", 30.0),
        ca_file=_file(r, "ca_file", None),
        headers=r.string_map("headers"),
        reconnect_initial_delay=r.number("reconnect_initial_delay", 1.0, minimum=0.01),
        reconnect_max_delay=r.number("reconnect_max_delay", 60.0, minimum=0.01),
        offline_close_after=r.number("offline_close_after", 60.0, minimum=0),
    )
    r.section("headers").done()
    r.done()
    return upstream


def _admin(r: Reader) -> Admin:
    admin = Admin(host=r.string("host", "127.0.0.1"), port=r.port("port", 9300))
    r.done()
    return admin


def _state(r: Reader) -> State:
    state = State(path=r.string("path", "./gateway-state.sqlite"))
    r.done()
    return state


def _limits(r: Reader) -> Limits:
    limits = Limits(
        max_frame_bytes=r.number("max_frame_bytes", 262_144, minimum=1024, integer=True),
        max_transport_frame_bytes=r.number("max_transport_frame_bytes", 8_388_608, minimum=1024, integer=True),
        max_queued_calls=r.number("max_queued_calls", 16, integer=True),
    )
    if limits.max_transport_frame_bytes < limits.max_frame_bytes:
        raise r.error("must not be smaller than max_frame_bytes", "max_transport_frame_bytes")
    r.done()
    return limits


def _chargers(r: Reader) -> dict[str, Charger]:
    chargers = {}
    for charge_box_id in r.names():
        if not CHARGE_BOX_ID.fullmatch(charge_box_id):
            raise r.error("not a valid charge box id (1-48 URL-safe characters)", charge_box_id)
        entry = r.section(charge_box_id)
        chargers[charge_box_id] = Charger(
            password=entry.string("password", None),
            upstream_password=entry.string("upstream_password", None),
            soap_url=_http_url(entry, "soap_url"),
            topology=_topology(entry),
        )
        entry.done()
    r.done()
    return chargers


def _http_url(r: Reader, key: str) -> str | None:
    url: str | None = r.string(key, None)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise r.error(f"expected an http:// or https:// URL, got {url!r}", key)
    return url


def _outbox(r: Reader) -> Outbox:
    outbox = Outbox(
        enabled=r.boolean("enabled", True),
        max_messages=r.number("max_messages", 1000, minimum=1, integer=True),
        max_attempts=r.number("max_attempts", 5, minimum=1, integer=True),
        retry_interval=r.number("retry_interval", 10.0, minimum=0.01),
        stop_on_late_refusal=r.boolean("stop_on_late_refusal", True),
    )
    r.done()
    return outbox


def _soap(r: Reader) -> Soap:
    soap = Soap(
        public_url=_http_url(r, "public_url"),
        call_timeout=r.number("call_timeout", 30.0, minimum=0.1),
        missed_heartbeats=r.number("missed_heartbeats", 3, minimum=1, integer=True),
        heartbeat_interval=r.number("heartbeat_interval", 300.0, minimum=1),
        max_body_bytes=r.number("max_body_bytes", 1_048_576, minimum=4096, integer=True),
        max_depth=r.number("max_depth", 64, minimum=8, integer=True),
        max_concurrent_requests=r.number("max_concurrent_requests", 8, minimum=1, integer=True),
    )
    r.done()
    return soap


def _tunnel(r: Reader) -> Tunnel:
    sites: dict[str, TunnelSite] = {}
    site_of: dict[str, str] = {}
    names = r.section("sites")
    for name in names.names():
        if not SITE_NAME.fullmatch(name):
            raise names.error("not a valid site name (1-64 letters, digits, '.', '_', '~' or '-')", name)
        entry = names.section(name)
        token = entry.string("token")
        if not token:
            raise entry.error("must not be empty", "token")
        raw = entry.raw("chargers")
        if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
            raise entry.error("expected a non-empty list of charge box ids", "chargers")
        for charge_box_id in raw:
            if not CHARGE_BOX_ID.fullmatch(charge_box_id):
                raise entry.error(f"{charge_box_id!r} is not a valid charge box id (1-48 URL-safe characters)",
                                  "chargers")
            if charge_box_id in site_of:
                raise entry.error(f"{charge_box_id} is already a charger of site {site_of[charge_box_id]}",
                                  "chargers")
            site_of[charge_box_id] = name
        sites[name] = TunnelSite(token=token, chargers=tuple(raw))
        entry.done()
    names.done()
    tunnel = Tunnel(
        sites=sites,
        ping_interval=r.number("ping_interval", 30.0),
        max_frame_bytes=r.number("max_frame_bytes", 2_097_152, minimum=8192, integer=True),
        register_timeout=r.number("register_timeout", 10.0, minimum=0.1),
        max_requests_in_flight=r.number("max_requests_in_flight", 64, minimum=1, integer=True),
        site_of=site_of,
    )
    r.done()
    return tunnel


def _topology(r: Reader) -> tuple[tuple[int, int], ...]:
    raw = r.raw("topology", [])
    pairs = []
    if not isinstance(raw, list):
        raise r.error("expected a list of [evseId, connectorId] pairs, one per 1.6 connector", "topology")
    for index, item in enumerate(raw, start=1):
        ok = isinstance(item, list) and len(item) == 2 and all(isinstance(n, int) and n > 0 for n in item)
        if not ok:
            raise r.error(f"entry {index}: expected [evseId, connectorId] with positive integers, got {item!r}",
                          "topology")
        pairs.append((int(item[0]), int(item[1])))
    if len(set(pairs)) != len(pairs):
        raise r.error("an (evseId, connectorId) pair appears twice", "topology")
    return tuple(pairs)


def _translation(r: Reader) -> Translation:
    mappings_dir = r.string("mappings_dir", None)
    if mappings_dir is not None and not Path(mappings_dir).is_dir():
        raise r.error(f"directory not found: {mappings_dir}", "mappings_dir")
    translation = Translation(
        mappings_dir=mappings_dir,
        id_token_default_type=r.choice("id_token_default_type", _TOKEN_TYPES, "ISO14443"),
        no_authorization_idtag=r.string("no_authorization_idtag", "NoAuthorization"),
        boot_default_reason=r.choice("boot_default_reason", _BOOT_REASONS, "PowerUp"),
        attach_untagged_meter_values=r.boolean("attach_untagged_meter_values", True),
        start16_requires_ev_connected=r.boolean("start16_requires_ev_connected", True),
        end_on_deauthorization=r.boolean("end_on_deauthorization", True),
        remote_start_expiry_s=r.number("remote_start_expiry_s", 120.0, minimum=1),
    )
    if len(translation.no_authorization_idtag) > 20:
        raise r.error("must be at most 20 characters (a 1.x idTag)", "no_authorization_idtag")
    r.done()
    return translation


_TOKEN_TYPES: Final = ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress")
_BOOT_REASONS: Final = ("ApplicationReset", "FirmwareUpdate", "LocalReset", "PowerUp", "RemoteReset",
                        "ScheduledReset", "Triggered", "Unknown", "Watchdog")
