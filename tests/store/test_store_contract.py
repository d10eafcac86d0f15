"""Contract tests every StateStore backend must pass; a backend joins by adding a Backend to the fixture."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from gateway.store import (
    MAX_ID,
    TX_ENDED,
    ChargerRecord,
    IdSpaceExhaustedError,
    IdTokenRecord,
    SchemaVersionError,
    StateStore,
    StoreClosedError,
    TransactionConflictError,
    TransactionRecord,
    UnknownTransactionError,
    open_store,
)
from gateway.store.sqlite_schema import SCHEMA_VERSION

TX_START = "2024-05-01T10:00:00Z"


class Backend(Protocol):
    """How the contract reaches one backend: open it, and read or forge its stored schema version."""

    async def open(self) -> StateStore: ...
    async def stored_schema_version(self) -> int: ...
    async def forge_schema_version(self, version: int) -> None: ...


def sqlite_pragma(path: Path, sql: str) -> Any:
    """Runs one PRAGMA on its own connection, behind the store's back; blocking."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute(sql).fetchone()
        return None if row is None else row[0]


class SqliteBackend:
    """A SQLite file under tmp_path, in a directory that does not exist yet (open_store creates it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> StateStore:
        return await open_store(str(self.path))

    async def stored_schema_version(self) -> int:
        return int(await asyncio.to_thread(sqlite_pragma, self.path, "PRAGMA user_version"))

    async def forge_schema_version(self, version: int) -> None:
        await asyncio.to_thread(sqlite_pragma, self.path, f"PRAGMA user_version = {version}")


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "state" / "gateway.db")
    raise AssertionError(f"unknown backend {request.param}")


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[StateStore]:
    opened = await backend.open()
    yield opened
    await opened.close()


@contextlib.asynccontextmanager
async def reopened(backend: Backend) -> AsyncIterator[StateStore]:
    """Opens the backend again, as a restarted gateway would."""
    again = await backend.open()
    try:
        yield again
    finally:
        await again.close()


def tx(**changes: Any) -> TransactionRecord:
    return replace(TransactionRecord(charge_box_id="CB1", local_id=1, connector_id=1, started_at=TX_START), **changes)


def token(id_tag: str = "TAG1", **changes: Any) -> IdTokenRecord:
    return replace(IdTokenRecord("CB1", id_tag, id_tag, "ISO14443", None, None, 100.0), **changes)


# Lifecycle


async def test_data_survives_close_and_reopen(backend: Backend, store: StateStore) -> None:
    """Everything written before close() is there after the store is opened again."""
    await store.upsert_charger(ChargerRecord("CB1", "ocpp1.6", 1.0, "http://cb1/soap"))
    saved = await store.save_transaction(tx(extra={"meter": [1, 2]}))
    await store.save_id_token(token())
    await store.put_remote_start("CB1", 7, "TAG1", None, 5.0)
    entry = await store.outbox_append("CB1", "Heartbeat", {"a": 1}, 9.0, True)
    await store.set_value("CB1", "boot", {"interval": 300})
    await store.close()
    async with reopened(backend) as again:
        assert await again.get_charger("CB1") == ChargerRecord("CB1", "ocpp1.6", 1.0, "http://cb1/soap")
        assert await again.get_transaction_by_local_id("CB1", 1) == saved
        assert await again.get_id_token("CB1", "TAG1") == token()
        assert await again.outbox_peek("CB1", 10) == [entry]
        assert await again.get_value("CB1", "boot") == {"interval": 300}
        assert (await again.take_remote_start("CB1", "TAG1", 1)) is not None


async def test_mint_id_never_repeats_across_restarts(backend: Backend, store: StateStore) -> None:
    """An id minted before a restart is not handed out again after it."""
    first = await store.mint_id("tx:CB1")
    await store.close()
    async with reopened(backend) as again:
        assert await again.mint_id("tx:CB1") == first + 1


async def test_schema_version_is_recorded(backend: Backend, store: StateStore) -> None:
    """A new store records the newest schema version the code knows."""
    await store.close()
    assert await backend.stored_schema_version() == SCHEMA_VERSION
    assert store.schema_version == SCHEMA_VERSION


async def test_newer_schema_version_is_refused(backend: Backend, store: StateStore) -> None:
    """A store written by a newer gateway is refused with a clear error rather than misread."""
    await store.close()
    await backend.forge_schema_version(SCHEMA_VERSION + 1)
    with pytest.raises(SchemaVersionError, match="newer"):
        await backend.open()


async def test_close_marks_store_closed(store: StateStore) -> None:
    """is_open turns false after close(), and a second close() is harmless."""
    assert store.is_open
    await store.close()
    await store.close()
    assert not store.is_open


async def test_closed_store_refuses_calls(store: StateStore) -> None:
    """A call on a closed store raises StoreClosedError."""
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get_charger("CB1")


async def test_concurrent_mints_are_unique(store: StateStore) -> None:
    """Ids minted by many tasks at once are all distinct and consecutive."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(store.mint_id("tx:CB1")) for _ in range(50)]
    assert sorted(task.result() for task in tasks) == list(range(1, 51))


