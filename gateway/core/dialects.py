"""The four charger dialects, the two upstream dialects, and how each spells OCPP-J error codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Dialect(StrEnum):
    """A protocol a peer speaks; the value is the public config name."""

    OCPP15_SOAP = "ocpp1.5-soap"
    OCPP16_SOAP = "ocpp1.6-soap"
    OCPP16 = "ocpp1.6"
    OCPP201 = "ocpp2.0.1"

    @property
    def is_soap(self) -> bool:
        return self in (Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP)

    @property
    def json_family(self) -> Dialect:
        """The dialect whose JSON payload shapes (and schemas) this dialect's messages have.

        1.6 over SOAP carries the same payloads as 1.6 JSON (SOAP-NOTES section 7). 1.5 is its own
        family: its JSON shape follows the 1.5 XSD (gateway.soap), and it is lifted to 1.6 by translation.
        """
        if self is Dialect.OCPP16_SOAP:
            return Dialect.OCPP16
        return self


#: Dialects a charger may speak over WebSocket, which are also the WebSocket subprotocol names.
OCPPJ_DIALECTS: Final = (Dialect.OCPP16, Dialect.OCPP201)
#: Dialects the upstream CSMS may speak.
UPSTREAM_DIALECTS: Final = OCPPJ_DIALECTS

# OCPP-J 1.6 section 4.2.3 and OCPP 2.0.1 part 4 section 4.3 list different spellings of the
# same errors; internally the gateway uses the 2.0.1 names.
_TO_16: Final = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "MessageTypeNotSupported": "GenericError",
    "RpcFrameworkError": "FormationViolation",
}
_FROM_16: Final = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
}
ERROR_CODES_16: Final = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
ERROR_CODES_201: Final = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)


def error_code(code: str, dialect: Dialect) -> str:
    """Spell an error code (in either version's spelling) the way `dialect` expects it.

    Args:
        code: an OCPP-J error code in 1.6 or 2.0.1 spelling.
        dialect: the dialect of the peer that will receive it.

    Returns:
        A code valid in that dialect; unknown codes become GenericError.
    """
    canonical = _FROM_16.get(code, code)
    if dialect.json_family is not Dialect.OCPP201:
        spelled = _TO_16.get(canonical, canonical)
        return spelled if spelled in ERROR_CODES_16 else "GenericError"
    return canonical if canonical in ERROR_CODES_201 else "GenericError"
