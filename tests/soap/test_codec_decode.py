"""decode_request and decode_response: what a charger sends becomes the JSON convention, or a precise fault."""

from __future__ import annotations

import pytest

from gateway.core.dialects import Dialect
from gateway.soap import codec

V15, V16 = Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP
CS15, CS16, CP15, CP16 = (
    "urn://Ocpp/Cs/2012/06/",
    "urn://Ocpp/Cs/2015/10/",
    "urn://Ocpp/Cp/2012/06/",
    "urn://Ocpp/Cp/2015/10/",
)
MESSAGE_ID = "urn:uuid:00000000-0000-4000-8000-00000000000a"


def envelope(
    payload: str,
    *,
    ns: str = CS16,
    identity: str | None = '<o:chargeBoxIdentity s:mustUnderstand="true">CB-7</o:chargeBoxIdentity>',
    action: str | None = None,
    message_id: str | None = MESSAGE_ID,
    extra: str = "",
) -> bytes:
    """A charger's request envelope around `payload` (OCPP prefix `o`), with the usual headers."""
    headers = [
        identity or "",
        f'<wsa:Action s:mustUnderstand="true">{action}</wsa:Action>' if action else "",
        f"<wsa:MessageID>{message_id}</wsa:MessageID>" if message_id else "",
        "<wsa:From><wsa:Address>http://192.0.2.10:8080/ocpp</wsa:Address></wsa:From>",
        "<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>",
        "<wsa:To>http://127.0.0.1:9000/soap</wsa:To>",
        extra,
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:o="{ns}">'
        f"<s:Header>{''.join(headers)}</s:Header><s:Body>{payload}</s:Body></s:Envelope>"
    ).encode()


def decode(body: bytes, *, content_type: str | None = None, soap_action: str | None = None) -> codec.SoapRequest:
    return codec.decode_request(body, content_type=content_type, soap_action=soap_action)


def refused(body: bytes, *, content_type: str | None = None, soap_action: str | None = None) -> codec.SoapFault:
    with pytest.raises(codec.SoapFault) as info:
        decode(body, content_type=content_type, soap_action=soap_action)
    assert (info.value.code, info.value.subcode) == ("Sender", "ProtocolError")
    return info.value


BOOT = (
    "<o:bootNotificationRequest><o:chargePointVendor>V</o:chargePointVendor>"
    "<o:chargePointModel>M</o:chargePointModel></o:bootNotificationRequest>"
)


def test_boot_notification_decodes_with_its_addressing() -> None:
    """A 1.6 BootNotification gives the dialect, action, payload, identity and WS-A headers."""
    request = decode(envelope(BOOT, action="/BootNotification"))
    assert request == codec.SoapRequest(
        dialect=V16,
        service="cs",
        action="BootNotification",
        payload={"chargePointVendor": "V", "chargePointModel": "M"},
        charge_box_id="CB-7",
        addressing=codec.Addressing(
            action="/BootNotification",
            message_id=MESSAGE_ID,
            from_address="http://192.0.2.10:8080/ocpp",
            reply_to=codec.ANONYMOUS,
            to="http://127.0.0.1:9000/soap",
        ),
    )


def test_namespace_tells_15_from_16() -> None:
    """The same envelope in the 1.5 namespace decodes as OCPP 1.5."""
    assert decode(envelope(BOOT, ns=CS15)).dialect is V15


def test_empty_request_is_an_empty_object() -> None:
    """<heartbeatRequest/> becomes {}."""
    assert decode(envelope("<o:heartbeatRequest/>")).payload == {}


def test_repeated_element_with_one_item_is_a_list() -> None:
    """A single meterValue and sampledValue are still lists; the missing timezone gets a Z."""
    body = envelope(
        "<o:meterValuesRequest><o:connectorId> 1 </o:connectorId><o:meterValue>"
        "<o:timestamp>2024-05-01T12:00:00</o:timestamp>"
        "<o:sampledValue><o:value>12.5</o:value><o:unit>kWh</o:unit></o:sampledValue>"
        "</o:meterValue></o:meterValuesRequest>"
    )
    assert decode(body).payload == {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2024-05-01T12:00:00Z", "sampledValue": [{"value": "12.5", "unit": "kWh"}]}],
    }


def test_15_meter_value_attributes_become_keys() -> None:
    """A 1.5 value element becomes {"value": text, attribute: value} with only the attributes present."""
    body = envelope(
        "<o:meterValuesRequest><o:connectorId>2</o:connectorId><o:values>"
        "<o:timestamp>2024-05-01T12:00:00+02:00</o:timestamp>"
        '<o:value unit="Wh" measurand="Energy.Active.Import.Register">1200</o:value><o:value>7</o:value>'
        "</o:values></o:meterValuesRequest>",
        ns=CS15,
    )
    assert decode(body).payload["values"] == [
        {
            "timestamp": "2024-05-01T12:00:00+02:00",
            "value": [{"value": "1200", "unit": "Wh", "measurand": "Energy.Active.Import.Register"}, {"value": "7"}],
        }
    ]


