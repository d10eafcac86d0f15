"""encode_request and encode_response: every envelope validates against the WSDL XSD, and bad payloads never leave."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from gateway.core.dialects import Dialect
from gateway.errors import NotSupportedAction, SchemaViolation
from gateway.soap import codec, types
from tests.soap.codec_xsd import ENV, WSA, addressing_errors, charger_request, example, message_type, payload_errors

V15, V16 = Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP
GATEWAY_URL = "http://127.0.0.1:9000/soap"
CHARGER_URL = "http://192.0.2.10:8080/ocpp"


def _messages() -> list[Any]:
    """(dialect, service, action, direction, full) for every message the gateway encodes."""
    cases = []
    for dialect in (V15, V16):
        for service in types.SERVICES:
            for action in sorted(types.operations(dialect, service)):
                directions = ["response", "request"] if service == "cp" else ["response"]
                for direction in directions:
                    for full in (True, False):
                        name = f"{dialect.value}-{service}-{action}-{direction}-{'full' if full else 'minimal'}"
                        cases.append(pytest.param(dialect, service, action, direction, full, id=name))
    return cases


def _encode(dialect: Dialect, service: types.Service, action: str, direction: str, payload: dict[str, Any]) -> bytes:
    if direction == "response":
        return codec.encode_response(
            dialect, service, action, payload, relates_to="urn:uuid:req", message_id="urn:uuid:resp"
        )
    return codec.encode_request(
        dialect,
        action,
        payload,
        charge_box_id="CB-0001",
        message_id="urn:uuid:req",
        from_address=GATEWAY_URL,
        to=CHARGER_URL,
    )


@pytest.mark.parametrize(("dialect", "service", "action", "direction", "full"), _messages())
def test_encoded_envelope_validates_against_the_wsdl(
    dialect: Dialect, service: types.Service, action: str, direction: str, full: bool
) -> None:
    """The payload and chargeBoxIdentity validate with xmlschema, and the WS-A headers are OCPP-S's."""
    body = _encode(
        dialect, service, action, direction, example(message_type(dialect, service, action, direction), full=full)
    )
    assert payload_errors(body) == []
    suffix = "Response" if direction == "response" else ""
    relates_to = "urn:uuid:req" if direction == "response" else None
    assert (
        addressing_errors(body, action=f"/{action}{suffix}", relates_to=relates_to, request=direction == "request")
        == []
    )


@pytest.mark.parametrize("dialect", [V15, V16])
def test_fault_envelope_has_the_ocpp_s_shape(dialect: Dialect) -> None:
    """A fault is env:Sender with an OCPP-namespace subcode, an English reason and the WS-A fault action."""
    fault = codec.SoapFault("bad request", subcode="IdentityMismatch")
    root = etree.fromstring(codec.encode_fault(dialect, fault, relates_to="urn:uuid:req", message_id="urn:uuid:f"))
    ns = types.namespace(dialect, "cs")
    code = root.find(f"{{{ENV}}}Body/{{{ENV}}}Fault/{{{ENV}}}Code")
    assert code is not None
    value, subcode = code.find(f"{{{ENV}}}Value"), code.find(f"{{{ENV}}}Subcode/{{{ENV}}}Value")
    assert value is not None and subcode is not None
    assert _resolve(value) == (ENV, "Sender") and _resolve(subcode) == (ns, "IdentityMismatch")
    text = root.find(f"{{{ENV}}}Body/{{{ENV}}}Fault/{{{ENV}}}Reason/{{{ENV}}}Text")
    assert text is not None and (text.text, text.get("{http://www.w3.org/XML/1998/namespace}lang")) == (
        "bad request",
        "en",
    )
    assert root.findtext(f"{{{ENV}}}Header/{{{WSA}}}Action") == "http://www.w3.org/2005/08/addressing/soap/fault"
    assert root.findtext(f"{{{ENV}}}Header/{{{WSA}}}RelatesTo") == "urn:uuid:req"
    assert root.findtext(f"{{{ENV}}}Header/{{{WSA}}}MessageID") == "urn:uuid:f"


def _resolve(value: etree._Element) -> tuple[str | None, str]:
    prefix, _, local = (value.text or "").rpartition(":")
    return value.nsmap.get(prefix or None), local


