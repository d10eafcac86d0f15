"""The gateway's one exception family, and the wire form each error takes.

    GatewayError
    ├── ConfigError            bad configuration or mapping file (exit code 2)
    ├── RemoteError            a peer broke the protocol; it is told so
    │   ├── RpcFrameworkError  not an OCPP-J RPC frame at all
    │   ├── MessageTypeNotSupported
    │   ├── FormatViolation    frame not parseable as OCPP-J / payload of the wrong shape
    │   ├── ProtocolError      payload incomplete
    │   ├── TypeConstraintViolation
    │   ├── PropertyConstraintViolation
    │   ├── OccurrenceConstraintViolation
    │   ├── NotImplementedAction   action unknown in the peer's OCPP version
    │   ├── SecurityError
    │   └── FrameTooLarge
    ├── LocalError             we would break the protocol: a bug or a bad mapping
    │   ├── NotSupportedAction     known action the gateway or target cannot carry
    │   ├── SchemaViolation        a message we built fails the target schema; never sent
    │   └── Overloaded             too many calls queued for one leg
    └── PeerUnavailable        the other leg is down or did not answer in time
        └── CsmsAway           the CSMS is unreachable and the call must not be answered in its place

`ocpp_code` is the OCPP-J CALLERROR code in OCPP 2.0.1 spelling; `gateway.core.dialects`
respells it for 1.6. Conversion to a wire frame lives in `gateway.core.ocppj.call_error_for`.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    ocpp_code = "InternalError"


class ConfigError(GatewayError):
    """Configuration or mapping file is invalid; str() is the one-line reason."""


class RemoteError(GatewayError):
    """The peer broke the protocol.

    Args:
        message: what was wrong, safe to show the peer (no payload values).
        unique_id: the offending frame's message id, when it could be read.
    """

    ocpp_code = "GenericError"

    def __init__(self, message: str, *, unique_id: str | None = None) -> None:
        super().__init__(message)
        self.unique_id = unique_id


class RpcFrameworkError(RemoteError):
    """The frame is not a valid OCPP-J RPC message (its message id may be unreadable)."""

    ocpp_code = "RpcFrameworkError"


class MessageTypeNotSupported(RemoteError):
    """The frame's message type id is not 2, 3 or 4."""

    ocpp_code = "MessageTypeNotSupported"


class FormatViolation(RemoteError):
    """Frame or payload is not well formed."""

    ocpp_code = "FormatViolation"


class ProtocolError(RemoteError):
    """Payload is incomplete."""

    ocpp_code = "ProtocolError"


class TypeConstraintViolation(RemoteError):
    """A field has the wrong data type."""

    ocpp_code = "TypeConstraintViolation"


class PropertyConstraintViolation(RemoteError):
    """A field's value breaks a constraint (enum, length, range)."""

    ocpp_code = "PropertyConstraintViolation"


class OccurrenceConstraintViolation(RemoteError):
    """A field is missing or repeated against the schema."""

    ocpp_code = "OccurrenceConstraintViolation"


class NotImplementedAction(RemoteError):
    """The action is not defined in the peer's OCPP version."""

    ocpp_code = "NotImplemented"


class SecurityError(RemoteError):
    """The peer is not allowed to do this."""

    ocpp_code = "SecurityError"


class FrameTooLarge(RemoteError):
    """The frame exceeds the configured maximum size."""

    ocpp_code = "FormatViolation"


class LocalError(GatewayError):
    """We would break the protocol: a bug or a bad mapping."""

    ocpp_code = "InternalError"


class NotSupportedAction(LocalError):
    """The action is known but cannot be carried to the other side."""

    ocpp_code = "NotSupported"


class SchemaViolation(LocalError):
    """A message the gateway built fails the target's schema, so it is not sent."""

    ocpp_code = "InternalError"


class Overloaded(LocalError):
    """Too many calls are queued for one leg; the newest is refused."""

    ocpp_code = "GenericError"
    #: The configuration key whose bound was reached (the metric's label).
    limit = "limits.max_queued_calls"


class OutboxFull(Overloaded):
    """The charger's outbox holds outbox.max_messages entries and none of them may be dropped."""

    limit = "outbox.max_messages"


class PeerUnavailable(GatewayError):
    """The other leg is down or did not answer before the deadline."""

    ocpp_code = "InternalError"


class CsmsAway(PeerUnavailable):
    """The CSMS connection was lost and the call is one the gateway must not answer in its place.

    GenericError: OCPP-J has no "try later" code, and InternalError would blame the gateway.
    """

    ocpp_code = "GenericError"
