"""Fixtures for the back-pressure tests: the SOAP charger factory, shared with tests/soap."""

from __future__ import annotations

from tests.soap.conftest import soap_charger  # noqa: F401  (fixture used by the SOAP flood tests)
