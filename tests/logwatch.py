"""Awaiting what an in-process gateway logs: the event a test needs when no peer can observe it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager


class LogWatch(logging.Handler):
    """Collects the messages of one logger (and its children) and wakes whoever waits for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._changed.set()

    def count(self, text: str) -> int:
        return sum(text in message for message in self.messages)

    async def wait_for(self, text: str, count: int = 1, timeout: float = 10) -> None:
        """Wait until `count` messages containing `text` were logged (bounded)."""
        async with asyncio.timeout(timeout):
            while self.count(text) < count:
                self._changed.clear()
                await self._changed.wait()


@contextmanager
def watch_log(name: str = "gateway", level: int = logging.INFO) -> Iterator[LogWatch]:
    """Watch logger `name` at `level` (lowered for the duration when needed)."""
    logger = logging.getLogger(name)
    watch = LogWatch()
    previous = logger.level
    logger.addHandler(watch)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
        logger.setLevel(previous)
