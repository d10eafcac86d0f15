"""The SOAP 1.2 action in HTTP headers: the `action` parameter of application/soap+xml, and SOAPAction.

OCPP-S (and zeep) send both `Content-Type: application/soap+xml; charset=utf-8; action="/Op"` and the
legacy `SOAPAction: "/Op"`; a receiver accepts either and requires neither (SOAP-NOTES section 2).
"""

from __future__ import annotations

import re
from typing import Final

MEDIA_TYPE: Final = "application/soap+xml"
_PARAM: Final = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_ESCAPE: Final = re.compile(r"\\(.)")


def content_type(action_uri: str) -> str:
    """The Content-Type of a SOAP 1.2 message, e.g. 'application/soap+xml; charset=utf-8; action="/Heartbeat"'."""
    return f'{MEDIA_TYPE}; charset=utf-8; action="{action_uri}"'


def action_parameter(header: str | None) -> str | None:
    """The `action` parameter of a Content-Type header, unquoted, or None when absent or empty."""
    if not header:
        return None
    for name, raw in _PARAM.findall(header):
        if name.lower() == "action":
            value = _ESCAPE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw.strip()
            return value or None
    return None


def soap_action(header: str | None) -> str | None:
    """The value of a SOAPAction header without its quotes, or None when absent or empty."""
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value or None