def test_fault_without_dialect_uses_the_16_namespace_and_no_relates_to() -> None:
    """Unknown dialect: the subcode is in the 1.6 Cs namespace; without a MessageID there is no RelatesTo."""
    root = etree.fromstring(
        codec.encode_fault(None, codec.SoapFault("not XML"), relates_to=None, message_id="urn:uuid:f")
    )
    assert root.nsmap["cs"] == "urn://Ocpp/Cs/2015/10/"
    assert root.find(f"{{{ENV}}}Header/{{{WSA}}}RelatesTo") is None


def test_fault_takes_dialect_and_relates_to_from_the_error() -> None:
    """A fault raised while decoding carries its dialect and MessageID into the envelope."""
    error = codec.SoapFault("x", relates_to="urn:uuid:req", dialect=V15)
    root = etree.fromstring(codec.encode_fault(None, error, relates_to=None, message_id="urn:uuid:f"))
    assert root.nsmap["cs"] == "urn://Ocpp/Cs/2012/06/"
    assert root.findtext(f"{{{ENV}}}Header/{{{WSA}}}RelatesTo") == "urn:uuid:req"


def test_output_is_utf8_with_declaration_and_must_understand_headers() -> None:
    """Requests start with the XML declaration, are UTF-8, and mark identity, Action and To mustUnderstand."""
    body = codec.encode_request(
        V16,
        "ChangeConfiguration",
        {"key": "Grüße", "value": "1"},
        charge_box_id="CB-ü",
        message_id="m",
        from_address=GATEWAY_URL,
        to=CHARGER_URL,
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert "Grüße".encode() in body
    header = etree.fromstring(body).find(f"{{{ENV}}}Header")
    assert header is not None
    understood = [etree.QName(h).localname for h in header if h.get(f"{{{ENV}}}mustUnderstand") == "true"]
    assert understood == ["chargeBoxIdentity", "Action", "To"]
    assert header[0].text == "CB-ü" and etree.QName(header[0]).namespace == "urn://Ocpp/Cp/2015/10/"


def test_fields_are_written_in_xsd_order() -> None:
    """1.5 RemoteStartTransaction is idTag, connectorId; 1.6 is connectorId, idTag, whatever the dict order."""
    payload = {"connectorId": 1, "idTag": "TAG"}
    for dialect, order in ((V15, ["idTag", "connectorId"]), (V16, ["connectorId", "idTag"])):
        body = codec.encode_request(
            dialect,
            "RemoteStartTransaction",
            payload,
            charge_box_id="C",
            message_id="m",
            from_address=GATEWAY_URL,
            to=CHARGER_URL,
        )
        root = etree.fromstring(body).find(f"{{{ENV}}}Body")
        assert root is not None and [etree.QName(e).localname for e in root[0]] == order


@pytest.mark.parametrize(
    ("limit", "text"),
    [(16.04, "16.0"), (7.25, "7.2"), (7.35, "7.4"), (32, "32.0"), (1e-05, "0.0"), (-0.5, "-0.5")],
)
def test_decimal_one_has_at_most_one_fraction_digit(limit: float, text: str) -> None:
    """DecimalOne values are rounded (half even on the decimal text) to one fraction digit, never exponents."""
    payload = {
        "status": "Accepted",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }
    body = codec.encode_response(V16, "cp", "GetCompositeSchedule", payload, relates_to=None, message_id="m")
    limits = etree.fromstring(body).findall(".//{urn://Ocpp/Cp/2015/10/}limit")
    assert [e.text for e in limits] == [text]


def test_integral_float_is_an_integer() -> None:
    """JSON has one number type: 300.0 for an xs:int is written 300."""
    body = codec.encode_response(
        V16,
        "cs",
        "BootNotification",
        {"status": "Accepted", "currentTime": "2024-05-01T12:00:00Z", "interval": 300.0},
        relates_to=None,
        message_id="m",
    )
    assert b"<cs:interval>300</cs:interval>" in body


def test_boolean_is_written_true_or_false() -> None:
    """Booleans are written as true/false."""
    payload = {"configurationKey": [{"key": "A", "readonly": True}, {"key": "B", "readonly": False}]}
    body = codec.encode_response(V16, "cp", "GetConfiguration", payload, relates_to=None, message_id="m")
    assert b"<cp:readonly>true</cp:readonly>" in body and b"<cp:readonly>false</cp:readonly>" in body


BOOT_OK: dict[str, Any] = {"status": "Accepted", "currentTime": "2024-05-01T12:00:00Z", "interval": 300}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"heartbeatInterval": 300}, r"unknown field\(s\) heartbeatInterval"),
        ({"interval": None}, "interval: expected an integer"),
        ({"interval": "300"}, "interval: expected an integer"),
        ({"interval": True}, "interval: expected an integer"),
        ({"interval": 2**31}, "interval: outside the 32-bit xs:int range"),
        ({"interval": 1.5}, "interval: expected an integer"),
        ({"status": "Maybe"}, "status: value not allowed by the enumeration"),
        ({"currentTime": "2024-05-01"}, "currentTime: not an xs:dateTime"),
        ({"currentTime": 1714564800}, "currentTime: expected a date-time string"),
    ],
    ids=["unknown", "null", "string-int", "bool-int", "int-range", "fraction-int", "enum", "datetime", "epoch"],
)
def test_bad_response_payload_is_a_schema_violation(change: dict[str, Any], reason: str) -> None:
    """Unknown keys, wrong types and facet breaches raise SchemaViolation naming the field."""
    with pytest.raises(SchemaViolation, match=reason):
        codec.encode_response(V16, "cs", "BootNotification", BOOT_OK | change, relates_to=None, message_id="m")


