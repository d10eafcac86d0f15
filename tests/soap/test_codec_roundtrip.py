"""Property: any payload valid by the derived JSON schema encodes to XSD-valid XML and decodes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.core.dialects import Dialect
from gateway.soap import codec, types
from gateway.soap.json_schema import Direction, json_schema
from gateway.soap.payload import decode
from tests.soap.codec_xsd import ENV, charger_request, payload_errors

# Characters XML 1.0 can carry (no C0 controls but tab, LF, CR; no surrogates or U+FFFE/U+FFFF).
_XML_CHARS = st.characters(codec="utf-8", exclude_characters="\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20
)


def _datetimes() -> st.SearchStrategy[str]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])
    moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets)
    return moments.map(lambda moment: moment.isoformat().replace("+00:00", "Z"))


def _strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid by one of our derived schemas (the subset of draft-04 json_schema emits)."""
    kind = schema["type"]
    if kind == "object":
        required = set(schema.get("required", ()))
        props = schema["properties"]
        return st.fixed_dictionaries(
            {k: _strategy(v) for k, v in props.items() if k in required},
            optional={k: _strategy(v) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(_strategy(schema["items"]), min_size=schema.get("minItems", 0), max_size=3)
    if kind == "integer":
        return st.integers(schema["minimum"], schema["maximum"])
    if kind == "number":  # every decimal in the WSDLs has one fraction digit
        return st.integers(-(10**7), 10**7).map(lambda tenths: tenths / 10)
    if kind == "boolean":
        return st.booleans()
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("format") == "date-time":
        return _datetimes()
    if schema.get("format") == "uri":
        return st.sampled_from(["http://example.com/", "ftp://u@h.example/a/b.zip?x=1&y=2", "urn:uuid:0"])
    return st.text(_XML_CHARS, max_size=schema.get("maxLength", 60))


def _messages() -> list[Any]:
    return [
        pytest.param(d, s, a, direction, id=f"{d.value}-{s}-{a}-{direction}")
        for d in (Dialect.OCPP15_SOAP, Dialect.OCPP16_SOAP)
        for s in types.SERVICES
        for a in sorted(types.operations(d, s))
        for direction in ("request", "response")
    ]


def _roundtrip(dialect: Dialect, service: types.Service, action: str, direction: str, payload: dict[str, Any]) -> Any:
    if direction == "response":
        body = codec.encode_response(dialect, service, action, payload, relates_to="urn:r", message_id="urn:m")
        assert payload_errors(body) == []
        return codec.decode_response(body, dialect=dialect, service=service, action=action)
    if service == "cs":
        body = charger_request(dialect, action, payload)
        assert payload_errors(body) == []
        return codec.decode_request(body, content_type=None, soap_action=None).payload
    body = codec.encode_request(dialect, action, payload, charge_box_id="CB", message_id="m", from_address="f", to="t")
    assert payload_errors(body) == []
    root = etree.fromstring(body).find(f"{{{ENV}}}Body")
    assert root is not None
    op = types.operation(dialect, "cp", action)
    return decode(root[0], op.request_type, types.namespace(dialect, "cp"), op.request_root)


def _without_empty_lists(value: Any) -> Any:
    """XML cannot tell an empty list from an absent field: decoding yields the field absent."""
    if isinstance(value, dict):
        return {k: _without_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_without_empty_lists(v) for v in value]
    return value


@pytest.mark.parametrize(("dialect", "service", "action", "direction"), _messages())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_valid_payload_survives_encode_and_decode(
    dialect: Dialect, service: types.Service, action: str, direction: Direction, data: st.DataObject
) -> None:
    """encode -> XSD-valid XML -> decode gives back the payload (empty lists aside) for random schema-valid ones."""
    # DataTransfer of the cp service has the same fields as the cs one, which json_schema describes.
    payload = data.draw(_strategy(json_schema(dialect, action, direction)))
    assert _roundtrip(dialect, service, action, direction, payload) == _without_empty_lists(payload)
