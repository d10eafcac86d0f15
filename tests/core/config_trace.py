"""Helpers for configuration traces (TRANSLATION.md 4.7, 4.8): a session translating with the built-in rules."""

from __future__ import annotations

from functools import cache
from typing import Any

from gateway.core.dialects import Dialect
from gateway.core.mapping import RuleSet
from gateway.core.session import Save
from gateway.core.translate.config201 import use_config_keys
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.settings import Topology, TranslationSettings
from gateway.core.translate.state import ChargerState
from gateway.core.translate.translator import Translation
from gateway.mapping_files import load_mappings
from tests.core.playbook import Playbook, readable

C16, C201 = Dialect.OCPP16, Dialect.OCPP201
NOW = 1_795_000_000.0
NOW_ISO = "2026-11-18T11:06:40.000Z"
HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Wall-7", "chargePointSerialNumber": "SN1"}


class TracePlaybook(Playbook):
    """A Playbook that also spells Save commands, as ("save", key, value)."""

    def _drain(self) -> list[tuple[Any, ...]]:
        self.raw = self.session.commands()
        return [("save", c.key, c.value) if isinstance(c, Save) else readable(c) for c in self.raw]


@cache
def rules() -> RuleSet:
    return load_mappings()


def use_key_table() -> None:
    """What the edge does at start-up: hand the built-in key table to the configuration handlers."""
    use_config_keys(rules().config_keys(C16, C201))


def playbook(charger: Dialect, docs: dict[str, Any] | None = None,
             topology: tuple[tuple[int, int], ...] = ()) -> tuple[Playbook, ChargerState]:
    """A session between a `charger` and a CSMS of the other version, translating with the built-in rules."""
    upstream = C201 if charger is C16 else C16
    ctx = HandlerContext("CB1", charger, upstream, ChargerState(docs), TranslationSettings(topology=Topology(topology)),
                         lambda: NOW)
    return TracePlaybook(charger, upstream, Translation(ctx, rules()), max_frame=65_536), ctx.state


def sent(commands: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
    """The frames a step sent, as (leg, frame)."""
    return [(c[1], c[2]) for c in commands if c[0] == "send"]


def model(**entries: dict[str, Any]) -> dict[str, Any]:
    """A "cache" document holding a device-model cache (`__` spells `/`, `_` spells `:` in the keys)."""
    return {"cache": {"deviceModel": {k.replace("__", "/").replace("_", ":"): v for k, v in entries.items()}}}


def only_payload(frames: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    """The payload of the only frame of a step."""
    assert len(frames) == 1
    payload: dict[str, Any] = frames[0][1][-1]
    return payload