def test_15_meter_value_qualified_attribute_is_refused() -> None:
    """Attributes are unqualified in the 1.5 XSD: o:unit="Wh" is refused."""
    body = envelope(
        "<o:meterValuesRequest><o:connectorId>2</o:connectorId><o:values><o:timestamp>2024-05-01T12:00:00Z"
        '</o:timestamp><o:value o:unit="Wh">1</o:value></o:values></o:meterValuesRequest>',
        ns=CS15,
    )
    assert "unexpected attribute unit" in str(refused(body))


def test_identity_and_message_id_are_trimmed() -> None:
    """Whitespace around the identity (pretty-printed headers) is not part of it."""
    body = envelope("<o:heartbeatRequest/>", identity="<o:chargeBoxIdentity>\n  CB-7\n</o:chargeBoxIdentity>")
    assert decode(body).charge_box_id == "CB-7"


def test_identity_in_another_namespace_is_missing() -> None:
    """A chargeBoxIdentity outside the body's namespace does not count."""
    identity = '<x:chargeBoxIdentity xmlns:x="urn://Ocpp/Cs/2012/06/">CB-7</x:chargeBoxIdentity>'
    assert "missing chargeBoxIdentity" in str(refused(envelope("<o:heartbeatRequest/>", identity=identity)))


def test_missing_message_id_is_refused_without_relates_to() -> None:
    """No MessageID: the fault cannot relate to one, but it knows the dialect."""
    fault = refused(envelope("<o:heartbeatRequest/>", ns=CS15, message_id=None))
    assert "MessageID" in str(fault) and fault.relates_to is None and fault.dialect is V15


def test_duplicate_message_id_is_refused() -> None:
    """Two MessageID headers are refused."""
    assert "duplicate wsa:MessageID" in str(refused(envelope(BOOT, extra="<wsa:MessageID>x</wsa:MessageID>")))


@pytest.mark.parametrize(
    ("content_type", "soap_action", "action"),
    [
        ('application/soap+xml; charset=utf-8; action="/Heartbeat"', None, None),
        (None, '"/Heartbeat"', None),
        (None, None, "/Heartbeat"),
    ],
    ids=["content-type", "soapaction", "wsa-action"],
)
def test_action_mismatch_is_refused(content_type: str | None, soap_action: str | None, action: str | None) -> None:
    """Each of the three places an action can be given must agree with the body's root."""
    fault = refused(envelope(BOOT, action=action), content_type=content_type, soap_action=soap_action)
    assert "does not match" in str(fault) and fault.relates_to == MESSAGE_ID and fault.dialect is V16


def test_agreeing_actions_are_accepted() -> None:
    """All three agreeing (the media-type parameter unquoted, SOAPAction quoted) is fine."""
    request = decode(
        envelope(BOOT, action="/BootNotification"),
        content_type="application/soap+xml;charset=utf-8;action=/BootNotification",
        soap_action='"/BootNotification"',
    )
    assert request.action == "BootNotification"


def test_action_with_a_namespace_prefix_is_accepted() -> None:
    """Some stacks prefix the action with the namespace; it still names the same operation."""
    assert decode(envelope(BOOT, action=f"{CS16}BootNotification")).action == "BootNotification"


def test_empty_soap_action_header_is_ignored() -> None:
    """SOAPAction: "" says nothing, so it is not a mismatch."""
    assert decode(envelope(BOOT), soap_action='""').action == "BootNotification"


def test_charge_point_service_request_is_refused() -> None:
    """A body in the Cp namespace is a CS -> charger message: not something a charger sends us."""
    body = envelope("<o:resetRequest><o:type>Hard</o:type></o:resetRequest>", ns=CP16)
    assert "ChargePointService" in str(refused(body))


def test_response_root_is_an_unknown_operation() -> None:
    """A response element in a request is an unknown operation."""
    assert "unknown operation" in str(refused(envelope("<o:heartbeatResponse/>")))


def test_fault_as_request_is_refused() -> None:
    """An env:Fault posted to the gateway is not a request."""
    assert "fault" in str(refused(envelope("<s:Fault/>")))


def test_body_with_two_elements_is_refused() -> None:
    """The Body holds exactly one payload element."""
    assert "exactly one" in str(refused(envelope("<o:heartbeatRequest/><o:heartbeatRequest/>")))


def test_envelope_without_body_is_refused() -> None:
    """An Envelope without a Body is refused."""
    body = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>'
    assert "no Body" in str(refused(body))


def test_root_that_is_not_an_envelope_is_refused() -> None:
    """A bare payload without an Envelope is refused."""
    assert "not a SOAP 1.2 Envelope" in str(refused(f'<o:heartbeatRequest xmlns:o="{CS16}"/>'.encode()))


