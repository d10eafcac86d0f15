"""Who may connect: charge box ids, the allowlist, HTTP Basic auth, subprotocol negotiation."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as c16
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import GatewayFactory, charger_url
from tests.net.scrape import metric
from tests.peers import Csms, connect_charger

SECURED = {"CB1": {"password": "correct horse", "upstream_password": "upstream secret"}}


async def _status_of_refusal(url: str, **kwargs: object) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=5, **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value


async def test_charger_without_password_is_refused_with_401(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A charger with a configured password that presents none gets 401 and a Basic challenge."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers=SECURED)
    refused = await _status_of_refusal(f"{charger_url(gateway)}/CB1", subprotocols=["ocpp1.6"])
    assert refused.response.status_code == 401
    assert refused.response.headers["WWW-Authenticate"].startswith("Basic")
    assert await metric(gateway, "gateway_charger_connections_refused_total", reason="auth") == 1


async def test_charger_with_wrong_password_is_refused(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A wrong password is refused with 401, and nothing is dialed upstream."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers=SECURED)
    with pytest.raises(InvalidStatus) as refused:
        await connect_charger(charger_url(gateway), "CB1", "ocpp1.6", password="wrong")
    assert refused.value.response.status_code == 401
    assert csms.connections.empty()


async def test_charger_with_right_password_connects_and_upstream_gets_its_credentials(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """The right password admits the charger; the CSMS sees the configured upstream Basic credentials."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers=SECURED)
    charger = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6", password="correct horse")
    link = await csms.next_connection()
    assert link.headers["Authorization"] == "Basic Q0IxOnVwc3RyZWFtIHNlY3JldA=="  # CB1:upstream secret
    await charger.close()


async def test_unknown_charger_is_refused_with_404_when_allowlist_is_on(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """With allow_unknown_chargers false, an id not listed under chargers gets 404."""
    gateway = await start_gateway(csms.url, "ocpp1.6", chargers={"CB1": {}}, listen={"allow_unknown_chargers": False})
    refused = await _status_of_refusal(f"{charger_url(gateway)}/INTRUDER", subprotocols=["ocpp1.6"])
    assert refused.response.status_code == 404


async def test_charger_offering_no_supported_subprotocol_gets_a_clear_400(
    csms: Csms, start_gateway: GatewayFactory
) -> None:
    """A charger offering only unknown subprotocols is refused with 400 naming what is supported."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    refused = await _status_of_refusal(f"{charger_url(gateway)}/CB9", subprotocols=["ocpp1.2"])
    assert refused.response.status_code == 400
    assert b"supported: ocpp1.6, ocpp2.0.1" in refused.response.body
    assert await metric(gateway, "gateway_charger_connections_refused_total", reason="subprotocol") == 1


async def test_charger_preference_order_chooses_the_dialect(csms: Csms, start_gateway: GatewayFactory) -> None:
    """When a charger offers both dialects, its first choice is used."""
    gateway = await start_gateway(csms.url, "ocpp2.0.1")
    async with connect(f"{charger_url(gateway)}/CS2", subprotocols=["ocpp2.0.1", "ocpp1.6"],  # type: ignore[list-item]
                       open_timeout=5) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


async def test_second_connection_replaces_the_first(csms: Csms, start_gateway: GatewayFactory) -> None:
    """A new connection with the same id closes the old one (code 1000, with a reason) and its upstream."""
    gateway = await start_gateway(csms.url, "ocpp1.6")
    first = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    first_link = await csms.next_connection()
    second = await connect_charger(charger_url(gateway), "CB1", "ocpp1.6")
    second_link = await csms.next_connection()
    await first.ws.wait_closed()
    await first_link.closed.wait()
    assert (first.ws.close_code, first.ws.close_reason) == (1000, "replaced by a new connection of the same charge box")
    reply = await second.cp.call(c16.Heartbeat())
    assert reply.current_time and (await second_link.next_call())[0] == "Heartbeat"
    await second.close()
