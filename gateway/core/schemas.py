"""Validation of OCPP-J payloads against the official JSON schemas shipped in the `ocpp` package.

Schemas are read as package data and compiled once per (dialect, action, direction) on first use;
fastjsonschema turns each into plain Python, which keeps validation cheap enough for every message.
OCPP 1.5 has no JSON schemas of its own: the SOAP codec derives them from the 1.5 XSD
(`gateway.soap.json_schema`), in the JSON shape its payload dicts have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import fastjsonschema

from gateway.core.dialects import Dialect
from gateway.core.schema_precheck import compile_precheck
from gateway.errors import (
    FormatViolation,
    NotImplementedAction,
    OccurrenceConstraintViolation,
    PropertyConstraintViolation,
    RemoteError,
    TypeConstraintViolation,
)

Direction = Literal["request", "response"]
_Validator = Callable[[Any], Any]

_PACKAGE_DIRS: Final = {Dialect.OCPP16: "v16/schemas", Dialect.OCPP201: "v201/schemas"}

# Which OCPP-J error a failed JSON-schema keyword is (OCPP 2.0.1 part 4 section 4.3).
_RULE_ERRORS: Final[dict[str, type[RemoteError]]] = {
    "type": TypeConstraintViolation,
    "required": OccurrenceConstraintViolation,
    "minItems": OccurrenceConstraintViolation,
    "maxItems": OccurrenceConstraintViolation,
    "enum": PropertyConstraintViolation,
    "const": PropertyConstraintViolation,
    "maxLength": PropertyConstraintViolation,
    "minLength": PropertyConstraintViolation,
    "minimum": PropertyConstraintViolation,
    "maximum": PropertyConstraintViolation,
    "exclusiveMinimum": PropertyConstraintViolation,
    "exclusiveMaximum": PropertyConstraintViolation,
    "multipleOf": PropertyConstraintViolation,
    "pattern": PropertyConstraintViolation,
    "format": PropertyConstraintViolation,
    "additionalProperties": FormatViolation,
}


def _file_name(dialect: Dialect, action: str, direction: Direction) -> str:
    if direction == "response":
        return f"{action}Response.json"
    return f"{action}Request.json" if dialect is Dialect.OCPP201 else f"{action}.json"


def soap15_schema(action: str, direction: Direction) -> dict[str, Any]:
    """The draft-04 JSON schema of one OCPP 1.5 payload, in the SOAP codec's JSON shape (a fresh dict)."""
    # Imported here: only 1.5 deployments pay for the codec's schema module, and it imports the core.
    from gateway.soap.json_schema import json_schema

    return json_schema(Dialect.OCPP15_SOAP, action, direction)


@cache
def actions(dialect: Dialect) -> frozenset[str]:
    """Every action the official schemas define for the dialect's JSON family (1.5: the codec's)."""
    family = dialect.json_family
    if family is Dialect.OCPP15_SOAP:
        from gateway.soap.json_schema import json_actions

        return frozenset(json_actions(family))
    folder = resources.files("ocpp").joinpath(_PACKAGE_DIRS[family])
    names = {entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json")}
    if family is Dialect.OCPP201:
        return frozenset(n.removesuffix("Request") for n in names if n.endswith("Request"))
    return frozenset(n for n in names if not n.endswith("Response"))


@cache
def _validator(family: Dialect, action: str, direction: Direction) -> _Validator:
    if family is Dialect.OCPP15_SOAP:
        schema = soap15_schema(action, direction)
    else:
        path = resources.files("ocpp").joinpath(_PACKAGE_DIRS[family], _file_name(family, action, direction))
        schema = json.loads(path.read_text(encoding="utf-8"))
    # use_default=False: validation must never fill in defaults, i.e. change what we forward.
    compiled: _Validator = fastjsonschema.compile(schema, use_default=False)
    precheck = compile_precheck(schema)
    if precheck is None:
        return compiled

    def validate(payload: Any) -> Any:
        # The pre-check only ever says "valid" (it answers False, never raises, for a shape it did not
        # foresee); anything else is fastjsonschema's to judge and word.
        return payload if precheck(payload) else compiled(payload)

    return validate


#: Compiled validators by the exact arguments of `validate`: one dict lookup on the hot path.
_BY_KEY: dict[tuple[Dialect, str, str], _Validator] = {}


def validate(dialect: Dialect, action: str, direction: Direction, payload: Any) -> None:
    """Check one payload against its official schema.

    Args:
        dialect: whose schemas apply (1.6 over SOAP uses the 1.6 JSON schemas, 1.5 the codec's).
        action: the OCPP action, e.g. "BootNotification".
        direction: "request" for a CALL payload, "response" for a CALLRESULT payload.
        payload: the decoded JSON payload.

    Raises:
        NotImplementedAction: the action does not exist in that OCPP version.
        RemoteError: the subclass naming the violated constraint (type, occurrence, property, format).
    """
    validator = _BY_KEY.get((dialect, action, direction))
    if validator is None:
        if action not in actions(dialect):
            raise NotImplementedAction(f"{action} is not an OCPP {dialect.json_family} action")
        validator = _BY_KEY[(dialect, action, direction)] = _validator(dialect.json_family, action, direction)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        error = _RULE_ERRORS.get(exc.rule or "", FormatViolation)
        raise error(f"{action} {direction}: {exc.message}") from None
