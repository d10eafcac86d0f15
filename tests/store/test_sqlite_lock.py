"""The SQLite state file belongs to one gateway process at a time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.store import StateFileInUseError
from gateway.store.sqlite import SqliteStore
from gateway.store.sqlite_schema import connect


@pytest.mark.timeout(10)
async def test_a_state_file_in_use_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite")
    holder = await SqliteStore.open(path)
    try:
        expected = re.escape(f"{path}: the state file is in use by another process")
        with pytest.raises(StateFileInUseError, match=expected):
            connect(path, lock_wait=0.1)
    finally:
        await holder.close()


@pytest.mark.timeout(10)
async def test_the_state_file_opens_again_with_its_data_once_its_holder_closed_it(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite")
    first = await SqliteStore.open(path)
    await first.set_value("CB1", "tr.tx", {"seq": 7})
    await first.close()

    second = await SqliteStore.open(path)
    try:
        assert await second.get_value("CB1", "tr.tx") == {"seq": 7}
    finally:
        await second.close()


@pytest.mark.timeout(10)
async def test_saves_need_no_shared_memory_index(tmp_path: Path) -> None:
    """The WAL index lives in the process (locking_mode EXCLUSIVE): no -shm file, no fcntl per commit."""
    path = tmp_path / "state.sqlite"
    store = await SqliteStore.open(str(path))
    try:
        await store.set_value("CB1", "tr.tx", {"seq": 1})
        assert not (tmp_path / "state.sqlite-shm").exists()
    finally:
        await store.close()
