"""Command line: `ocpp-gateway run | check | tunnel`; logging to stderr; errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from gateway import __version__
from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


class _ChargerIdDefault(logging.Filter):
    """Gives records logged outside any charger's context an empty charge box id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "charge_box_id"):
            record.charge_box_id = "-"
        return True


def configure_logging(level: str) -> None:
    """Log lines to stderr, each with the charge box id it concerns ("-" for none)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ChargerIdDefault())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(charge_box_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-gateway", description="OCPP protocol gateway")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the gateway until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, help="path to the YAML configuration")
    check = commands.add_parser("check", help="validate the configuration and mappings, bind nothing")
    check.add_argument("--config", required=True, help="path to the YAML configuration")
    tunnel = commands.add_parser(
        "tunnel", help="run a NAT tunnel agent on the chargers' site until SIGTERM/SIGINT (docs/tunnel.md)",
        description="Dial out to the gateway's /tunnel and carry SOAP between it and local chargers. "
                    "Every option may also be given in the --config file (same names with _ for -; --charger "
                    "entries as `chargers: {ID: URL}`); "
                    "the command line wins.")
    tunnel.add_argument("--gateway", help="the gateway's tunnel URL: ws://HOST:PORT/tunnel (wss:// with TLS)")
    tunnel.add_argument("--site", help="this site's name, as in the gateway's tunnel.sites")
    tunnel.add_argument("--token", help="this site's token; may be ${VAR} (better: keep it in the config file)")
    tunnel.add_argument("--charger", action="append", type=_charger, default=[], metavar="ID=URL",
                        help="a charger and its local SOAP URL (ChargePointService); repeat for each")
    tunnel.add_argument("--listen", metavar="HOST:PORT", help="also accept the chargers' own SOAP requests here")
    tunnel.add_argument("--config", help="a YAML file with the same keys (gateway, site, token, chargers, ...)")
    tunnel.add_argument("--ca-file", help="PEM CA bundle trusted for a wss:// gateway (default: system store)")
    tunnel.add_argument("--call-timeout", type=float,
                        help="seconds a charger has to answer a carried call (default 25; keep it under the "
                             "gateway's soap.call_timeout)")
    tunnel.add_argument("--ping-interval", type=float, help="seconds between pings to the gateway (default 30)")
    tunnel.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def _charger(text: str) -> tuple[str, str]:
    charge_box_id, sep, url = text.partition("=")
    if not sep or not charge_box_id or not url:
        raise argparse.ArgumentTypeError(f"expected ID=URL, got {text!r}")
    return charge_box_id, url


def _tunnel(args: argparse.Namespace) -> int:
    from gateway.agent_config import load_agent_config

    try:
        config = load_agent_config(args.config, {
            "gateway": args.gateway, "site": args.site, "token": args.token, "chargers": dict(args.charger),
            "listen": args.listen, "ca_file": args.ca_file, "call_timeout": args.call_timeout,
            "ping_interval": args.ping_interval, "log_level": args.log_level,
        })
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.log_level)
    from gateway.net.tunnel_agent import serve_agent

    return _run(serve_agent(config))


def _run(main: Coroutine[Any, Any, None]) -> int:
    """Run the gateway or the agent until it stops; what ends it becomes the exit code."""
    try:
        asyncio.run(main)
    except GatewayError as exc:
        logging.getLogger(__name__).error("%s", exc)
        return EXIT_FAILURE
    except OSError as exc:
        logging.getLogger(__name__).error("cannot start: %s", exc)
        return EXIT_FAILURE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ocpp-gateway` script; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "tunnel":
        return _tunnel(args)
    try:
        config = load_config(args.config)
        from gateway.translation import load_translation_rules

        load_translation_rules(config)  # the mapping files, checked exactly as `run` loads them
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        print(f"{args.config}: ok")
        return EXIT_OK
    configure_logging(config.log_level)
    from gateway.app import serve

    return _run(serve(config))
