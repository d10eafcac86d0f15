"""OCPP payload elements <-> the JSON-convention dicts, checked against the WSDL type tables.

Decoding enforces what the XSD says (element order, cardinality, namespaces, simple-type values) and
raises a Sender/ProtocolError SoapFault naming the element path, never its value. Encoding emits the
fields in XSD order and raises SchemaViolation for anything the XSD would reject, so no invalid XML
ever leaves the gateway.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gateway.errors import SchemaViolation
from gateway.soap.faults import SoapFault
from gateway.soap.lexical import format_value, parse_text
from gateway.soap.types import ComplexType, Field, SimpleType


def _only_space(text: str | None) -> bool:
    return text is None or not text.strip(" \t\r\n")


def decode(element: etree._Element, ct: ComplexType, ns: str, path: str) -> dict[str, Any]:
    """The dict form of an element of complex type `ct` whose children are in namespace `ns`.

    Args:
        element: the element (e.g. the body's root).
        ct: its type.
        ns: the OCPP namespace (elementFormDefault is qualified, so every child is in it).
        path: the element's name path, used in error reasons.

    Raises:
        SoapFault: Sender/ProtocolError when the element does not match its type.
    """
    if ct.text is not None:
        return _decode_simple_content(element, ct, path)
    if element.attrib:
        raise SoapFault(f"{path}: unexpected attribute")
    if not _only_space(element.text):
        raise SoapFault(f"{path}: unexpected text among child elements")
    prefix = f"{{{ns}}}"
    fields = ct.fields
    result: dict[str, Any] = {}
    current, count = -1, 0
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # an entity reference; DTDs are refused earlier, so only defensive
            raise SoapFault(f"{path}: unexpected XML node")
        if not tag.startswith(prefix):
            raise SoapFault(f"{path}: child element {etree.QName(tag).localname} is not in the OCPP namespace {ns}")
        name = tag[len(prefix) :]
        position = ct.index.get(name)
        if position is None:
            raise SoapFault(f"{path}: unexpected element {name}")
        field = fields[position]
        if position == current:
            count += 1
            if field.max_occurs is not None and count > field.max_occurs:
                raise SoapFault(f"{path}: too many {name} elements (at most {field.max_occurs})")
        elif position > current:
            _check_skipped(fields, current, count, position, path, before=name)
            current, count = position, 1
        else:
            raise SoapFault(f"{path}: element {name} is out of order (expected order: {_order(ct)})")
        if not _only_space(child.tail):
            raise SoapFault(f"{path}: unexpected text among child elements")
        value = _decode_field(child, field, ns, f"{path}/{name}")
        if field.repeated:
            result.setdefault(name, []).append(value)
        else:
            result[name] = value
    _check_skipped(fields, current, count, len(fields), path)
    return result


def _order(ct: ComplexType) -> str:
    return ", ".join(f.name for f in ct.fields)


def _check_skipped(
    fields: tuple[Field, ...], current: int, count: int, upto: int, path: str, *, before: str | None = None
) -> None:
    """Fields between the last one seen and `upto` (the element `before`, or the end) must be optional."""
    if current >= 0 and count < fields[current].min_occurs:
        raise SoapFault(f"{path}: too few {fields[current].name} elements (at least {fields[current].min_occurs})")
    for field in fields[current + 1 : upto]:
        if field.min_occurs > 0:
            if before is None:
                raise SoapFault(f"{path}: missing element {field.name}")
            raise SoapFault(f"{path}: element {field.name} missing or out of order (expected before {before})")


def _decode_field(child: etree._Element, field: Field, ns: str, path: str) -> Any:
    if isinstance(field.type, ComplexType):
        return decode(child, field.type, ns, path)
    return _decode_leaf(child, field.type, path)


def _decode_leaf(element: etree._Element, st: SimpleType, path: str) -> Any:
    if element.attrib:
        raise SoapFault(f"{path}: unexpected attribute")
    if len(element):
        raise SoapFault(f"{path}: a simple value may not contain elements")
    try:
        return parse_text(element.text or "", st)
    except ValueError as exc:
        raise SoapFault(f"{path}: {exc}") from None


def _decode_simple_content(element: etree._Element, ct: ComplexType, path: str) -> dict[str, Any]:
    """Text plus unqualified attributes (1.5 MeterValue value) -> {"value": text, attribute: value, ...}."""
    assert ct.text is not None
    if len(element):
        raise SoapFault(f"{path}: a simple value may not contain elements")
    try:
        result: dict[str, Any] = {"value": parse_text(element.text or "", ct.text)}
    except ValueError as exc:
        raise SoapFault(f"{path}: {exc}") from None
    known = {a.name: a for a in ct.attributes}
    for key, text in element.attrib.items():
        attribute = known.get(key) if isinstance(key, str) else None
        if attribute is None:  # also a qualified attribute: attributeFormDefault is unqualified
            raise SoapFault(f"{path}: unexpected attribute {etree.QName(key).localname}")
        try:
            result[attribute.name] = parse_text(str(text), attribute.type)
        except ValueError as exc:
            raise SoapFault(f"{path}@{attribute.name}: {exc}") from None
    for attribute in ct.attributes:
        if attribute.required and attribute.name not in result:
            raise SoapFault(f"{path}: missing attribute {attribute.name}")
    return result


def encode(parent: etree._Element, tag: str, value: Any, ct: ComplexType, ns: str, path: str) -> etree._Element:
    """Append the element `tag` (a Clark name) for a dict of complex type `ct` to `parent`.

    Raises:
        SchemaViolation: the value does not fit the type (unknown key, missing field, wrong type, facet).
    """
    if not isinstance(value, dict):
        raise SchemaViolation(f"{path}: expected an object")
    element = etree.SubElement(parent, tag)
    if ct.text is not None:
        _encode_simple_content(element, value, ct, path)
        return element
    unknown = value.keys() - ct.index.keys()
    if unknown:
        raise SchemaViolation(f"{path}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    for field in ct.fields:
        if field.name not in value:
            if field.min_occurs > 0:
                raise SchemaViolation(f"{path}: missing field {field.name}")
            continue
        item = value[field.name]
        child_path = f"{path}/{field.name}"
        child_tag = f"{{{ns}}}{field.name}"
        if field.repeated:
            if not isinstance(item, list):
                raise SchemaViolation(f"{child_path}: expected an array")
            if len(item) < field.min_occurs or (field.max_occurs is not None and len(item) > field.max_occurs):
                raise SchemaViolation(f"{child_path}: {len(item)} items, expected {_bounds(field)}")
            for entry in item:
                _encode_field(element, child_tag, entry, field, ns, child_path)
        else:
            _encode_field(element, child_tag, item, field, ns, child_path)
    return element


def _bounds(field: Field) -> str:
    upper = "unbounded" if field.max_occurs is None else str(field.max_occurs)
    return f"{field.min_occurs}..{upper}"


def _encode_field(parent: etree._Element, tag: str, value: Any, field: Field, ns: str, path: str) -> None:
    if isinstance(field.type, ComplexType):
        encode(parent, tag, value, field.type, ns, path)
        return
    leaf = etree.SubElement(parent, tag)
    _set_text(leaf, value, field.type, path)


def _set_text(element: etree._Element, value: Any, st: SimpleType, path: str) -> None:
    try:
        element.text = format_value(value, st)
    except ValueError as exc:  # also lxml's refusal of characters XML cannot carry
        raise SchemaViolation(f"{path}: {exc}") from None


def _encode_simple_content(element: etree._Element, value: dict[str, Any], ct: ComplexType, path: str) -> None:
    assert ct.text is not None
    attributes = {a.name: a for a in ct.attributes}
    unknown = value.keys() - attributes.keys() - {"value"}
    if unknown:
        raise SchemaViolation(f"{path}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    if "value" not in value:
        raise SchemaViolation(f"{path}: missing field value")
    _set_text(element, value["value"], ct.text, path)
    for attribute in ct.attributes:
        if attribute.name in value:
            try:
                element.set(attribute.name, format_value(value[attribute.name], attribute.type))
            except ValueError as exc:
                raise SchemaViolation(f"{path}@{attribute.name}: {exc}") from None
        elif attribute.required:
            raise SchemaViolation(f"{path}: missing attribute {attribute.name}")
