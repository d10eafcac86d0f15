"""The charger side of a SessionRunner: a WebSocket (OCPP-J) or SOAP exchanges (gateway.net.soap_link).

A link delivers what the charger sends to the runner (`serve`) and carries the session's messages to
the charger (`send`). The runner does not know which transport it drives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

from aiohttp import WSMsgType, web

from gateway.core.session import Leg, Send

if TYPE_CHECKING:
    from gateway.net.runner import SessionRunner

#: Why a binary WebSocket frame is refused (either leg).
BINARY_FRAME: Final = "OCPP-J frames must be WebSocket text frames"


class ChargerLink(Protocol):
    """How a runner reaches its charger."""

    @property
    def closed(self) -> bool:
        """True once the charger can no longer be reached through this link."""
        ...

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code, when the link is a closed WebSocket."""
        ...

    async def serve(self, runner: SessionRunner) -> None:
        """Feed the runner with what the charger sends, until the link ends."""
        ...

    async def send(self, command: Send) -> None:
        """Carry one message of the session to the charger."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the link (a WebSocket close code; SOAP links use it only for logging)."""
        ...


def frame_head(data: bytes) -> str:
    """The start of an unreadable frame, as text for the log and the refusal."""
    return bytes(data[:128]).decode("utf-8", "replace")


class WsLink:
    """An OCPP-J charger's WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws

    @property
    def closed(self) -> bool:
        return self._ws.closed

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    async def serve(self, runner: SessionRunner) -> None:
        ws = self._ws
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await runner.feed_text(Leg.CHARGER, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await runner.feed_unreadable(Leg.CHARGER, frame_head(msg.data), BINARY_FRAME)
            elif msg.type is WSMsgType.ERROR:
                runner.log.warning("charger connection error: %s", ws.exception())

    async def send(self, command: Send) -> None:
        await self._ws.send_str(command.text)

    async def close(self, code: int, reason: str) -> None:
        if not self._ws.closed:
            await self._ws.close(code=code, message=reason.encode()[:123])
