"""Checks one parsed message mapping against the official OCPP schemas (TRANSLATION.md Appendix A, "Checks").

1. every source path exists in the source schema, every target path in the target schema;
2. every required target field is produced, and always produced where its object always exists;
3. every source field is mapped, tested by a route, or listed in `drop`;
4. every enum table covers its source enum and yields only valid target values;
5. a copied value fits the target (type, enum, maxLength unless truncated or `narrowing: reject`, multipleOf);
6. every hook, handler and converter named exists; local answers are valid responses.
The first problem found becomes a ConfigError naming file, entry path and problem.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import fastjsonschema

from gateway.core import schemas
from gateway.core.convert import CONVERTERS
from gateway.core.dialects import Dialect
from gateway.core.mapping_schema import Schema, Segment, always_present, at, compatibility, message_schema
from gateway.core.mapping_spec import (
    Condition,
    EachSpec,
    EnumTable,
    FieldSpec,
    MessageSpec,
    Section,
    SourcePath,
)
from gateway.errors import ConfigError, GatewayError


@dataclass(frozen=True, slots=True)
class _Scope:
    """Schemas one section is checked against."""

    file: str
    root: Schema
    target_root: Schema
    request: Schema | None
    enums: Mapping[str, EnumTable]
    hooks: Collection[str]


def _fail(file: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{file}: {where}: {problem}")


def check_message(spec: MessageSpec, enums: Mapping[str, EnumTable], hooks: Collection[str],
                  handlers: Collection[str]) -> None:
    """Raise ConfigError for the first problem of one message entry (and its variants)."""
    file = spec.file
    if spec.action not in schemas.actions(spec.source):
        raise _fail(file, spec.where, f"{spec.action} is not an OCPP {spec.source} action")
    for name in [spec.handler] + [r.value for r in spec.routes if r.outcome == "handler"]:
        if name is not None and name not in handlers:
            raise _fail(file, spec.where, f"unknown handler {name!r}")
    locals_ = [(spec.where + ".local", spec.local)] + [(r.where + ".local", r.value) for r in spec.routes
                                                       if r.outcome == "local"]
    for where, payload in locals_:
        if payload is not None:
            _check_answer(file, where, spec.source, spec.action, payload)
    if spec.request is None or spec.response is None:
        return
    request_schema = message_schema(spec.source, spec.action, "request")
    for route in spec.routes:
        _check_condition(_Scope(file, request_schema, {}, None, enums, hooks), route.when, request_schema,
                         route.where + ".when")
    targets = [(spec.where, spec.target_action, spec.request, spec.response)]
    targets += [(v.where, v.target_action, v.request, v.response) for v in spec.variants.values()]
    for where, action, request, response in targets:
        if action not in schemas.actions(spec.target):
            raise _fail(file, where + ".target", f"{action} is not an OCPP {spec.target} action")
        up = _Scope(file, request_schema, message_schema(spec.target, action, "request"), None, enums, hooks)
        _check_section(up, request, up.root, up.target_root)
        _check_coverage(up, request, spec.routes)
        down = _Scope(file, message_schema(spec.target, action, "response"),
                      message_schema(spec.source, spec.action, "response"), request_schema, enums, hooks)
        _check_section(down, response, down.root, down.target_root)
        _check_coverage(down, response, ())
        for field in _all_fields(request) + _all_fields(response):
            _check_missing_answer(file, field, spec)


def _check_answer(file: str, where: str, dialect: Dialect, action: str, payload: Any) -> None:
    try:
        schemas.validate(dialect, action, "response", payload)
    except GatewayError as exc:
        raise _fail(file, where, f"not a valid {action} response: {exc}") from None


def _check_missing_answer(file: str, field: FieldSpec, spec: MessageSpec) -> None:
    if field.on_missing is not None and field.on_missing[0] == "local":
        _check_answer(file, field.where + ".on_missing.local", spec.source, spec.action, field.on_missing[1])


def _all_fields(section: Section) -> list[FieldSpec]:
    found: list[FieldSpec] = []
    for field in section.fields:
        found.append(field)
        if field.each is not None and field.each.section is not None:
            found += _all_fields(field.each.section)
    return found


def _schema_of(scope: _Scope, path: SourcePath, local: Schema, where: str) -> Schema:
    if path.scope == "request" and scope.request is None:
        raise _fail(scope.file, where, f"{path.text}: $request paths exist only in response mappings")
    base = {"local": local, "root": scope.root, "request": scope.request or {}}[path.scope]
    found = at(base, path.segments)
    if found is None:
        raise _fail(scope.file, where, f"{path.text!r} is not a field of the source schema")
    return found


def _present(scope: _Scope, path: SourcePath, local: Schema) -> bool:
    base = {"local": local, "root": scope.root, "request": scope.request or {}}[path.scope]
    return always_present(base, path.segments)


def _check_condition(scope: _Scope, cond: Condition, local: Schema, where: str) -> None:
    if cond.kind == "hook" and cond.hook not in scope.hooks:
        raise _fail(scope.file, where, f"unknown hook {cond.hook!r}")
    for part in cond.parts:
        _check_condition(scope, part, local, where)
    if cond.path is None:
        return
    schema = _schema_of(scope, cond.path, local, where)
    allowed = schema.get("enum")
    for value in cond.values:
        if allowed is not None and value not in allowed:
            raise _fail(scope.file, where, f"{value!r} is not a value of {cond.path.text}")


def _check_section(scope: _Scope, section: Section, source: Schema, target: Schema,
                   require: tuple[str, ...] = ()) -> None:
    for hook in section.notify:
        if hook not in scope.hooks:
            raise _fail(scope.file, section.where + ".notify", f"unknown hook {hook!r}")
    for path in section.drop:
        _schema_of(scope, path, source, section.where + ".drop")
    for field in section.fields:
        field_schema = at(target, field.target)
        if field_schema is None:
            raise _fail(scope.file, field.where, f"{'.'.join(map(str, field.target))!r} is not a field of the "
                        "target schema")
        _check_field(scope, field, source, field_schema)
    _check_required(scope, section, source, target, (), True, require)


def _check_field(scope: _Scope, field: FieldSpec, source: Schema, target: Schema) -> None:
    if field.when is not None:
        _check_condition(scope, field.when, source, field.where + ".when")
    if field.hook is not None and field.hook not in scope.hooks:
        raise _fail(scope.file, field.where, f"unknown hook {field.hook!r}")
    if field.each is not None:
        _check_each(scope, field, field.each, source, target)
        return
    if field.has_const:
        _check_literal(scope, field.where + ".const", field.const, target)
    if field.default is not None:
        if field.default.source is not None:
            produced = _schema_of(scope, field.default.source, source, field.where + ".default")
            _check_fit(scope, field.where + ".default", produced, target, field.narrowing, field.default.source.text)
        elif not field.default.now:
            _check_literal(scope, field.where + ".default", field.default.literal, target)
    for path in field.sources:
        produced = _schema_of(scope, path, source, field.where + ".from")
        if field.hook is not None:
            continue  # a hook's output shape is its contract; run-time validation guards it
        produced = _through_enum(scope, field, produced, target)
        produced = _through_converters(scope, field, produced)
        _check_fit(scope, field.where, produced, target, field.narrowing, path.text)
    if field.hook is not None and field.enum is not None:
        _table(scope, field)


def _check_literal(scope: _Scope, where: str, value: Any, target: Schema) -> None:
    try:
        fastjsonschema.compile(target)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _fail(scope.file, where, f"{value!r} is not valid for the target field: {exc.message}") from None


def _check_fit(scope: _Scope, where: str, produced: Schema, target: Schema, narrowing: bool,
               label: str = "value") -> None:
    problems = compatibility(produced, target, narrowing=narrowing, where=label)
    if problems:
        raise _fail(scope.file, where, problems[0])


def _table(scope: _Scope, field: FieldSpec) -> EnumTable:
    if isinstance(field.enum, EnumTable):
        return field.enum
    table = scope.enums.get(str(field.enum))
    if table is None:
        raise _fail(scope.file, field.where + ".enum", f"unknown enum table {field.enum!r}")
    return table


def _through_enum(scope: _Scope, field: FieldSpec, produced: Schema, target: Schema) -> Schema:
    if field.enum is None:
        return produced
    table = _table(scope, field)
    name = f"enum table {table.name!r}"
    source_values = produced.get("enum")
    if source_values is not None:
        stray = [key for key in table.table if key not in source_values]
        if stray:
            raise _fail(scope.file, field.where + ".enum", f"{name} maps {stray[0]!r}, not a value of the source field")
        uncovered = [value for value in source_values if value not in table.table]
        if uncovered and field.on_unknown is None:
            raise _fail(scope.file, field.where + ".enum", f"{name} does not cover source value {uncovered[0]!r}; "
                        "add it or set on_unknown")
    elif field.on_unknown is None:
        raise _fail(scope.file, field.where + ".enum", "the source field has no enum, so set on_unknown")
    values = set(table.table.values())
    if field.on_unknown is not None and field.on_unknown[0] == "value":
        values.add(field.on_unknown[1])
    if not field.converts and "enum" in target:
        bad = sorted(v for v in values if v not in target["enum"])
        if bad:
            raise _fail(scope.file, field.where + ".enum", f"{name} yields {bad[0]!r}, not a value of the target field")
    return {"type": "string", "enum": sorted(values)}


def _through_converters(scope: _Scope, field: FieldSpec, produced: Schema) -> Schema:
    for step in field.converts:
        converter = CONVERTERS.get(step.name)
        where = field.where + ".convert"
        if converter is None:
            raise _fail(scope.file, where, f"unknown converter {step.name!r} (known: {', '.join(sorted(CONVERTERS))})")
        if converter.needs_arg and step.arg is None:
            raise _fail(scope.file, where, f"{step.name} needs an argument, e.g. {step.name}:20")
        if step.arg is not None and not re.fullmatch(converter.arg_pattern, step.arg):
            raise _fail(scope.file, where, f"{step.name}: bad argument {step.arg!r}")
        kind = produced.get("type", "any")
        if "any" not in converter.accepts and not produced.get("x-trusted") and kind not in converter.accepts:
            raise _fail(scope.file, where, f"{step.name} takes {'/'.join(sorted(converter.accepts))}, "
                        f"but the value is {kind}")
        produced = converter.output(produced, step.arg)
    return produced


def _check_each(scope: _Scope, field: FieldSpec, each: EachSpec, source: Schema, target: Schema) -> None:
    array = _schema_of(scope, each.source, source, field.where + ".each")
    if array.get("type") != "array" or target.get("type") != "array":
        raise _fail(scope.file, field.where, "`each` maps an array to an array")
    items, target_items = array.get("items", {}), target.get("items", {})
    for path in each.drop:
        _schema_of(scope, path, items, field.where + ".drop")
    if each.value is not None:
        _check_field(scope, each.value, items, target_items)
    elif each.section is not None:
        for name in each.require:
            if name not in target_items.get("properties", {}):
                raise _fail(scope.file, field.where + ".require", f"{name!r} is not a field of the target element")
        _check_section(scope, each.section, items, target_items, each.require)


def _guaranteed(scope: _Scope, field: FieldSpec, source: Schema, target: Schema) -> bool:
    if field.default is not None or field.on_missing is not None:
        return True
    if field.when is not None:
        return False
    if field.has_const or field.hook is not None:
        return True
    if field.each is not None:
        array = _schema_of(scope, field.each.source, source, field.where)
        return (_present(scope, field.each.source, source) and not field.each.require
                and array.get("minItems", 0) >= target.get("minItems", 0))
    if any(CONVERTERS[s.name].may_omit for s in field.converts if s.name in CONVERTERS):
        return False
    if field.on_unknown is not None and field.on_unknown[0] == "omit":
        return False
    for path in field.sources:
        produced = _schema_of(scope, path, source, field.where)
        if produced.get("type") == "array" and produced.get("minItems", 0) < target.get("minItems", 0):
            continue
        if _present(scope, path, source):
            return True
    return False


def _check_required(scope: _Scope, section: Section, source: Schema, node: Schema, prefix: tuple[Segment, ...],
                    always: bool, require: tuple[str, ...]) -> None:
    """Every required field of each produced target object is produced (always, where the object always is)."""
    depth = len(prefix)
    for name, sub in node.get("properties", {}).items():
        specs = [f for f in section.fields if len(f.target) > depth and f.target[:depth] == prefix
                 and f.target[depth].name == name]
        required = name in node.get("required", ())
        exact = [f for f in specs if len(f.target) == depth + 1 and not f.is_guard]
        deeper = [f for f in specs if len(f.target) > depth + 1]
        guarded = any(f.is_guard for f in specs if len(f.target) == depth + 1)
        label = ".".join(str(s) for s in (*prefix, Segment(name)))
        if required and not (exact or deeper):
            raise _fail(scope.file, section.where, f"required target field {label!r} is not produced")
        for field in exact:
            if required and always and name not in require and not _guaranteed(scope, field, source, sub):
                raise _fail(scope.file, field.where, f"required target field {label!r} may be left out (its source "
                            "is optional); add a default, on_missing or a route")
        if deeper and not exact:
            step = deeper[0].target[depth]
            _check_required(scope, section, source, sub.get("items", {}) if step.first else sub, (*prefix, step),
                            always and required and not guarded, ())


def _check_coverage(scope: _Scope, section: Section, routes: tuple[Any, ...]) -> None:
    used: set[str] = set()
    _collect(section, "", used)
    for route in routes:
        _collect_condition(route.when, "", used)
    problem = _uncovered(scope.root, "", used)
    if problem is not None:
        raise _fail(scope.file, section.where, f"source field {problem!r} is neither mapped nor listed in drop")


def _text(path: SourcePath, prefix: str) -> str:
    body = ".".join(f"{s.name}[]" if s.first else s.name for s in path.segments)
    return body if path.scope == "root" else prefix + body


def _collect(section: Section, prefix: str, used: set[str]) -> None:
    used.update(_text(p, prefix) for p in section.drop if p.scope != "request")
    for field in section.fields:
        paths = list(field.sources)
        if field.default is not None and field.default.source is not None:
            paths.append(field.default.source)
        used.update(_text(p, prefix) for p in paths if p.scope != "request")
        each = field.each
        if each is not None and each.source.scope != "request":
            inner = _text(each.source, prefix) + "[]."
            if each.section is not None:
                _collect(each.section, inner, used)
            used.update(inner + _text(p, "") for p in each.drop)
            if each.value is not None:
                used.update(inner + _text(p, "") for p in each.value.sources)
                if not each.value.sources:
                    used.add(inner[:-1])


def _collect_condition(cond: Condition, prefix: str, used: set[str]) -> None:
    if cond.path is not None and cond.path.scope != "request":
        used.add(_text(cond.path, prefix))
    for part in cond.parts:
        _collect_condition(part, prefix, used)


def _uncovered(schema: Schema, prefix: str, used: set[str]) -> str | None:
    for name, sub in schema.get("properties", {}).items():
        path: str = prefix + name
        if name == "customData" or path in used or path + "[]" in used:
            continue
        is_array = sub.get("type") == "array"
        nested = sub.get("items", {}) if is_array else sub
        inner = path + ("[]." if is_array else ".")
        if "properties" not in nested or not any(u.startswith(inner) for u in used):
            return path
        found = _uncovered(nested, inner, used)
        if found is not None:
            return found
    return None
