"""1.5 meter values in 1.6 shape (TRANSLATION.md 5.3), for StopTransaction's transactionData.

A 1.5 MeterValue is a timestamp and `value` elements, each a text with optional XML attributes; the
SOAP codec gives each element as `{"value": text, "context": ..., "unit": ...}`. 1.6 calls the same
reading a sampledValue with child fields. The MeterValues message itself is lifted by the mapping file
(`mappings/ocpp1.5-soap__ocpp1.6.yaml`, enum table `unit_to_16`); StopTransaction is code, so the
same rule lives here as well, and a test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.core.ocppj import JsonObject

#: 1.5 unit -> 1.6 unit where 1.6 renamed it; every other 1.5 unit is spelt the same in 1.6.
UNIT_TO_16: Final = {"Amp": "A", "Volt": "V"}
#: Attributes copied as they are: 1.5 values are a subset of 1.6's; absent stays absent (same defaults).
_COPIED: Final = ("context", "format", "measurand", "location")


def sampled_value_16(value15: Mapping[str, Any]) -> JsonObject:
    """One 1.5 `value` element (text and attributes) -> one 1.6 sampledValue."""
    sample: JsonObject = {"value": str(value15.get("value", ""))}
    sample.update({name: value15[name] for name in _COPIED if value15.get(name) is not None})
    if value15.get("unit") is not None:
        unit = str(value15["unit"])
        sample["unit"] = UNIT_TO_16.get(unit, unit)
    return sample


def meter_value_16(meter_value15: Mapping[str, Any]) -> JsonObject:
    """One 1.5 MeterValue -> one 1.6 meterValue (timestamp and sampledValue[])."""
    values = meter_value15.get("value") or []
    return {"timestamp": meter_value15["timestamp"], "sampledValue": [sampled_value_16(v) for v in values]}


def transaction_data_16(transaction_data15: list[Mapping[str, Any]]) -> list[JsonObject]:
    """1.5 StopTransaction `transactionData[].values[]` -> 1.6 `transactionData[]`, one meterValue per 1.5 MeterValue.

    The 1.5 TransactionData wrapper only groups MeterValues, so it is dropped; a MeterValue without
    readings has no place in 1.6 (its sampledValue is required) and is left out.
    """
    lifted = [meter_value_16(mv) for data in transaction_data15 for mv in data.get("values") or []]
    return [mv for mv in lifted if mv["sampledValue"]]
