"""The notify hooks of the 1.5 -> 1.6 mapping file: what the lift remembers from messages it maps.

Each runs on the lift's own ChargerState (its "l15." documents). Contracts: gateway.core.mapping
HOOK_CONTRACTS. Response hooks get the peer's answer and, as their value, the request it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from gateway.core.translate.context import HandlerContext
from gateway.core.translate.lift15_tx import remember_remote_stop, remember_reset, remember_unlock

Hook = Callable[[HandlerContext, Mapping[str, Any], Any], Any]


def boot_answered(ctx: HandlerContext, answer: Mapping[str, Any], *, charger_told: bool = True) -> None:
    """Keep the CSMS's answer to a BootNotification (the boot cache of TRANSLATION.md 6.2).

    Args:
        ctx: the lift's context.
        answer: the 1.6 BootNotification response.
        charger_told: the answer went on to the charger, so its interval is now the charger's heartbeat
            interval (the 1.5 answer carries it even for Pending, sent as Rejected, 5.1). False for a
            boot the gateway sent itself (emulated trigger).
    """
    cache = ctx.state.doc("cache")
    cache["bootAnswer"] = {"status": answer.get("status"), "interval": answer.get("interval")}
    if charger_told and isinstance(answer.get("interval"), int):
        cache["interval"] = answer["interval"]


def told_interval(ctx: HandlerContext) -> int | None:
    """The heartbeat interval the charger was last given (boot answer or ChangeConfiguration), or None."""
    value = ctx.state.read("cache").get("interval")
    return value if isinstance(value, int) else None


def remember_interval(ctx: HandlerContext, interval: int) -> None:
    """The charger accepted a new heartbeat interval."""
    ctx.state.doc("cache")["interval"] = interval


def last_job_status(ctx: HandlerContext, kind: str) -> str | None:
    """The last firmware or diagnostics status the charger sent (`kind`: firmware, diagnostics), or None."""
    value = ctx.state.read("jobs").get(f"{kind}Status")
    return str(value) if value is not None else None


def _job_status(kind: str) -> Hook:
    def remember(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
        ctx.state.doc("jobs")[f"{kind}Status"] = payload.get("status")
        return None
    return remember


def _accepted(answer: Mapping[str, Any], request: Any) -> bool:
    return answer.get("status") == "Accepted" and isinstance(request, Mapping)


def _remote_stop_answered(ctx: HandlerContext, answer: Mapping[str, Any], request: Any) -> Any:
    if _accepted(answer, request) and request.get("transactionId") is not None:
        remember_remote_stop(ctx, int(request["transactionId"]))
    return None


def _reset_answered(ctx: HandlerContext, answer: Mapping[str, Any], request: Any) -> Any:
    if _accepted(answer, request) and request.get("type") is not None:
        remember_reset(ctx, str(request["type"]))
    return None


def _unlock_answered(ctx: HandlerContext, answer: Mapping[str, Any], request: Any) -> Any:
    # 1.5 UnlockStatus Accepted: the connector was unlocked (5.5 maps it to Unlocked).
    if _accepted(answer, request) and request.get("connectorId") is not None:
        remember_unlock(ctx, int(request["connectorId"]))
    return None


def _boot_answered(ctx: HandlerContext, answer: Mapping[str, Any], _request: Any) -> Any:
    boot_answered(ctx, answer)
    return None


#: The lift's hooks, by the name the mapping file uses.
LIFT15_HOOKS: Final[dict[str, Hook]] = {
    "lift15_boot_answered": _boot_answered,
    "lift15_firmware_status": _job_status("firmware"),
    "lift15_diagnostics_status": _job_status("diagnostics"),
    "lift15_remote_stop_answered": _remote_stop_answered,
    "lift15_reset_answered": _reset_answered,
    "lift15_unlock_answered": _unlock_answered,
}