async def test_concurrent_appends_all_land_in_order(store: StateStore) -> None:
    """Outbox appends from many tasks at once are all kept, with distinct increasing seqs."""
    async with asyncio.TaskGroup() as group:
        for n in range(50):
            group.create_task(store.outbox_append("CB1", "MeterValues", {"n": n}, float(n), True))
    entries = await store.outbox_peek("CB1", 100)
    assert len(entries) == 50
    assert [e.seq for e in entries] == sorted({e.seq for e in entries})


async def test_concurrent_seq_nos_are_distinct(store: StateStore) -> None:
    """seqNos taken by many tasks at once are each handed out exactly once."""
    key = (await store.save_transaction(tx())).key
    assert key is not None
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(store.next_seq_no("CB1", key)) for _ in range(50)]
    assert sorted(task.result() for task in tasks) == list(range(50))


# Chargers


async def test_upserted_charger_is_returned(store: StateStore) -> None:
    """A stored charger comes back as it was stored."""
    await store.upsert_charger(ChargerRecord("CB1", "ocpp1.5-soap", 1.0, "http://cb1/"))
    assert await store.get_charger("CB1") == ChargerRecord("CB1", "ocpp1.5-soap", 1.0, "http://cb1/")


async def test_upsert_replaces_the_charger(store: StateStore) -> None:
    """Upserting a known charger replaces its record."""
    await store.upsert_charger(ChargerRecord("CB1", "ocpp1.6", 1.0, "http://old/"))
    await store.upsert_charger(ChargerRecord("CB1", "ocpp2.0.1", 2.0))
    assert await store.get_charger("CB1") == ChargerRecord("CB1", "ocpp2.0.1", 2.0, None)


async def test_unknown_charger_is_none(store: StateStore) -> None:
    """Looking up a charger never stored gives None."""
    assert await store.get_charger("nope") is None


async def test_list_chargers_returns_all_by_id(store: StateStore) -> None:
    """list_chargers returns every charger ordered by charge_box_id."""
    for charge_box_id in ("CB2", "CB1"):
        await store.upsert_charger(ChargerRecord(charge_box_id, "ocpp1.6", 1.0))
    assert [c.charge_box_id for c in await store.list_chargers()] == ["CB1", "CB2"]


async def test_touch_charger_updates_last_seen(store: StateStore) -> None:
    """touch_charger moves last_seen and keeps the rest."""
    await store.upsert_charger(ChargerRecord("CB1", "ocpp1.6", 1.0, "http://cb1/"))
    await store.touch_charger("CB1", 5.0)
    assert await store.get_charger("CB1") == ChargerRecord("CB1", "ocpp1.6", 5.0, "http://cb1/")


async def test_touch_unknown_charger_creates_nothing(store: StateStore) -> None:
    """Touching a charger never stored leaves the registry empty."""
    await store.touch_charger("CB1", 5.0)
    assert await store.list_chargers() == []


