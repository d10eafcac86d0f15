"""A fast yes/no pre-check of OCPP JSON schemas; fastjsonschema stays the judge of everything it does not pass.

fastjsonschema's generated code builds an error path for every array item and compares enums one
value at a time, even for valid payloads; on a translated MeterValues that is most of the
validation time. `compile_precheck` turns the subset of JSON schema the OCPP schemas use into a
plain Python predicate: True means valid, False means "ask fastjsonschema" (which then raises
with its usual message and rule, or accepts). The predicate is never more lenient than
fastjsonschema: types are matched exactly (a float never passes as an integer, a bool never as a
number), and a schema with any keyword outside the subset gets no pre-check at all.

The generated code is one function per schema: definitions are inlined where they are used (only one
that can reach itself stays a function), required keys are read by subscript (a missing one raises,
which the predicate turns into False), and the optional keys are tested only when `len(v)` says the
object has keys besides the required ones.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any, Final

from fastjsonschema.draft04 import CodeGeneratorDraft04

#: Keywords that do not constrain anything.
_ANNOTATIONS: Final = frozenset({"description", "javaType", "$schema", "comment", "title", "default", "$id", "id",
                                 "definitions"})
#: Constraining keywords the pre-check implements.
_CHECKED: Final = frozenset({"type", "properties", "required", "additionalProperties", "maxLength", "minLength",
                             "enum", "items", "additionalItems", "minItems", "maxItems", "format", "minimum",
                             "maximum", "$ref"})
#: Exact Python types per JSON type: stricter than fastjsonschema (no subclasses, no integral floats).
_TYPE_TESTS: Final = {
    "string": "type({v}) is str",
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "integer": "type({v}) is int",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "({v} is True or {v} is False)",
    "null": "{v} is None",
}
_DATE_TIME: Final = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["date-time"])

Precheck = Callable[[Any], bool]


class Unsupported(Exception):
    """The schema uses something the pre-check does not implement."""


def compile_precheck(schema: dict[str, Any]) -> Precheck | None:
    """A predicate for `schema` (True: valid), or None when the schema is outside the supported subset."""
    try:
        return _Compiler(schema).build()
    except Unsupported:
        return None
    except SyntaxError:  # nested deeper than Python compiles (blocks or indentation): not an OCPP schema
        return None


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        definitions = root.get("definitions", {})
        self._definitions: dict[str, Any] = definitions if isinstance(definitions, dict) else {}
        self._lines: list[str] = []
        self._constants: dict[str, Any] = {"_DATES": _DATES, "_new_date_time": _new_date_time}
        self._names = (f"_{n}" for n in itertools.count())
        self._recursive = _recursive_refs(self._definitions)
        self._functions: dict[str, str] = {}  # recursive "#/definitions/X" -> function name

    def build(self) -> Precheck:
        name = next(self._names)
        body: list[str] = []
        self._checks(self._root, "v", body, "        ")
        # A payload the checks did not foresee (a required key missing, an unhashable enum value) raises:
        # that is a "no" too. The try costs nothing on Python 3.11+ until something raises.
        self._lines += [f"def {name}(v):", "    try:", *body, "    except Exception:", "        return False",
                        "    return True"]
        namespace = dict(self._constants)
        # The source is built from the schema only (names by counter, values as constants or reprs), never from input.
        exec(compile("\n".join(self._lines), "<schema precheck>", "exec"), namespace)
        check: Precheck = namespace[name]
        return check

    def _constant(self, value: Any) -> str:
        name = next(self._names)
        self._constants[name] = value
        return name

    def _definition(self, ref: str) -> Any:
        if not ref.startswith(_PREFIX) or ref[len(_PREFIX):] not in self._definitions:
            raise Unsupported(ref)
        return self._definitions[ref[len(_PREFIX):]]

    def _function(self, ref: str) -> str:
        """The name of `def NAME(v)` checking a definition that can reach itself (so it cannot be inlined)."""
        if ref not in self._functions:
            name = self._functions[ref] = next(self._names)  # reserved first: the body refers to it
            body: list[str] = []
            self._checks(self._definition(ref), "v", body, "    ")
            self._lines += [f"def {name}(v):", *body, "    return True"]
        return self._functions[ref]

    def _checks(self, schema: Any, var: str, out: list[str], indent: str) -> None:
        """Append statements that `return False` (or raise) unless `var` satisfies `schema`."""
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        if "$ref" in schema:  # draft 4/6: siblings of $ref are ignored (fastjsonschema does the same)
            ref = schema["$ref"]
            if ref in self._recursive:
                out.append(f"{indent}if not {self._function(ref)}({var}): return False")
            else:  # inlined: a call per array item costs more than the checks of a small definition
                self._checks(self._definition(ref), var, out, indent)
            return
        unknown = schema.keys() - _CHECKED - _ANNOTATIONS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        kind = schema.get("type")
        if kind is not None and (not isinstance(kind, str) or kind not in _TYPE_TESTS):
            raise Unsupported(f"type {kind!r}")
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise Unsupported("enum of non-strings")
            # The enum's values are strings: its test includes the type test.
            out.append(f"{indent}if type({var}) is not str or {var} not in {self._constant(frozenset(values))}: "
                       "return False")
            if kind not in (None, "string"):
                out.append(f"{indent}return False")  # an enum of strings for another type: nothing is valid
                return
        elif kind is not None:
            out.append(f"{indent}if not {_TYPE_TESTS[kind].format(v=var)}: return False")
        if kind == "string":
            self._string(schema, var, out, indent)
        elif kind == "object":
            self._object(schema, var, out, indent)
        elif kind == "array":
            self._array(schema, var, out, indent)
        elif kind in ("integer", "number"):
            for keyword, op in (("minimum", "<"), ("maximum", ">")):
                if keyword in schema:
                    bound = schema[keyword]
                    if type(bound) not in (int, float):
                        raise Unsupported(keyword)
                    out.append(f"{indent}if {var} {op} {bound!r}: return False")
        elif schema.keys() & {"properties", "required", "items", "maxLength", "minLength", "format", "minimum",
                              "maximum", "minItems", "maxItems", "additionalProperties"}:
            raise Unsupported("constraints without a type")

    def _string(self, schema: dict[str, Any], var: str, out: list[str], indent: str) -> None:
        if "maxLength" in schema:
            out.append(f"{indent}if len({var}) > {int(schema['maxLength'])}: return False")
        if "minLength" in schema:
            out.append(f"{indent}if len({var}) < {int(schema['minLength'])}: return False")
        if "format" in schema:
            if schema["format"] != "date-time":
                raise Unsupported(f"format {schema['format']}")
            out.append(f"{indent}if {var} not in _DATES and not _new_date_time({var}): return False")

    def _object(self, schema: dict[str, Any], var: str, out: list[str], indent: str) -> None:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        if not isinstance(properties, dict) or not isinstance(required, list) or not isinstance(extra, bool):
            raise Unsupported("object form")
        required = list(dict.fromkeys(required))
        if not extra and not set(required) <= properties.keys():
            raise Unsupported("a required key that is not allowed")
        # Required keys are read with v[key]: a missing one raises KeyError, i.e. "no".
        for key in required:
            item = next(self._names)
            body: list[str] = []
            if key in properties:
                self._checks(properties[key], item, body, indent)
            if body:
                out.append(f"{indent}{item} = {var}[{key!r}]")
                out.extend(body)
            else:
                out.append(f"{indent}if {key!r} not in {var}: return False")
        # With every required key present, len(v) says whether there is any other key: most payloads set few
        # of their many optional keys (customData, ...), so the test per optional key is skipped when none is set.
        optional: list[str] = []
        count = next(self._names)  # keys of v not yet accounted for (additionalProperties: false)
        for key, sub in properties.items():
            if key in required:
                continue
            item = next(self._names)
            body = []
            self._checks(sub, item, body, indent + "        ")
            if body:
                optional.append(f"{indent}    if {key!r} in {var}:")
                if not extra:
                    optional.append(f"{indent}        {count} -= 1")
                optional.append(f"{indent}        {item} = {var}[{key!r}]")
                optional.extend(body)
            elif not extra:
                optional += [f"{indent}    if {key!r} in {var}:", f"{indent}        {count} -= 1"]
        if extra and not optional:
            return
        others = f"len({var}) - {len(required)}" if required else f"len({var})"
        if extra:
            out.append(f"{indent}if {others}:")
        else:
            out += [f"{indent}{count} = {others}", f"{indent}if {count}:"]
        out.extend(optional)
        if not extra:
            out.append(f"{indent}    if {count}: return False  # a key that is not a property")

    def _array(self, schema: dict[str, Any], var: str, out: list[str], indent: str) -> None:
        if "minItems" in schema:
            out.append(f"{indent}if len({var}) < {int(schema['minItems'])}: return False")
        if "maxItems" in schema:
            out.append(f"{indent}if len({var}) > {int(schema['maxItems'])}: return False")
        items = schema.get("items")
        if items is None:
            return
        if not isinstance(items, dict):
            raise Unsupported("items as a list")  # additionalItems only matters then
        element = next(self._names)
        body: list[str] = []
        self._checks(items, element, body, indent + "    ")
        if body:
            out.append(f"{indent}for {element} in {var}:")
            out.extend(body)


_PREFIX: Final = "#/definitions/"


def _refs(node: Any) -> Iterator[str]:
    """Every $ref below a schema node."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _recursive_refs(definitions: dict[str, Any]) -> frozenset[str]:
    """The "#/definitions/X" that can reach themselves through $refs."""
    edges = {_PREFIX + name: set(_refs(definition)) for name, definition in definitions.items()}
    recursive = set()
    for start, targets in edges.items():
        seen: set[str] = set()
        pending = list(targets)
        while pending:
            ref = pending.pop()
            if ref == start:
                recursive.add(start)
                break
            if ref not in seen:
                seen.add(ref)
                pending.extend(edges.get(ref, ()))
    return frozenset(recursive)


#: Strings that matched the date-time regex lately: a timestamp is often checked more than once (the charger's
#: request, then the CSMS-bound translation of it carries it twice) and the regex costs ten times a set lookup.
_DATES: Final[set[str]] = set()
_DATES_MAX: Final = 1024


def _new_date_time(text: str) -> bool:
    if _DATE_TIME.match(text) is None:
        return False
    if len(_DATES) >= _DATES_MAX:
        _DATES.clear()
    _DATES.add(text)
    return True
