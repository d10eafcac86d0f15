"""A strict reader over one YAML mapping: typed getters, `${VAR}` expansion, unknown keys refused.

Every problem becomes a ConfigError whose text is `FILE: dotted.key: problem`, the one line
that `ocpp-gateway check` prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from gateway.errors import ConfigError

_ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING: Final = object()


class Reader:
    """Reads one mapping node of a config file; call `done()` to refuse the keys nobody read."""

    def __init__(self, file: str, path: str, node: object, environ: Mapping[str, str]) -> None:
        self.file, self.path, self._environ = file, path, environ
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise self.error(f"expected a mapping, got {_kind(node)}")
        self._node: dict[Any, Any] = node
        self._read: set[str] = set()

    def error(self, problem: str, key: str | None = None) -> ConfigError:
        where = ".".join(p for p in (self.path, key) if p) or "(top level)"
        return ConfigError(f"{self.file}: {where}: {problem}")

    def has(self, key: str) -> bool:
        return key in self._node

    def _get(self, key: str, default: object) -> object:
        self._read.add(key)
        if key in self._node and self._node[key] is not None:
            return self._node[key]
        if default is _MISSING:
            raise self.error("is required", key)
        return default

    def raw(self, key: str, default: object = _MISSING) -> Any:
        """The value as YAML gave it (the caller checks its shape)."""
        return self._get(key, default)

    def string(self, key: str, default: object = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {_kind(value)}", key)
        return self._expand(key, value)

    def number(self, key: str, default: object = _MISSING, *, minimum: float = 0, integer: bool = False) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            raise self.error(f"expected {'an integer' if integer else 'a number'}, got {_kind(value)}", key)
        if value < minimum:
            raise self.error(f"must be at least {minimum}, got {value}", key)
        return value

    def port(self, key: str, default: object = _MISSING) -> Any:
        value = self.number(key, default, integer=True)
        if value is not default and not 0 <= value <= 65535:
            raise self.error(f"expected a TCP port 0-65535, got {value}", key)
        return value

    def boolean(self, key: str, default: object = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, bool):
            raise self.error(f"expected true or false, got {_kind(value)}", key)
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: object = _MISSING) -> Any:
        value = self.string(key, default)
        if value is not default and value not in choices:
            raise self.error(f"expected {' or '.join(choices)}, got {value!r}", key)
        return value

    def section(self, key: str) -> Reader:
        self._read.add(key)
        return Reader(self.file, f"{self.path}.{key}" if self.path else key, self._node.get(key), self._environ)

    def string_map(self, key: str) -> dict[str, str]:
        sub = self.section(key)
        return {name: sub.string(name) for name in sub.names()}

    def names(self) -> Iterator[str]:
        for key in list(self._node):
            if not isinstance(key, str):
                raise self.error(f"keys must be strings, got {_kind(key)}")
            yield key

    def done(self) -> None:
        unknown = [k for k in self._node if k not in self._read]
        if unknown:
            raise self.error("unknown key", str(unknown[0]))

    def _expand(self, key: str, value: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._environ:
                raise self.error(f"environment variable {name} is not set", key)
            return self._environ[name]

        return _ENV_REF.sub(lookup, value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )
