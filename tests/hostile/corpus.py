"""The hostile-input corpus in tests/data/hostile: its files, its recipes, and the expected answers.

tests/data/hostile/README.md is the manifest: one table per corpus directory, one row per file with
the expected answer. The tests read the tables from there, so the README cannot fall out of step
with the files (test_corpus_* check that every file has a row and every row a file).

A `*.recipe.json` file stands for an input too big to commit (5 MB frames, gzip bombs, deep nesting).
It is a JSON object:

    {"parts": [...], "count": n, "replace": [[old, new], ...], "encoding": "utf-16", "compress": ["gzip"]}

`parts` are concatenated: a string as is, {"repeat": s, "times": n} as s * n, {"file": name} as the
text of another file of the same directory. Then `replace` pairs are applied, the placeholders are
filled in, the text is encoded (UTF-8 unless `encoding` says otherwise) and compressed with each
coding of `compress` in turn. With `count`, the input is that many frames, `{n}` in each replaced by
its index (a burst). Other files are sent byte for byte, placeholders filled in.

Placeholders: CANARY_FILE is the path of a file holding a unique canary text; LISTENER is the
http://127.0.0.1:<port> of a TCP listener that records every connection made to it.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1] / "data" / "hostile"
README = ROOT / "README.md"
RECIPE = ".recipe.json"


@dataclass(frozen=True)
class Row:
    """One line of a README table: a file name and the cells after it, by column heading."""

    file: str
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells[column]


def rows(directory: str) -> list[Row]:
    """The rows of the README table under the heading that names `directory` (e.g. "ojson/")."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## ") and f"`{directory}/`" in line)
    table = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    heading, body = table[0], [r for r in table[2:] if r and r[0]]
    return [Row(_unquote(r[0]), {h: _unquote(c) for h, c in zip(heading[1:], r[1:], strict=True)}) for r in body]


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) > 1 and cell.startswith("`") and cell.endswith("`") else cell


def files(directory: str) -> list[str]:
    """The corpus files of a directory, sorted."""
    return sorted(p.name for p in (ROOT / directory).iterdir() if p.is_file())


def load(directory: str, name: str, placeholders: dict[str, str] | None = None) -> list[bytes]:
    """The input a file stands for: one body or frame, or several for a burst recipe."""
    path = ROOT / directory / name
    fill = placeholders or {}
    if not name.endswith(RECIPE):
        return [_fill(path.read_bytes(), fill)]
    recipe: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    text = "".join(_part(directory, part) for part in recipe["parts"])
    for old, new in recipe.get("replace", []):
        text = text.replace(old, new)
    for key, value in fill.items():
        text = text.replace(key, value)
    texts = [text.replace("{n}", str(i)) for i in range(recipe["count"])] if "count" in recipe else [text]
    return [_compress(t.encode(recipe.get("encoding", "utf-8")), recipe.get("compress", [])) for t in texts]


def _part(directory: str, part: str | dict[str, Any]) -> str:
    if isinstance(part, str):
        return part
    if "file" in part:
        return (ROOT / directory / str(part["file"])).read_text(encoding="utf-8")
    return str(part["repeat"]) * int(part["times"])


def _fill(data: bytes, placeholders: dict[str, str]) -> bytes:
    for key, value in placeholders.items():
        data = data.replace(key.encode(), value.encode())
    return data


def _compress(data: bytes, codings: list[str]) -> bytes:
    for coding in codings:
        data = gzip.compress(data) if coding == "gzip" else zlib.compress(data)
    return data


def headers(cell: str) -> dict[str, str]:
    """A README "request headers" cell: `-`, or `Name: value` pairs separated by ` ; `."""
    if cell in ("", "-"):
        return {}
    return dict(pair.split(": ", 1) for pair in (p.strip() for p in cell.split(" ; ")))


_CALLERROR = re.compile(r"CALLERROR (\S+) (\w+)")
_CLOSE = re.compile(r"close (\d{4})")
_FAULT = re.compile(r"(\d{3}) (Sender|Receiver)/(\w+)")


@dataclass(frozen=True)
class OcppjExpectation:
    """What the gateway answers an OCPP-J corpus input: a CALLERROR, a close, silence, or a burst's answers."""

    kind: str  # "callerror", "close", "silence" or "burst"
    unique_id: str = ""
    code: str = ""
    close_code: int = 0


def ocppj_expectation(cell: str) -> OcppjExpectation:
    if match := _CALLERROR.fullmatch(cell):
        return OcppjExpectation("callerror", match[1], match[2])
    if match := _CLOSE.fullmatch(cell):
        return OcppjExpectation("close", close_code=int(match[1]))
    if cell == "no answer":
        return OcppjExpectation("silence")
    if match := re.fullmatch(r"each: CALLRESULT or CALLERROR (\w+)", cell):
        return OcppjExpectation("burst", code=match[1])
    raise ValueError(f"README: unknown OCPP-J expectation {cell!r}")


def soap_expectation(cell: str) -> tuple[int, str, str]:
    """A README SOAP answer cell, `400 Sender/ProtocolError`: (HTTP status, fault code, subcode)."""
    match = _FAULT.fullmatch(cell)
    if match is None:
        raise ValueError(f"README: unknown SOAP expectation {cell!r}")
    return int(match[1]), match[2], match[3]
