"""Each built-in 1.6 <-> 2.0.1 mapping entry applied to a realistic message and its answer (TRANSLATION.md 2, 4)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.core.mapping import HANDLERS_USED, HOOKS_USED, OMIT, Answer, Delegate, Forward, Rule, RuleSet
from gateway.core.mapping_spec import Condition, Section
from gateway.errors import NotSupportedAction
from gateway.mapping_files import load_mappings

V16, V201 = Dialect.OCPP16, Dialect.OCPP201
NOW = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T09:59:00Z"
#: The one 2.0.1 transaction id the fake context does not know.
UNKNOWN_TX = "b7c1"


class FakeContext:
    """The translator's side of the hook seam, deterministic: 1:1 topology, fixed ids, switchable conditions."""

    now_iso = NOW

    def __init__(self, **flags: bool) -> None:
        self.flags = {"security_extension": False, "forward_connection_settings": False, "transaction_open": False,
                      "signed_firmware_job": False, "security_log_job": False, **flags}
        self.calls: list[tuple[str, Any]] = []

    def hook(self, name: str, source: Any, value: Any) -> Any:
        self.calls.append((name, value))
        if name in self.flags:
            return self.flags[name]
        if name == "token_to_2x":
            return {"idToken": value, "type": "ISO14443"}
        if name == "token_to_1x":
            token = value["idToken"]
            return token if len(token) <= 20 else "#" + token[:19].upper()
        if name == "connector_of_evse":
            evse = value if isinstance(value, int) else value["id"]
            return OMIT if evse >= 100 else evse
        if name == "tx_id_to_2x":
            return f"tx-{value}" if value > 0 else OMIT
        if name == "tx_id_to_1x":
            digits = value.removeprefix("tx-")
            if value == UNKNOWN_TX:
                return OMIT
            return int(digits) if digits.isdigit() and len(digits) < 9 else 1000 + len(value)
        fixed = {"evse_of_connector": value, "evse_connector_of_connector": 1, "evse_connector_if_shared": OMIT,
                 "boot_reason": "PowerUp", "firmware_request_id": 7, "log_request_id": 8, "new_firmware_job": 17,
                 "new_log_job": 18, "remote_start_id": 42, "tx_id_for_profile": "tx-1"}
        return fixed.get(name)


@cache
def builtin() -> RuleSet:
    """The built-in rules, loaded once for the whole suite."""
    return load_mappings()


def valid(dialect: Dialect, action: str, direction: schemas.Direction, payload: dict[str, Any]) -> None:
    """Validate a copy: the schema validators fill in defaults, which would change the case data."""
    schemas.validate(dialect, action, direction, copy.deepcopy(payload))


def rule(source: Dialect, action: str, direction: str) -> Rule:
    found = builtin().find(source, action, direction)  # type: ignore[arg-type]
    assert found is not None, f"no rule for {source} {action} {direction}"
    return found


@dataclass(frozen=True)
class Case:
    """One mapping entry exercised both ways: request to the target, the target's answer back."""

    source: Dialect
    action: str
    direction: str
    request: dict[str, Any]
    target_action: str
    expected: dict[str, Any]
    answer: dict[str, Any]
    expected_answer: dict[str, Any]
    flags: dict[str, bool] = field(default_factory=dict)

    @property
    def id(self) -> str:
        variant = "-".join(k for k, v in self.flags.items() if v)
        return f"{self.source}-{self.action}" + (f"-{variant}" if variant else "")