def test_missing_required_field_is_a_schema_violation() -> None:
    """A response without a required field is not sent."""
    with pytest.raises(SchemaViolation, match="missing field currentTime"):
        codec.encode_response(
            V16, "cs", "BootNotification", {"status": "Accepted", "interval": 1}, relates_to=None, message_id="m"
        )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"key": ["a"] * 2}, None),
        ({"key": "a"}, "key: expected an array"),
        ({"key": ["k" * 51]}, "key: longer than 50 characters"),
        ({"key": ["bad\x00char"]}, "key"),
    ],
    ids=["ok", "not-a-list", "too-long", "control-char"],
)
def test_repeated_field_needs_a_list_of_valid_items(payload: dict[str, Any], reason: str | None) -> None:
    """maxOccurs>1 fields take lists; each item is checked (including characters XML cannot carry)."""

    def encode() -> bytes:
        return codec.encode_request(
            V16, "GetConfiguration", payload, charge_box_id="C", message_id="m", from_address="f", to="t"
        )

    if reason is None:
        assert payload_errors(encode()) == []
    else:
        with pytest.raises(SchemaViolation, match=reason):
            encode()


def test_too_few_list_items_is_a_schema_violation() -> None:
    """chargingSchedulePeriod needs at least one item (minOccurs 1)."""
    payload = {"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": []}}
    with pytest.raises(SchemaViolation, match=r"0 items, expected 1\.\.unbounded"):
        codec.encode_response(V16, "cp", "GetCompositeSchedule", payload, relates_to=None, message_id="m")


def test_15_meter_value_object_is_written_as_text_with_attributes() -> None:
    """The 1.5 {"value": text, unit: ...} object becomes the value element's text and unqualified attributes."""
    payload = {
        "connectorId": 1,
        "values": [{"timestamp": "2024-05-01T12:00:00Z", "value": [{"value": "5", "unit": "Wh"}]}],
    }
    body = charger_request(V15, "MeterValues", payload)
    assert payload_errors(body) == []
    value = etree.fromstring(body).find(".//{urn://Ocpp/Cs/2012/06/}value")
    assert value is not None and value.text == "5" and value.attrib.items() == [("unit", "Wh")]


def test_15_meter_value_unknown_attribute_is_a_schema_violation() -> None:
    """An attribute the 1.5 XSD lacks (phase is 1.6 only) is refused."""
    payload = {
        "connectorId": 1,
        "values": [{"timestamp": "2024-05-01T12:00:00Z", "value": [{"value": "5", "phase": "L1"}]}],
    }
    with pytest.raises(SchemaViolation, match="unknown field"):
        charger_request(V15, "MeterValues", payload)


def test_operation_missing_in_the_dialect_is_not_supported() -> None:
    """TriggerMessage does not exist in 1.5: encode_request raises NotSupportedAction."""
    with pytest.raises(NotSupportedAction):
        codec.encode_request(V15, "TriggerMessage", {}, charge_box_id="C", message_id="m", from_address="f", to="t")


def test_charger_operation_is_not_a_cs_request() -> None:
    """encode_request builds ChargePointService requests only; Heartbeat is charger-initiated."""
    with pytest.raises(NotSupportedAction):
        codec.encode_request(V16, "Heartbeat", {}, charge_box_id="C", message_id="m", from_address="f", to="t")


def test_content_type_carries_the_action() -> None:
    """The SOAP 1.2 media type with charset and the action parameter."""
    assert codec.content_type("/BootNotification") == 'application/soap+xml; charset=utf-8; action="/BootNotification"'