# Transactions


async def test_saved_transaction_gets_a_key(store: StateStore) -> None:
    """A first save assigns the record a key under which it can be read back."""
    saved = await store.save_transaction(tx())
    assert saved.key is not None
    assert await store.get_transaction("CB1", saved.key) == saved


async def test_transaction_found_by_local_id(store: StateStore) -> None:
    """A record is found by its 1.6-side integer id."""
    saved = await store.save_transaction(tx(local_id=42, remote_id="uuid-42"))
    assert await store.get_transaction_by_local_id("CB1", 42) == saved


async def test_transaction_found_by_remote_id(store: StateStore) -> None:
    """A record is found by its 2.0.1-side or upstream id."""
    saved = await store.save_transaction(tx(local_id=None, remote_id="station-tx-1"))
    assert await store.get_transaction_by_remote_id("CB1", "station-tx-1") == saved


async def test_transaction_lookups_are_per_charger(store: StateStore) -> None:
    """The same ids on another charger name another record."""
    await store.save_transaction(tx(charge_box_id="CB2", local_id=1, remote_id="r1"))
    assert await store.get_transaction_by_local_id("CB1", 1) is None
    assert await store.get_transaction_by_remote_id("CB1", "r1") is None


async def test_save_with_key_updates_the_record(store: StateStore) -> None:
    """Saving a record that has a key replaces it, for example when the upstream id arrives."""
    saved = await store.save_transaction(tx(local_id=None, remote_id="station-tx-1"))
    updated = await store.save_transaction(replace(saved, local_id=7, state=TX_ENDED, ended_at=TX_START))
    assert updated == replace(saved, local_id=7, state=TX_ENDED, ended_at=TX_START)
    assert await store.get_transaction_by_local_id("CB1", 7) == updated


async def test_save_with_unknown_key_raises(store: StateStore) -> None:
    """Saving under a key no record has raises UnknownTransactionError."""
    with pytest.raises(UnknownTransactionError):
        await store.save_transaction(tx(key=999))


async def test_transaction_needs_local_or_remote_id(store: StateStore) -> None:
    """A record with neither id could never be found again, so it is refused."""
    with pytest.raises(ValueError, match="local_id or a remote_id"):
        await store.save_transaction(tx(local_id=None, remote_id=None))


async def test_duplicate_local_id_is_a_conflict(store: StateStore) -> None:
    """Two records of one charger cannot share a local_id."""
    await store.save_transaction(tx(local_id=5))
    with pytest.raises(TransactionConflictError):
        await store.save_transaction(tx(local_id=5, remote_id="other"))


async def test_duplicate_remote_id_is_a_conflict(store: StateStore) -> None:
    """Two records of one charger cannot share a remote_id."""
    await store.save_transaction(tx(local_id=None, remote_id="r"))
    with pytest.raises(TransactionConflictError):
        await store.save_transaction(tx(local_id=6, remote_id="r"))


async def test_active_transactions_leaves_out_ended_ones(store: StateStore) -> None:
    """active_transactions lists the charger's unended records, oldest first."""
    first = await store.save_transaction(tx(local_id=1))
    await store.save_transaction(tx(local_id=2, state=TX_ENDED))
    third = await store.save_transaction(tx(local_id=3, state="starting16"))
    await store.save_transaction(tx(charge_box_id="CB2", local_id=4))
    assert await store.active_transactions("CB1") == [first, third]


async def test_extra_round_trips_as_json(store: StateStore) -> None:
    """The extra dict comes back equal, nested values included."""
    extra: dict[str, Any] = {"waiting": [{"action": "MeterValues"}], "evConnected": True, "wh": 1.5}
    saved = await store.save_transaction(tx(extra=extra))
    assert saved.key is not None
    fetched = await store.get_transaction("CB1", saved.key)
    assert fetched is not None and fetched.extra == extra


