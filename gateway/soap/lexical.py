"""XSD simple values as text <-> their JSON-convention Python values (the built-ins the OCPP WSDLs use).

int -> int (32-bit), decimal -> float, boolean (true/false/1/0) -> bool, dateTime -> the text with Z
added when it has no timezone (JSON date-time needs one), string and anyURI -> str. Errors are
ValueErrors whose message never repeats the offending value.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

from gateway.soap.types import SimpleType

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1

# XSD whiteSpace "collapse" applies to every built-in here except string (which preserves).
_WS: Final = " \t\r\n"
_INT: Final = re.compile(r"[+-]?[0-9]+")
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.([0-9]*))?|\.([0-9]+))")
_BOOLEAN: Final = {"true": True, "1": True, "false": False, "0": False}
# XSD dateTime restricted to what RFC 3339 can also say: four-digit years, hours 00-23.
_DATETIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2}))?"
)


def _check_datetime(text: str) -> re.Match[str]:
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError("not an xs:dateTime")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValueError("not a valid date and time") from None
    if match.group(8) not in (None, "Z"):
        tz_hours, tz_minutes = int(match.group(9)), int(match.group(10))
        if tz_minutes > 59 or tz_hours * 60 + tz_minutes > 14 * 60:
            raise ValueError("timezone offset out of range")
    return match


def _check_string(text: str, st: SimpleType) -> str:
    if st.allowed is not None and text not in st.allowed:
        raise ValueError("value not allowed by the enumeration")
    if st.max_length is not None and len(text) > st.max_length:
        raise ValueError(f"longer than {st.max_length} characters")
    return text


def parse_text(text: str, st: SimpleType) -> Any:
    """The JSON-convention value of an element's or attribute's text.

    Raises:
        ValueError: the text is not a valid value of the type.
    """
    base = st.base
    if base == "string":
        return _check_string(text, st)
    text = text.strip(_WS)
    if base == "int":
        if _INT.fullmatch(text) is None:
            raise ValueError("not an xs:int")
        number = int(text)
        if not INT_MIN <= number <= INT_MAX:
            raise ValueError("outside the 32-bit xs:int range")
        return number
    if base == "decimal":
        match = _DECIMAL.fullmatch(text)
        if match is None:
            raise ValueError("not an xs:decimal")
        fraction = (match.group(1) or match.group(2) or "").rstrip("0")
        if st.fraction_digits is not None and len(fraction) > st.fraction_digits:
            raise ValueError(f"more than {st.fraction_digits} fraction digits")
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("xs:decimal too large")
        return value
    if base == "boolean":
        try:
            return _BOOLEAN[text]
        except KeyError:
            raise ValueError("not an xs:boolean") from None
    if base == "dateTime":
        match = _check_datetime(text)
        return text if match.group(8) else text + "Z"
    if base == "anyURI":
        return _check_string(text, st)
    raise ValueError(f"unsupported XSD type {base}")


def format_value(value: Any, st: SimpleType) -> str:
    """The XML text of a JSON-convention value.

    Raises:
        ValueError: the value has the wrong Python type or breaks a facet.
    """
    base = st.base
    if base in ("string", "anyURI"):
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return _check_string(value, st)
    if base == "int":
        # JSON has only "number": an integral float (300.0) is still an integer.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("expected an integer")
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError("outside the 32-bit xs:int range")
        return str(value)
    if base == "decimal":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError("expected a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("expected a finite number")
        # repr() is the shortest text that reads back as the same float; Decimal avoids exponents.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if st.fraction_digits is not None:
            try:
                number = number.quantize(Decimal(1).scaleb(-st.fraction_digits), rounding=ROUND_HALF_EVEN)
            except InvalidOperation:  # more digits than the decimal context holds (28)
                raise ValueError("number too large for its fraction digits") from None
        return format(number, "f")
    if base == "boolean":
        if not isinstance(value, bool):
            raise ValueError("expected a boolean")
        return "true" if value else "false"
    if base == "dateTime":
        if not isinstance(value, str):
            raise ValueError("expected a date-time string")
        _check_datetime(value)
        return value
    raise ValueError(f"unsupported XSD type {base}")
