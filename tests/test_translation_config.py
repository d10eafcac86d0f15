"""Configuration across versions end to end (TRANSLATION.md 4.7, 4.8): `ocpp` peers on both sides of the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from gateway.core.dialects import Dialect
from gateway.core.translate.config201 import use_config_keys
from gateway.mapping_files import load_mappings
from tests.conftest import GatewayFactory, charger_url
from tests.peers import Csms, CsmsCp201, connect_charger

HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


class ReportingCp201(CsmsCp201):
    """A 2.0.1 CSMS's view of one charger that also takes NotifyReport."""

    @on("NotifyReport")
    def notify_report(self, **kw: Any) -> r201.NotifyReport:
        self._record("NotifyReport", kw)
        return r201.NotifyReport()


class ReportingCsms(Csms):
    """The test CSMS, serving 2.0.1 connections with ReportingCp201."""

    cp201_class = ReportingCp201


@pytest.fixture(autouse=True)
def key_table() -> None:
    # What the edge does at start-up (gateway/translation.py): hand the key table to the handlers.
    use_config_keys(load_mappings().config_keys(Dialect.OCPP16, Dialect.OCPP201))


async def test_201_csms_reads_heartbeat_interval_of_16_charger(csms: Csms, start_gateway: GatewayFactory) -> None:
    """GetVariables(OCPPCommCtrlr.HeartbeatInterval) reaches the 1.6 charger as GetConfiguration; 300 returns."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_charger(charger_url(gateway), "CB16", "ocpp1.6")
    link = await csms.next_connection()
    try:
        answer = await link.cp.call(c201.GetVariables(get_variable_data=[HEARTBEAT]), suppress=False)
        assert await charger.next_command() == ("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert answer.get_variable_result == [{**HEARTBEAT, "attribute_status": "Accepted",
                                               "attribute_value": "300"}]
    finally:
        await charger.close()


async def test_201_csms_writes_heartbeat_interval_of_16_charger(csms: Csms, start_gateway: GatewayFactory) -> None:
    """SetVariables(OCPPCommCtrlr.HeartbeatInterval=60) reaches the 1.6 charger as ChangeConfiguration."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    charger = await connect_charger(charger_url(gateway), "CB16", "ocpp1.6")
    link = await csms.next_connection()
    try:
        answer = await link.cp.call(c201.SetVariables(set_variable_data=[{**HEARTBEAT, "attribute_value": "60"}]),
                                    suppress=False)
        assert await charger.next_command() == ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
        assert answer.set_variable_result == [{**HEARTBEAT, "attribute_status": "Accepted"}]
    finally:
        await charger.close()


async def test_201_csms_gets_a_base_report_of_16_charger(start_gateway: GatewayFactory) -> None:
    """GetBaseReport is Accepted and a NotifyReport describing the booted 1.6 charger reaches the CSMS."""
    csms = await ReportingCsms().start()
    try:
        gateway = await start_gateway(csms.url, "ocpp2.0.1")
        charger = await connect_charger(charger_url(gateway), "CB16", "ocpp1.6")
        link = await csms.next_connection()
        await charger.cp.call(c16.BootNotification(charge_point_vendor="ACME", charge_point_model="Wall-7"))
        assert (await link.next_call())[0] == "BootNotification"
        answer = await link.cp.call(c201.GetBaseReport(request_id=9, report_base="FullInventory"), suppress=False)
        assert answer.status == "Accepted"
        action, report = await link.next_call()
        assert (action, report["request_id"], report["seq_no"], report["tbc"]) == ("NotifyReport", 9, 0, False)
        values = {(e["component"]["name"], e["variable"]["name"]): e["variable_attribute"][0].get("value")
                  for e in report["report_data"]}
        assert values[("OCPPCommCtrlr", "HeartbeatInterval")] == "300"
        assert values[("ChargingStation", "Model")] == "Wall-7"
        await charger.close()
    finally:
        await csms.stop()


async def test_16_csms_reads_heartbeat_interval_of_201_station(csms: Csms, start_gateway: GatewayFactory) -> None:
    """GetConfiguration(HeartbeatInterval) reaches the 2.0.1 station as GetVariables; the value returns as 1.6."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    station = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    try:
        answer = await link.cp.call(c16.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]), suppress=False)
        assert await station.next_command() == ("GetVariables", {"get_variable_data": [
            {**HEARTBEAT, "attribute_type": "Actual"}]})
        assert answer.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        assert answer.unknown_key == ["NoSuchKey"]
    finally:
        await station.close()


async def test_16_csms_writes_heartbeat_interval_of_201_station(csms: Csms, start_gateway: GatewayFactory) -> None:
    """ChangeConfiguration(HeartbeatInterval=60) reaches the 2.0.1 station as SetVariables and is Accepted."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    station = await connect_charger(charger_url(gateway), "CS201", "ocpp2.0.1")
    link = await csms.next_connection()
    try:
        answer = await link.cp.call(c16.ChangeConfiguration(key="HeartbeatInterval", value="60"), suppress=False)
        assert await station.next_command() == ("SetVariables", {"set_variable_data": [
            {**HEARTBEAT, "attribute_type": "Actual", "attribute_value": "60"}]})
        assert answer.status == "Accepted"
    finally:
        await station.close()
