"""Reads mapping files for the core: the built-in ones and an operator's directory; regenerates docs/mappings.md.

The core may not read files, so this edge module does. Built-in files are package data
(`gateway.mappings`, mapped from the repository's `mappings/` by pyproject.toml) in an installed
wheel; in a source tree they are read from `mappings/` beside the `gateway/` package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from importlib import resources
from pathlib import Path
from typing import Final

from gateway.core.mapping import HANDLERS_USED, HOOKS_USED, RuleSet
from gateway.core.mapping_docs import render
from gateway.core.mapping_load import load_rules
from gateway.errors import ConfigError

#: Where the built-in files live in a source tree (and in an editable install).
SOURCE_DIR: Final = Path(__file__).resolve().parent.parent / "mappings"
_SUFFIXES: Final = (".yaml", ".yml")


def builtin_mapping_texts() -> dict[str, str]:
    """The built-in mapping files, name -> text.

    Raises:
        ConfigError: the files are in neither the installed package nor the source tree.
    """
    try:
        folder = resources.files("gateway.mappings")
        texts = {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir()
                 if entry.name.endswith(_SUFFIXES)}
    except ModuleNotFoundError:
        # Not installed as a wheel: running from the source tree.
        texts = {}
    if texts:
        return dict(sorted(texts.items()))
    if SOURCE_DIR.is_dir():
        return read_mapping_dir(SOURCE_DIR)
    raise ConfigError(f"{SOURCE_DIR}: built-in mapping files not found (package data gateway.mappings missing)")


def read_mapping_dir(path: str | Path) -> dict[str, str]:
    """Every `*.yaml` / `*.yml` file of an operator's mapping directory, name -> text, in name order.

    Raises:
        ConfigError: the directory or a file cannot be read.
    """
    folder = Path(path)
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
        return {p.name: p.read_text(encoding="utf-8") for p in files}
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot read mapping files: {exc.strerror}") from None


def load_mappings(hooks: Collection[str] = HOOKS_USED, handlers: Collection[str] = HANDLERS_USED,
                  operator_dir: str | Path | None = None) -> RuleSet:
    """Load the built-in rules, overridden by an operator's directory when given.

    Raises:
        ConfigError: one line naming file, entry and problem.
    """
    overrides = read_mapping_dir(operator_dir) if operator_dir is not None else None
    return load_rules(builtin_mapping_texts(), hooks, handlers, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gateway.mapping_files docs/mappings.md`: rewrite the generated sections of the document."""
    parser = argparse.ArgumentParser(description="regenerate the coverage and hook tables of docs/mappings.md")
    parser.add_argument("document", type=Path)
    args = parser.parse_args(argv)
    try:
        text = args.document.read_text(encoding="utf-8")
        args.document.write_text(render(text, load_mappings()), encoding="utf-8")
    except (ConfigError, ValueError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