PROFILE_16 = {"chargingProfileId": 5, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
              "chargingProfileKind": "Relative",
              "chargingSchedule": {"chargingRateUnit": "A", "duration": 3600, "minChargingRate": 6.0,
                                   "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}}
PROFILE_201 = {"id": 5, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "chargingSchedule": [{"id": 5, "chargingRateUnit": "A", "duration": 3600, "minChargingRate": 6.0,
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}]}
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb", "serialNumber": "01"}
TOKEN = {"idToken": "04A2B3C4", "type": "ISO14443"}

CASES = [
    # ------------------------------------------------------------------ C16 -> U201 (charger-initiated)
    Case(V16, "BootNotification", "up",
         {"chargePointVendor": "ACME", "chargePointModel": "Wallbox", "chargeBoxSerialNumber": "SN-1",
          "firmwareVersion": "1.2", "iccid": "8931", "meterType": "M1"},
         "BootNotification",
         {"chargingStation": {"vendorName": "ACME", "model": "Wallbox", "serialNumber": "SN-1",
                              "firmwareVersion": "1.2", "modem": {"iccid": "8931"}}, "reason": "PowerUp"},
         {"status": "Accepted", "currentTime": NOW, "interval": 300, "statusInfo": {"reasonCode": "OK"}},
         {"status": "Accepted", "currentTime": NOW, "interval": 300}),
    Case(V16, "Heartbeat", "up", {}, "Heartbeat", {}, {"currentTime": NOW}, {"currentTime": NOW}),
    Case(V16, "Authorize", "up", {"idTag": "04A2B3C4"}, "Authorize", {"idToken": TOKEN},
         {"idTokenInfo": {"status": "NoCredit", "cacheExpiryDateTime": NOW, "language1": "en",
                          "groupIdToken": {"idToken": "GROUP1", "type": "Central"}}},
         {"idTagInfo": {"status": "Invalid", "expiryDate": NOW, "parentIdTag": "GROUP1"}}),
    Case(V16, "MeterValues", "up",
         {"connectorId": 2, "meterValue": [{"timestamp": T1, "sampledValue": [
             {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
             {"value": "OCMF|{}|{}", "format": "SignedData", "measurand": "Energy.Active.Import.Register",
              "unit": "Wh"},
             {"value": "31", "measurand": "Temperature", "unit": "Celsius"},
             {"value": "21.5", "measurand": "SoC", "unit": "Percent", "context": "Sample.Clock"}]}]},
         "MeterValues",
         {"evseId": 2, "meterValue": [{"timestamp": T1, "sampledValue": [
             {"value": 1234.5, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"},
              "signedMeterValue": {"signedMeterData": "OCMF|{}|{}", "signingMethod": "", "encodingMethod": "OCMF",
                                   "publicKey": ""}},
             {"value": 21.5, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}, "context": "Sample.Clock"}]}]},
         {}, {}),
    Case(V16, "DataTransfer", "up", {"vendorId": "com.acme", "messageId": "Hello", "data": "{\"a\":1}"},
         "DataTransfer", {"vendorId": "com.acme", "messageId": "Hello", "data": "{\"a\":1}"},
         {"status": "Accepted", "data": {"answer": [1, 2]}}, {"status": "Accepted", "data": "{\"answer\":[1,2]}"}),
    Case(V16, "FirmwareStatusNotification", "up", {"status": "Installed"}, "FirmwareStatusNotification",
         {"status": "Installed", "requestId": 7}, {}, {}),
    Case(V16, "DiagnosticsStatusNotification", "up", {"status": "UploadFailed"}, "LogStatusNotification",
         {"status": "UploadFailure", "requestId": 8}, {}, {}),
    Case(V16, "SecurityEventNotification", "up", {"type": "FirmwareUpdated", "timestamp": T1, "techInfo": "v2"},
         "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": T1, "techInfo": "v2"}, {}, {}),
    Case(V16, "SignCertificate", "up", {"csr": "-----BEGIN CSR-----"}, "SignCertificate",
         {"csr": "-----BEGIN CSR-----", "certificateType": "ChargingStationCertificate"},
         {"status": "Accepted", "statusInfo": {"reasonCode": "OK"}}, {"status": "Accepted"},
         {"forward_connection_settings": True}),
    Case(V16, "LogStatusNotification", "up", {"status": "Uploading", "requestId": 3}, "LogStatusNotification",
         {"status": "Uploading", "requestId": 3}, {}, {}),
    Case(V16, "SignedFirmwareStatusNotification", "up", {"status": "SignatureVerified", "requestId": 4},
         "FirmwareStatusNotification", {"status": "SignatureVerified", "requestId": 4}, {}, {}),
    # ------------------------------------------------------------------ U16 -> C201 (CSMS-initiated)
    Case(V16, "RemoteStartTransaction", "down", {"idTag": "04A2B3C4", "connectorId": 1, "chargingProfile": PROFILE_16},
         "RequestStartTransaction",
         {"idToken": TOKEN, "evseId": 1, "remoteStartId": 42, "chargingProfile": PROFILE_201},
         {"status": "Accepted", "transactionId": "tx-9"}, {"status": "Accepted"}),
    Case(V16, "RemoteStopTransaction", "down", {"transactionId": 12}, "RequestStopTransaction",
         {"transactionId": "tx-12"}, {"status": "Rejected", "statusInfo": {"reasonCode": "NoTx"}},
         {"status": "Rejected"}),
    Case(V16, "Reset", "down", {"type": "Soft"}, "Reset", {"type": "Immediate"}, {"status": "Scheduled"},
         {"status": "Accepted"}),
    Case(V16, "ChangeAvailability", "down", {"connectorId": 2, "type": "Inoperative"}, "ChangeAvailability",
         {"evse": {"id": 2}, "operationalStatus": "Inoperative"}, {"status": "Scheduled"}, {"status": "Scheduled"}),
    Case(V16, "ClearCache", "down", {}, "ClearCache", {}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V16, "TriggerMessage", "down", {"requestedMessage": "DiagnosticsStatusNotification", "connectorId": 1},
         "TriggerMessage", {"requestedMessage": "LogStatusNotification", "evse": {"id": 1, "connectorId": 1}},
         {"status": "NotImplemented"}, {"status": "NotImplemented"}),
    Case(V16, "UpdateFirmware", "down", {"location": "https://fw.example/1.bin", "retrieveDate": T1, "retries": 3},
         "UpdateFirmware",
         {"firmware": {"location": "https://fw.example/1.bin", "retrieveDateTime": T1}, "retries": 3,
          "requestId": 17},
         {"status": "InvalidCertificate"}, {}),
    Case(V16, "GetDiagnostics", "down", {"location": "ftp://logs.example/", "startTime": T1, "retryInterval": 60},
         "GetLog",
         {"log": {"remoteLocation": "ftp://logs.example/", "oldestTimestamp": T1}, "logType": "DiagnosticsLog",
          "requestId": 18, "retryInterval": 60},
         {"status": "Accepted", "filename": "diag.zip"}, {"fileName": "diag.zip"}),
    Case(V16, "GetLocalListVersion", "down", {}, "GetLocalListVersion", {}, {"versionNumber": 4},
         {"listVersion": 4}),
    Case(V16, "SendLocalList", "down",
         {"listVersion": 5, "updateType": "Differential", "localAuthorizationList": [
             {"idTag": "CARD1", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}}, {"idTag": "CARD2"}]},
         "SendLocalList",
         {"versionNumber": 5, "updateType": "Differential", "localAuthorizationList": [
             {"idToken": {"idToken": "CARD1", "type": "ISO14443"},
              "idTokenInfo": {"status": "Blocked", "groupIdToken": {"idToken": "FLEET", "type": "Central"}}},
             {"idToken": {"idToken": "CARD2", "type": "ISO14443"}}]},
         {"status": "VersionMismatch"}, {"status": "VersionMismatch"}),
    Case(V16, "ReserveNow", "down",
         {"reservationId": 9, "connectorId": 0, "expiryDate": NOW, "idTag": "CARD1", "parentIdTag": "FLEET"},
         "ReserveNow",
         {"id": 9, "expiryDateTime": NOW, "idToken": {"idToken": "CARD1", "type": "ISO14443"},
          "groupIdToken": {"idToken": "FLEET", "type": "ISO14443"}},
         {"status": "Occupied"}, {"status": "Occupied"}),
    Case(V16, "CancelReservation", "down", {"reservationId": 9}, "CancelReservation", {"reservationId": 9},
         {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V16, "SetChargingProfile", "down", {"connectorId": 1, "csChargingProfiles": PROFILE_16},
         "SetChargingProfile", {"evseId": 1, "chargingProfile": {**PROFILE_201, "transactionId": "tx-1"}},
         {"status": "Rejected"}, {"status": "Rejected"}),
    Case(V16, "ClearChargingProfile", "down", {"connectorId": 0, "chargingProfilePurpose": "ChargePointMaxProfile"},
         "ClearChargingProfile",
         {"chargingProfileCriteria": {"evseId": 0, "chargingProfilePurpose": "ChargingStationMaxProfile"}},
         {"status": "Unknown"}, {"status": "Unknown"}),
    Case(V16, "GetCompositeSchedule", "down", {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
         "GetCompositeSchedule", {"evseId": 1, "duration": 600, "chargingRateUnit": "W"},
         {"status": "Accepted", "schedule": {"evseId": 1, "duration": 600, "scheduleStart": T1,
                                             "chargingRateUnit": "W", "chargingSchedulePeriod": [
                                                 {"startPeriod": 0, "limit": 7360.04, "phaseToUse": 1}]}},
         {"status": "Accepted", "connectorId": 1, "scheduleStart": T1, "chargingSchedule": {
             "duration": 600, "startSchedule": T1, "chargingRateUnit": "W",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360.0}]}}),
    Case(V16, "CertificateSigned", "down", {"certificateChain": "-----BEGIN CERT-----"}, "CertificateSigned",
         {"certificateChain": "-----BEGIN CERT-----", "certificateType": "ChargingStationCertificate"},
         {"status": "Accepted"}, {"status": "Accepted"}, {"forward_connection_settings": True}),
    Case(V16, "InstallCertificate", "down", {"certificateType": "ManufacturerRootCertificate", "certificate": "PEM"},
         "InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": "PEM"},
         {"status": "Failed"}, {"status": "Failed"}),
    Case(V16, "DeleteCertificate", "down", {"certificateHashData": HASH}, "DeleteCertificate",
         {"certificateHashData": HASH}, {"status": "NotFound"}, {"status": "NotFound"}),
    Case(V16, "GetInstalledCertificateIds", "down", {"certificateType": "CentralSystemRootCertificate"},
         "GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]},
         {"status": "Accepted", "certificateHashDataChain": [
             {"certificateType": "CSMSRootCertificate",
              "certificateHashData": {**HASH, "customData": {"vendorId": "x"}}, "childCertificateHashData": [HASH]}]},
         {"status": "Accepted", "certificateHashData": [HASH]}),
    Case(V16, "ExtendedTriggerMessage", "down", {"requestedMessage": "SignChargePointCertificate"}, "TriggerMessage",
         {"requestedMessage": "SignChargingStationCertificate"}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V16, "GetLog", "down",
         {"log": {"remoteLocation": "https://logs.example/up"}, "logType": "SecurityLog", "requestId": 3},
         "GetLog", {"log": {"remoteLocation": "https://logs.example/up"}, "logType": "SecurityLog", "requestId": 3},
         {"status": "AcceptedCanceled", "filename": "sec.log"}, {"status": "AcceptedCanceled", "filename": "sec.log"}),
    Case(V16, "SignedUpdateFirmware", "down",
         {"requestId": 4, "firmware": {"location": "https://fw/2.bin", "retrieveDateTime": T1,
                                       "signingCertificate": "PEM", "signature": "SIG"}},
         "UpdateFirmware",
         {"requestId": 4, "firmware": {"location": "https://fw/2.bin", "retrieveDateTime": T1,
                                       "signingCertificate": "PEM", "signature": "SIG"}},
         {"status": "RevokedCertificate"}, {"status": "RevokedCertificate"}),
    # ------------------------------------------------------------------ C201 -> U16 (charger-initiated)
    Case(V201, "BootNotification", "up",
         {"reason": "Triggered", "chargingStation": {"vendorName": "A Very Long Vendor Name Inc.", "model": "X1",
                                                     "serialNumber": "S1", "modem": {"imsi": "262"}}},
         "BootNotification",
         {"chargePointVendor": "A Very Long Vendor N", "chargePointModel": "X1", "chargePointSerialNumber": "S1",
          "imsi": "262"},
         {"status": "Pending", "currentTime": NOW, "interval": 60},
         {"status": "Pending", "currentTime": NOW, "interval": 60}),
    Case(V201, "Heartbeat", "up", {}, "Heartbeat", {}, {"currentTime": NOW}, {"currentTime": NOW}),
    Case(V201, "Authorize", "up", {"idToken": {"idToken": "EMAID-DE-ABC-123456789-X", "type": "eMAID"}},
         "Authorize", {"idTag": "#EMAID-DE-ABC-123456"},
         {"idTagInfo": {"status": "Accepted", "expiryDate": NOW, "parentIdTag": "FLEET"}},
         {"idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": NOW,
                          "groupIdToken": {"idToken": "FLEET", "type": "Central"}}}),
    Case(V201, "MeterValues", "up",
         {"evseId": 1, "meterValue": [{"timestamp": T1, "sampledValue": [
             {"value": 12.5, "measurand": "Energy.Active.Import.Register",
              "unitOfMeasure": {"unit": "kWh", "multiplier": 3},
              "signedMeterValue": {"signedMeterData": "BLOB", "signingMethod": "ECDSA", "encodingMethod": "OCMF",
                                   "publicKey": "K"}},
             {"value": 3.0, "measurand": "Energy.Active.Net"}]}]},
         "MeterValues",
         {"connectorId": 1, "meterValue": [{"timestamp": T1, "sampledValue": [
             {"value": "12500", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
             {"value": "BLOB", "format": "SignedData", "measurand": "Energy.Active.Import.Register",
              "unit": "kWh"}]}]},
         {}, {}),
    Case(V201, "DataTransfer", "up", {"vendorId": "com.acme", "data": {"k": [1, True]}}, "DataTransfer",
         {"vendorId": "com.acme", "data": "{\"k\":[1,true]}"}, {"status": "UnknownVendorId", "data": "x"},
         {"status": "UnknownVendorId", "data": "x"}),
    Case(V201, "FirmwareStatusNotification", "up", {"status": "InstallRebooting", "requestId": 7},
         "FirmwareStatusNotification", {"status": "Installing"}, {}, {}),
    Case(V201, "FirmwareStatusNotification", "up", {"status": "InstallScheduled", "requestId": 7},
         "SignedFirmwareStatusNotification", {"status": "InstallScheduled", "requestId": 7}, {}, {},
         {"security_extension": True, "signed_firmware_job": True}),
    Case(V201, "LogStatusNotification", "up", {"status": "PermissionDenied", "requestId": 8},
         "DiagnosticsStatusNotification", {"status": "UploadFailed"}, {}, {}),
    Case(V201, "LogStatusNotification", "up", {"status": "BadMessage", "requestId": 8}, "LogStatusNotification",
         {"status": "BadMessage", "requestId": 8}, {}, {}, {"security_extension": True, "security_log_job": True}),
    Case(V201, "SecurityEventNotification", "up", {"type": "TamperDetected", "timestamp": T1},
         "SecurityEventNotification", {"type": "TamperDetected", "timestamp": T1}, {}, {},
         {"security_extension": True}),
    Case(V201, "SignCertificate", "up", {"csr": "CSR", "certificateType": "ChargingStationCertificate"},
         "SignCertificate", {"csr": "CSR"}, {"status": "Rejected"}, {"status": "Rejected"},
         {"security_extension": True, "forward_connection_settings": True}),
    # ------------------------------------------------------------------ U201 -> C16 (CSMS-initiated)
    Case(V201, "RequestStartTransaction", "down",
         {"idToken": TOKEN, "evseId": 2, "remoteStartId": 77, "groupIdToken": {"idToken": "G", "type": "Central"},
          "chargingProfile": {**PROFILE_201, "chargingSchedule": [{
              **PROFILE_201["chargingSchedule"][0], "minChargingRate": 6.04,  # type: ignore[index]
              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.26, "phaseToUse": 2}]}]}},
         "RemoteStartTransaction",
         {"idTag": "04A2B3C4", "connectorId": 2, "chargingProfile": {
             **PROFILE_16, "chargingSchedule": {"chargingRateUnit": "A", "duration": 3600, "minChargingRate": 6.0,
                                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.3}]}}},
         {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V201, "RequestStopTransaction", "down", {"transactionId": "tx-12"}, "RemoteStopTransaction",
         {"transactionId": 12}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V201, "Reset", "down", {"type": "Immediate"}, "Reset", {"type": "Hard"}, {"status": "Rejected"},
         {"status": "Rejected"}),
    Case(V201, "ChangeAvailability", "down", {"operationalStatus": "Operative"}, "ChangeAvailability",
         {"connectorId": 0, "type": "Operative"}, {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V201, "ClearCache", "down", {}, "ClearCache", {}, {"status": "Rejected"}, {"status": "Rejected"}),
    Case(V201, "TriggerMessage", "down", {"requestedMessage": "LogStatusNotification", "evse": {"id": 2}},
         "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification", "connectorId": 2},
         {"status": "Accepted"}, {"status": "Accepted"}),
    Case(V201, "TriggerMessage", "down", {"requestedMessage": "SignChargingStationCertificate"},
         "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, {"status": "Rejected"},
         {"status": "Rejected"}, {"security_extension": True}),
    Case(V201, "UpdateFirmware", "down",
         {"requestId": 3, "firmware": {"location": "https://fw/3.bin", "retrieveDateTime": T1,
                                       "installDateTime": NOW}},
         "UpdateFirmware", {"location": "https://fw/3.bin", "retrieveDate": T1}, {}, {"status": "Accepted"}),
    Case(V201, "UpdateFirmware", "down",
         {"requestId": 3, "retries": 2, "firmware": {"location": "https://fw/3.bin", "retrieveDateTime": T1,
                                                     "signingCertificate": "PEM", "signature": "SIG"}},
         "SignedUpdateFirmware",
         {"requestId": 3, "retries": 2, "firmware": {"location": "https://fw/3.bin", "retrieveDateTime": T1,
                                                     "signingCertificate": "PEM", "signature": "SIG"}},
         {"status": "InvalidCertificate"}, {"status": "InvalidCertificate"}, {"security_extension": True}),
    Case(V201, "GetLog", "down",
         {"log": {"remoteLocation": "ftp://logs/", "latestTimestamp": NOW}, "logType": "DiagnosticsLog",
          "requestId": 5, "retries": 1},
         "GetDiagnostics", {"location": "ftp://logs/", "stopTime": NOW, "retries": 1}, {},
         {"status": "Rejected"}),
    Case(V201, "GetLog", "down",
         {"log": {"remoteLocation": "ftp://logs/", "customData": {"vendorId": "v"}}, "logType": "SecurityLog",
          "requestId": 6},
         "GetLog", {"log": {"remoteLocation": "ftp://logs/"}, "logType": "SecurityLog", "requestId": 6},
         {"status": "Accepted", "filename": "s.log"}, {"status": "Accepted", "filename": "s.log"},
         {"security_extension": True}),
    Case(V201, "GetLocalListVersion", "down", {}, "GetLocalListVersion", {}, {"listVersion": -1},
         {"versionNumber": -1}),
    Case(V201, "SendLocalList", "down",
         {"versionNumber": 6, "updateType": "Full", "localAuthorizationList": [
             {"idToken": TOKEN, "idTokenInfo": {"status": "NotAtThisTime", "cacheExpiryDateTime": NOW,
                                                "language1": "de"}}]},
         "SendLocalList",
         {"listVersion": 6, "updateType": "Full", "localAuthorizationList": [
             {"idTag": "04A2B3C4", "idTagInfo": {"status": "Invalid", "expiryDate": NOW}}]},
         {"status": "NotSupported"}, {"status": "Failed", "statusInfo": {"reasonCode": "NotSupported"}}),
    Case(V201, "ReserveNow", "down",
         {"id": 9, "expiryDateTime": NOW, "idToken": TOKEN, "evseId": 1, "connectorType": "cType2"},
         "ReserveNow", {"reservationId": 9, "connectorId": 1, "expiryDate": NOW, "idTag": "04A2B3C4"},
         {"status": "Faulted"}, {"status": "Faulted"}),
    Case(V201, "CancelReservation", "down", {"reservationId": 9}, "CancelReservation", {"reservationId": 9},
         {"status": "Rejected"}, {"status": "Rejected"}),
    Case(V201, "SetChargingProfile", "down",
         {"evseId": 0, "chargingProfile": {**PROFILE_201, "chargingProfilePurpose": "ChargingStationMaxProfile",
                                           "chargingProfileKind": "Absolute"}},
         "SetChargingProfile",
         {"connectorId": 0, "csChargingProfiles": {**PROFILE_16, "chargingProfilePurpose": "ChargePointMaxProfile",
                                                   "chargingProfileKind": "Absolute"}},
         {"status": "NotSupported"}, {"status": "Rejected", "statusInfo": {"reasonCode": "NotSupported"}}),
    Case(V201, "ClearChargingProfile", "down",
         {"chargingProfileId": 5, "chargingProfileCriteria": {"evseId": 1, "stackLevel": 2}},
         "ClearChargingProfile", {"id": 5, "connectorId": 1, "stackLevel": 2}, {"status": "Accepted"},
         {"status": "Accepted"}),
    Case(V201, "GetCompositeSchedule", "down", {"evseId": 1, "duration": 900}, "GetCompositeSchedule",
         {"connectorId": 1, "duration": 900},
         {"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
             {"startPeriod": 0, "limit": 16.0}]}},
         {"status": "Accepted", "schedule": {"evseId": 1, "duration": 900, "scheduleStart": NOW,
                                             "chargingRateUnit": "A",
                                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}),
    Case(V201, "CertificateSigned", "down",
         {"certificateChain": "PEM", "certificateType": "ChargingStationCertificate"}, "CertificateSigned",
         {"certificateChain": "PEM"}, {"status": "Accepted"}, {"status": "Accepted"},
         {"security_extension": True, "forward_connection_settings": True}),
    Case(V201, "InstallCertificate", "down", {"certificateType": "CSMSRootCertificate", "certificate": "PEM"},
         "InstallCertificate", {"certificateType": "CentralSystemRootCertificate", "certificate": "PEM"},
         {"status": "Accepted"}, {"status": "Accepted"},
         {"security_extension": True, "forward_connection_settings": True}),
    Case(V201, "DeleteCertificate", "down", {"certificateHashData": {**HASH, "customData": {"vendorId": "v"}}},
         "DeleteCertificate", {"certificateHashData": HASH}, {"status": "Accepted"}, {"status": "Accepted"},
         {"security_extension": True}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_request_maps_to_expected_target_payload(case: Case) -> None:
    """The source request becomes the expected, schema-valid target request."""
    valid(case.source, case.action, "request", case.request)
    outcome = rule(case.source, case.action, case.direction).apply(case.request, FakeContext(**case.flags))
    assert isinstance(outcome, Forward)
    assert (outcome.action, outcome.payload) == (case.target_action, case.expected)
    target = V201 if case.source is V16 else V16
    valid(target, case.target_action, "request", outcome.payload)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_answer_maps_back_to_source_response(case: Case) -> None:
    """The target's answer becomes the expected, schema-valid response in the source's version."""
    target = V201 if case.source is V16 else V16
    valid(target, case.target_action, "response", case.answer)
    ctx = FakeContext(**case.flags)
    outcome = rule(case.source, case.action, case.direction).apply(case.request, ctx)
    assert isinstance(outcome, Forward)
    assert outcome.rule.map_response(case.answer, ctx, case.request) == case.expected_answer
    valid(case.source, case.action, "response", case.expected_answer)


def test_every_mapped_entry_and_variant_has_an_example() -> None:
    """No mapped entry or variant of the built-in files goes without an example case."""
    covered = {(c.source, c.action, c.target_action) for c in CASES}
    # The 1.5 lift has its own example table (test_lift15_mapping.py).
    wanted = {(r.source, r.action, t) for r in builtin()
              if r.request is not None and Dialect.OCPP15_SOAP not in (r.source, r.target)
              for t in [r.target_action, *(v.target_action for v in r.variants.values())]}
    assert wanted - covered == set()


def test_mapping_leaves_the_source_payload_unchanged() -> None:
    """Mapping copies: changing the result does not touch the source payload."""
    request = {"idTag": "04A2B3C4", "connectorId": 1, "chargingProfile": PROFILE_16}
    before = repr(request)
    mapped = rule(V16, "RemoteStartTransaction", "down").map_request(request, FakeContext())
    mapped["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"].append({})
    assert repr(request) == before


@dataclass(frozen=True)
class Route:
    """A request that a route answers locally, hands to code, or refuses."""

    source: Dialect
    action: str
    direction: str
    request: dict[str, Any]
    outcome: Answer | Delegate | type[NotSupportedAction]
    flags: dict[str, bool] = field(default_factory=dict)


ROUTES = [
    Route(V16, "MeterValues", "up", {"connectorId": 1, "transactionId": 3, "meterValue": [
        {"timestamp": T1, "sampledValue": [{"value": "1"}]}]}, Delegate("meter_values_in_transaction")),
    Route(V16, "MeterValues", "up", {"connectorId": 1, "meterValue": [{"timestamp": T1, "sampledValue": [
        {"value": "1"}]}]}, Delegate("meter_values_in_transaction"), {"transaction_open": True}),
    Route(V16, "MeterValues", "up", {"connectorId": 1, "meterValue": [{"timestamp": T1, "sampledValue": [
        {"value": "20", "measurand": "Temperature"}, {"value": "n/a"}]}]}, Answer({})),
    Route(V16, "SignCertificate", "up", {"csr": "CSR"}, Answer({"status": "Rejected"})),
    Route(V16, "RemoteStartTransaction", "down",
          {"idTag": "T", "chargingProfile": {**PROFILE_16, "chargingSchedule": {"chargingRateUnit": "A",
                                                                                "chargingSchedulePeriod": []}}},
          Answer({"status": "Rejected"})),
    Route(V16, "RemoteStopTransaction", "down", {"transactionId": 0}, Answer({"status": "Rejected"})),
    Route(V16, "TriggerMessage", "down", {"requestedMessage": "StatusNotification", "connectorId": 0},
          Delegate("trigger_station_status")),
    Route(V16, "TriggerMessage", "down", {"requestedMessage": "MeterValues", "connectorId": 1},
          Delegate("trigger_transaction_meter_values"), {"transaction_open": True}),
    Route(V16, "CertificateSigned", "down", {"certificateChain": "PEM"}, Answer({"status": "Rejected"})),
    Route(V16, "InstallCertificate", "down", {"certificateType": "CentralSystemRootCertificate",
                                              "certificate": "PEM"}, Answer({"status": "Rejected"})),
    Route(V201, "FirmwareStatusNotification", "up", {"status": "DownloadScheduled"}, Answer({})),
    Route(V201, "LogStatusNotification", "up", {"status": "AcceptedCanceled"}, Answer({})),
    Route(V201, "LogStatusNotification", "up", {"status": "Uploaded", "requestId": 2}, Answer({}),
          {"security_log_job": True}),
    Route(V201, "SecurityEventNotification", "up", {"type": "T", "timestamp": T1}, Answer({})),
    Route(V201, "SignCertificate", "up", {"csr": "C", "certificateType": "V2GCertificate"},
          Answer({"status": "Rejected"}), {"security_extension": True, "forward_connection_settings": True}),
    Route(V201, "RequestStartTransaction", "down",
          {"idToken": TOKEN, "remoteStartId": 1, "chargingProfile": {**PROFILE_201, "chargingProfilePurpose":
                                                                     "TxDefaultProfile"}},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "NoTranslation"}})),
    Route(V201, "RequestStartTransaction", "down", {"idToken": TOKEN, "remoteStartId": 1, "evseId": 100},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}})),
    Route(V201, "RequestStopTransaction", "down", {"transactionId": UNKNOWN_TX},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownTransaction"}})),
    Route(V201, "Reset", "down", {"type": "Immediate", "evseId": 1},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "NoEvseReset"}})),
    Route(V201, "Reset", "down", {"type": "OnIdle"}, Delegate("reset_on_idle")),
    Route(V201, "ChangeAvailability", "down", {"operationalStatus": "Operative", "evse": {"id": 1}},
          Delegate("change_availability_fan_out")),
    Route(V201, "ChangeAvailability", "down", {"operationalStatus": "Operative", "evse": {"id": 100, "connectorId": 1}},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}})),
    Route(V201, "TriggerMessage", "down", {"requestedMessage": "TransactionEvent"},
          Delegate("trigger_transaction_event")),
    Route(V201, "TriggerMessage", "down", {"requestedMessage": "SignV2GCertificate"},
          Answer({"status": "NotImplemented"})),
    Route(V201, "TriggerMessage", "down", {"requestedMessage": "SignChargingStationCertificate"},
          Answer({"status": "NotImplemented"})),
    Route(V201, "GetLog", "down", {"log": {"remoteLocation": "x"}, "logType": "SecurityLog", "requestId": 1},
          Answer({"status": "Rejected"})),
    Route(V201, "SetChargingProfile", "down",
          {"evseId": 1, "chargingProfile": {**PROFILE_201, "chargingProfilePurpose":
                                            "ChargingStationExternalConstraints"}}, Answer({"status": "Rejected"})),
    Route(V201, "SetChargingProfile", "down", {"evseId": 1, "chargingProfile": {**PROFILE_201,
                                                                               "transactionId": UNKNOWN_TX}},
          Answer({"status": "Rejected", "statusInfo": {"reasonCode": "UnknownTransaction"}})),
    Route(V201, "ClearChargingProfile", "down", {"chargingProfileCriteria": {
        "chargingProfilePurpose": "ChargingStationExternalConstraints"}}, Answer({"status": "Unknown"})),
    Route(V201, "CertificateSigned", "down", {"certificateChain": "PEM"}, NotSupportedAction),
    Route(V201, "CertificateSigned", "down", {"certificateChain": "PEM", "certificateType": "V2GCertificate"},
          Answer({"status": "Rejected"}), {"security_extension": True}),
    Route(V201, "InstallCertificate", "down", {"certificateType": "MORootCertificate", "certificate": "P"},
          NotSupportedAction, {"security_extension": True}),
    Route(V201, "InstallCertificate", "down", {"certificateType": "CSMSRootCertificate", "certificate": "P"},
          Answer({"status": "Rejected"}), {"security_extension": True}),
    Route(V201, "DeleteCertificate", "down", {"certificateHashData": HASH}, NotSupportedAction),
    Route(V201, "MeterValues", "up", {"evseId": 100, "meterValue": [{"timestamp": T1, "sampledValue": [
        {"value": 1.0}]}]}, NotSupportedAction),
]


