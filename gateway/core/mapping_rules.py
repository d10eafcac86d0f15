"""Mapping file text -> frozen rule specs; refuses unknown keys and malformed values, naming file, entry, key.

This module knows the file format (docs/mappings.md) but not the schemas: it only checks shapes.
`gateway.core.mapping_check` then checks each spec against the OCPP schemas.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Literal

from gateway.core.dialects import Dialect
from gateway.core.mapping_schema import parse_path
from gateway.core.mapping_spec import (
    NOTHING,
    Condition,
    ConvertStep,
    Default,
    Document,
    EachSpec,
    EnumTable,
    FieldSpec,
    MessageSpec,
    Route,
    Section,
    SourcePath,
    VariantSpec,
)
from gateway.core.mapping_yaml import Node, kind_of, parse_yaml

__all__ = ["FORMAT_VERSION", "parse_document", "parse_yaml", "source_path"]

FORMAT_VERSION: Final = 1
MESSAGE_DIRECTIONS: Final = ("up", "down", "both")
_TOP_KEYS: Final = ("format", "pair", "description", "enums", "messages", "config_keys")
_MESSAGE_KEYS: Final = ("direction", "target", "spec", "note", "handler", "local", "not_supported", "routes",
                        "request", "response", "variants")
_FIELD_KEYS: Final = ("from", "const", "default", "hook", "convert", "enum", "on_unknown", "when", "on_missing",
                      "narrowing", "each", "fields", "value", "drop", "copy", "require", "note")
_EACH_KEYS: Final = ("fields", "value", "drop", "copy", "require")


def parse_document(top: Node) -> Document:
    """Read one file's top node into a Document (shapes only; schemas are checked later)."""
    top.mapping(_TOP_KEYS, required=("format", "pair"))
    if top.child("format").value != FORMAT_VERSION:
        raise top.child("format").error(f"expected {FORMAT_VERSION}, got {top.child('format').value!r}")
    pair_node = top.child("pair")
    names = pair_node.value
    if not (isinstance(names, list) and len(names) == 2 and names[0] != names[1]):
        raise pair_node.error("expected a list of two different dialects, e.g. [ocpp1.6, ocpp2.0.1]")
    pair = (_dialect(pair_node.element(0), names[0]), _dialect(pair_node.element(1), names[1]))
    enums = {name: _enum_table(node, name) for name, node in top.child("enums").items()} \
        if top.child("enums").value is not None else {}
    messages: list[MessageSpec] = []
    if top.child("messages").value is not None:
        for source_name, by_action in top.child("messages").items():
            source = _dialect(by_action, source_name)
            if source not in pair:
                raise by_action.error(f"source dialect must be one of the file's pair {names}")
            target = pair[1] if source is pair[0] else pair[0]
            for action, node in by_action.items():
                where = f"messages[{action} {source}->{target}]"
                messages.append(_message(Node(top.file, where, node.value), source, target, action))
    keys = top.child("config_keys")
    return Document(top.file, pair, enums, tuple(messages), keys if keys.value is not None else None)


def _dialect(node: Node, name: object) -> Dialect:
    try:
        return Dialect(str(name))
    except ValueError:
        raise node.error(f"unknown dialect {name!r} (expected one of: {', '.join(d.value for d in Dialect)})") from None


def _enum_table(node: Node, name: str) -> EnumTable:
    node.mapping(("map", "note"), required=("map",))
    table = node.child("map")
    for _, value in table.items():
        if not isinstance(value.value, str) or not value.value:
            raise value.error(f"expected the target value as a string, got {kind_of(value.value)}")
    return EnumTable(name, dict(table.value), node.path)


def _message(node: Node, source: Dialect, target: Dialect, action: str) -> MessageSpec:
    raw = node.mapping(_MESSAGE_KEYS, required=("direction",))
    direction = node.child("direction").string()
    if direction not in MESSAGE_DIRECTIONS:
        raise node.child("direction").error(f"expected up, down or both, got {direction!r}")
    outcomes: list[str] = [key for key in ("handler", "local", "not_supported") if key in raw]
    mapped: list[str] = [key for key in ("request", "response", "routes", "variants", "target") if key in raw]
    if len(outcomes) > 1 or (outcomes and mapped):
        raise node.error(f"{' and '.join(outcomes + mapped)} exclude each other: a message is mapped, "
                         "handled by code, answered locally or not supported")
    spec = MessageSpec(
        file=node.file, where=node.path, source=source, target=target, action=action, direction=direction,
        target_action=node.child("target").string() if "target" in raw else action,
        spec_ref=str(raw["spec"]) if "spec" in raw else None,
        note=node.child("note").string() if "note" in raw else None,
        handler=node.child("handler").string() if "handler" in raw else None,
        local=_payload(node.child("local")) if "local" in raw else None,
        not_supported=_reason(node.child("not_supported")) if "not_supported" in raw else None,
        routes=tuple(_route(node.child("routes").element(i)) for i in range(len(_list(node.child("routes")))))
        if "routes" in raw else (),
    )
    if outcomes:
        return spec
    variants = {name: _variant(sub, name) for name, sub in node.child("variants").items()} if "variants" in raw else {}
    for route in spec.routes:
        if route.outcome == "variant" and route.value not in variants:
            raise Node(node.file, route.where + ".variant", route.value).error(f"no variant named {route.value!r}")
    return replace(spec, request=_section(node.child("request")), response=_section(node.child("response")),
                   variants=variants)


