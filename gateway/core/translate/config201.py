"""Configuration across 1.6 and 2.0.1 (TRANSLATION.md 4.7, 4.8): the handlers, and the key table they use.

`variables201` serves a 1.6 CSMS in front of a 2.0.1 station, `configuration16` and `report16` a 2.0.1
CSMS in front of a 1.6 charger; `device_model` holds what they share. The edge hands the key table
over once at start-up with `use_config_keys`.
"""

from __future__ import annotations

from typing import Final

from gateway.core.dialects import Dialect
from gateway.core.translate.configuration16 import get_variables, set_variables
from gateway.core.translate.context import Handler
from gateway.core.translate.device_model import config_keys, use_config_keys
from gateway.core.translate.report16 import get_base_report, get_report
from gateway.core.translate.variables201 import change_configuration, get_configuration

__all__ = ["HANDLERS", "config_keys", "use_config_keys"]

#: Code handlers by (name used in the mapping files, dialect family of the CALL's source).
HANDLERS: Final[dict[tuple[str, Dialect], Handler]] = {
    ("get_configuration", Dialect.OCPP16): get_configuration,
    ("change_configuration", Dialect.OCPP16): change_configuration,
    ("get_variables", Dialect.OCPP201): get_variables,
    ("set_variables", Dialect.OCPP201): set_variables,
    ("get_base_report", Dialect.OCPP201): get_base_report,
    ("get_report", Dialect.OCPP201): get_report,
}
