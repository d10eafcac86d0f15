"""JSON schemas (draft-04, like the `ocpp` package's) of the payload dicts the SOAP codec produces and consumes.

Derived from the WSDL type tables, so 1.5, which has no official JSON schemas, is validated the same
way as 1.6. The shape is the codec's JSON convention: XSD names, repeated elements as arrays,
ints as integers, decimals as numbers, dateTime as a date-time string, and the 1.5 MeterValue
`value` (text with attributes) as an object with a "value" key and one key per attribute.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Final, Literal

from gateway.core.dialects import Dialect
from gateway.soap.types import SERVICES, ComplexType, SimpleType, operation, operations, service_of

Direction = Literal["request", "response"]

_DRAFT: Final = "http://json-schema.org/draft-04/schema#"
#: XSD int is 32-bit signed; JSON integer is unbounded (SOAP-NOTES section 7).
INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
_FORMATS: Final = {"dateTime": "date-time", "anyURI": "uri"}


def _simple(st: SimpleType) -> dict[str, Any]:
    if st.base == "int":
        return {"type": "integer", "minimum": INT_MIN, "maximum": INT_MAX}
    if st.base == "decimal":
        out: dict[str, Any] = {"type": "number"}
        if st.fraction_digits is not None:
            # The same spelling as the ocpp package's DecimalOne fields (limit, minChargingRate).
            out["multipleOf"] = 10.0**-st.fraction_digits
        return out
    if st.base == "boolean":
        return {"type": "boolean"}
    out = {"type": "string"}
    if st.base in _FORMATS:
        out["format"] = _FORMATS[st.base]
    if st.max_length is not None:
        out["maxLength"] = st.max_length
    if st.enum is not None:
        out["enum"] = list(st.enum)
    return out


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:  # draft-04 wants at least one name in `required`
        out["required"] = required
    return out


def _complex(ct: ComplexType) -> dict[str, Any]:
    if ct.text is not None:
        props = {"value": _simple(ct.text)} | {a.name: _simple(a.type) for a in ct.attributes}
        return _object(props, ["value", *(a.name for a in ct.attributes if a.required)])
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in ct.fields:
        item = _simple(f.type) if isinstance(f.type, SimpleType) else _complex(f.type)
        if f.repeated:
            item = {"type": "array", "items": item}
            if f.min_occurs >= 1:
                item["minItems"] = f.min_occurs
            if f.max_occurs is not None:
                item["maxItems"] = f.max_occurs
        properties[f.name] = item
        if f.min_occurs >= 1:
            required.append(f.name)
    return _object(properties, required)


@cache
def _schema(dialect: Dialect, action: str, direction: Direction) -> dict[str, Any]:
    op = operation(dialect, service_of(dialect, action), action)
    ct = op.request_type if direction == "request" else op.response_type
    suffix = "Request" if direction == "request" else "Response"
    return {"$schema": _DRAFT, "title": f"{action}{suffix}"} | _complex(ct)


def json_schema(dialect: Dialect, action: str, direction: Direction) -> dict[str, Any]:
    """The JSON schema of one message's payload dict in the codec's JSON convention.

    DataTransfer, defined by both services with the same fields, gets the CentralSystemService one.

    Args:
        dialect: Dialect.OCPP15_SOAP or Dialect.OCPP16_SOAP.
        action: the operation name, e.g. "BootNotification".
        direction: "request" or "response".

    Returns:
        A fresh draft-04 schema dict (the caller may keep or change it).

    Raises:
        NotSupportedAction: the dialect has no such operation.
        ValueError: `dialect` is not a SOAP dialect.
    """
    return copy.deepcopy(_schema(dialect, action, direction))


@cache
def json_actions(dialect: Dialect) -> frozenset[str]:
    """Every operation of the dialect, charger-initiated and CS-initiated."""
    return frozenset().union(*(operations(dialect, s) for s in SERVICES))
