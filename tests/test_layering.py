"""The sans-I/O packages stay sans-I/O: no module under gateway/core or gateway/soap imports an event loop,
socket, store or clock."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "gateway" / "core"
#: The sans-I/O packages: the core and the SOAP codec.
SANS_IO = (CORE, ROOT / "gateway" / "soap")

#: Modules the core must not import (DESIGN.md convention 1), with their submodules.
FORBIDDEN = (
    "asyncio",
    "aiohttp",
    "websockets",
    "socket",
    "sqlite3",
    "redis",
    "time",
    "gateway.net",
    "gateway.store",
    "gateway.app",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """Every module name the tree imports, with its line, including dynamic imports of constant names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, package)
            yield node.lineno, base
            # `from gateway import net` imports gateway.net.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def _is_forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


def offenders(source: str, module: str, path: Path) -> list[str]:
    """List `file:line imports name` for every forbidden import in one module's source."""
    tree = ast.parse(source, filename=str(path))
    found = {(line, name) for line, name in _imports(tree, _package_of(module, path)) if _is_forbidden(name)}
    return [f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in sorted(found)]


def core_modules() -> list[Path]:
    return sorted(path for package in SANS_IO for path in package.rglob("*.py"))


def test_core_imports_no_io_or_shell_modules() -> None:
    """No module under gateway/core or gateway/soap imports asyncio, aiohttp, websockets, socket, sqlite3, redis,
    time or the shell."""
    found = [
        offence
        for path in core_modules()
        for offence in offenders(path.read_text(encoding="utf-8"), _module_name(path), path)
    ]
    assert not found, "gateway/core and gateway/soap must stay sans-I/O:\n" + "\n".join(found)


def test_walk_sees_the_core_modules() -> None:
    """The walk covers the core's modules, so a clean result is not an empty one."""
    assert {"session.py", "ocppj.py", "schemas.py", "__init__.py", "types.py"} <= {p.name for p in core_modules()}


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import time as clock",
        "from time import monotonic",
        "import asyncio.events",
        "import os, socket",
        "from aiohttp import web",
        "import websockets.client",
        "import sqlite3",
        "from redis import asyncio",
        "from gateway.net import runner",
        "from gateway import store",
        "from gateway.app import Gateway",
        "from ..net import runner",
        "from .. import app",
        "def f():\n    import time",
        "import importlib\nimportlib.import_module('socket')",
        "__import__('asyncio')",
    ],
)
def test_checker_flags_forbidden_import(source: str) -> None:
    """Each way of importing a forbidden module is reported with its file and line."""
    path = CORE / "example.py"
    found = offenders(source, "gateway.core.example", path)
    assert found and all(line.startswith("gateway/core/example.py:") for line in found)


@pytest.mark.parametrize(
    "source",
    [
        "import json",
        "import timeit",
        "from datetime import time",
        "from gateway.core import ocppj",
        "from gateway.errors import FormatViolation",
        "from . import schemas",
        "from .. import errors",
        "import importlib.resources",
    ],
)
def test_checker_allows_pure_import(source: str) -> None:
    """Stdlib pure modules, the core's siblings and gateway.errors are not reported."""
    assert offenders(source, "gateway.core.example", CORE / "example.py") == []
