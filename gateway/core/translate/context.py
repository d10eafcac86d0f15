"""What a translation handler works with: the charger's state, settings, clock and helpers shared by handlers."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow, Reply, Request, Step
from gateway.core.ocppj import Call, CallError, JsonObject
from gateway.core.session_types import Leg
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import ChargerState
from gateway.errors import GatewayError

#: AuthorizationStatus 2.0.1 -> 1.x (TRANSLATION.md 1.8): every 2.0.1-only refusal becomes Invalid.
AUTH_TO_16: Final = {
    "Accepted": "Accepted",
    "Blocked": "Blocked",
    "ConcurrentTx": "ConcurrentTx",
    "Expired": "Expired",
    "Invalid": "Invalid",
}


class PeerCallError(GatewayError):
    """The other leg answered a translated call with a CALLERROR; the source hears the same code."""

    def __init__(self, error: CallError) -> None:
        super().__init__(error.error_description or f"the other side answered {error.error_code}")
        self.ocpp_code = error.error_code


@dataclass(slots=True)
class HandlerContext:
    """One charger's translation context."""

    charge_box_id: str
    charger: Dialect
    upstream: Dialect
    state: ChargerState
    settings: TranslationSettings
    wall_clock: Callable[[], float]

    def utc_now(self) -> str:
        """Wall-clock time as RFC 3339 UTC with `Z` (TRANSLATION.md 1.6)."""
        return iso(self.wall_clock())


Handler = Callable[[HandlerContext, Call, float], Flow]


def iso(seconds: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC, millisecond precision, `Z` suffix."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ask(leg: Leg, action: str, payload: JsonObject) -> Generator[Step, Reply | None, JsonObject]:
    """Send one call and return its result payload; a CALLERROR ends the flow with the same code."""
    reply = yield Request(leg, action, payload)
    assert reply is not None
    if reply.error is not None:
        raise PeerCallError(reply.error)
    return reply.payload or {}


def try_ask(leg: Leg, action: str, payload: JsonObject) -> Generator[Step, Reply | None, JsonObject | None]:
    """Send a secondary call (TRANSLATION.md 1.1 fan-out): its failure does not fail the source."""
    reply = yield Request(leg, action, payload)
    assert reply is not None
    return reply.payload if reply.error is None else None


def id_tag_info_of(ctx: HandlerContext, token_info: JsonObject | None) -> JsonObject:
    """2.0.1 idTokenInfo -> 1.x idTagInfo (TRANSLATION.md 1.8)."""
    from gateway.core.translate.tokens import to_id_tag

    if not token_info:
        return {"status": "Accepted"}
    info: JsonObject = {"status": AUTH_TO_16.get(str(token_info.get("status")), "Invalid")}
    if "cacheExpiryDateTime" in token_info:
        info["expiryDate"] = token_info["cacheExpiryDateTime"]
    if isinstance(token_info.get("groupIdToken"), dict):
        info["parentIdTag"] = to_id_tag(ctx.state, ctx.settings, token_info["groupIdToken"])
    return info


def id_token_info_of(ctx: HandlerContext, tag_info: JsonObject | None) -> JsonObject:
    """1.x idTagInfo -> 2.0.1 idTokenInfo (TRANSLATION.md 1.8)."""
    from gateway.core.translate.tokens import to_id_token

    if not tag_info:
        return {"status": "Accepted"}
    info: JsonObject = {"status": tag_info.get("status", "Invalid")}
    if "expiryDate" in tag_info:
        info["cacheExpiryDateTime"] = tag_info["expiryDate"]
    if "parentIdTag" in tag_info:
        group = to_id_token(ctx.state, ctx.settings, str(tag_info["parentIdTag"]))
        info["groupIdToken"] = {"idToken": group["idToken"], "type": "Central"}
    return info
