"""The code handlers of the 1.5 -> 1.6 lift (TRANSLATION.md 5), by the names its mapping file uses.

Charger-initiated handlers are keyed by the 1.5 dialect, CSMS-initiated ones by 1.6, as the
translator looks them up (handler name, source dialect family).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.core.dialects import Dialect
from gateway.core.flow import Flow
from gateway.core.ocppj import Call
from gateway.core.translate import lift15_config, lift15_status, lift15_trigger, lift15_tx
from gateway.core.translate.context import HandlerContext
from gateway.errors import PropertyConstraintViolation

#: 1.6 DataTransfer maxLength of the texts 1.5 leaves unlimited (5.1).
VENDOR_ID_MAX_16: Final = 255
MESSAGE_ID_MAX_16: Final = 50


def data_transfer_limits(ctx: HandlerContext, call: Call, now: float) -> Flow | None:
    """1.5 DataTransfer whose vendorId or messageId 1.6 cannot hold: refused, nothing sent (5.1).

    Truncating either would address another vendor's message, so the charger hears
    PropertyConstraintViolation (a SOAP Fault). Returns None, letting the mapping forward it, when
    both fit.

    Raises:
        PropertyConstraintViolation: vendorId longer than 255 or messageId longer than 50 characters.
    """
    vendor_id, message_id = str(call.payload["vendorId"]), call.payload.get("messageId")
    if len(vendor_id) > VENDOR_ID_MAX_16 or (message_id is not None and len(str(message_id)) > MESSAGE_ID_MAX_16):
        raise PropertyConstraintViolation(
            f"DataTransfer: OCPP 1.6 allows vendorId up to {VENDOR_ID_MAX_16} and messageId up to "
            f"{MESSAGE_ID_MAX_16} characters")
    return None


#: Code handlers by (name used in the mapping file, source dialect family).
HANDLERS: Final[dict[tuple[str, Dialect], Callable[[HandlerContext, Call, float], Flow | None]]] = {
    ("lift15_status_notification", Dialect.OCPP15_SOAP): lift15_status.status_notification,
    ("lift15_start_transaction", Dialect.OCPP15_SOAP): lift15_tx.start_transaction,
    ("lift15_stop_transaction", Dialect.OCPP15_SOAP): lift15_tx.stop_transaction,
    ("lift15_data_transfer_limits", Dialect.OCPP15_SOAP): data_transfer_limits,
    ("lift15_trigger_message", Dialect.OCPP16): lift15_trigger.trigger_message,
    ("lift15_get_configuration", Dialect.OCPP16): lift15_config.get_configuration,
    ("lift15_change_configuration", Dialect.OCPP16): lift15_config.change_configuration,
}