@pytest.mark.parametrize("case", ROUTES, ids=lambda r: f"{r.source}-{r.action}-{r.outcome}")
def test_route_answers_delegates_or_refuses(case: Route) -> None:
    """A request a route covers is answered locally, handed to its code handler, or refused NotSupported."""
    valid(case.source, case.action, "request", case.request)
    found = rule(case.source, case.action, case.direction)
    if case.outcome is NotSupportedAction:
        with pytest.raises(NotSupportedAction):
            found.apply(case.request, FakeContext(**case.flags))
    else:
        assert found.apply(case.request, FakeContext(**case.flags)) == case.outcome


def test_whole_message_entries_answer_without_mapping() -> None:
    """Entries without a mapping delegate to their handler, answer their local payload, or refuse."""
    for found in (r for r in builtin() if r.request is None):
        if found.not_supported:
            with pytest.raises(NotSupportedAction):
                found.apply({}, FakeContext())
        elif found.local is not None:
            assert found.apply({}, FakeContext()) == Answer(found.local)
        else:
            assert found.apply({}, FakeContext()) == Delegate(str(found.handler))


def test_notify_hooks_run_once_the_request_is_mapped() -> None:
    """A rule's notify hooks see the source payload after a successful mapping."""
    ctx = FakeContext()
    rule(V201, "BootNotification", "up").apply({"reason": "PowerUp", "chargingStation": {"model": "M",
                                                                                      "vendorName": "V"}}, ctx)
    assert ("remember_boot", None) in ctx.calls