async def test_next_seq_no_counts_up_from_the_record(store: StateStore) -> None:
    """next_seq_no returns the record's seq_no and leaves the next one stored."""
    saved = await store.save_transaction(tx(seq_no=3))
    assert saved.key is not None
    assert [await store.next_seq_no("CB1", saved.key) for _ in range(2)] == [3, 4]
    fetched = await store.get_transaction("CB1", saved.key)
    assert fetched is not None and fetched.seq_no == 5


async def test_stale_save_does_not_rewind_seq_no(store: StateStore) -> None:
    """Saving a copy read before next_seq_no ran keeps the advanced seq_no."""
    saved = await store.save_transaction(tx())
    assert saved.key is not None
    await store.next_seq_no("CB1", saved.key)
    assert (await store.save_transaction(replace(saved, meter_start=10))).seq_no == 1


async def test_next_seq_no_of_unknown_transaction_raises(store: StateStore) -> None:
    """next_seq_no for a key no record of the charger has raises UnknownTransactionError."""
    saved = await store.save_transaction(tx(charge_box_id="CB2"))
    assert saved.key is not None
    with pytest.raises(UnknownTransactionError):
        await store.next_seq_no("CB1", saved.key)


# Ids


async def test_mint_id_counts_up_per_scope(store: StateStore) -> None:
    """Each scope has its own counter, starting at 1."""
    assert [await store.mint_id("tx:CB1") for _ in range(3)] == [1, 2, 3]
    assert await store.mint_id("tx:CB2") == 1


async def test_mint_id_respects_floor(store: StateStore) -> None:
    """A floor above the counter lifts the id, and the counter continues from there."""
    await store.mint_id("tx:CB1")
    assert await store.mint_id("tx:CB1", floor=1000) == 1000
    assert await store.mint_id("tx:CB1", floor=10) == 1001


async def test_mint_id_stops_at_int32(store: StateStore) -> None:
    """An id past the signed 32-bit range is refused, not wrapped."""
    assert await store.mint_id("tx:CB1", floor=MAX_ID) == MAX_ID
    with pytest.raises(IdSpaceExhaustedError):
        await store.mint_id("tx:CB1")


# Id tokens


async def test_id_token_round_trips(store: StateStore) -> None:
    """A stored token record comes back equal, JSON parts included."""
    record = token(additional_info=[{"additionalIdToken": "x", "type": "y"}], id_tag_info={"status": "Accepted"})
    await store.save_id_token(record)
    assert await store.get_id_token("CB1", "TAG1") == record


async def test_id_token_lookup_ignores_case(store: StateStore) -> None:
    """1.x idTags are case-insensitive, so any spelling finds the record."""
    await store.save_id_token(token("abc123"))
    assert await store.get_id_token("CB1", "ABC123") == token("abc123")


async def test_alias_resolves_to_token_value_and_type(store: StateStore) -> None:
    """An alias record yields the long 2.0.1 token and its type it stands for."""
    await store.save_id_token(token("#ABCDEFGHIJKLMNOPQRS", token_value="NL-ABC-123456789-X", token_type="eMAID"))
    found = await store.get_id_token("CB1", "#ABCDEFGHIJKLMNOPQRS")
    assert found is not None and (found.token_value, found.token_type) == ("NL-ABC-123456789-X", "eMAID")


async def test_saving_id_token_replaces_previous(store: StateStore) -> None:
    """A second save of the same idTag, in any case, replaces the first."""
    await store.save_id_token(token("tag1"))
    await store.save_id_token(token("TAG1", token_type="Central", updated_at=200.0))
    assert await store.get_id_token("CB1", "tag1") == token("TAG1", token_type="Central", updated_at=200.0)


async def test_id_tokens_are_per_charger(store: StateStore) -> None:
    """A token cached for one charger is unknown on another."""
    await store.save_id_token(token())
    assert await store.get_id_token("CB2", "TAG1") is None


# Pending remote starts


