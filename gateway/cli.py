"""Command line: `ocpp-gateway run | check`; logging to stderr; errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ocpp-gateway` script; returns the process exit code."""
    args = _parser().parse_args(argv)
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
    try:
        from gateway.app import serve

        asyncio.run(serve(config))
    except GatewayError as exc:
        logging.getLogger(__name__).error("%s", exc)
        return EXIT_FAILURE
    except OSError as exc:
        logging.getLogger(__name__).error("cannot start: %s", exc)
        return EXIT_FAILURE
    return EXIT_OK
