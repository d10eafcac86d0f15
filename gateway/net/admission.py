"""Charger admission checks shared by the WebSocket and SOAP endpoints."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web


def authorized(request: web.Request, charge_box_id: str, password: str) -> bool:
    """True if the request carries HTTP Basic credentials `charge_box_id:password`."""
    return basic_credentials_match(request.headers.get("Authorization", ""), charge_box_id, password)


def basic_credentials_match(authorization: str, charge_box_id: str, password: str) -> bool:
    """True if an `Authorization` header value holds HTTP Basic credentials `charge_box_id:password`."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, given = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Constant-time on both parts so that timing tells nothing about which one was wrong.
    user_ok = hmac.compare_digest(user.encode(), charge_box_id.encode())
    password_ok = hmac.compare_digest(given.encode(), password.encode())
    return user_ok and password_ok