def _variant(node: Node, name: str) -> VariantSpec:
    node.mapping(("target", "request", "response", "note"), required=("target",))
    return VariantSpec(name, node.path, node.child("target").string(), _section(node.child("request")),
                       _section(node.child("response")))


def _list(node: Node) -> list[Any]:
    if not isinstance(node.value, list):
        raise node.error(f"expected a list, got {kind_of(node.value)}")
    return node.value


def _payload(node: Node) -> dict[str, Any]:
    if not isinstance(node.value, dict):
        raise node.error(f"expected a payload mapping (e.g. {{}} or {{status: Rejected}}), got {kind_of(node.value)}")
    return node.value


def _reason(node: Node) -> str:
    if node.value is True:
        return "no counterpart in the target version"
    return node.string()


def _route(node: Node) -> Route:
    raw = node.mapping(("when", "local", "not_supported", "handler", "variant", "note"), required=("when",))
    outcomes: list[str] = [key for key in ("local", "not_supported", "handler", "variant") if key in raw]
    if len(outcomes) != 1:
        raise node.error("a route needs exactly one of: local, not_supported, handler, variant")
    outcome = outcomes[0]
    value: Any
    if outcome == "local":
        value = _payload(node.child("local"))
    elif outcome == "not_supported":
        value = _reason(node.child("not_supported"))
    else:
        value = node.child(outcome).string()
    return Route(node.path, _condition(node.child("when")), outcome, value)


def source_path(node: Node, text: object) -> SourcePath:
    """Parse a source path, with its optional `$root.` / `$request.` scope."""
    if not isinstance(text, str):
        raise node.error(f"expected a field path, got {kind_of(text)}")
    scope: Literal["local", "root", "request"] = "local"
    body = text
    for prefix, name in (("$root.", "root"), ("$request.", "request")):
        if text.startswith(prefix):
            scope, body = name, text[len(prefix):]  # type: ignore[assignment]
    segments = parse_path(body)
    if segments is None:
        raise node.error(f"{text!r} is not a field path (names joined by dots, optionally [0])")
    return SourcePath(text, scope, segments)


def _condition(node: Node) -> Condition:
    raw = node.mapping(("present", "absent", "path", "eq", "ne", "in", "not_in", "hook", "all", "any", "not"))
    if "present" in raw or "absent" in raw:
        kind = "present" if "present" in raw else "absent"
        if len(raw) != 1:
            raise node.error(f"`{kind}` takes a path and nothing else")
        return Condition(kind, source_path(node.child(kind), raw[kind]))
    if "all" in raw or "any" in raw:
        kind = "all" if "all" in raw else "any"
        parts = _list(node.child(kind))
        if len(raw) != 1 or not parts:
            raise node.error(f"`{kind}` takes a non-empty list of conditions and nothing else")
        return Condition(kind, parts=tuple(_condition(node.child(kind).element(i)) for i in range(len(parts))))
    if "not" in raw:
        if len(raw) != 1:
            raise node.error("`not` takes one condition and nothing else")
        return Condition("not", parts=(_condition(node.child("not")),))
    path = source_path(node.child("path"), raw["path"]) if "path" in raw else None
    if "hook" in raw:
        if set(raw) - {"hook", "path"}:
            raise node.error("`hook` takes an optional `path` and nothing else")
        return Condition("hook", path, hook=node.child("hook").string())
    tests = [key for key in ("eq", "ne", "in", "not_in") if key in raw]
    if path is None or len(tests) != 1 or len(raw) != 2:
        raise node.error("expected one of: present, absent, path with eq/ne/in/not_in, hook, all, any, not")
    kind = tests[0]
    values = tuple(_list(node.child(kind))) if kind in ("in", "not_in") else (raw[kind],)
    return Condition(kind, path, values)


def _section(node: Node) -> Section:
    if node.value is None:
        return Section(node.path)
    raw = node.mapping(("fields", "copy", "drop", "notify", "note"))
    specs = _field_specs(node, raw)
    drop = tuple(source_path(node.child("drop"), p) for p in node.child("drop").strings()) if "drop" in raw else ()
    notify = node.child("notify").strings() if "notify" in raw else ()
    return Section(node.path, specs, drop, notify)