def test_apply_mapping_passes_over_routes_to_handlers() -> None:
    """When a code handler declines a message, the plain mapping applies (here: MeterValues with a transaction)."""
    request = {"connectorId": 1, "transactionId": 3, "meterValue": [{"timestamp": T1, "sampledValue": [
        {"value": "7"}]}]}
    outcome = rule(V16, "MeterValues", "up").apply_mapping(request, FakeContext())
    assert isinstance(outcome, Forward)
    assert (outcome.action, outcome.payload) == ("MeterValues", {"evseId": 1, "meterValue": [
        {"timestamp": T1, "sampledValue": [{"value": 7}]}]})


def test_apply_mapping_refuses_a_message_only_code_handles() -> None:
    """A whole-message handler entry has no mapping to fall back on."""
    with pytest.raises(NotSupportedAction):
        rule(V16, "StartTransaction", "up").apply_mapping({}, FakeContext())


def test_map_request_refuses_a_locally_answered_payload() -> None:
    """map_request is for forwarded payloads; a local outcome raises NotSupportedAction."""
    with pytest.raises(NotSupportedAction):
        rule(V16, "SignCertificate", "up").map_request({"csr": "C"}, FakeContext())


def test_soap_16_uses_the_16_rules() -> None:
    """A 1.6 SOAP charger's message finds the same rule as a 1.6 JSON charger's."""
    assert builtin().find(Dialect.OCPP16_SOAP, "Heartbeat", "up") is rule(V16, "Heartbeat", "up")


