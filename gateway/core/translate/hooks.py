"""The mapping hooks (named in `mappings/*.yaml`): small functions over one charger's translation state.

Contracts are listed in `gateway.core.mapping` (HOOK_CONTRACTS); this module implements them, the
1.5 lift's (`lift15_*`) coming from `gateway.core.translate.lift15_hooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from gateway.core.convert import OMIT
from gateway.core.translate import triggered
from gateway.core.translate.context import HandlerContext
from gateway.core.translate.lift15_hooks import LIFT15_HOOKS
from gateway.core.translate.tokens import to_id_tag, to_id_token
from gateway.errors import LocalError

Hook = Callable[[HandlerContext, Mapping[str, Any], Any], Any]


def _records(ctx: HandlerContext) -> list[dict[str, Any]]:
    return list(ctx.state.read("tx").get("records", {}).values())


def _evse_of(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    return 0 if int(value) == 0 else ctx.settings.topology.evse_of(int(value))[0]


def _evse_connector_of(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    return ctx.settings.topology.evse_of(int(value))[1]


def _evse_connector_if_shared(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    evse, connector = ctx.settings.topology.evse_of(int(value))
    shared = sum(1 for e, _ in ctx.settings.topology.pairs if e == evse) > 1
    return connector if shared else OMIT


def _connector_of(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, Mapping):
        return ctx.settings.topology.connector_of(int(value["id"]), value.get("connectorId"))
    return ctx.settings.topology.connector_of(int(value))


def _boot_reason(ctx: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
    cache = ctx.state.read("cache")
    if triggered.boot_pending(ctx):
        return "Triggered"
    if cache.get("resetSinceBoot"):
        return "RemoteReset"
    if ctx.state.read("jobs").get("firmware", {}).get("status") in ("Downloaded", "Installing", "Installed"):
        return "FirmwareUpdate"
    return ctx.settings.boot_default_reason


def _remember_boot(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    cache = ctx.state.doc("cache")
    cache["boot"] = dict(payload)
    cache["resetSinceBoot"] = False
    triggered.take_boot(ctx)
    return None


def _remember_reset(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    cache = ctx.state.doc("cache")
    cache["resetSinceBoot"] = True
    cache["lastResetType"] = payload.get("type")
    return None


def _remember_trigger(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    triggered.requested(ctx, payload)
    return None


def _trigger_answered(ctx: HandlerContext, payload: Mapping[str, Any], request: Any) -> Any:
    triggered.answered(ctx, payload, request)
    return None


def _remote_start_id(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    remote_start_id = ctx.state.next_counter("remoteStartId", ctx.wall_clock())
    _pending_remote_start(ctx, remote_start_id, str(payload.get("idTag", "")), payload.get("connectorId"))
    return remote_start_id


def _remember_remote_start(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    # 2.0.1 RequestStartTransaction going to a 1.x charger: remember it for the StartTransaction to come.
    id_tag = to_id_tag(ctx.state, ctx.settings, dict(payload["idToken"]))
    evse = payload.get("evseId")
    connector = ctx.settings.topology.connector_of(int(evse)) if evse is not None else None
    _pending_remote_start(ctx, int(payload["remoteStartId"]), id_tag, connector)
    return None


def _pending_remote_start(ctx: HandlerContext, remote_start_id: int, id_tag: str, connector: Any) -> None:
    now = ctx.wall_clock()
    pending = [e for e in ctx.state.read("cache").get("remoteStarts", []) if now - float(e["at"]) <= 3600]
    pending.append({"remoteStartId": remote_start_id, "idTag": id_tag, "connector": connector, "at": now})
    ctx.state.doc("cache")["remoteStarts"] = pending[-32:]


def _tx_id_to_2x(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    for record in _records(ctx):
        if record.get("id16") == value and "id201" in record:
            return record["id201"]
        if record.get("upstream16") == value and "id201" in record:
            return record["id201"]
    return OMIT


def _tx_id_to_1x(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    for record in _records(ctx):
        if record.get("id201") == value:
            for key in ("id16", "upstream16"):
                if record.get(key) is not None:
                    return record[key]
    return OMIT


def _tx_id_for_profile(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
    profile = payload.get("csChargingProfiles", {})
    if profile.get("transactionId") is not None:
        return _tx_id_to_2x(ctx, payload, profile["transactionId"])
    connector = payload.get("connectorId")
    for record in _records(ctx):
        if record.get("connector16") == connector and record.get("state") == "active":
            return record.get("id201", OMIT)
    return OMIT


def _transaction_open(ctx: HandlerContext, _p: Mapping[str, Any], value: Any) -> Any:
    return any(r.get("state") == "active" and (value is None or r.get("connector16") == value)
               for r in _records(ctx))


def _new_job(kind: str) -> Hook:
    def new_job(ctx: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
        request_id = ctx.state.next_counter(f"{kind}RequestId", ctx.wall_clock())
        ctx.state.doc("jobs")[kind] = {"requestId": request_id, "status": None}
        return request_id
    return new_job


def _job_request_id(kind: str) -> Hook:
    def job_request_id(ctx: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
        job = ctx.state.read("jobs").get(kind)
        return job["requestId"] if job and job.get("requestId") is not None else OMIT
    return job_request_id


def _remember_job(kind: str, **extra: Any) -> Hook:
    def remember_job(ctx: HandlerContext, payload: Mapping[str, Any], _v: Any) -> Any:
        if payload.get("requestId") is not None:
            ctx.state.doc("jobs")[kind] = {"requestId": payload["requestId"], "status": None, **extra,
                                           "logType": payload.get("logType")}
        return None
    return remember_job


def _job_flag(kind: str, flag: str) -> Hook:
    def job_flag(ctx: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
        job = ctx.state.read("jobs").get(kind) or {}
        return bool(job.get(flag)) if flag != "SecurityLog" else job.get("logType") == "SecurityLog"
    return job_flag


def _false(_c: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
    return False


def _ignore(_c: HandlerContext, _p: Mapping[str, Any], _v: Any) -> Any:
    return None


HOOKS: Final[dict[str, Hook]] = {
    "token_to_2x": lambda ctx, _p, value: to_id_token(ctx.state, ctx.settings, str(value)),
    "token_to_1x": lambda ctx, _p, value: to_id_tag(ctx.state, ctx.settings, dict(value)),
    "evse_of_connector": _evse_of,
    "evse_connector_of_connector": _evse_connector_of,
    "evse_connector_if_shared": _evse_connector_if_shared,
    "connector_of_evse": _connector_of,
    "boot_reason": _boot_reason,
    "remember_boot": _remember_boot,
    "remember_reset": _remember_reset,
    "remember_trigger": _remember_trigger,
    "trigger_answered": _trigger_answered,
    "remote_start_id": _remote_start_id,
    "remember_remote_start": _remember_remote_start,
    "remote_start_answered": _ignore,
    "tx_id_to_2x": _tx_id_to_2x,
    "tx_id_to_1x": _tx_id_to_1x,
    "tx_id_for_profile": _tx_id_for_profile,
    "transaction_open": _transaction_open,
    "new_firmware_job": _new_job("firmware"),
    "new_log_job": _new_job("log"),
    "firmware_request_id": _job_request_id("firmware"),
    "log_request_id": _job_request_id("log"),
    "remember_firmware_job": _remember_job("firmware"),
    "remember_signed_firmware_job": _remember_job("firmware", signed=True),
    "remember_log_job": _remember_job("log"),
    "signed_firmware_job": _job_flag("firmware", "signed"),
    "security_log_job": _job_flag("log", "SecurityLog"),
    "firmware_update_answered": _ignore,
    # Neither side of a translated pair is assumed to have the 1.6 security extension (TRANSLATION.md 2.10),
    # and connection settings are never forwarded (1.9); both are settings still to come.
    "security_extension": _false,
    "forward_connection_settings": _false,
    **LIFT15_HOOKS,  # 1.5 charger lifted to 1.6 (TRANSLATION.md 5)
}


def call_hook(ctx: HandlerContext, name: str, payload: Mapping[str, Any], value: Any) -> Any:
    """Run one hook by name."""
    hook = HOOKS.get(name)
    if hook is None:
        raise LocalError(f"mapping hook {name!r} is not implemented")
    return hook(ctx, payload, value)
