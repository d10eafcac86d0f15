"""Finding the mapping files: built-in ones in the source tree or the wheel, and an operator's directory."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway import mapping_files
from gateway.core.dialects import Dialect
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = """\
format: 1
pair: [ocpp2.0.1, ocpp1.6]
messages:
  ocpp2.0.1:
    CostUpdated: {direction: down, not_supported: true}
config_keys:
  AcmeMode: {access: RW, component: AcmeCtrlr, variable: Mode}
"""


def test_built_in_files_are_found() -> None:
    """Both built-in files are read (from the source tree when the package is not installed)."""
    assert set(mapping_files.builtin_mapping_texts()) == {"ocpp1.6__ocpp2.0.1.yaml",
                                                          "config_keys_ocpp1.6__ocpp2.0.1.yaml",
                                                          "ocpp1.5-soap__ocpp1.6.yaml"}


def test_operator_directory_reads_yaml_files_in_name_order(tmp_path: Path) -> None:
    """Only *.yaml / *.yml files are read, sorted by name."""
    for name in ("b.yml", "a.yaml", "notes.txt"):
        (tmp_path / name).write_text(f"# {name}\n", encoding="utf-8")
    assert list(mapping_files.read_mapping_dir(tmp_path)) == ["a.yaml", "b.yml"]


def test_missing_operator_directory_is_a_config_error(tmp_path: Path) -> None:
    """A directory that cannot be read is a one-line ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"missing: cannot read mapping files"):
        mapping_files.read_mapping_dir(tmp_path / "missing")


def test_operator_files_override_entries_and_extend_config_keys(tmp_path: Path) -> None:
    """An operator entry replaces the built-in one; an operator key joins the table."""
    (tmp_path / "acme.yaml").write_text(OVERRIDE, encoding="utf-8")
    rules = mapping_files.load_mappings(operator_dir=tmp_path)
    rule = rules.find(Dialect.OCPP201, "CostUpdated", "down")
    assert rule is not None and rule.not_supported
    keys = rules.config_keys(Dialect.OCPP16, Dialect.OCPP201)
    assert keys.by_key("acmemode") is not None and keys.by_key("HeartbeatInterval") is not None


def test_wheel_packages_every_gateway_package_and_the_mappings() -> None:
    """pyproject lists each package under gateway/ and maps mappings/*.yaml in as gateway.mappings data."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gateway").rglob("__init__.py")}
    assert on_disk | {"gateway.mappings"} == set(setuptools["packages"])
    assert setuptools["package-dir"]["gateway.mappings"] == "mappings"
    assert "*.yaml" in setuptools["package-data"]["gateway.mappings"]
