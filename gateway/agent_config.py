"""The tunnel agent's configuration (`ocpp-gateway tunnel`): a small YAML file and the command line.

Both hold the same keys; the command line wins, and its `--charger` entries are added to the file's
(one with the same id replaces the file's). Values are checked the way gateway.config checks the
gateway's, and every problem is a one-line ConfigError naming where it came from and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from gateway.config import CHARGE_BOX_ID, SITE_NAME, _file, _http_url, read_yaml
from gateway.config_reader import Reader
from gateway.errors import ConfigError

#: Where command-line values are said to come from in error messages.
COMMAND_LINE: Final = "command line"
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What one agent needs: where the gateway is, who it is, and the chargers it serves."""

    gateway: str
    site: str
    token: str
    chargers: Mapping[str, str] = field(default_factory=dict)
    #: Where the chargers' own SOAP requests are accepted (host, port); None: not at all.
    listen: tuple[str, int] | None = None
    ca_file: str | None = None
    #: Seconds a charger has to answer one carried call (keep it under the gateway's soap.call_timeout).
    call_timeout: float = 25.0
    ping_interval: float = 30.0
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    #: Largest body accepted from a charger (its request, or its answer to a call).
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"


def load_agent_config(path: str | None, command_line: Mapping[str, Any],
                      environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read the agent's YAML file (if any), lay the command-line values over it, and check the result.

    Args:
        path: the YAML file, or None.
        command_line: values given as options, under the file's key names (None = not given);
            `chargers` is a mapping of charge box id -> URL.
        environ: where `${VAR}` references are looked up; defaults to the process environment.

    Raises:
        ConfigError: one line, `FILE: key: problem` (or `command line: key: problem`).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if path is not None:
        values = _fields(Reader(path, "", read_yaml(path), env))
    given = {key: value for key, value in command_line.items() if value is not None and value != {}}
    overrides = _fields(Reader(COMMAND_LINE, "", given, env))
    chargers = {**values.get("chargers", {}), **overrides.pop("chargers", {})}
    values.update(overrides)
    values["chargers"] = chargers
    where = path or COMMAND_LINE
    for key, option in (("gateway", "--gateway"), ("site", "--site"), ("token", "--token")):
        if key not in values:
            raise ConfigError(f"{where}: {key}: is required (`{key}:` in the file or {option})")
    if not chargers:
        # The gateway serves a carried request only for a charger the agent registered, and registering
        # needs the charger's URL: an agent with only `listen` could carry nothing.
        raise ConfigError(f"{where}: chargers: name at least one charger (--charger ID=URL)")
    if values.get("reconnect_max_delay", 60.0) < values.get("reconnect_initial_delay", 1.0):
        raise ConfigError(f"{where}: reconnect_max_delay: must not be smaller than reconnect_initial_delay")
    return AgentConfig(**values)


def _fields(r: Reader) -> dict[str, Any]:
    """Every key present in `r`, checked; absent keys are left out so that another source may give them."""
    values: dict[str, Any] = {}
    if r.has("gateway"):
        url = r.string("gateway")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise r.error(f"expected a ws:// or wss:// URL (the gateway's /tunnel), got {url!r}", "gateway")
        values["gateway"] = url
    if r.has("site"):
        site = r.string("site")
        if not SITE_NAME.fullmatch(site):
            raise r.error("not a valid site name (1-64 letters, digits, '.', '_', '~' or '-')", "site")
        values["site"] = site
    if r.has("token"):
        token = r.string("token")
        if not token:
            raise r.error("must not be empty", "token")
        values["token"] = token
    if r.has("chargers"):
        chargers = r.section("chargers")
        for charge_box_id in chargers.names():
            if not CHARGE_BOX_ID.fullmatch(charge_box_id):
                raise chargers.error("not a valid charge box id (1-48 URL-safe characters)", charge_box_id)
            if chargers.raw(charge_box_id) is None:
                raise chargers.error("expected the charger's SOAP URL, http://HOST:PORT/PATH", charge_box_id)
            values.setdefault("chargers", {})[charge_box_id] = _http_url(chargers, charge_box_id)
        chargers.done()
    if r.has("listen"):
        values["listen"] = _host_port(r, "listen")
    if r.has("ca_file"):
        values["ca_file"] = _file(r, "ca_file")
    for key, minimum in (("call_timeout", 0.1), ("ping_interval", 0.0), ("reconnect_initial_delay", 0.01),
                         ("reconnect_max_delay", 0.01)):
        if r.has(key):
            values[key] = float(r.number(key, minimum=minimum))
    if r.has("max_body_bytes"):
        values["max_body_bytes"] = r.number("max_body_bytes", minimum=4096, integer=True)
    if r.has("log_level"):
        values["log_level"] = r.choice("log_level", _LOG_LEVELS)
    r.done()
    return values


def _host_port(r: Reader, key: str) -> tuple[str, int]:
    text = r.string(key)
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise r.error(f"expected HOST:PORT, got {text!r}", key)
    return host, int(port)
