"""Derive the SOAP codec's type tables (gateway/soap/ocpp15.json, ocpp16.json) from the official WSDLs.

Run `.venv/bin/python -m tests.soap.wsdl_types` to regenerate the tables after a WSDL change;
tests/soap/test_soap_types.py fails while the committed tables differ from what this derives.
The WSDLs are read from ../shared/spec/soap (never copied into the repository: their licences allow
only unmodified redistribution, and the runtime needs only the facts below).

Table format (one JSON file per dialect; keys sorted, so regeneration is byte-stable)::

    {
      "dialect": "ocpp1.6-soap",
      "services": {
        "cs" | "cp": {                      # cs = CentralSystemService (charger -> CS), cp = ChargePointService
          "namespace": "urn://Ocpp/Cs/2015/10/",
          "wsdl": "<file name>",
          "operations": {"<Op>": {"request": "<root element>", "response": "<root element>",
                                  "requestAction": "/<Op>", "responseAction": "/<Op>Response"}},
          "elements": {"<global element>": "<type>"},     # roots and chargeBoxIdentity
          "complexTypes": {
            "<Name>": {"sequence": [[child, type, minOccurs, maxOccurs or null (unbounded)], ...]},
            "<Parent>.<element>": {                       # an anonymous simple-content type (1.5 MeterValue value)
              "simpleContent": "<type of the text>",
              "attributes": [[name, type, required], ...]}
          },
          "simpleTypes": {"<Name>": {"base": "string|int|decimal|boolean|dateTime|anyURI",
                                     "enum": [...], "maxLength": n, "fractionDigits": n}}  # facets only when set
        }
      }
    }

A `<type>` is either a key of complexTypes or simpleTypes, or a built-in XSD type written `xs:<name>`
(`xs:string`, `xs:int`, `xs:decimal`, `xs:boolean`, `xs:dateTime`, `xs:anyURI`). Anything in a WSDL
outside this vocabulary (choice, all, groups, other facets or built-ins) makes the tool fail, so a new
WSDL construct cannot be silently dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from lxml import etree

REPO: Final = Path(__file__).resolve().parents[2]
SHARED: Final = REPO.parent / "shared"
WSDL_DIR: Final = SHARED / "spec" / "soap"
OUT_DIR: Final = REPO / "gateway" / "soap"

XSD: Final = "http://www.w3.org/2001/XMLSchema"
WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
WSAW: Final = "http://www.w3.org/2006/05/addressing/wsdl"

#: dialect value -> (table file, {service: WSDL file name})
SOURCES: Final = {
    "ocpp1.5-soap": (
        "ocpp15.json",
        {"cs": "ocpp_centralsystemservice_1.5_final.wsdl", "cp": "ocpp_chargepointservice_1.5_final.wsdl"},
    ),
    "ocpp1.6-soap": (
        "ocpp16.json",
        {"cs": "OCPP_CentralSystemService_1.6.wsdl", "cp": "OCPP_ChargePointService_1.6.wsdl"},
    ),
}

BUILTINS: Final = frozenset({"string", "int", "decimal", "boolean", "dateTime", "anyURI"})
_SKIPPED: Final = frozenset({"annotation"})


class UnsupportedSchema(Exception):
    """The WSDL uses an XSD construct the table format cannot express."""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _children(el: etree._Element) -> list[etree._Element]:
    """Element children that carry meaning: XSD elements other than annotations (comments are dropped)."""
    out = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace != XSD:
            raise UnsupportedSchema(f"non-XSD element {child.tag} in the schema")
        if _local(child) not in _SKIPPED:
            out.append(child)
    return out


def _type_ref(el: etree._Element, attr: str, tns: str) -> str:
    """Resolve a QName-valued attribute (type=, base=) to `xs:<builtin>` or a local type name."""
    qname = etree.QName(el.nsmap.get(_prefix(el.get(attr, "")), ""), el.get(attr, "").rpartition(":")[2])
    if qname.namespace == XSD:
        if qname.localname not in BUILTINS:
            raise UnsupportedSchema(f"built-in type xs:{qname.localname} is not supported")
        return f"xs:{qname.localname}"
    if qname.namespace != tns:
        raise UnsupportedSchema(f"type {el.get(attr)} is outside the target namespace")
    return qname.localname


def _prefix(value: str) -> str | None:
    prefix, sep, _ = value.rpartition(":")
    return prefix if sep else None


def _occurs(el: etree._Element, attr: str) -> int | None:
    value = el.get(attr, "1")
    return None if value == "unbounded" else int(value)


def _simple_type(el: etree._Element, tns: str) -> dict[str, Any]:
    (restriction,) = _children(el)
    if _local(restriction) != "restriction":
        raise UnsupportedSchema(f"simpleType {el.get('name')}: only restrictions are supported")
    base = _type_ref(restriction, "base", tns)
    if not base.startswith("xs:"):
        raise UnsupportedSchema(f"simpleType {el.get('name')}: restriction of a named type")
    out: dict[str, Any] = {"base": base.removeprefix("xs:")}
    for facet in _children(restriction):
        name = _local(facet)
        if name == "enumeration":
            out.setdefault("enum", []).append(facet.get("value"))
        elif name in ("maxLength", "fractionDigits"):
            out[name] = int(facet.get("value", ""))
        else:
            raise UnsupportedSchema(f"simpleType {el.get('name')}: facet {name} is not supported")
    return out


def _simple_content(el: etree._Element, tns: str) -> dict[str, Any]:
    (extension,) = _children(el)
    if _local(extension) != "extension":
        raise UnsupportedSchema("simpleContent: only extensions are supported")
    attributes = []
    for attr in _children(extension):
        if _local(attr) != "attribute":
            raise UnsupportedSchema(f"simpleContent extension: {_local(attr)} is not supported")
        use = attr.get("use", "optional")
        attributes.append([attr.get("name"), _type_ref(attr, "type", tns), use == "required"])
    return {"simpleContent": _type_ref(extension, "base", tns), "attributes": attributes}


def _complex_type(el: etree._Element, tns: str, name: str, anonymous: dict[str, Any]) -> dict[str, Any]:
    """One complex type; anonymous types of its children are added to `anonymous` as `<name>.<child>`."""
    parts = _children(el)
    if not parts:
        return {"sequence": []}
    if len(parts) != 1:
        raise UnsupportedSchema(f"complexType {name}: more than one content model")
    (model,) = parts
    kind = _local(model)
    if kind == "simpleContent":
        return _simple_content(model, tns)
    if kind != "sequence":
        raise UnsupportedSchema(f"complexType {name}: {kind} is not supported")
    sequence = []
    for child in _children(model):
        if _local(child) != "element":
            raise UnsupportedSchema(f"complexType {name}: {_local(child)} inside a sequence")
        child_name = child.get("name", "")
        if child.get("type") is not None:
            child_type = _type_ref(child, "type", tns)
        else:
            (inner,) = _children(child)
            if _local(inner) != "complexType":
                raise UnsupportedSchema(f"complexType {name}: anonymous {_local(inner)}")
            child_type = f"{name}.{child_name}"
            anonymous[child_type] = _complex_type(inner, tns, child_type, anonymous)
        sequence.append([child_name, child_type, _occurs(child, "minOccurs"), _occurs(child, "maxOccurs")])
    return {"sequence": sequence}


def _operations(doc: etree._ElementTree, tns: str) -> dict[str, Any]:
    """Operations of the WSDL's one portType, with their root elements found through the messages."""
    ns = {"wsdl": WSDL}
    message_elements: dict[str, str] = {}
    for message in doc.iterfind("wsdl:message", ns):
        (part,) = message.iterfind("wsdl:part", ns)
        message_elements[message.get("name", "")] = part.get("element", "").rpartition(":")[2]
    (port_type,) = doc.iterfind("wsdl:portType", ns)
    out: dict[str, Any] = {}
    for op in port_type.iterfind("wsdl:operation", ns):
        (inp,) = op.iterfind("wsdl:input", ns)
        (outp,) = op.iterfind("wsdl:output", ns)
        out[op.get("name", "")] = {
            "request": message_elements[inp.get("message", "").rpartition(":")[2]],
            "response": message_elements[outp.get("message", "").rpartition(":")[2]],
            "requestAction": inp.get(f"{{{WSAW}}}Action"),
            "responseAction": outp.get(f"{{{WSAW}}}Action"),
        }
    return out


