"""The pure converters mapping files name, including sampled values both ways (TRANSLATION.md 1.6, 2.6)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.convert import (
    OMIT,
    first_item,
    json_text,
    number_to_text,
    round_to,
    sampled_values_to_16,
    sampled_values_to_201,
    text_to_number,
    truncate,
    wrap_list,
)


@pytest.mark.parametrize(("value", "multiplier", "text"), [
    (1234.5, None, "1234.5"), (12.0, None, "12"), (7, None, "7"), (0.0001, None, "0.0001"), (1e16, None,
                                                                                              "10000000000000000"),
    (12.5, "3", "12500"), (1234, "-3", "1.234"), (-0.0, None, "0"), (0.1 + 0.2, None, "0.30000000000000004"),
])
def test_number_to_text_is_the_shortest_plain_decimal(value: float, multiplier: str | None, text: str) -> None:
    """Numbers become round-trip decimals without exponent or trailing `.0`, scaled by the multiplier."""
    assert number_to_text(value, multiplier) == text


@pytest.mark.parametrize(("text", "value"), [("1234.5", 1234.5), ("12", 12), (" -3 ", -3), ("1e3", 1000.0),
                                             (".5", 0.5)])
def test_text_to_number_parses_decimals(text: str, value: float) -> None:
    """A decimal text becomes a JSON number (an integer when it has no point or exponent)."""
    assert text_to_number(text) == value and type(text_to_number(text)) is type(value)


@pytest.mark.parametrize("text", ["", "n/a", "1,5", "NaN", "inf", "1e999", "0x10"])
def test_text_to_number_omits_what_is_not_a_finite_decimal(text: str) -> None:
    """A text that is not a finite decimal is never turned into a number."""
    assert text_to_number(text) is OMIT


def test_json_text_keeps_strings_and_serializes_the_rest() -> None:
    """2.0.1 DataTransfer data: a string stays as it is, other JSON becomes compact text."""
    assert (json_text("a b"), json_text({"k": [1, None]}), json_text(3)) == ("a b", '{"k":[1,null]}', "3")


def test_truncate_cuts_to_the_given_length() -> None:
    """truncate:N keeps the first N characters."""
    assert truncate("A Very Long Vendor Name", "6") == "A Very"


def test_round_gives_values_the_one_decimal_schemas_accept() -> None:
    """round:1 yields values valid for 1.6 `multipleOf 0.1`."""
    assert [round_to(v, "1") for v in (10.26, 7360.04, 0.30000000000000004, 16)] == [10.3, 7360, 0.3, 16]


def test_wrap_and_unwrap_one_element_arrays() -> None:
    """wrap_list and first_item convert between a 1.6 schedule object and the 2.0.1 one-element array."""
    assert (wrap_list({"a": 1}), first_item([{"a": 1}, {"b": 2}]), first_item([])) == ([{"a": 1}], {"a": 1}, OMIT)


def _sv16(value: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, **extra}


def test_sampled_values_to_201_parse_and_fix_the_celsius_typo() -> None:
    """1.6 texts become numbers and `Celcius` becomes `Celsius`."""
    converted = sampled_values_to_201([_sv16("21.5", measurand="SoC", unit="Percent", phase="L1"),
                                       _sv16("40", unit="Celcius", location="Body")])
    assert converted == [{"value": 21.5, "measurand": "SoC", "phase": "L1", "unitOfMeasure": {"unit": "Percent"}},
                         {"value": 40, "location": "Body", "unitOfMeasure": {"unit": "Celsius"}}]


def test_sampled_values_to_201_drop_measurands_201_lacks() -> None:
    """Temperature and RPM samples are dropped toward 2.0.1."""
    assert sampled_values_to_201([_sv16("20", measurand="Temperature"), _sv16("900", measurand="RPM")]) is OMIT


def test_signed_data_joins_the_raw_sample_with_the_same_reading() -> None:
    """A SignedData sample becomes signedMeterValue of the Raw sample with the same measurand, phase, location."""
    converted = sampled_values_to_201([
        _sv16("5", measurand="Voltage", phase="L1"),
        _sv16("100", format="Raw", context="Sample.Periodic"),
        _sv16("BLOB", format="SignedData"),
    ])
    assert converted[1]["signedMeterValue"] == {"signedMeterData": "BLOB", "signingMethod": "", "encodingMethod":
                                                "Other", "publicKey": ""}
    assert "signedMeterValue" not in converted[0]


def test_signed_data_without_a_raw_partner_is_dropped() -> None:
    """No reading is invented for a SignedData sample that has no Raw partner."""
    assert sampled_values_to_201([_sv16("OCMF|x", format="SignedData", measurand="Voltage")]) is OMIT


def test_sampled_values_to_16_apply_the_multiplier_and_split_signed_data() -> None:
    """2.0.1 numbers become 1.6 texts with the multiplier applied; signedMeterValue becomes a SignedData sample."""
    converted = sampled_values_to_16([{"value": 12.5, "context": "Trigger", "unitOfMeasure": {"unit": "kWh",
                                                                                              "multiplier": 3},
                                       "signedMeterValue": {"signedMeterData": "S", "signingMethod": "m",
                                                            "encodingMethod": "e", "publicKey": "k"}}])
    assert converted == [{"value": "12500", "context": "Trigger", "unit": "kWh"},
                         {"value": "S", "format": "SignedData", "context": "Trigger", "unit": "kWh"}]


@pytest.mark.parametrize("sample", [{"value": 1.0, "measurand": "Energy.Active.Net"},
                                    {"value": 1.0, "unitOfMeasure": {"unit": "deg"}}])
def test_sampled_values_to_16_drop_what_16_cannot_say(sample: dict[str, Any]) -> None:
    """2.0.1-only measurands and units 1.6 lacks are dropped (a missing unit would read as Wh)."""
    assert sampled_values_to_16([sample]) is OMIT


def test_hertz_is_dropped_only_where_16_lacks_it() -> None:
    """`Hertz` survives into 1.6 MeterValues but not with `no_hertz` (StopTransaction, SOAP)."""
    sample = {"value": 50, "measurand": "Frequency", "unitOfMeasure": {"unit": "Hertz"}}
    assert (sampled_values_to_16([sample]), sampled_values_to_16([sample], "no_hertz")) == (
        [{"value": "50", "measurand": "Frequency", "unit": "Hertz"}], OMIT)
