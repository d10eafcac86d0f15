"""The 1.6 configuration key <-> 2.0.1 variable table (TRANSLATION.md 4.7.1): lookups, values, loading."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.core.config_keys import ConfigKeyTable, VariableRef, parse_variable_key, variable_key
from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, HOOKS_USED
from gateway.core.mapping_load import load_rules
from gateway.errors import ConfigError
from tests.core.test_mapping_examples import builtin


def table() -> ConfigKeyTable:
    return builtin().config_keys(Dialect.OCPP16, Dialect.OCPP201)


def test_every_standard_key_of_the_spec_table_is_listed() -> None:
    """The built-in table holds all 49 keys of TRANSLATION.md 4.7.1."""
    assert len(table()) == 49


def test_keys_are_found_in_any_letter_case() -> None:
    """1.6 keys are CiString50, so the lookup ignores case."""
    entry = table().by_key("heartbeatINTERVAL")
    assert entry is not None and entry.variable == VariableRef("OCPPCommCtrlr", "HeartbeatInterval")


def test_variables_with_an_instance_map_back_to_their_key() -> None:
    """A variable instance is part of the address (MessageAttempts[TransactionEvent])."""
    entry = table().by_variable("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")
    assert entry is not None and entry.key == "TransactionMessageAttempts"
    assert table().by_variable("OCPPCommCtrlr", "MessageAttempts") is None


def test_fan_out_targets_are_written_but_not_reverse_mapped() -> None:
    """ClockAlignedDataInterval also writes TxEndedInterval, which does not map back to it."""
    entry = table().by_key("ClockAlignedDataInterval")
    assert entry is not None and entry.also_write == (VariableRef("AlignedDataCtrlr", "TxEndedInterval"),)
    assert table().by_variable("AlignedDataCtrlr", "TxEndedInterval") is None


def test_markers_say_how_the_gateway_answers() -> None:
    """Keys without a variable are local, report-only or unsupported; link keys follow policy 1.9."""
    flags = {k: (e.local, e.report, e.unsupported, e.connection_setting)
             for k in ("NumberOfConnectors", "StopTxnAlignedDataMaxLength", "BlinkRepeat", "SecurityProfile")
             if (e := table().by_key(k)) is not None}
    assert flags == {"NumberOfConnectors": (True, False, False, False),
                     "StopTxnAlignedDataMaxLength": (False, True, False, False),
                     "BlinkRepeat": (False, False, True, False), "SecurityProfile": (False, False, False, True)}


def test_measurand_lists_lose_phase_suffixes_and_16_only_names_toward_201() -> None:
    """Writing to 2.0.1 strips `.L1` suffixes, drops Temperature/RPM and duplicates."""
    entry = table().by_key("MeterValuesSampledData")
    assert entry is not None
    assert entry.to_201("Voltage.L1, Voltage.L2,Temperature,Energy.Active.Import.Register") == \
        "Voltage,Energy.Active.Import.Register"


def test_measurand_lists_lose_201_only_names_toward_16() -> None:
    """Reading into 1.6 drops the 2.0.1-only energy measurands."""
    entry = table().by_key("StopTxnSampledData")
    assert entry is not None and entry.to_16("Energy.Active.Net,SoC") == "SoC"


def test_rate_units_and_booleans_convert() -> None:
    """Current/Power <-> A/W; booleans are lower-case true/false on both sides."""
    units, flag = table().by_key("ChargingScheduleAllowedChargingRateUnit"), table().by_key("LocalPreAuthorize")
    assert units is not None and flag is not None
    assert (units.to_201("Current,Power"), units.to_16("A"), flag.to_201("True"), flag.data_type) == (
        "A,W", "Current", "true", "boolean")


@pytest.mark.parametrize(("key", "ref"), [
    ("TxCtrlr/TxStartPoint", VariableRef("TxCtrlr", "TxStartPoint")),
    ("OCPPCommCtrlr/MessageAttempts:TransactionEvent",
     VariableRef("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")),
    ("EVSE@1/AvailabilityState", VariableRef("EVSE", "AvailabilityState", evse=1)),
    ("Connector:x@2.1/Problem", VariableRef("Connector", "Problem", "x", None, 2, 1)),
])
def test_escape_form_addresses_any_variable(key: str, ref: VariableRef) -> None:
    """`<component>[:<inst>][@<evse>[.<connector>]]/<variable>[:<inst>]` parses and prints back."""
    assert parse_variable_key(key) == ref and variable_key(ref) == key


def test_a_standard_key_is_not_an_escape_form() -> None:
    """Standard 1.6 keys contain no `/`."""
    assert parse_variable_key("HeartbeatInterval") is None


def _load(keys: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> ConfigKeyTable:
    def text(entries: dict[str, Any]) -> str:
        return yaml.safe_dump({"format": 1, "pair": ["ocpp1.6", "ocpp2.0.1"], "config_keys": entries})

    rules = load_rules({"keys.yaml": text(keys)}, HOOKS_USED, HANDLERS_USED,
                       overrides={"vendor.yaml": text(overrides)} if overrides is not None else None)
    return rules.config_keys(Dialect.OCPP16_SOAP, Dialect.OCPP201)


def test_operator_files_add_and_replace_keys() -> None:
    """An operator file adds vendor keys and replaces built-in ones with the same key."""
    loaded = _load({"A": {"access": "R", "local": True}},
                   overrides={"a": {"access": "RW", "component": "X", "variable": "Y"},
                              "VendorKey": {"access": "RW", "component": "VendorCtrlr", "variable": "Mode"}})
    assert [(e.key, e.access) for e in loaded] == [("a", "RW"), ("VendorKey", "RW")]


@pytest.mark.parametrize(("entry", "message"), [
    ({"access": "RW", "component": "C", "variable": "V", "kind": "float"},
     "keys.yaml: config_keys.K.kind: expected one of: boolean, integer, seconds, decimal, string, csl, "
     "measurand_list, rate_unit_list, phase_rotation, got 'float'"),
    ({"access": "RX", "local": True}, "keys.yaml: config_keys.K.access: expected one of: R, RW, W, got 'RX'"),
    ({"access": "R"}, "keys.yaml: config_keys.K: give component and variable, or mark the key local, report or "
                      "unsupported"),
    ({"access": "R", "component": "C"}, "keys.yaml: config_keys.K.variable: is required together with component"),
    ({"access": "R", "local": "yes"}, "keys.yaml: config_keys.K.local: expected true or false"),
    ({"access": "R", "local": True, "colour": 1},
     "keys.yaml: config_keys.K.colour: unknown key (expected one of: access, component, component_instance, "
     "variable, instance, kind, also_write, local, report, unsupported, connection_setting, security_extension, "
     "per_connector, note)"),
])
def test_bad_key_entries_are_refused_with_file_entry_and_problem(entry: dict[str, Any], message: str) -> None:
    """A malformed config key entry is a ConfigError naming file, key and problem."""
    with pytest.raises(ConfigError) as caught:
        _load({"K": entry})
    assert str(caught.value) == message


def test_keys_differing_only_in_case_are_refused() -> None:
    """Two entries whose keys differ only in case would be ambiguous."""
    with pytest.raises(ConfigError, match=r"keys\.yaml: config_keys\.k: defined twice"):
        _load({"K": {"access": "R", "local": True}, "k": {"access": "R", "local": True}})
