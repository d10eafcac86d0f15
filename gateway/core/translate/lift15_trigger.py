"""TriggerMessage for a 1.5 charger, which has none: emulated by the gateway (TRANSLATION.md 5.5.1).

The CSMS hears Accepted first, as from a 1.6 charger, and then the triggered message, which the
gateway sends upstream itself from what it remembers of the charger: its last BootNotification, the
last statuses sent, the last firmware and diagnostics status. What it cannot know it refuses:
Rejected when nothing is remembered yet, NotImplemented for MeterValues (a 1.5 charger cannot be
asked for a reading; policy 1.3 b).
"""

from __future__ import annotations

from typing import Final

from gateway.core.flow import Flow, Respond
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import lift15_status
from gateway.core.translate.context import HandlerContext, try_ask
from gateway.core.translate.lift15_hooks import boot_answered, last_job_status, remember_interval, told_interval

#: Firmware statuses after which the charger is busy no more: a trigger then reports Idle (5.5.1).
_FIRMWARE_DONE: Final = frozenset({"DownloadFailed", "InstallationFailed", "Installed"})
_ACCEPTED: Final = {"status": "Accepted"}
_REJECTED: Final = {"status": "Rejected"}


def trigger_message(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.6 TriggerMessage toward a 1.5 charger: answered by the gateway, the message sent by it (5.5.1)."""
    requested = str(call.payload["requestedMessage"])
    if requested == "MeterValues":
        return {"status": "NotImplemented"}
    if requested == "BootNotification":
        return (yield from _boot(ctx))
    if requested == "StatusNotification":
        return (yield from _statuses(ctx, call.payload.get("connectorId")))
    if requested == "Heartbeat":
        yield Respond(_ACCEPTED)
        yield from try_ask(Leg.CSMS, "Heartbeat", {})
        return None
    kind, action = (("firmware", "FirmwareStatusNotification") if requested == "FirmwareStatusNotification"
                    else ("diagnostics", "DiagnosticsStatusNotification"))
    yield Respond(_ACCEPTED)
    yield from try_ask(Leg.CSMS, action, {"status": _job_status(ctx, kind)})
    return None


def _job_status(ctx: HandlerContext, kind: str) -> str:
    # 1.6 Idle means "not busy"; of the 1.5 statuses only Downloaded leaves a job running (install next).
    last = last_job_status(ctx, kind)
    if kind == "firmware" and last is not None and last not in _FIRMWARE_DONE:
        return last
    return "Idle"


def _boot(ctx: HandlerContext) -> Flow:
    boot = ctx.state.read("cache").get("boot")
    if not isinstance(boot, dict):
        return _REJECTED  # no BootNotification seen yet (6.2: cannot be emulated until the next boot)
    yield Respond(_ACCEPTED)
    answer = yield from try_ask(Leg.CSMS, "BootNotification", dict(boot))
    if answer is None:
        return None
    boot_answered(ctx, answer, charger_told=False)
    interval = answer.get("interval")
    if answer.get("status") == "Accepted" and isinstance(interval, int) and interval > 0 \
            and interval != told_interval(ctx):
        # The charger did not see this answer: tell it the new interval the 1.5 way (5.5.1, 5.6).
        change = {"key": "HeartBeatInterval", "value": str(interval)}
        pushed = yield from try_ask(Leg.CHARGER, "ChangeConfiguration", change)
        if pushed is not None and pushed.get("status") == "Accepted":
            remember_interval(ctx, interval)
    return None


def _statuses(ctx: HandlerContext, connector: object) -> Flow:
    sent = lift15_status.last_sent(ctx)
    if isinstance(connector, int):
        chosen = [sent[connector]] if connector in sent else []
        connectors = [connector]
    else:
        connectors = sorted(sent)
        chosen = [sent[c] for c in connectors]
    if not chosen:
        return _REJECTED  # nothing known yet; a 1.5 charger cannot be asked (6.2)
    yield Respond(_ACCEPTED)
    timestamp = ctx.utc_now()
    for number, entry in zip(connectors, chosen, strict=True):
        request: JsonObject = {"connectorId": number, "errorCode": entry["errorCode"], "status": entry["status"],
                               "timestamp": timestamp}
        yield from try_ask(Leg.CSMS, "StatusNotification", request)
    return None
