"""idTag (1.x, 20 characters) <-> idToken (2.0.1, value + type): type cache and aliases (TRANSLATION.md 1.8)."""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from gateway.core.ocppj import JsonObject
from gateway.core.translate.settings import TranslationSettings
from gateway.core.translate.state import ChargerState

MAX_ID_TAG: Final = 20


def alias_of(value: str, token_type: str) -> str:
    """The deterministic 20-character alias of a long token: `#` + 19 characters of base32(SHA-256)."""
    digest = hashlib.sha256(f"{token_type}:{value}".encode()).digest()
    return "#" + base64.b32encode(digest).decode("ascii")[:19]


def to_id_token(state: ChargerState, settings: TranslationSettings, id_tag: str) -> JsonObject:
    """A 1.x idTag as the 2.0.1 idToken the other side first knew it as (or with the default type)."""
    tokens = state.read("tokens")
    key = id_tag.upper()  # 1.x compares idTags case-insensitively
    alias = tokens.get("aliases", {}).get(key)
    if alias is not None:
        token: JsonObject = {"idToken": alias["value"], "type": alias["type"]}
        if alias.get("additionalInfo"):
            token["additionalInfo"] = alias["additionalInfo"]
        return token
    known = tokens.get("types", {}).get(key)
    if known is not None:
        token = {"idToken": id_tag, "type": known["type"]}
        if known.get("additionalInfo"):
            token["additionalInfo"] = known["additionalInfo"]
        return token
    return {"idToken": id_tag, "type": settings.default_token_type}


def to_id_tag(state: ChargerState, settings: TranslationSettings, id_token: JsonObject) -> str:
    """A 2.0.1 idToken as a 1.x idTag; its type is remembered, long values get a persisted alias."""
    value, token_type = str(id_token.get("idToken", "")), str(id_token.get("type", settings.default_token_type))
    if token_type == "NoAuthorization":
        return settings.no_authorization_idtag
    entry: JsonObject = {"type": token_type}
    if id_token.get("additionalInfo"):
        entry["additionalInfo"] = id_token["additionalInfo"]
    if len(value) <= MAX_ID_TAG:
        _remember(state, "types", value.upper(), entry)
        return value
    alias = alias_of(value, token_type)
    _remember(state, "aliases", alias.upper(), {"value": value, **entry})
    return alias


def _remember(state: ChargerState, table: str, key: str, entry: JsonObject) -> None:
    if state.read("tokens").get(table, {}).get(key) != entry:
        state.doc("tokens").setdefault(table, {})[key] = entry