# ---- payload checks: each names the element path, never the value ---------------------------------


def boot(children: str) -> bytes:
    return envelope(f"<o:bootNotificationRequest>{children}</o:bootNotificationRequest>")


def test_unknown_element_is_refused() -> None:
    """An element the XSD does not define is refused by name, with the request's MessageID."""
    fault = refused(boot("<o:chargePointVendor>V</o:chargePointVendor><o:colour>red</o:colour>"))
    assert str(fault) == "bootNotificationRequest: unexpected element colour"
    assert fault.relates_to == MESSAGE_ID and fault.unique_id == MESSAGE_ID


def test_out_of_order_elements_are_refused() -> None:
    """Model before vendor breaks the xs:sequence."""
    fault = refused(boot("<o:chargePointModel>M</o:chargePointModel><o:chargePointVendor>V</o:chargePointVendor>"))
    expected = "element chargePointVendor missing or out of order (expected before chargePointModel)"
    assert str(fault) == f"bootNotificationRequest: {expected}"


def test_element_repeated_after_a_later_one_is_out_of_order() -> None:
    """Going back to an earlier element of the sequence is refused as out of order."""
    fault = refused(
        boot(
            "<o:chargePointVendor>V</o:chargePointVendor><o:chargePointModel>M</o:chargePointModel>"
            "<o:chargePointVendor>W</o:chargePointVendor>"
        )
    )
    assert "element chargePointVendor is out of order" in str(fault)


def test_missing_required_element_is_refused() -> None:
    """A required element that is absent is named."""
    assert "missing element chargePointModel" in str(refused(boot("<o:chargePointVendor>V</o:chargePointVendor>")))


def test_repeated_single_element_is_refused() -> None:
    """An element with maxOccurs 1 may not appear twice."""
    fault = refused(
        boot("<o:chargePointVendor>V</o:chargePointVendor>" * 2 + "<o:chargePointModel>M</o:chargePointModel>")
    )
    assert "too many chargePointVendor" in str(fault)


def test_unqualified_child_is_refused() -> None:
    """elementFormDefault is qualified: a child without the OCPP namespace is refused."""
    fault = refused(boot("<chargePointVendor>V</chargePointVendor><o:chargePointModel>M</o:chargePointModel>"))
    assert "not in the OCPP namespace" in str(fault)


def test_too_long_string_is_refused() -> None:
    """A vendor longer than the XSD's 20 characters is refused."""
    fault = refused(
        boot(f"<o:chargePointVendor>{'V' * 21}</o:chargePointVendor><o:chargePointModel>M</o:chargePointModel>")
    )
    assert str(fault) == "bootNotificationRequest/chargePointVendor: longer than 20 characters"


def test_text_between_elements_is_refused() -> None:
    """Mixed content is not allowed in a sequence."""
    fault = refused(boot("<o:chargePointVendor>V</o:chargePointVendor>stray<o:chargePointModel>M</o:chargePointModel>"))
    assert "unexpected text" in str(fault)


STATUS = (
    "<o:statusNotificationRequest><o:connectorId>{connector}</o:connectorId><o:status>{status}</o:status>"
    "<o:errorCode>NoError</o:errorCode>{timestamp}</o:statusNotificationRequest>"
)


@pytest.mark.parametrize(
    ("connector", "status", "timestamp", "reason"),
    [
        ("12a", "Available", "", "connectorId: not an xs:int"),
        ("2147483648", "Available", "", "connectorId: outside the 32-bit xs:int range"),
        ("1", "Occupied", "", "status: value not allowed by the enumeration"),
        ("1", " Available", "", "status: value not allowed by the enumeration"),
        ("1", "Available", "<o:timestamp>2024-13-01T00:00:00Z</o:timestamp>", "timestamp: not a valid date and time"),
        ("1", "Available", "<o:timestamp>yesterday</o:timestamp>", "timestamp: not an xs:dateTime"),
        ("1", "Available", "<o:timestamp>2024-01-01T00:00:00+15:00</o:timestamp>", "timestamp: timezone offset"),
    ],
    ids=["int-syntax", "int-range", "enum-15-value-in-16", "enum-whitespace", "date", "datetime", "timezone"],
)
def test_bad_simple_value_is_refused_without_echoing_it(
    connector: str, status: str, timestamp: str, reason: str
) -> None:
    """Bad int, enum and dateTime values are refused with the element path and no trace of the value."""
    body = envelope(STATUS.format(connector=connector, status=status, timestamp=timestamp))
    text = str(refused(body))
    assert reason in text
    assert not any(bad in text for bad in ("12a", "2147483648", "Occupied", "2024-13", "yesterday", "+15:00"))


