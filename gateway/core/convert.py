"""Pure value converters named in mapping files, including the sampled-value rules of TRANSLATION.md 2.6.

Each converter takes one JSON value (and an optional argument from the YAML, e.g. `truncate:20`)
and returns the converted value or `OMIT` when there is nothing to send. `CONVERTERS` is the registry
the mapping loader checks names against; `output_schema` tells the loader's type check what each
converter yields, so a mapping that feeds, say, a free text into a numeric field fails at load time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final


class Omit(Enum):
    """The type of `OMIT`: "this field gets no value", distinct from JSON null."""

    OMIT = "omit"


OMIT: Final = Omit.OMIT

Schema = dict[str, Any]
_Convert = Callable[[Any, str | None], Any]

#: A decimal number; a match with no group set (lastindex None) has neither a point nor an exponent: an int.
_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:\d+(\.)?\d*|(\.)\d+)([eE][+-]?\d+)?")

#: Units a 1.6 sampledValue may carry (TRANSLATION.md 2.6); `Hertz` only in MeterValues (see below).
UNITS_16: Final = frozenset(
    ["Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar", "A", "V", "K", "Celsius", "Fahrenheit",
     "Percent"]
)
#: 1.6 measurands 2.0.1 does not have: such samples are dropped toward 2.0.1.
MEASURANDS_ONLY_16: Final = frozenset({"Temperature", "RPM"})
#: 2.0.1 measurands 1.6 does not have: such samples are dropped toward 1.6.
MEASURANDS_ONLY_201: Final = frozenset(
    {"Energy.Active.Net", "Energy.Reactive.Net", "Energy.Apparent.Net", "Energy.Apparent.Import",
     "Energy.Apparent.Export"}
)
#: 2.0.1 signedMeterData.maxLength: a longer 1.6 blob cannot be carried.
_SIGNED_DATA_MAX: Final = 2500
#: The spec defaults that make two samples "the same reading" when one omits a field (OCPP 1.6 section 7.46).
_SAMPLE_DEFAULTS: Final = {"measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic",
                           "location": "Outlet", "phase": None}


def text_to_number(value: Any, arg: str | None = None) -> Any:
    """Parse a decimal text (TRANSLATION.md 1.6); `OMIT` when it is not a finite decimal number."""
    if not isinstance(value, str):
        return OMIT
    text = value.strip()
    match = _NUMBER_TEXT.fullmatch(text)
    if match is None:
        return OMIT
    if match.lastindex is None:
        return int(text)
    number = float(text)
    return OMIT if math.isinf(number) else number


def number_to_text(value: Any, arg: str | None = None) -> Any:
    """Format a number as the shortest round-trip decimal without exponent or trailing `.0`.

    Args:
        value: an int or float.
        arg: optional power-of-ten multiplier (`unitOfMeasure.multiplier`) applied first.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return OMIT
    try:
        # repr() is the shortest text that round-trips; Decimal keeps it exact while scaling.
        number = Decimal(repr(value)).scaleb(int(arg or 0))
    except (InvalidOperation, ValueError):
        return OMIT
    if not number.is_finite():
        return OMIT
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def truncate(value: Any, arg: str | None = None) -> Any:
    """Cut a text to `arg` characters (TRANSLATION.md 1.5: e.g. the 2.0.1 vendor name toward 1.6)."""
    return value[: int(arg or 0)] if isinstance(value, str) else value


def json_text(value: Any, arg: str | None = None) -> Any:
    """2.0.1 DataTransfer `data` (any JSON) -> 1.6 text: strings as they are, else compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def round_to(value: Any, arg: str | None = None) -> Any:
    """Round to `arg` decimals (default 1): 1.6 limits are `multipleOf 0.1`, 2.0.1 ones are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    rounded = round(value, int(arg or 1))
    return int(rounded) if float(rounded).is_integer() else rounded


def wrap_list(value: Any, arg: str | None = None) -> Any:
    """Wrap one value in a one-element array (1.6 chargingSchedule object -> 2.0.1 array)."""
    return [value]


def first_item(value: Any, arg: str | None = None) -> Any:
    """The first element of an array, `OMIT` for an empty one (2.0.1 schedule array -> 1.6 object)."""
    return value[0] if isinstance(value, list) and value else OMIT


def celsius(value: Any, arg: str | None = None) -> Any:
    """Fix the 1.6 JSON schema's `Celcius` typo."""
    return "Celsius" if value == "Celcius" else value


#: The fields a converted sample keeps as they are, in the order they are copied.
_SAMPLE_FIELDS: Final = ("context", "measurand", "phase", "location")


def _sample_key(sample: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sample.get(name, default) for name, default in _SAMPLE_DEFAULTS.items())


