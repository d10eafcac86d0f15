"""SOAP faults as gateway errors, and how they map to and from OCPP-J CALLERROR codes (OCPP-S 1.6 section 4).

`SoapFault` is a fault we send (its XML form is built by `gateway.soap.envelope`); `FaultReceived` is a
fault a charger sent us. Both are RemoteErrors: either the peer broke the protocol, or it says we did.
"""

from __future__ import annotations

from typing import Final, Literal

from gateway.core.dialects import Dialect
from gateway.errors import RemoteError

FaultCode = Literal["Sender", "Receiver"]

#: OCPP-S 1.6 section 4: the subcodes (in the OCPP namespace) each fault code may carry.
SUBCODES: Final[dict[str, frozenset[str]]] = {
    "Sender": frozenset({"SecurityError", "IdentityMismatch", "ProtocolError"}),
    "Receiver": frozenset({"InternalError", "NotSupported"}),
}
_DEFAULT_SUBCODE: Final = {"Sender": "ProtocolError", "Receiver": "InternalError"}

# A fault we send, as the OCPP-J error it corresponds to (2.0.1 spelling, see gateway.errors).
_OCPP_CODE_OF_SUBCODE: Final = {
    "SecurityError": "SecurityError",
    "IdentityMismatch": "SecurityError",
    "ProtocolError": "ProtocolError",
    "InternalError": "InternalError",
    "NotSupported": "NotSupported",
}

# An upstream CALLERROR code (1.6 or 2.0.1 spelling) -> the fault that tells a SOAP charger the same.
# Codes about the shape of the charger's message blame the sender; NotImplemented is NotSupported
# (the CS does not support the operation); anything else is the receiver's trouble.
_FAULT_OF_OCPP_CODE: Final[dict[str, tuple[FaultCode, str]]] = {
    "NotImplemented": ("Receiver", "NotSupported"),
    "NotSupported": ("Receiver", "NotSupported"),
    "InternalError": ("Receiver", "InternalError"),
    "GenericError": ("Receiver", "InternalError"),
    "SecurityError": ("Sender", "SecurityError"),
    "ProtocolError": ("Sender", "ProtocolError"),
    "FormatViolation": ("Sender", "ProtocolError"),
    "FormationViolation": ("Sender", "ProtocolError"),
    "PropertyConstraintViolation": ("Sender", "ProtocolError"),
    "OccurrenceConstraintViolation": ("Sender", "ProtocolError"),
    "OccurenceConstraintViolation": ("Sender", "ProtocolError"),
    "TypeConstraintViolation": ("Sender", "ProtocolError"),
    "RpcFrameworkError": ("Sender", "ProtocolError"),
    "MessageTypeNotSupported": ("Sender", "ProtocolError"),
}


class SoapFault(RemoteError):
    """A SOAP 1.2 fault the gateway answers with; str() is the reason text (never payload values).

    Args:
        reason: what was wrong, in English.
        code: "Sender" (the request is at fault) or "Receiver" (we are).
        subcode: the OCPP subcode; defaults to ProtocolError for Sender and InternalError for Receiver.
        relates_to: the MessageID of the request, when it could be read.
        dialect: the request's dialect when known, so the fault carries that version's namespace.

    Raises:
        ValueError: the subcode is not one OCPP-S allows with the code.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: FaultCode = "Sender",
        subcode: str | None = None,
        relates_to: str | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        subcode = subcode or _DEFAULT_SUBCODE[code]
        if subcode not in SUBCODES[code]:
            raise ValueError(f"{subcode} is not a subcode of env:{code}")
        super().__init__(reason, unique_id=relates_to)
        self.reason = reason
        self.code: FaultCode = code
        self.subcode = subcode
        self.relates_to = relates_to
        self.dialect = dialect
        self.ocpp_code = _OCPP_CODE_OF_SUBCODE[subcode]

    def attach(self, *, relates_to: str | None, dialect: Dialect | None) -> SoapFault:
        """Fill in what the decoder learnt after the fault was raised (kept when already set); returns self."""
        if self.relates_to is None and relates_to is not None:
            self.relates_to = self.unique_id = relates_to
        if self.dialect is None:
            self.dialect = dialect
        return self


class FaultReceived(RemoteError):
    """A charger answered a CS-initiated request with a SOAP fault.

    Attributes:
        code: the env:Code value's local name (Sender, Receiver, or another SOAP 1.2 code such as MustUnderstand).
        subcode: the first env:Subcode value's local name, or None.
        reason: the env:Reason text ("" when absent).
    """

    def __init__(self, reason: str, *, code: str, subcode: str | None) -> None:
        super().__init__(reason or f"SOAP fault {code}/{subcode or '-'}")
        self.reason = reason
        self.code = code
        self.subcode = subcode
        self.ocpp_code = call_error_code_for_fault(self)


def fault_for_call_error(ocpp_code: str, description: str) -> SoapFault:
    """The fault that answers a SOAP charger whose request the CSMS refused with a CALLERROR.

    Args:
        ocpp_code: the CALLERROR's error code, in 1.6 or 2.0.1 spelling.
        description: its errorDescription (may be empty).

    Returns:
        A SoapFault whose reason names the OCPP-J code and carries the description.
    """
    code, subcode = _FAULT_OF_OCPP_CODE.get(ocpp_code, ("Receiver", "InternalError"))
    reason = f"{ocpp_code}: {description}" if description else ocpp_code
    return SoapFault(reason, code=code, subcode=subcode)


def call_error_code_for_fault(fault: FaultReceived) -> str:
    """The OCPP-J error code (2.0.1 spelling) that tells the CSMS what a charger's fault said."""
    if fault.subcode in _OCPP_CODE_OF_SUBCODE:
        return _OCPP_CODE_OF_SUBCODE[fault.subcode]
    # No OCPP subcode: judge by the SOAP 1.2 code (MustUnderstand: a header we sent is not supported).
    return {
        "Sender": "ProtocolError",
        "MustUnderstand": "NotSupported",
        "VersionMismatch": "ProtocolError",
        "DataEncodingUnknown": "FormatViolation",
    }.get(fault.code, "InternalError")
