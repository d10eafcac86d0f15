"""zeep, loaded with the official WSDLs, is the independent peer: what it builds we decode, what we build it parses."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
import zeep
from lxml import etree
from zeep import helpers

from gateway.core.dialects import Dialect
from gateway.soap import codec, types
from tests.soap.codec_xsd import WSA, example, message_type, to_zeep, wsdl

V15, V16 = Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP
BINDINGS = {"cs": "CentralSystemServiceSoap", "cp": "ChargePointServiceSoap"}
GATEWAY_URL = "http://127.0.0.1:9000/soap"
CHARGER_URL = "http://192.0.2.10:8080/ocpp"


@cache
def _client(dialect: Dialect, service: types.Service) -> Any:
    return zeep.Client(str(wsdl(dialect, service)))  # type: ignore[no-untyped-call]


def _binding(dialect: Dialect, service: types.Service) -> Any:
    return _client(dialect, service).wsdl.bindings[f"{{{types.namespace(dialect, service)}}}{BINDINGS[service]}"]


def _cases(service: types.Service) -> list[Any]:
    return [
        pytest.param(dialect, action, full, id=f"{dialect.value}-{action}-{'full' if full else 'minimal'}")
        for dialect in (V15, V16)
        for action in sorted(types.operations(dialect, service))
        for full in (True, False)
    ]


def _address(name: str, url: str) -> etree._Element:
    element = etree.Element(f"{{{WSA}}}{name}")
    etree.SubElement(element, f"{{{WSA}}}Address").text = url
    return element


def _zeep_request(dialect: Dialect, action: str, payload: dict[str, Any], identity: str = "CB-0001") -> bytes:
    """A charger request as zeep builds it, with the headers OCPP-S needs (SOAP-NOTES section 9)."""
    client = _client(dialect, "cs")
    ns = types.namespace(dialect, "cs")
    proxy = client.create_service(f"{{{ns}}}{BINDINGS['cs']}", GATEWAY_URL)
    cbi = etree.Element(f"{{{ns}}}chargeBoxIdentity")
    cbi.text = identity
    headers = [cbi, _address("From", CHARGER_URL), _address("ReplyTo", WSA + "/anonymous")]
    kwargs = to_zeep(payload, message_type(dialect, "cs", action, "request"))
    envelope = client.create_message(proxy, action, **kwargs, _soapheaders=headers)
    data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return data


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _normal(value: Any) -> Any:
    """Both sides' values in one comparable form: no None fields, datetimes parsed, Decimals as floats."""
    if isinstance(value, dict):
        return {("value" if k == "_value_1" else k): _normal(v) for k, v in value.items() if v not in (None, [])}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and _DATETIME.match(value):
        return datetime.fromisoformat(value)
    return value


def _zeep_parsed(result: Any, ct: types.ComplexType) -> Any:
    """zeep's deserialized payload as a dict; zeep unwraps a sequence of one element, and empty ones are None."""
    plain = helpers.serialize_object(result, dict)  # type: ignore[no-untyped-call]
    if len(ct.fields) == 1 and not (isinstance(plain, dict) and set(plain) <= {ct.fields[0].name}):
        plain = {ct.fields[0].name: plain}
    return _normal(plain or {})


@pytest.mark.parametrize(("dialect", "action", "full"), _cases("cs"))
def test_zeep_charger_request_decodes_to_the_payload(dialect: Dialect, action: str, full: bool) -> None:
    """A request zeep builds from the official WSDL decodes to the JSON-convention payload it was built from."""
    payload = example(message_type(dialect, "cs", action, "request"), full=full)
    body = _zeep_request(dialect, action, payload)
    request = codec.decode_request(body, content_type=codec.content_type(f"/{action}"), soap_action=f'"/{action}"')
    assert (request.dialect, request.service, request.action) == (dialect, "cs", action)
    assert request.payload == payload
    assert request.charge_box_id == "CB-0001"
    assert request.addressing.from_address == CHARGER_URL
    assert request.addressing.reply_to == codec.ANONYMOUS
    assert request.addressing.message_id and request.addressing.message_id.startswith("urn:uuid:")


@pytest.mark.parametrize(("dialect", "action", "full"), _cases("cp"))
def test_zeep_charger_response_decodes_to_the_payload(dialect: Dialect, action: str, full: bool) -> None:
    """A charger's response body zeep serializes decodes with decode_response to the payload it was built from."""
    ct = message_type(dialect, "cp", action, "response")
    payload = example(ct, full=full)
    message = _binding(dialect, "cp").get(action).output.serialize(**to_zeep(payload, ct))
    body = etree.tostring(message.content)
    assert codec.decode_response(body, dialect=dialect, service="cp", action=action) == payload


@pytest.mark.parametrize(("dialect", "action", "full"), _cases("cs"))
def test_our_response_parses_in_zeep(dialect: Dialect, action: str, full: bool) -> None:
    """A response we encode is parsed by zeep's binding to the same values."""
    ct = message_type(dialect, "cs", action, "response")
    payload = example(ct, full=full)
    body = codec.encode_response(dialect, "cs", action, payload, relates_to="urn:uuid:1", message_id="urn:uuid:2")
    parsed = _binding(dialect, "cs").get(action).output.deserialize(etree.fromstring(body))
    assert _zeep_parsed(parsed, ct) == _normal(payload)


@pytest.mark.parametrize(("dialect", "action", "full"), _cases("cp"))
def test_our_request_parses_in_zeep(dialect: Dialect, action: str, full: bool) -> None:
    """A CS-initiated request we encode is parsed by zeep (as a charger would) with its chargeBoxIdentity."""
    ct = message_type(dialect, "cp", action, "request")
    payload = example(ct, full=full)
    body = codec.encode_request(
        dialect,
        action,
        payload,
        charge_box_id="CB-0001",
        message_id="urn:uuid:3",
        from_address=GATEWAY_URL,
        to=CHARGER_URL,
    )
    parsed = _binding(dialect, "cp").get(action).input.deserialize(etree.fromstring(body))
    assert parsed.header.ChargeBoxIdentity == "CB-0001"
    assert _zeep_parsed(parsed.body, ct) == _normal(payload)


def test_zeep_request_with_capitalised_identity_header_decodes() -> None:
    """A ChargeBoxIdentity header (capital C, as some chargers send it) is accepted (OCPP-S 3.3)."""
    body = _zeep_request(V16, "Heartbeat", {}).replace(b"chargeBoxIdentity", b"ChargeBoxIdentity")
    request = codec.decode_request(body, content_type=None, soap_action=None)
    assert (request.charge_box_id, request.payload) == ("CB-0001", {})


def test_zeep_fault_is_received_with_code_subcode_and_reason() -> None:
    """A fault we encode reads the same in zeep's fault parser and in decode_response (FaultReceived)."""
    fault = codec.SoapFault("connector 7 does not exist", code="Receiver", subcode="NotSupported")
    body = codec.encode_fault(V16, fault, relates_to="urn:uuid:3", message_id="urn:uuid:4")
    binding = _binding(V16, "cp")
    with pytest.raises(zeep.exceptions.Fault) as zeep_view:
        binding.process_error(etree.fromstring(body), binding.get("Reset"))
    with pytest.raises(codec.FaultReceived) as ours:
        codec.decode_response(body, dialect=V16, service="cp", action="Reset")
    assert zeep_view.value.message == ours.value.reason == "connector 7 does not exist"
    assert [q.text for q in zeep_view.value.subcodes] == ["{urn://Ocpp/Cs/2015/10/}NotSupported"]
    assert (ours.value.code, ours.value.subcode) == ("Receiver", "NotSupported")
