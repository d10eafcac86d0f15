"""(being written) Translation handlers; see HANDLERS."""

from __future__ import annotations

from typing import Any

#: Code handlers by (name used in the mapping files, source dialect family).
HANDLERS: dict[tuple[str, Any], Any] = {}