def test_int_text_is_whitespace_collapsed() -> None:
    """xs:int collapses whitespace; signs are allowed."""
    body = envelope(STATUS.format(connector="\n +3\t", status="Available", timestamp=""))
    assert decode(body).payload["connectorId"] == 3


# ---- decode_response --------------------------------------------------------------------------------


def response(payload: str, *, ns: str = CP16, action: str | None = None) -> bytes:
    header = f"<s:Header><wsa:Action>{action}</wsa:Action></s:Header>" if action else ""
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:o="{ns}">'
        f"{header}<s:Body>{payload}</s:Body></s:Envelope>"
    ).encode()


def test_boolean_accepts_1_and_0() -> None:
    """readonly "1"/"0" (xs:boolean) become true/false."""
    body = response(
        "<o:getConfigurationResponse>"
        "<o:configurationKey><o:key>A</o:key><o:readonly>1</o:readonly></o:configurationKey>"
        "<o:configurationKey><o:key>B</o:key><o:readonly>false</o:readonly><o:value>x</o:value></o:configurationKey>"
        "</o:getConfigurationResponse>"
    )
    payload = codec.decode_response(body, dialect=V16, service="cp", action="GetConfiguration")
    assert payload == {
        "configurationKey": [{"key": "A", "readonly": True}, {"key": "B", "readonly": False, "value": "x"}]
    }


def test_decimal_becomes_a_number_and_more_fraction_digits_are_refused() -> None:
    """limit 16.50 is 16.5 (trailing zeros do not count); 16.25 breaks fractionDigits=1."""
    template = (
        "<o:getCompositeScheduleResponse><o:status>Accepted</o:status><o:chargingSchedule>"
        "<o:chargingRateUnit>A</o:chargingRateUnit><o:chargingSchedulePeriod><o:startPeriod>0</o:startPeriod>"
        "<o:limit>{}</o:limit></o:chargingSchedulePeriod></o:chargingSchedule></o:getCompositeScheduleResponse>"
    )
    good = codec.decode_response(
        response(template.format("16.50")), dialect=V16, service="cp", action="GetCompositeSchedule"
    )
    assert good["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.5}]
    with pytest.raises(codec.SoapFault, match="limit: more than 1 fraction digits"):
        codec.decode_response(
            response(template.format("16.25")), dialect=V16, service="cp", action="GetCompositeSchedule"
        )


def test_response_of_another_operation_is_refused() -> None:
    """An answer whose root is not the expected response is refused."""
    with pytest.raises(codec.SoapFault, match="expected resetResponse"):
        codec.decode_response(
            response("<o:clearCacheResponse><o:status>Accepted</o:status></o:clearCacheResponse>"),
            dialect=V16,
            service="cp",
            action="Reset",
        )


def test_response_in_the_other_version_is_refused() -> None:
    """A 1.5 namespace in answer to a 1.6 request is refused."""
    with pytest.raises(codec.SoapFault, match="expected resetResponse in urn://Ocpp/Cp/2015/10/"):
        codec.decode_response(
            response("<o:resetResponse><o:status>Accepted</o:status></o:resetResponse>", ns=CP15),
            dialect=V16,
            service="cp",
            action="Reset",
        )


def test_response_action_mismatch_is_refused() -> None:
    """A wsa:Action naming another response is refused."""
    body = response("<o:resetResponse><o:status>Accepted</o:status></o:resetResponse>", action="/ClearCacheResponse")
    with pytest.raises(codec.SoapFault, match="wsa:Action does not match /ResetResponse"):
        codec.decode_response(body, dialect=V16, service="cp", action="Reset")


def test_received_fault_carries_code_subcode_and_english_reason() -> None:
    """A charger's fault is FaultReceived with the local names of code and subcode and the English reason."""
    body = response(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>o:IdentityMismatch</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="de">falsche Kennung</s:Text><s:Text xml:lang="en">wrong identity</s:Text>'
        "</s:Reason></s:Fault>"
    )
    with pytest.raises(codec.FaultReceived) as info:
        codec.decode_response(body, dialect=V16, service="cp", action="Reset")
    fault = info.value
    assert (fault.code, fault.subcode, fault.reason, str(fault)) == (
        "Sender",
        "IdentityMismatch",
        "wrong identity",
        "wrong identity",
    )
    assert codec.call_error_code_for_fault(fault) == "SecurityError" == fault.ocpp_code


def test_received_fault_without_subcode_or_reason() -> None:
    """A bare fault still is a FaultReceived, with subcode None and a generated message."""
    body = response("<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault>")
    with pytest.raises(codec.FaultReceived) as info:
        codec.decode_response(body, dialect=V15, service="cp", action="Reset")
    assert (info.value.code, info.value.subcode, str(info.value)) == ("Receiver", None, "SOAP fault Receiver/-")
    assert codec.call_error_code_for_fault(info.value) == "InternalError"
