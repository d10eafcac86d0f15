"""SOAP faults <-> OCPP-J CALLERROR codes, and the fault objects' own rules (OCPP-S 1.6 section 4)."""

from __future__ import annotations

import pytest

from gateway.core.dialects import Dialect
from gateway.errors import RemoteError
from gateway.soap import codec


@pytest.mark.parametrize(
    ("ocpp_code", "code", "subcode"),
    [
        ("NotImplemented", "Receiver", "NotSupported"),
        ("NotSupported", "Receiver", "NotSupported"),
        ("InternalError", "Receiver", "InternalError"),
        ("GenericError", "Receiver", "InternalError"),
        ("SecurityError", "Sender", "SecurityError"),
        ("ProtocolError", "Sender", "ProtocolError"),
        ("FormatViolation", "Sender", "ProtocolError"),
        ("FormationViolation", "Sender", "ProtocolError"),
        ("PropertyConstraintViolation", "Sender", "ProtocolError"),
        ("OccurrenceConstraintViolation", "Sender", "ProtocolError"),
        ("OccurenceConstraintViolation", "Sender", "ProtocolError"),
        ("TypeConstraintViolation", "Sender", "ProtocolError"),
        ("RpcFrameworkError", "Sender", "ProtocolError"),
        ("SomethingNew", "Receiver", "InternalError"),
    ],
)
def test_call_error_becomes_the_matching_fault(ocpp_code: str, code: str, subcode: str) -> None:
    """Each CALLERROR code (1.6 and 2.0.1 spellings) maps to the fault OCPP-S defines for it."""
    fault = codec.fault_for_call_error(ocpp_code, "detail")
    assert (fault.code, fault.subcode, fault.reason) == (code, subcode, f"{ocpp_code}: detail")


def test_call_error_without_description_names_the_code() -> None:
    """An empty errorDescription leaves the code as the reason."""
    assert codec.fault_for_call_error("InternalError", "").reason == "InternalError"


@pytest.mark.parametrize(
    ("code", "subcode", "ocpp_code"),
    [
        ("Sender", "SecurityError", "SecurityError"),
        ("Sender", "IdentityMismatch", "SecurityError"),
        ("Sender", "ProtocolError", "ProtocolError"),
        ("Receiver", "InternalError", "InternalError"),
        ("Receiver", "NotSupported", "NotSupported"),
        ("Sender", None, "ProtocolError"),
        ("Receiver", None, "InternalError"),
        ("MustUnderstand", None, "NotSupported"),
        ("VersionMismatch", None, "ProtocolError"),
        ("DataEncodingUnknown", None, "FormatViolation"),
        ("Receiver", "VendorSpecific", "InternalError"),
    ],
)
def test_received_fault_becomes_a_call_error_code(code: str, subcode: str | None, ocpp_code: str) -> None:
    """A charger's fault maps to an OCPP-J error code in 2.0.1 spelling, by subcode first, else by code."""
    assert codec.call_error_code_for_fault(codec.FaultReceived("r", code=code, subcode=subcode)) == ocpp_code


def test_soap_fault_defaults_and_family() -> None:
    """A SoapFault defaults to Sender/ProtocolError, is a RemoteError, and its str() is the reason."""
    fault = codec.SoapFault("body is not XML")
    assert isinstance(fault, RemoteError) and str(fault) == "body is not XML"
    assert (fault.code, fault.subcode, fault.relates_to, fault.dialect, fault.ocpp_code) == (
        "Sender",
        "ProtocolError",
        None,
        None,
        "ProtocolError",
    )
    assert codec.SoapFault("x", code="Receiver").subcode == "InternalError"


def test_soap_fault_refuses_a_subcode_of_the_other_code() -> None:
    """NotSupported is a Receiver subcode; with Sender it is a programming error."""
    with pytest.raises(ValueError, match="not a subcode of env:Sender"):
        codec.SoapFault("x", code="Sender", subcode="NotSupported")


def test_attach_fills_only_what_is_missing() -> None:
    """attach() adds the MessageID and dialect the decoder learnt later, keeping values already set."""
    fault = codec.SoapFault("x", relates_to="urn:a").attach(relates_to="urn:b", dialect=Dialect.OCPP15_SOAP)
    assert (fault.relates_to, fault.unique_id, fault.dialect) == ("urn:a", "urn:a", Dialect.OCPP15_SOAP)
