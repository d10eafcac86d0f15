"""GetConfiguration and ChangeConfiguration from a 1.6 CSMS to a 1.5 charger (TRANSLATION.md 5.5, 5.6).

The payloads are the same in both versions; the keys are not quite. `HeartBeatInterval` (1.5) is
`HeartbeatInterval` in 1.6: keys match without regard to case and leave in the receiver's spelling.
`SupportedFeatureProfiles` and `NumberOfConnectors` have no 1.5 key, so the gateway answers them
itself (4.7.1 "local"), merged with the charger's answer when other keys are asked too. Keys and
values longer than 1.6 allows (1.5 has no limits) are cut to size: keys longer than 50 characters
cannot be named in 1.6 at all and are left out, values are truncated to 500.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.core.flow import Flow
from gateway.core.ocppj import Call, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate import lift15_status
from gateway.core.translate.context import HandlerContext, ask
from gateway.core.translate.lift15_hooks import remember_interval

log = logging.getLogger(__name__)

#: Keys spelt differently in 1.5 and 1.6, by lower-case name: (1.6 spelling, 1.5 spelling).
RENAMED_KEYS: Final = {"heartbeatinterval": ("HeartbeatInterval", "HeartBeatInterval")}
#: What a 1.5 charger supports in 1.6 terms; RemoteTrigger is emulated (5.5.1), SmartCharging is not.
FEATURE_PROFILES: Final = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger"
#: Keys the gateway answers itself, by lower-case name, in 1.6 spelling; all read-only.
LOCAL_KEYS: Final = {"supportedfeatureprofiles": "SupportedFeatureProfiles",
                     "numberofconnectors": "NumberOfConnectors"}
KEY_MAX_16: Final = 50
VALUE_MAX_16: Final = 500


def key_to_15(key: str) -> str:
    """A 1.6 key in 1.5 spelling (unchanged unless 5.6 renames it)."""
    renamed = RENAMED_KEYS.get(key.lower())
    return renamed[1] if renamed else key


def key_to_16(key: str) -> str:
    """A 1.5 key in 1.6 spelling (unchanged unless 5.6 renames it)."""
    renamed = RENAMED_KEYS.get(key.lower())
    return renamed[0] if renamed else key


def _local_value(ctx: HandlerContext, key: str) -> str | None:
    if key == "SupportedFeatureProfiles":
        return FEATURE_PROFILES
    count = lift15_status.connector_count(ctx)
    return str(count) if count > 0 else None  # not known before the charger reported a connector


def get_configuration(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.6 GetConfiguration -> 1.5: local keys answered by the gateway, the rest asked with 1.5 names (5.6)."""
    asked: list[str] = list(call.payload.get("key") or [])
    local = [LOCAL_KEYS[k.lower()] for k in asked if k.lower() in LOCAL_KEYS] if asked else list(LOCAL_KEYS.values())
    remote = [key_to_15(k) for k in asked if k.lower() not in LOCAL_KEYS]
    entries: list[JsonObject] = []
    unknown: list[str] = []
    if remote or not asked:
        answer = yield from ask(Leg.CHARGER, "GetConfiguration", {"key": remote} if remote else {})
        for entry in answer.get("configurationKey") or []:
            key = key_to_16(str(entry["key"]))
            if key.lower() in LOCAL_KEYS:
                continue  # the gateway's own answer stands
            if len(key) > KEY_MAX_16:
                log.debug("configuration key %.50s... longer than %d characters: left out", key, KEY_MAX_16)
                continue
            lifted: JsonObject = {"key": key, "readonly": bool(entry["readonly"])}
            if entry.get("value") is not None:
                lifted["value"] = str(entry["value"])[:VALUE_MAX_16]
                if len(str(entry["value"])) > VALUE_MAX_16:
                    log.debug("value of %s longer than %d characters: truncated", key, VALUE_MAX_16)
            entries.append(lifted)
        named = [key_to_16(str(k)) for k in answer.get("unknownKey") or []]
        unknown += [k for k in named if len(k) <= KEY_MAX_16]
    for key in dict.fromkeys(local):
        value = _local_value(ctx, key)
        if value is not None:
            entries.append({"key": key, "readonly": True, "value": value})
        elif asked:
            unknown.append(key)  # unknownKey lists asked keys only
    result: JsonObject = {}
    if entries:
        result["configurationKey"] = entries
    if unknown:
        result["unknownKey"] = unknown
    return result


def change_configuration(ctx: HandlerContext, call: Call, now: float) -> Flow:
    """1.6 ChangeConfiguration -> 1.5 with the key in 1.5 spelling (5.6); the gateway's own keys are read-only."""
    key, value = str(call.payload["key"]), str(call.payload["value"])
    if key.lower() in LOCAL_KEYS:
        return {"status": "Rejected"}
    answer = yield from ask(Leg.CHARGER, "ChangeConfiguration", {"key": key_to_15(key), "value": value})
    status = str(answer.get("status", "Rejected"))
    if status == "Accepted" and key.lower() == "heartbeatinterval" and value.strip().isdigit():
        remember_interval(ctx, int(value))  # an emulated boot trigger compares against it (5.5.1)
    return {"status": status}
