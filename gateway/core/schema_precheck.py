"""A fast yes/no pre-check of OCPP JSON schemas; fastjsonschema stays the judge of everything it does not pass.

fastjsonschema's generated code builds an error path for every array item and compares enums one
value at a time, even for valid payloads; on a translated MeterValues that is most of the
validation time. `compile_precheck` turns the subset of JSON schema the OCPP schemas use into a
plain Python predicate: True means valid, False means "ask fastjsonschema" (which then raises
with its usual message and rule, or accepts). The predicate is never more lenient than
fastjsonschema: types are matched exactly (a float never passes as an integer, a bool never as a
number), and a schema with any keyword outside the subset gets no pre-check at all.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
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


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._lines: list[str] = []
        self._constants: dict[str, Any] = {"_DATE_TIME": _DATE_TIME, "_MISSING": _MISSING}
        self._names = (f"_{n}" for n in itertools.count())
        self._refs: dict[str, str] = {}  # "#/definitions/X" -> function name

    def build(self) -> Precheck:
        entry = self._function(self._root)
        namespace = dict(self._constants)
        # The source is built from the schema only (names by counter, values as constants or reprs), never from input.
        exec(compile("\n".join(self._lines), "<schema precheck>", "exec"), namespace)
        check: Precheck = namespace[entry]
        return check

    def _constant(self, value: Any) -> str:
        name = next(self._names)
        self._constants[name] = value
        return name

    def _function(self, schema: dict[str, Any]) -> str:
        """Emit `def NAME(v) -> bool` for a schema node; returns NAME."""
        name = next(self._names)
        body: list[str] = []
        self._checks(schema, "v", body, "    ")
        self._lines.append(f"def {name}(v):")
        self._lines.extend(body)
        self._lines.append("    return True")
        return name

    def _ref(self, ref: str) -> str:
        if ref not in self._refs:
            prefix = "#/definitions/"
            definitions = self._root.get("definitions", {})
            if not ref.startswith(prefix) or ref[len(prefix):] not in definitions:
                raise Unsupported(ref)
            self._refs[ref] = next(self._names)  # reserved first: a definition may refer to itself
            target = self._refs[ref]
            body: list[str] = []
            self._checks(definitions[ref[len(prefix):]], "v", body, "    ")
            self._lines.append(f"def {target}(v):")
            self._lines.extend(body)
            self._lines.append("    return True")
        return self._refs[ref]

    def _leaf_definition(self, ref: str) -> dict[str, Any] | None:
        """The definition `ref` points to if it is a leaf (a string, number or enum schema without refs), else None."""
        prefix = "#/definitions/"
        definition = self._root.get("definitions", {}).get(ref[len(prefix):]) if ref.startswith(prefix) else None
        if not isinstance(definition, dict) or "$ref" in definition:
            return None
        if definition.get("type") not in ("string", "integer", "number", "boolean", "null"):
            return None
        return definition

    def _checks(self, schema: Any, var: str, out: list[str], indent: str) -> None:
        """Append statements that `return False` unless `var` satisfies `schema`."""
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        if "$ref" in schema:  # draft 4/6: siblings of $ref are ignored (fastjsonschema does the same)
            target = self._leaf_definition(schema["$ref"])
            if target is not None:  # a definition without objects or arrays cannot recur: inlined, no call
                self._checks(target, var, out, indent)
            else:
                out.append(f"{indent}if not {self._ref(schema['$ref'])}({var}): return False")
            return
        unknown = schema.keys() - _CHECKED - _ANNOTATIONS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        kind = schema.get("type")
        if kind is not None:
            if not isinstance(kind, str) or kind not in _TYPE_TESTS:
                raise Unsupported(f"type {kind!r}")
            out.append(f"{indent}if not {_TYPE_TESTS[kind].format(v=var)}: return False")
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                raise Unsupported("enum of non-strings")
            out.append(f"{indent}if type({var}) is not str or {var} not in {self._constant(frozenset(values))}: "
                       "return False")
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
            out.append(f"{indent}if _DATE_TIME.match({var}) is None: return False")

    def _object(self, schema: dict[str, Any], var: str, out: list[str], indent: str) -> None:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        if not isinstance(properties, dict) or not isinstance(required, list) or not isinstance(extra, bool):
            raise Unsupported("object form")
        if required:
            out.append(f"{indent}if not {self._constant(frozenset(required))} <= {var}.keys(): return False")
        if not extra:
            out.append(f"{indent}if not {var}.keys() <= {self._constant(frozenset(properties))}: return False")
        for key, sub in properties.items():
            item = next(self._names)
            body: list[str] = []
            self._checks(sub, item, body, indent + "    ")
            if body:
                out.append(f"{indent}{item} = {var}.get({key!r}, _MISSING)")
                out.append(f"{indent}if {item} is not _MISSING:")
                out.extend(body)

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


class _Missing:
    __slots__ = ()


_MISSING: Final = _Missing()