def test_find_respects_the_direction() -> None:
    """A CSMS-initiated action sent by a charger finds no rule."""
    assert builtin().find(V16, "RemoteStartTransaction", "up") is None


def _named(rules: RuleSet) -> tuple[set[str], set[str]]:
    """Hook and handler names the rules use anywhere: fields, conditions, notify lists, routes."""
    hooks: set[str] = set()

    def condition(cond: Condition | None) -> None:
        if cond is not None:
            hooks.update([cond.hook] if cond.hook else [])
            for part in cond.parts:
                condition(part)

    def section(sec: Section | None) -> None:
        for spec in sec.fields if sec is not None else ():
            hooks.update([spec.hook] if spec.hook else [])
            condition(spec.when)
            if spec.each is not None:
                section(spec.each.section)
        hooks.update(sec.notify if sec is not None else ())

    handlers = {r.spec.handler for r in rules if r.spec.handler}
    for found in rules:
        for route in found.spec.routes:
            condition(route.when)
            handlers.update([route.value] if route.outcome == "handler" else [])
        for used in (found, *found.variants.values()):
            section(used.request)
            section(used.response)
    return hooks, {str(h) for h in handlers}


def test_declared_hooks_and_handlers_are_exactly_those_the_files_use() -> None:
    """HOOKS_USED and HANDLERS_USED list every name the built-in files use, and nothing else."""
    assert _named(builtin()) == (set(HOOKS_USED), set(HANDLERS_USED))


@pytest.mark.parametrize("source", [V16, V201])
def test_every_action_of_each_version_has_an_entry(source: Dialect) -> None:
    """Every action the official schemas define has an entry: mapped, handler, local answer or NotSupported."""
    assert {r.action for r in builtin() if r.source is source} == schemas.actions(source)