def _field_specs(node: Node, raw: dict[str, Any]) -> tuple[FieldSpec, ...]:
    specs: dict[str, FieldSpec] = {}
    for text in node.child("copy").strings() if "copy" in raw else ():
        specs[text] = _field(node.child("copy"), text, text)
    if "fields" in raw:
        fields_node = node.child("fields")
        for key, sub in (fields_node.items() if fields_node.value is not None else ()):
            if key in specs:
                raise sub.error("defined twice (in copy and in fields)")
            specs[key] = _field(sub, key, sub.value)
    return tuple(specs.values())


def _field(node: Node, key: str, raw: Any) -> FieldSpec:
    target = parse_path(key)
    if target is None:
        raise node.error(f"{key!r} is not a target field path (names joined by dots, optionally [0])")
    if isinstance(raw, str):
        raw = {"from": raw}
    node = Node(node.file, node.path, raw)
    spec = node.mapping(_FIELD_KEYS)
    if not spec:
        raise node.error("empty field mapping: give from, const, default, hook or each")
    if "each" not in spec and set(spec) & set(_EACH_KEYS):
        raise node.error(f"{', '.join(sorted(set(spec) & set(_EACH_KEYS)))} belong to an `each` mapping")
    producers = [k for k in ("from", "const", "each") if k in spec]
    if len(producers) > 1:
        raise node.error(f"{' and '.join(producers)} exclude each other")
    if "const" in spec and "hook" in spec:
        raise node.error("const and hook exclude each other")
    if "default" in spec and "on_missing" in spec and "when" not in spec:
        raise node.error("default and on_missing together need `when`: the default then serves only when it is false")
    return FieldSpec(
        target=target, where=node.path,
        sources=tuple(source_path(node.child("from"), p) for p in node.child("from").strings()) if "from" in spec
        else (),
        const=spec.get("const", NOTHING),
        default=_default(node.child("default")) if "default" in spec else None,
        hook=node.child("hook").string() if "hook" in spec else None,
        converts=tuple(_convert_step(node.child("convert"), s) for s in node.child("convert").strings())
        if "convert" in spec else (),
        enum=_enum_ref(node.child("enum")) if "enum" in spec else None,
        on_unknown=_on_unknown(node.child("on_unknown")) if "on_unknown" in spec else None,
        when=_condition(node.child("when")) if "when" in spec else None,
        on_missing=_on_missing(node.child("on_missing")) if "on_missing" in spec else None,
        narrowing=_narrowing(node.child("narrowing")) if "narrowing" in spec else False,
        each=_each(node, spec) if "each" in spec else None,
    )


def _default(node: Node) -> Default:
    value = node.value
    if isinstance(value, dict) and set(value) == {"now"}:
        if value["now"] != "utc":
            raise node.child("now").error("the only clock is `utc`")
        return Default(now=True)
    if isinstance(value, dict) and set(value) == {"from"}:
        return Default(source=source_path(node.child("from"), value["from"]))
    return Default(literal=value)


def _convert_step(node: Node, text: str) -> ConvertStep:
    name, _, arg = text.partition(":")
    return ConvertStep(name, arg or None)


def _enum_ref(node: Node) -> str | EnumTable:
    if isinstance(node.value, dict):
        return _enum_table(Node(node.file, node.path, {"map": node.value}), "(inline)")
    return node.string()


def _on_unknown(node: Node) -> tuple[str, Any]:
    if node.value in ("omit", "not_supported"):
        return (str(node.value), None)
    if isinstance(node.value, dict) and set(node.value) == {"value"}:
        return ("value", node.value["value"])
    raise node.error("expected omit, not_supported or {value: X}")


def _on_missing(node: Node) -> tuple[str, Any]:
    if node.value == "not_supported":
        return ("not_supported", "no value for a required field")
    if isinstance(node.value, dict) and set(node.value) == {"local"}:
        return ("local", _payload(node.child("local")))
    if isinstance(node.value, dict) and set(node.value) == {"not_supported"}:
        return ("not_supported", node.child("not_supported").string())
    raise node.error("expected not_supported, {not_supported: reason} or {local: payload}")


def _narrowing(node: Node) -> bool:
    if node.value != "reject":
        raise node.error("the only narrowing policy is `reject` (use `convert: truncate:N` to cut instead)")
    return True


def _each(node: Node, spec: dict[str, Any]) -> EachSpec:
    source = source_path(node.child("each"), spec["each"])
    if ("fields" in spec or "copy" in spec) == ("value" in spec):
        raise node.error("`each` needs either fields/copy (object elements) or value (plain elements)")
    require = node.child("require").strings() if "require" in spec else ()
    drop = tuple(source_path(node.child("drop"), p) for p in node.child("drop").strings()) if "drop" in spec else ()
    if "value" in spec:
        return EachSpec(source, value=_field(node.child("value"), "value", spec["value"]), require=require, drop=drop)
    section = Section(node.path, _field_specs(node, spec), drop)
    return EachSpec(source, section=section, require=require)
