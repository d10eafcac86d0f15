"""Payload validation against the official OCPP JSON schemas, and the OCPP-J error each failure becomes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core import schemas
from gateway.core.dialects import Dialect
from gateway.errors import (
    FormatViolation,
    NotImplementedAction,
    OccurrenceConstraintViolation,
    PropertyConstraintViolation,
    RemoteError,
    TypeConstraintViolation,
)
from tests.core.playbook import BOOT_16, BOOT_201, BOOT_ANSWER


@pytest.mark.parametrize(
    ("dialect", "action", "direction", "payload"),
    [
        (Dialect.OCPP16, "BootNotification", "request", BOOT_16),
        (Dialect.OCPP16, "BootNotification", "response", BOOT_ANSWER),
        (Dialect.OCPP201, "BootNotification", "request", BOOT_201),
        (Dialect.OCPP201, "BootNotification", "response", BOOT_ANSWER),
        (Dialect.OCPP16, "Heartbeat", "request", {}),
        (Dialect.OCPP201, "Reset", "request", {"type": "Immediate"}),
    ],
)
def test_valid_payload_passes(
    dialect: Dialect, action: str, direction: schemas.Direction, payload: dict[str, Any]
) -> None:
    """A payload that follows its schema validates without error."""
    schemas.validate(dialect, action, direction, payload)


@pytest.mark.parametrize(
    ("dialect", "payload", "error"),
    [
        pytest.param(Dialect.OCPP16, {**BOOT_16, "chargePointVendor": 7}, TypeConstraintViolation, id="16-type"),
        pytest.param(Dialect.OCPP16, {"chargePointVendor": "V"}, OccurrenceConstraintViolation, id="16-required"),
        pytest.param(
            Dialect.OCPP16, {**BOOT_16, "chargePointModel": "M" * 21}, PropertyConstraintViolation, id="16-maxLength"
        ),
        pytest.param(Dialect.OCPP16, {**BOOT_16, "extra": 1}, FormatViolation, id="16-unknown-property"),
        pytest.param(Dialect.OCPP201, {**BOOT_201, "reason": 3}, TypeConstraintViolation, id="201-type"),
        pytest.param(Dialect.OCPP201, {"reason": "PowerUp"}, OccurrenceConstraintViolation, id="201-required"),
        pytest.param(Dialect.OCPP201, {**BOOT_201, "reason": "Boredom"}, PropertyConstraintViolation, id="201-enum"),
        pytest.param(
            Dialect.OCPP201,
            {**BOOT_201, "chargingStation": {"model": "M" * 21, "vendorName": "V"}},
            PropertyConstraintViolation,
            id="201-nested-maxLength",
        ),
        pytest.param(Dialect.OCPP201, {**BOOT_201, "extra": 1}, FormatViolation, id="201-unknown-property"),
    ],
)
def test_request_failure_maps_to_ocpp_error(
    dialect: Dialect, payload: dict[str, Any], error: type[RemoteError]
) -> None:
    """Each kind of JSON-schema failure raises the OCPP-J error class that names it."""
    with pytest.raises(RemoteError) as caught:
        schemas.validate(dialect, "BootNotification", "request", payload)
    assert type(caught.value) is error


def test_response_enum_failure_is_property_violation() -> None:
    """A response whose status is outside its enum is a PropertyConstraintViolation."""
    with pytest.raises(PropertyConstraintViolation):
        schemas.validate(Dialect.OCPP16, "BootNotification", "response", {**BOOT_ANSWER, "status": "Maybe"})


def test_error_message_names_action_and_direction() -> None:
    """The error text says which action and direction failed, so the peer can tell."""
    with pytest.raises(RemoteError, match="BootNotification response"):
        schemas.validate(Dialect.OCPP201, "BootNotification", "response", {})


@pytest.mark.parametrize("dialect", [Dialect.OCPP16, Dialect.OCPP201])
def test_unknown_action_is_not_implemented(dialect: Dialect) -> None:
    """An action no schema defines raises NotImplementedAction."""
    with pytest.raises(NotImplementedAction):
        schemas.validate(dialect, "MakeCoffee", "request", {})


def test_201_action_is_not_implemented_in_16() -> None:
    """A 2.0.1-only action is unknown to a 1.6 peer."""
    with pytest.raises(NotImplementedAction):
        schemas.validate(Dialect.OCPP16, "TransactionEvent", "request", {})


def test_16_soap_accepts_16_payload() -> None:
    """1.6 over SOAP validates against the 1.6 JSON schemas, so a 1.6 BootNotification passes."""
    schemas.validate(Dialect.OCPP16_SOAP, "BootNotification", "request", BOOT_16)


def test_16_soap_refuses_201_payload() -> None:
    """1.6 over SOAP does not accept the 2.0.1 shape of a BootNotification."""
    with pytest.raises(RemoteError):
        schemas.validate(Dialect.OCPP16_SOAP, "BootNotification", "request", BOOT_201)


@pytest.mark.parametrize("dialect", [Dialect.OCPP16, Dialect.OCPP201])
def test_date_time_without_zone_is_refused(dialect: Dialect) -> None:
    """A date-time without a time zone breaks the schema's format and is a PropertyConstraintViolation."""
    with pytest.raises(PropertyConstraintViolation):
        schemas.validate(dialect, "Heartbeat", "response", {"currentTime": "2024-05-01T10:00:00"})


@pytest.mark.parametrize("stamp", ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123+02:00"])
def test_date_time_with_zone_is_accepted(stamp: str) -> None:
    """A date-time with Z or an offset is accepted."""
    schemas.validate(Dialect.OCPP201, "Heartbeat", "response", {"currentTime": stamp})


@pytest.mark.parametrize("dialect", [Dialect.OCPP16, Dialect.OCPP201, Dialect.OCPP16_SOAP, Dialect.OCPP15_SOAP])
def test_actions_include_boot_notification(dialect: Dialect) -> None:
    """Every dialect knows BootNotification."""
    assert "BootNotification" in schemas.actions(dialect)


def test_actions_list_transaction_event_only_for_201() -> None:
    """TransactionEvent exists in 2.0.1 and not in 1.6."""
    known = [d for d in (Dialect.OCPP16, Dialect.OCPP201) if "TransactionEvent" in schemas.actions(d)]
    assert known == [Dialect.OCPP201]


@pytest.mark.parametrize("dialect", [Dialect.OCPP16, Dialect.OCPP201])
def test_actions_are_bare_names(dialect: Dialect) -> None:
    """Action names carry no Request/Response suffix."""
    assert not {a for a in schemas.actions(dialect) if a.endswith(("Request", "Response"))}


def test_16_actions_include_16_only_actions() -> None:
    """The 1.6 action list is the 1.6 set, e.g. StartTransaction and RemoteStartTransaction."""
    assert {"StartTransaction", "RemoteStartTransaction", "Heartbeat"} <= schemas.actions(Dialect.OCPP16)