async def test_take_remote_start_returns_oldest_match_once(store: StateStore) -> None:
    """take_remote_start removes and returns the oldest matching entry."""
    await store.put_remote_start("CB1", 2, "TAG1", 1, 20.0)
    first = await store.put_remote_start("CB1", 1, "TAG1", 1, 10.0)
    assert await store.take_remote_start("CB1", "TAG1", 1) == first
    taken = await store.take_remote_start("CB1", "TAG1", 1)
    assert taken is not None and taken.remote_start_id == 2
    assert await store.take_remote_start("CB1", "TAG1", 1) is None


async def test_remote_start_matches_id_tag_in_any_case(store: StateStore) -> None:
    """The idTag of a remote start matches case-insensitively (spec 4.2)."""
    await store.put_remote_start("CB1", 1, "tag1", 1, 10.0)
    assert await store.take_remote_start("CB1", "TAG1", 1) is not None


async def test_remote_start_without_connector_matches_any(store: StateStore) -> None:
    """A remote start that named no connector matches a start on any connector."""
    await store.put_remote_start("CB1", 1, "TAG1", None, 10.0)
    assert await store.take_remote_start("CB1", "TAG1", 3) is not None


async def test_remote_start_for_another_connector_does_not_match(store: StateStore) -> None:
    """A remote start for connector 1 is not claimed by a start on connector 2."""
    await store.put_remote_start("CB1", 1, "TAG1", 1, 10.0)
    assert await store.take_remote_start("CB1", "TAG1", 2) is None


async def test_remote_start_for_another_tag_does_not_match(store: StateStore) -> None:
    """A remote start for one idTag is not claimed by another idTag."""
    await store.put_remote_start("CB1", 1, "TAG1", 1, 10.0)
    assert await store.take_remote_start("CB1", "TAG2", 1) is None


async def test_expire_remote_starts_removes_old_entries(store: StateStore) -> None:
    """Entries created before the cut-off are removed and counted; newer ones stay."""
    await store.put_remote_start("CB1", 1, "TAG1", 1, 10.0)
    await store.put_remote_start("CB2", 2, "TAG1", 1, 30.0)
    assert await store.expire_remote_starts(older_than=20.0) == 1
    assert await store.take_remote_start("CB1", "TAG1", 1) is None
    assert await store.take_remote_start("CB2", "TAG1", 1) is not None


# Outbox


async def test_outbox_peek_returns_entries_in_append_order(store: StateStore) -> None:
    """Peeking returns the oldest entries first and removes nothing."""
    appended = [await store.outbox_append("CB1", f"A{n}", {"n": n}, float(n), False) for n in range(3)]
    assert await store.outbox_peek("CB1", 2) == appended[:2]
    assert await store.outbox_len("CB1") == 3


async def test_outbox_entry_keeps_its_fields(store: StateStore) -> None:
    """An entry comes back with its action, payload, kind, time and droppability."""
    entry = await store.outbox_append("CB1", "StopTransaction", {"transactionId": 1}, 3.5, False, kind="tx_ref")
    [peeked] = await store.outbox_peek("CB1", 1)
    assert peeked == entry
    assert (peeked.action, peeked.kind, peeked.droppable) == ("StopTransaction", "tx_ref", False)


async def test_outbox_counts_tell_total_and_droppable_per_charger(store: StateStore) -> None:
    """The counts are the charger's own: how many entries, and how many a full outbox may drop."""
    assert await store.outbox_counts("CB1") == (0, 0)
    await store.outbox_append("CB1", "StartTransaction", {}, 1.0, False)
    await store.outbox_append("CB1", "MeterValues", {}, 2.0, True)
    await store.outbox_append("CB1", "MeterValues", {}, 3.0, True)
    await store.outbox_append("CB2", "MeterValues", {}, 4.0, True)
    assert await store.outbox_counts("CB1") == (3, 2)


async def test_outbox_total_counts_every_charger(store: StateStore) -> None:
    assert await store.outbox_total() == 0
    await store.outbox_append("CB1", "MeterValues", {}, 1.0, True)
    await store.outbox_append("CB2", "StopTransaction", {}, 2.0, False)
    assert await store.outbox_total() == 2