def derive_service(path: Path) -> dict[str, Any]:
    """The table of one WSDL file (one service)."""
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    (schema,) = doc.iterfind(f".//{{{XSD}}}schema")
    tns = schema.get("targetNamespace", "")
    if schema.get("elementFormDefault") != "qualified":
        raise UnsupportedSchema(f"{path.name}: elements must be qualified")
    elements: dict[str, str] = {}
    complex_types: dict[str, Any] = {}
    simple_types: dict[str, Any] = {}
    anonymous: dict[str, Any] = {}
    for item in _children(schema):
        kind, name = _local(item), item.get("name", "")
        if kind == "element":
            elements[name] = _type_ref(item, "type", tns)
        elif kind == "complexType":
            complex_types[name] = _complex_type(item, tns, name, anonymous)
        elif kind == "simpleType":
            simple_types[name] = _simple_type(item, tns)
        else:
            raise UnsupportedSchema(f"{path.name}: top-level {kind} is not supported")
    complex_types.update(anonymous)
    return {
        "namespace": tns,
        "wsdl": path.name,
        "operations": _operations(doc, tns),
        "elements": elements,
        "complexTypes": complex_types,
        "simpleTypes": simple_types,
    }


def derive(dialect: str, wsdl_dir: Path = WSDL_DIR) -> dict[str, Any]:
    """The whole table of one dialect ("ocpp1.5-soap" or "ocpp1.6-soap")."""
    _, files = SOURCES[dialect]
    return {"dialect": dialect, "services": {svc: derive_service(wsdl_dir / name) for svc, name in files.items()}}


def render(table: dict[str, Any]) -> str:
    """The committed text of a table: sorted keys and one-space indentation, so regeneration is stable."""
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def table_path(dialect: str) -> Path:
    """Where the committed table of a dialect lives."""
    return OUT_DIR / SOURCES[dialect][0]


def main() -> int:
    """Regenerate both tables; print what changed."""
    for dialect in SOURCES:
        path = table_path(dialect)
        text = render(derive(dialect))
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
        else:
            print(f"unchanged {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
