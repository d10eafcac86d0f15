"""Strict YAML for mapping files: no duplicate keys, timestamps kept as text, errors as `FILE: path: problem`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from gateway.errors import ConfigError


class Node:
    """One YAML node with its location (`FILE: dotted.path`), for one-line ConfigErrors."""

    def __init__(self, file: str, path: str, value: Any) -> None:
        self.file, self.path, self.value = file, path, value

    def error(self, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.path or '(top level)'}: {problem}")

    def child(self, key: str) -> Node:
        value = self.value.get(key) if isinstance(self.value, dict) else None
        return Node(self.file, f"{self.path}.{key}" if self.path else key, value)

    def element(self, index: int) -> Node:
        value = self.value[index] if isinstance(self.value, list) and index < len(self.value) else None
        return Node(self.file, f"{self.path}[{index}]", value)

    def mapping(self, allowed: tuple[str, ...] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The node as a mapping; unknown or missing keys are errors."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {kind_of(self.value)}")
        for key in self.value:
            if not isinstance(key, str):
                raise self.error(f"keys must be strings, got {kind_of(key)}")
            if allowed is not None and key not in allowed:
                raise self.child(key).error(f"unknown key (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in self.value:
                raise self.child(key).error("is required")
        return self.value

    def string(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.error(f"expected a non-empty string, got {kind_of(self.value)}")
        return self.value

    def strings(self) -> tuple[str, ...]:
        """A string or a list of strings."""
        items = self.value if isinstance(self.value, list) else [self.value]
        if not items or not all(isinstance(item, str) and item for item in items):
            raise self.error(f"expected a string or a list of strings, got {kind_of(self.value)}")
        return tuple(items)

    def items(self) -> Iterator[tuple[str, Node]]:
        for key in self.mapping():
            yield key, self.child(key)


def kind_of(value: object) -> str:
    """How an unexpected YAML value is named in an error message."""
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"{type(value).__name__} {value!r}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keeps timestamps as text (OCPP wants RFC 3339 strings)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may be overridden by explicit keys: that is not a duplicate
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(file: str, text: str) -> Node:
    """Parse one mapping file's text into its top node."""
    try:
        document = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise ConfigError(f"{file}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return Node(file, "", document)
