"""The spyne-served charger endpoint is a strict peer: its answers pass zeep's checks, bad requests are caught."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.interop.spyne_endpoint import Answer, Fields, SpyneChargePointService
from tests.soap.charger import SoapClient

pytestmark = pytest.mark.timeout(30)


def central_system(endpoint: SpyneChargePointService, charge_box_id: str) -> SoapClient:
    """zeep playing the central system (the gateway's role) toward the endpoint."""
    return SoapClient(endpoint.version, "cp", endpoint.url, charge_box_id, from_url="http://127.0.0.1:1/soap")


@pytest.mark.parametrize("version", ["1.5", "1.6"])
async def test_answers_pass_the_official_wsdl_and_ws_addressing_checks(version: str) -> None:
    """Requests built by zeep from the official WSDL reach the handler and their answers are valid."""
    calls: list[tuple[str, Fields]] = []

    async def dispatch(operation: str, fields: Fields) -> Answer:
        calls.append((operation, fields))
        if operation == "GetConfiguration":
            return Answer({"configurationKey": [{"key": "MeterValueSampleInterval", "readonly": True, "value": "60"}],
                           "unknownKey": ["Nope"]})
        return Answer({"status": "Accepted"})

    async with SpyneChargePointService(version, "CB1", dispatch) as endpoint, central_system(endpoint, "CB1") as cs:
        reset = await cs.call("Reset", type="Soft")
        config = await cs.call("GetConfiguration", key=["MeterValueSampleInterval", "Nope"])
        cleared = await cs.call("ClearCache")
    assert (reset, cleared) == ({"status": "Accepted"}, {"status": "Accepted"})
    assert config == {"configurationKey": [{"key": "MeterValueSampleInterval", "readonly": True, "value": "60"}],
                      "unknownKey": ["Nope"]}
    assert calls == [("Reset", {"type": "Soft"}), ("GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope"]}),
                     ("ClearCache", {})]
    assert (cs.violations, endpoint.violations) == ([], [])


async def test_request_outside_the_official_xsd_is_a_violation() -> None:
    """A payload the official XSD refuses (an unknown reset type) is recorded against the sender."""

    async def dispatch(operation: str, fields: Fields) -> Answer:
        return Answer({"status": "Accepted"})

    async with SpyneChargePointService("1.6", "CB1", dispatch) as endpoint, central_system(endpoint, "CB1") as cs:
        request = cs.build("Reset", type="Soft")
        await cs.post(request.body.replace(b">Soft<", b">Gentle<"), request.headers)
    assert endpoint.received == ["Reset"]
    [violation] = endpoint.violations
    assert violation.startswith("Reset request: ") and "resetRequest" in violation and "Hard" in violation


async def test_request_for_another_charger_is_a_violation() -> None:
    """The endpoint belongs to one chargeBoxIdentity: a request naming another is recorded."""

    async def dispatch(operation: str, fields: Fields) -> Answer:
        return Answer({"status": "Accepted"})

    async with SpyneChargePointService("1.5", "CB1", dispatch) as endpoint, central_system(endpoint, "CB2") as cs:
        await cs.call("Reset", type="Hard")
    assert endpoint.violations == ["Reset request: chargeBoxIdentity is 'CB2', this charger is 'CB1'"]


async def test_follow_up_runs_on_the_test_loop_once_answered() -> None:
    """`Answer.then` runs once, on the loop that started the endpoint (not in a server thread)."""
    loop_thread = threading.get_ident()
    ran_in: list[int] = []
    followed = asyncio.Event()

    def follow_up() -> None:
        ran_in.append(threading.get_ident())
        followed.set()

    async def dispatch(operation: str, fields: Fields) -> Answer:
        return Answer({"status": "Accepted"}, follow_up)

    async with SpyneChargePointService("1.6", "CB1", dispatch) as endpoint, central_system(endpoint, "CB1") as cs:
        answer = await cs.call("RemoteStartTransaction", idTag="T1", connectorId=1)
        await asyncio.wait_for(followed.wait(), 5)
    assert answer == {"status": "Accepted"}
    assert ran_in == [loop_thread]