async def test_outbox_remove_deletes_one_entry(store: StateStore) -> None:
    """Removing an entry leaves the others, and removing it again reports False."""
    first = await store.outbox_append("CB1", "A", {}, 1.0, True)
    second = await store.outbox_append("CB1", "B", {}, 2.0, True)
    assert await store.outbox_remove("CB1", first.seq)
    assert not await store.outbox_remove("CB1", first.seq)
    assert await store.outbox_peek("CB1", 10) == [second]


async def test_outbox_seq_is_never_reused(store: StateStore) -> None:
    """After the newest entry is removed, the next append still gets a larger seq."""
    entry = await store.outbox_append("CB1", "A", {}, 1.0, True)
    await store.outbox_remove("CB1", entry.seq)
    assert (await store.outbox_append("CB1", "B", {}, 2.0, True)).seq > entry.seq


async def test_outboxes_are_per_charger(store: StateStore) -> None:
    """One charger's entries are not seen in another's outbox."""
    await store.outbox_append("CB1", "A", {}, 1.0, True)
    assert await store.outbox_len("CB2") == 0
    assert await store.outbox_peek("CB2", 10) == []


async def test_drop_oldest_droppable_skips_kept_entries(store: StateStore) -> None:
    """The oldest droppable entry is dropped; transaction messages before it stay."""
    start = await store.outbox_append("CB1", "StartTransaction", {}, 1.0, False)
    meter = await store.outbox_append("CB1", "MeterValues", {}, 2.0, True)
    status = await store.outbox_append("CB1", "StatusNotification", {}, 3.0, True)
    assert await store.outbox_drop_oldest_droppable("CB1") == meter
    assert await store.outbox_peek("CB1", 10) == [start, status]


async def test_drop_with_nothing_droppable_returns_none(store: StateStore) -> None:
    """When every entry must be kept, nothing is dropped."""
    await store.outbox_append("CB1", "StartTransaction", {}, 1.0, False)
    assert await store.outbox_drop_oldest_droppable("CB1") is None
    assert await store.outbox_len("CB1") == 1


# Per-charger values


async def test_value_round_trips(store: StateStore) -> None:
    """A JSON value set under a key comes back equal."""
    await store.set_value("CB1", "boot", {"status": "Accepted", "interval": 300, "ids": [1, 2]})
    assert await store.get_value("CB1", "boot") == {"status": "Accepted", "interval": 300, "ids": [1, 2]}


async def test_set_value_replaces_previous(store: StateStore) -> None:
    """Setting a key again replaces its value."""
    await store.set_value("CB1", "k", 1)
    await store.set_value("CB1", "k", "two")
    assert await store.get_value("CB1", "k") == "two"


async def test_missing_value_is_none(store: StateStore) -> None:
    """A key never set, or set on another charger, reads as None."""
    await store.set_value("CB2", "k", 1)
    assert await store.get_value("CB1", "k") is None


async def test_delete_value_removes_it(store: StateStore) -> None:
    """A deleted key reads as None."""
    await store.set_value("CB1", "k", 1)
    await store.delete_value("CB1", "k")
    assert await store.get_value("CB1", "k") is None


# SQLite specifics


async def test_sqlite_uses_wal_journal(tmp_path: Path) -> None:
    """The SQLite file is in WAL mode, so readers never block the writer."""
    path = tmp_path / "gateway.db"
    opened = await open_store(str(path))
    await opened.close()
    assert await asyncio.to_thread(sqlite_pragma, path, "PRAGMA journal_mode") == "wal"


async def test_concurrent_value_saves_all_land_and_the_last_write_wins(store: StateStore) -> None:
    """Many tasks saving at once (grouped into shared commits) all land; for one key the last save wins."""
    await asyncio.gather(*(store.set_value(f"CB{n}", "doc", {"n": n}) for n in range(50)))
    await asyncio.gather(*(store.set_value("CB0", "doc", {"n": n}) for n in range(10)))
    assert [await store.get_value(f"CB{n}", "doc") for n in range(1, 50)] == [{"n": n} for n in range(1, 50)]
    assert await store.get_value("CB0", "doc") == {"n": 9}
