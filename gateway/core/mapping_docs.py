"""Renders the generated parts of docs/mappings.md from loaded rules: the coverage table and the hook list.

Pure text in, text out; `python -m gateway.mapping_files docs/mappings.md` does the file I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from gateway.core.mapping import HOOK_CONTRACTS, Rule, RuleSet
from gateway.core.mapping_spec import FieldSpec, Section

COVERAGE_START: Final = "<!-- coverage:start -->"
COVERAGE_END: Final = "<!-- coverage:end -->"
HOOKS_START: Final = "<!-- hooks:start -->"
HOOKS_END: Final = "<!-- hooks:end -->"
_DIRECTION_ORDER: Final = {"up": 0, "both": 1, "down": 2}


def _compact(payload: Any) -> str:
    return json.dumps(payload, separators=(", ", ": "))


def _outcome(rule: Rule) -> str:
    spec = rule.spec
    if spec.handler is not None:
        return f"handler `{spec.handler}`"
    if spec.local is not None:
        return f"local answer `{_compact(spec.local)}`"
    if spec.not_supported is not None:
        return "NotSupported"
    parts = []
    for route in spec.routes:
        if route.outcome == "local":
            parts.append(f"local `{_compact(route.value)}`")
        elif route.outcome == "handler":
            parts.append(f"handler `{route.value}`")
        elif route.outcome == "not_supported":
            parts.append("NotSupported")
        else:
            parts.append(f"-> {rule.variants[route.value].target_action}")
    for field in _fields(rule.request) + _fields(rule.response):
        if field.on_missing is not None:
            kind, value = field.on_missing
            parts.append(f"local `{_compact(value)}`" if kind == "local" else "NotSupported")
    unique = list(dict.fromkeys(parts))
    return "mapped" + (f"; some cases: {', '.join(unique)}" if unique else "")


def _fields(section: Section | None) -> list[FieldSpec]:
    found: list[FieldSpec] = []
    for field in section.fields if section is not None else ():
        found.append(field)
        if field.each is not None and field.each.section is not None:
            found += _fields(field.each.section)
    return found


def coverage_table(rules: RuleSet) -> str:
    """A Markdown table: one row per rule (source and target dialect, direction, action) with its outcome."""
    lines = ["| source -> target | dir | action | outcome | target action | TRANSLATION.md |",
             "|---|---|---|---|---|---|"]
    # By pair first: 1.6 is the source of two pairs (toward 2.0.1 and toward 1.5), kept apart.
    ordered = sorted(rules, key=lambda r: (r.source.value, r.target.value, _DIRECTION_ORDER[r.direction], r.action))
    for rule in ordered:
        mapped = rule.request is not None
        target = rule.target_action if mapped else ""
        lines.append(f"| {rule.source} -> {rule.target} | {rule.direction} | {rule.action} | {_outcome(rule)} "
                     f"| {target} | {rule.spec.spec_ref or ''} |")
    return "\n".join(lines)


def hooks_table() -> str:
    """A Markdown table of every hook name and its contract."""
    lines = ["| hook | contract |", "|---|---|"]
    lines += [f"| `{name}` | {contract} |" for name, contract in sorted(HOOK_CONTRACTS.items())]
    return "\n".join(lines)


def _replace(text: str, start: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"markers {start} ... {end} not found")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)


def render(document: str, rules: RuleSet) -> str:
    """The document with its generated sections (between the coverage and hooks markers) brought up to date."""
    document = _replace(document, COVERAGE_START, COVERAGE_END, coverage_table(rules))
    return _replace(document, HOOKS_START, HOOKS_END, hooks_table())
