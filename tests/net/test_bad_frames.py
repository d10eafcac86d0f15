"""Hostile and malformed OCPP-J input: the right CALLERROR, and the connection carries on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ocpp.v16 import call as c16
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.app import Gateway
from tests.conftest import GatewayFactory, charger_url
from tests.net.scrape import metric
from tests.peers import Csms, connect_charger

LIMITS = {"max_frame_bytes": 4096, "max_transport_frame_bytes": 65536}


@asynccontextmanager
async def raw_charger(gateway: Gateway, dialect: str, charge_box_id: str = "RAW1") -> AsyncIterator[ClientConnection]:
    """A charger that sends exactly the bytes a test gives it."""
    async with connect(f"{charger_url(gateway)}/{charge_box_id}", subprotocols=[Subprotocol(dialect)],
                       open_timeout=5, max_size=None) as ws:
        yield ws


async def exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    await ws.send(frame)
    async with asyncio.timeout(5):
        return list(json.loads(await ws.recv()))


async def heartbeat_still_works(ws: ClientConnection) -> bool:
    reply = await exchange(ws, '[2,"hb","Heartbeat",{}]')
    return reply[0] == 3 and reply[1] == "hb" and "currentTime" in reply[2]


@pytest.mark.parametrize(
    ("dialect", "frame", "expected"),
    [
        ("ocpp1.6", "this is not json", ["-1", "FormationViolation"]),
        ("ocpp2.0.1", "this is not json", ["-1", "RpcFrameworkError"]),
        ("ocpp1.6", '{"not": "an array"}', ["-1", "FormationViolation"]),
        ("ocpp1.6", '[2,"a1"]', ["a1", "FormationViolation"]),
        ("ocpp2.0.1", '[7,"a2","Heartbeat",{}]', ["a2", "MessageTypeNotSupported"]),
        ("ocpp1.6", '[7,"a2","Heartbeat",{}]', ["a2", "GenericError"]),
        ("ocpp1.6", '[2,"a3","FlyToTheMoon",{}]', ["a3", "NotImplemented"]),
        ("ocpp1.6", '[2,"a4","Authorize",{"idTag":42}]', ["a4", "TypeConstraintViolation"]),
        ("ocpp1.6", '[2,"a5","Authorize",{}]', ["a5", "OccurenceConstraintViolation"]),
        ("ocpp2.0.1", '[2,"a5","Authorize",{}]', ["a5", "OccurrenceConstraintViolation"]),
        ("ocpp1.6", '[2,"a6","Authorize",{"idTag":"' + "x" * 21 + '"}]', ["a6", "PropertyConstraintViolation"]),
        ("ocpp1.6", '[2,"a7","Heartbeat",{"extra":1}]', ["a7", "FormationViolation"]),
        ("ocpp2.0.1", '[2,"a7","Heartbeat",{"extra":1}]', ["a7", "FormatViolation"]),
        ("ocpp1.6", '[2,"a8","Heartbeat",[]]', ["a8", "FormationViolation"]),
        ("ocpp1.6", '[2,"a9","Heartbeat",{"x":NaN}]', ["a9", "FormationViolation"]),
    ],
)
async def test_bad_frame_gets_the_right_callerror_and_the_connection_carries_on(
    csms: Csms, start_gateway: GatewayFactory, dialect: str, frame: str, expected: list[str]
) -> None:
    """Each malformed frame is answered with the dialect's CALLERROR; the next good call still works."""
    gateway = await start_gateway(csms.url, dialect)
    async with raw_charger(gateway, dialect) as ws:
        reply = await exchange(ws, frame)
        assert reply[0] == 4 and reply[1:3] == expected and isinstance(reply[3], str) and reply[4] == {}
        assert await heartbeat_still_works(ws)


async def test_binary_frame_gets_a_callerror(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A binary frame is not OCPP-J: CALLERROR with the id read from its head."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    async with raw_charger(gateway, "ocpp1.6") as ws:
        reply = await exchange(ws, b'[2,"b1","Heartbeat",{}]')
        assert reply[:3] == [4, "b1", "FormationViolation"]
        assert await heartbeat_still_works(ws)


async def test_oversized_frame_gets_a_callerror_without_being_parsed(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A frame over limits.max_frame_bytes is refused with a CALLERROR naming the limit."""
    gateway = await start_gateway(csms.url, "ocpp1.6", limits=LIMITS)
    async with raw_charger(gateway, "ocpp1.6") as ws:
        big = '[2,"big1","DataTransfer",{"vendorId":"V","data":"' + "x" * 10_000 + '"}]'
        reply = await exchange(ws, big)
        assert reply[:3] == [4, "big1", "FormationViolation"] and "4096-byte limit" in reply[3]
        assert await heartbeat_still_works(ws)


async def test_frame_over_the_transport_limit_closes_with_1009(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A WebSocket message over limits.max_transport_frame_bytes closes the connection with 1009."""
    gateway = await start_gateway(csms.url, "ocpp1.6", limits=LIMITS)
    async with raw_charger(gateway, "ocpp1.6") as ws:
        await ws.send('[2,"huge","DataTransfer",{"vendorId":"V","data":"' + "x" * 100_000 + '"}]')
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1009


async def test_one_misbehaving_charger_does_not_disturb_another(csms: Csms, start_gateway: GatewayFactory) -> None:
    """While one charger sends garbage, another completes its calls."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    good = await connect_charger(charger_url(gateway), "GOOD", "ocpp1.6")
    async with raw_charger(gateway, "ocpp1.6", "BAD") as ws:
        for index in range(20):
            assert (await exchange(ws, f"garbage {index}"))[0] == 4
            reply = await good.cp.call(c16.Heartbeat())
            assert reply.current_time
    assert await metric(gateway, "gateway_call_errors_total", leg="charger", code="FormationViolation") == 20
    await good.close()


async def test_inbound_schema_violations_are_counted(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A payload failing its schema is counted as an inbound schema violation for its action."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    async with raw_charger(gateway, "ocpp1.6") as ws:
        await exchange(ws, '[2,"v1","Authorize",{"idTag":42}]')
    count = await metric(gateway, "gateway_schema_violations_total", origin="inbound", action="Authorize")
    assert count == 1