def sampled_values_to_201(value: Any, arg: str | None = None) -> Any:
    """Convert a 1.6 `sampledValue[]` to 2.0.1 (TRANSLATION.md 2.6), `OMIT` when no sample survives.

    Numeric texts become numbers; `Temperature`/`RPM` samples and unparsable values are dropped;
    each SignedData sample is attached as `signedMeterValue` to the Raw sample of the same measurand,
    phase, location and context, and dropped when it has no such partner: no reading is invented.
    """
    if not isinstance(value, list):
        return OMIT
    outs: list[dict[str, Any]] = []
    raws: list[Mapping[str, Any]] = []  # the sample each of `outs` came from, to pair signed data with
    signed: list[tuple[tuple[Any, ...], str]] = []
    for sample in value:
        if sample.get("measurand") in MEASURANDS_ONLY_16:
            continue
        if sample.get("format") == "SignedData":
            signed.append((_sample_key(sample), sample["value"]))
            continue
        number = text_to_number(sample["value"])
        if number is OMIT:
            continue
        out: dict[str, Any] = {"value": number}
        for name in _SAMPLE_FIELDS:
            if name in sample:
                out[name] = sample[name]
        if "unit" in sample:
            out["unitOfMeasure"] = {"unit": celsius(sample["unit"])}
        outs.append(out)
        raws.append(sample)
    for key, blob in signed:
        # Keys only when there is something to pair: most meter values carry no signed data.
        partner = next((out for raw, out in zip(raws, outs, strict=True) if _sample_key(raw) == key
                        and "signedMeterValue" not in out), None)
        if partner is not None and len(blob) <= _SIGNED_DATA_MAX:
            encoding = "OCMF" if blob.startswith("OCMF|") else "Other"
            partner["signedMeterValue"] = {"signedMeterData": blob, "signingMethod": "", "encodingMethod": encoding,
                                           "publicKey": ""}
    return outs or OMIT


def sampled_values_to_16(value: Any, arg: str | None = None) -> Any:
    """Convert a 2.0.1 `sampledValue[]` to 1.6 (TRANSLATION.md 2.6), `OMIT` when no sample survives.

    Numbers become texts with the multiplier applied; samples whose measurand or unit 1.6 lacks are
    dropped (a missing unit would read as Wh); a `signedMeterValue` becomes an extra SignedData sample.

    Args:
        value: the 2.0.1 sampled values.
        arg: `no_hertz` for 1.6 messages whose schema lacks `Hertz` (StopTransaction, SOAP).
    """
    if not isinstance(value, list):
        return OMIT
    units = UNITS_16 if arg == "no_hertz" else UNITS_16 | {"Hertz"}
    result: list[dict[str, Any]] = []
    for sample in value:
        measure = sample.get("unitOfMeasure", {})
        unit = measure.get("unit")
        if sample.get("measurand") in MEASURANDS_ONLY_201 or (unit is not None and unit not in units):
            continue
        text = number_to_text(sample["value"], str(measure.get("multiplier", 0)))
        if text is OMIT:
            continue
        common = {name: sample[name] for name in ("context", "measurand", "phase", "location") if name in sample}
        if unit is not None:
            common["unit"] = unit
        result.append({"value": text, **common})
        if "signedMeterValue" in sample:
            result.append({"value": sample["signedMeterValue"]["signedMeterData"], "format": "SignedData", **common})
    return result or OMIT


@dataclass(frozen=True, slots=True)
class Converter:
    """A registered converter: the function, whether it needs an argument, and what it accepts and yields."""

    function: _Convert
    accepts: frozenset[str]
    output: Callable[[Schema, str | None], Schema]
    may_omit: bool = False
    needs_arg: bool = False
    arg_pattern: str = r"\d+"


def _same(schema: Schema, arg: str | None) -> Schema:
    return schema


def _typed(kind: str) -> Callable[[Schema, str | None], Schema]:
    return lambda schema, arg: {"type": kind}


def _trusted(schema: Schema, arg: str | None) -> Schema:
    # Whole-array converters are written against both versions' schemas; the property tests check them.
    return {"x-trusted": True}


_ANY: Final = frozenset({"string", "integer", "number", "boolean", "object", "array", "any"})

#: Every converter a mapping file may name, with its argument rule and output shape.
CONVERTERS: Final[Mapping[str, Converter]] = {
    "text_to_number": Converter(text_to_number, frozenset({"string"}), _typed("number"), may_omit=True),
    "number_to_text": Converter(number_to_text, frozenset({"integer", "number"}), _typed("string"), may_omit=True),
    "truncate": Converter(truncate, frozenset({"string"}), lambda s, a: {**s, "maxLength": int(a or 0)},
                          needs_arg=True),
    "json_text": Converter(json_text, _ANY, _typed("string")),
    "round": Converter(round_to, frozenset({"integer", "number"}),
                       lambda s, a: {**s, "multipleOf": 10 ** -int(a or 1)}, arg_pattern=r"[0-3]"),
    "wrap_list": Converter(wrap_list, _ANY, lambda s, a: {"type": "array", "items": s, "minItems": 1,
                                                          "maxItems": 1}),
    "first_item": Converter(first_item, frozenset({"array"}), lambda s, a: s.get("items", {}), may_omit=True),
    "celsius": Converter(celsius, frozenset({"string"}), _same),
    "sampled_values_to_201": Converter(sampled_values_to_201, frozenset({"array"}), _trusted, may_omit=True),
    "sampled_values_to_16": Converter(sampled_values_to_16, frozenset({"array"}), _trusted, may_omit=True,
                                      arg_pattern="no_hertz"),
}
