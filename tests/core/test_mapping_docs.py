"""docs/mappings.md carries a coverage table and hook list generated from the built-in mapping files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.mapping import HOOK_CONTRACTS
from gateway.core.mapping_docs import COVERAGE_END, COVERAGE_START, coverage_table, hooks_table, render
from tests.core.test_mapping_examples import builtin

DOC = Path(__file__).resolve().parents[2] / "docs" / "mappings.md"
REGENERATE = ".venv/bin/python -m gateway.mapping_files docs/mappings.md"


def test_generated_sections_of_the_doc_are_up_to_date() -> None:
    """The coverage table and hook list in docs/mappings.md match the built-in files."""
    text = DOC.read_text(encoding="utf-8")
    assert render(text, builtin()) == text, f"docs/mappings.md is stale; regenerate it with: {REGENERATE}"


def test_coverage_table_has_a_row_per_entry() -> None:
    """Every loaded entry (source dialect, action) is one row of the coverage table."""
    rows = [line for line in coverage_table(builtin()).splitlines() if line.startswith("| ocpp")]
    assert len(rows) == len(builtin().rules)


def test_coverage_rows_name_the_outcome() -> None:
    """Rows say mapped (with the cases routes treat otherwise), handler, local answer or NotSupported."""
    table = coverage_table(builtin())
    assert "| ocpp2.0.1 -> ocpp1.6 | down | Reset | mapped; some cases: local `{\"status\": \"Rejected\", " in table
    assert "| ocpp1.6 -> ocpp2.0.1 | up | StartTransaction | handler `start_transaction` |" in table
    assert "| ocpp2.0.1 -> ocpp1.6 | down | CostUpdated | local answer `{}` |" in table
    assert "| ocpp2.0.1 -> ocpp1.6 | down | SetDisplayMessage | NotSupported |" in table


def test_hook_list_names_every_hook_contract() -> None:
    """Each hook the built-in files may use appears with its contract."""
    assert all(f"| `{name}` | {text} |" in hooks_table() for name, text in HOOK_CONTRACTS.items())


def test_render_replaces_only_the_text_between_markers() -> None:
    """Hand-written text around the markers is kept."""
    document = f"intro\n{COVERAGE_START}\nold\n{COVERAGE_END}\nmiddle\n<!-- hooks:start -->\n<!-- hooks:end -->\nend\n"
    rendered = render(document, builtin())
    assert rendered.startswith("intro\n") and "\nmiddle\n" in rendered and rendered.endswith("\nend\n")
    assert "\nold\n" not in rendered


def test_render_refuses_a_document_without_markers() -> None:
    """A document without the markers is an error, not a silent no-op."""
    with pytest.raises(ValueError, match="markers"):
        render("no markers here", builtin())
