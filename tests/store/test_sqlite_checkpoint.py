"""The SQLite store checkpoints its write-ahead log itself (SQLite's automatic checkpoints are off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import sqlite as sqlite_store
from gateway.store.sqlite import SqliteStore


async def test_value_saves_keep_the_wal_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Value saves commit on the event loop without checkpointing; the store's own checkpoints keep the log short."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10)
    path = tmp_path / "gateway.db"
    store = await SqliteStore.open(str(path))
    try:
        for n in range(300):
            await store.set_value("CB1", f"doc{n % 7}", {"n": n, "pad": "x" * 200})
        # 300 commits of two pages each would need ~2.4 MB of log; restarted every 10 commits it stays small.
        assert (tmp_path / "gateway.db-wal").stat().st_size < 300_000
        assert await store.get_value("CB1", "doc6") == {"n": 293, "pad": "x" * 200}
    finally:
        await store.close()
