"""The hooks and code handlers the built-in mapping files name (the translator implements each one).

Hooks are the translator's stateful functions, called as `ctx.hook(name, source_payload, value)`:
`source_payload` is the whole payload being mapped, `value` the field's `from` value (None when the
field has no `from`; a hook is not called when `from` finds nothing). A hook returns a JSON value or
`OMIT`. Condition hooks (used in `when: {hook: ...}`) return True or False. `notify` hooks run for
their effect once a payload is mapped; their result is ignored. A request's notify hook gets the
request and None; a response's notify hook gets the target's response and, as its value, the original
source request (None when the caller did not pass it). The contracts (HOOK_CONTRACTS):

- token_to_2x: 1.x idTag (str) -> 2.0.1 IdTokenType {idToken, type, additionalInfo?}; aliases resolved (1.8).
- token_to_1x: 2.0.1 IdTokenType -> 1.x idTag (str, <= 20; alias if longer; NoAuthorization tag) (1.8).
- evse_of_connector: 1.6 connectorId (int) -> 2.0.1 evseId (int); 0 -> 0 (1.7).
- evse_connector_of_connector: 1.6 connectorId (> 0) -> the connector number inside its EVSE (int).
- evse_connector_if_shared: 1.6 connectorId (> 0) -> connector number inside its EVSE if that EVSE has
  several connectors, else OMIT (4.5).
- connector_of_evse: 2.0.1 evseId (int) or EVSE object {id, connectorId?} -> 1.6 connectorId (int); 0 -> 0;
  an EVSE without connectorId -> its first (preferably Available) connector; unknown -> OMIT.
- boot_reason: None -> 2.0.1 BootReasonEnum text (2.2).
- firmware_request_id / log_request_id: None -> requestId (int) of the active firmware / log job, or OMIT.
- new_firmware_job / new_log_job: None -> a new requestId (int), stored as the active job (4.11).
- remote_start_id: None -> a new remoteStartId (int); records the pending remote start from the payload (4.2).
- tx_id_to_2x: 1.6 transactionId (int, upstream side) -> 2.0.1 transactionId (str), or OMIT if unknown (4.3).
- tx_id_to_1x: 2.0.1 transactionId (str) -> 1.6 transactionId (int), or OMIT if unknown (4.3, 4.14).
- tx_id_for_profile: None -> 2.0.1 transactionId (str) for a 1.6 TxProfile: the one named in
  csChargingProfiles.transactionId, else the one open on connectorId; OMIT if none (4.14).
- security_extension: None -> bool, the 1.6 peer of this translation has the security extension (2.10).
- forward_connection_settings: None -> bool, setting security.forward_connection_settings (1.9).
- transaction_open: 1.6 connectorId (int) or None -> bool, a transaction is open there (2.6, 4.10).
- signed_firmware_job: None -> bool, the active firmware job came as SignedUpdateFirmware (2.8).
- security_log_job: requestId (int) or None -> bool, that (or the active) log job is a SecurityLog (2.9, 4.10).
- notify remember_trigger / trigger_answered (2.0.1 TriggerMessage and the 1.6 charger's answer: a
  triggered boot gets reason Triggered, a triggered status passes the dedup; 2.2, 4.10),
  remember_boot (BootNotification), remember_reset (Reset), remember_firmware_job /
  remember_signed_firmware_job (UpdateFirmware / SignedUpdateFirmware), remember_log_job (GetLog),
  remember_remote_start (RequestStartTransaction), remote_start_answered / firmware_update_answered
  (the target's response payload).
- 1.5 charger lifted to 1.6 (TRANSLATION.md 5), notify hooks over the lift's own state:
  lift15_boot_answered (1.6 BootNotification response: the interval the charger was told),
  lift15_firmware_status / lift15_diagnostics_status (the charger's status notification, kept for
  emulated triggers, 5.5.1), lift15_remote_stop_answered / lift15_reset_answered /
  lift15_unlock_answered (the 1.5 charger's answer, value: the 1.6 request; an accepted command is a
  stop cause for 5.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: Every hook the built-in mapping files use: name -> contract (value given -> value returned).
HOOK_CONTRACTS: Final[Mapping[str, str]] = {
    "token_to_2x": "1.x idTag -> 2.0.1 IdTokenType {idToken, type, additionalInfo?}",
    "token_to_1x": "2.0.1 IdTokenType -> 1.x idTag (<= 20 characters; alias when longer)",
    "evse_of_connector": "1.6 connectorId -> 2.0.1 evseId (0 -> 0)",
    "evse_connector_of_connector": "1.6 connectorId -> connector number inside its EVSE",
    "evse_connector_if_shared": "1.6 connectorId -> connector number inside its EVSE, or OMIT if the EVSE has one",
    "connector_of_evse": "2.0.1 evseId or EVSE {id, connectorId?} -> 1.6 connectorId (0 -> 0), OMIT if unknown",
    "boot_reason": "None -> 2.0.1 BootReasonEnum value",
    "firmware_request_id": "None -> requestId of the active firmware job, or OMIT",
    "log_request_id": "None -> requestId of the active log job, or OMIT",
    "new_firmware_job": "None -> new requestId, stored as the active firmware job",
    "new_log_job": "None -> new requestId, stored as the active DiagnosticsLog job",
    "remote_start_id": "None -> new remoteStartId; records the pending remote start",
    "tx_id_to_2x": "1.6 transactionId -> 2.0.1 transactionId, or OMIT if unknown",
    "tx_id_to_1x": "2.0.1 transactionId -> 1.6 transactionId, or OMIT if unknown",
    "tx_id_for_profile": "None -> 2.0.1 transactionId for a 1.6 TxProfile, or OMIT",
    "security_extension": "None -> true if the 1.6 peer has the security extension",
    "forward_connection_settings": "None -> setting security.forward_connection_settings",
    "transaction_open": "1.6 connectorId or None -> true if a transaction is open there",
    "signed_firmware_job": "None -> true if the active firmware job came as SignedUpdateFirmware",
    "security_log_job": "requestId or None -> true if that (or the active) log job is a SecurityLog",
    "remember_boot": "notify; the BootNotification payload (boot cache, meterType, reason)",
    "remember_reset": "notify; the Reset payload (boot reason, stop reason)",
    "remember_trigger": "notify; 2.0.1 TriggerMessage payload (a triggered boot or status is marked, 2.2, 4.10)",
    "trigger_answered": "notify; 1.6 TriggerMessage response, value the request (a refusal drops the mark)",
    "remember_firmware_job": "notify; UpdateFirmware payload whose requestId becomes the active job",
    "remember_signed_firmware_job": "notify; SignedUpdateFirmware payload, as above, marked signed",
    "remember_log_job": "notify; GetLog payload (requestId, logType) becomes the active log job",
    "remember_remote_start": "notify; RequestStartTransaction payload becomes a pending remote start",
    "remote_start_answered": "notify; RequestStartTransaction response (transactionId of an open transaction)",
    "firmware_update_answered": "notify; UpdateFirmware response (a refusal is reported upstream)",
    "lift15_boot_answered": "notify; 1.6 BootNotification response to a 1.5 charger (interval it was told)",
    "lift15_firmware_status": "notify; 1.5 FirmwareStatusNotification (last status, for emulated triggers)",
    "lift15_diagnostics_status": "notify; 1.5 DiagnosticsStatusNotification (last status, for emulated triggers)",
    "lift15_remote_stop_answered": "notify; 1.5 RemoteStopTransaction response, value the request (stop reason)",
    "lift15_reset_answered": "notify; 1.5 Reset response, value the request (stop reason)",
    "lift15_unlock_answered": "notify; 1.5 UnlockConnector response, value the request (stop reason)",
}
#: Every hook name the built-in mapping files use; the translator registers these.
HOOKS_USED: Final = frozenset(HOOK_CONTRACTS)
#: Code handlers the built-in mapping files name (TRANSLATION.md 6.1 "Stateful code").
HANDLERS_USED: Final = frozenset({
    "status_notification", "start_transaction", "stop_transaction", "meter_values_in_transaction",
    "transaction_event", "notify_event", "notify_report", "unlock_connector", "get_configuration",
    "change_configuration", "get_variables", "set_variables", "get_base_report", "get_report", "reset_on_idle",
    "change_availability_fan_out", "trigger_station_status", "trigger_transaction_meter_values",
    "trigger_transaction_event", "get_transaction_status", "get_charging_profiles",
    "get_installed_certificate_ids",
    # 1.5 charger lifted to 1.6 (TRANSLATION.md 5)
    "lift15_status_notification", "lift15_start_transaction", "lift15_stop_transaction",
    "lift15_data_transfer_limits", "lift15_trigger_message", "lift15_get_configuration",
    "lift15_change_configuration",
})
