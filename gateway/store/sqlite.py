"""The default StateStore: one stdlib sqlite3 connection driven through asyncio.to_thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TypeVar, cast, final

from gateway.store import (
    MAX_ID,
    TX_ENDED,
    ChargerRecord,
    IdSpaceExhaustedError,
    IdTokenRecord,
    JsonObject,
    JsonValue,
    OutboxEntry,
    RemoteStartRecord,
    StoreClosedError,
    TransactionConflictError,
    TransactionRecord,
    UnknownTransactionError,
    id_tag_key,
)
from gateway.store.sqlite_schema import (
    CHARGER_SELECT,
    OUTBOX_SELECT,
    REMOTE_START_SELECT,
    TOKEN_SELECT,
    TX_SELECT,
    connect,
    dump_json,
    fetch_all,
    fetch_one,
    load_json,
    outbox_from_row,
    schema_version,
    token_from_row,
    tx_from_row,
)

T = TypeVar("T")

#: Value saves commit on the event loop thread (set_value, _flush_values), so SQLite must not checkpoint
#: inside those commits: the store checkpoints in a worker thread after this many commits.
CHECKPOINT_EVERY = 500


_UPDATE_VALUE = "UPDATE charger_value SET value = ? WHERE charge_box_id = ? AND name = ?"
_INSERT_VALUE = "INSERT INTO charger_value (charge_box_id, name, value) VALUES (?, ?, ?)"


def _set_values(rows: list[tuple[str, str, str]], conn: sqlite3.Connection) -> None:
    # UPDATE rewrites the row where it is: one page in the log. INSERT OR REPLACE deletes it and inserts it
    # again under a new rowid, which rewrites table and key-index pages (~3.7 pages per save, twice the CPU).
    for charge_box_id, key, text in rows:
        if conn.execute(_UPDATE_VALUE, (text, charge_box_id, key)).rowcount == 0:
            conn.execute(_INSERT_VALUE, (charge_box_id, key, text))


def _checkpoint(conn: sqlite3.Connection) -> None:
    # PASSIVE: copy what no reader still needs; the log is reused from its start by the next commit.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


@final
class SqliteStore:
    """StateStore on one SQLite file; the method contracts are documented on StateStore.

    Use open(); the constructor takes an already migrated connection.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._version = schema_version(conn)
        # The asyncio lock keeps callers queued on the loop instead of parking threads; the thread lock
        # keeps the connection exclusive even when a cancelled caller's thread is still running.
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()
        self._synchronous = "NORMAL"
        # set_value commits at once, on the loop thread, when the connection is free; saves made while it is
        # busy (a worker-thread write, a checkpoint) wait in a batch that the flusher commits in one go.
        self._batch: list[tuple[str, str, str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # A checkpoint fsyncs and copies the WAL into the database: never inside a commit that runs on the
        # event loop thread. The store runs it in a worker thread instead (_checkpoint).
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._commits = 0

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        """Opens the store at path (a file or ":memory:"), creating and migrating it if needed.

        Raises:
            SchemaVersionError: the file was written by a newer gateway.
        """
        return cls(await asyncio.to_thread(connect, path))

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def schema_version(self) -> int:
        return self._version

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)  # owned here: drained before closing
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                # Closing the last connection checkpoints the WAL into the main file.
                await asyncio.to_thread(self._exclusive, conn.close)

    def _exclusive(self, fn: Callable[[], T]) -> T:
        with self._thread_lock:
            return fn()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreClosedError("the state store is closed")
            return await asyncio.to_thread(self._exclusive, lambda: fn(conn))

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        """Runs fn in one write transaction; a durable one is fsynced (synchronous=FULL) before it returns."""
        # durable is for what a charger-facing answer depends on (spec 6.3 write order): outbox entries,
        # transaction records, seqNos, minted ids. Caches stay at NORMAL: a power cut may take back their
        # last commits, a process crash cannot.
        result = await self._run(partial(self._transaction, fn, durable))
        await self._checkpoint_if_due()
        return result

    def _transaction(self, fn: Callable[[sqlite3.Connection], T], durable: bool, conn: sqlite3.Connection) -> T:
        level = "FULL" if durable else "NORMAL"
        if level != self._synchronous:
            conn.execute(f"PRAGMA synchronous={level}")  # cannot change inside a transaction
            self._synchronous = level
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT may already have rolled back
                conn.execute("ROLLBACK")
            raise
        self._commits += 1
        return result

    async def _write_inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like _write (not durable), but on the calling thread when the connection is free.

        A NORMAL commit in WAL mode is one append to the log without fsync (checkpoints run elsewhere),
        a few tens of microseconds: several times less than the hop to a worker thread and back.
        """
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreClosedError("the state store is closed")
            if self._thread_lock.acquire(blocking=False):
                try:
                    result = self._transaction(fn, False, conn)
                finally:
                    self._thread_lock.release()
            else:  # a cancelled caller's thread still has the connection: wait for it off the loop
                result = await asyncio.to_thread(self._exclusive, lambda: self._transaction(fn, False, conn))
        return result

    async def _checkpoint_if_due(self) -> None:
        if self._commits < CHECKPOINT_EVERY:
            return
        self._commits = 0
        with contextlib.suppress(StoreClosedError):
            await self._run(_checkpoint)

    async def upsert_charger(self, charger: ChargerRecord) -> None:
        values = (charger.charge_box_id, charger.dialect, charger.last_seen, charger.soap_url)
        sql = "INSERT OR REPLACE INTO charger (charge_box_id, dialect, last_seen, soap_url) VALUES (?, ?, ?, ?)"
        await self._write(lambda conn: conn.execute(sql, values))

    async def get_charger(self, charge_box_id: str) -> ChargerRecord | None:
        sql = f"{CHARGER_SELECT} WHERE charge_box_id = ?"
        row = await self._run(lambda conn: fetch_one(conn, sql, charge_box_id))
        return None if row is None else ChargerRecord(*row)

    async def list_chargers(self) -> list[ChargerRecord]:
        sql = f"{CHARGER_SELECT} ORDER BY charge_box_id"
        return [ChargerRecord(*row) for row in await self._run(lambda conn: fetch_all(conn, sql))]

    async def touch_charger(self, charge_box_id: str, last_seen: float) -> None:
        sql = "UPDATE charger SET last_seen = ? WHERE charge_box_id = ?"
        await self._write(lambda conn: conn.execute(sql, (last_seen, charge_box_id)))

    async def save_transaction(self, tx: TransactionRecord) -> TransactionRecord:
        if tx.local_id is None and tx.remote_id is None:
            raise ValueError("a transaction record needs a local_id or a remote_id")
        values = (
            tx.charge_box_id, tx.local_id, tx.remote_id, tx.connector_id, tx.evse_id, tx.id_tag, tx.seq_no,
            tx.started_at, tx.meter_start, tx.remote_start_id, tx.state, tx.ended_at, dump_json(tx.extra),
        )  # fmt: skip
        insert = (
            "INSERT INTO tx (charge_box_id, local_id, remote_id, connector_id, evse_id, id_tag, seq_no,"
            " started_at, meter_start, remote_start_id, state, ended_at, extra)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        # MAX(): next_seq_no may have advanced the counter since the caller read its copy.
        update = (
            "UPDATE tx SET charge_box_id = ?, local_id = ?, remote_id = ?, connector_id = ?, evse_id = ?,"
            " id_tag = ?, seq_no = MAX(seq_no, ?), started_at = ?, meter_start = ?, remote_start_id = ?,"
            " state = ?, ended_at = ?, extra = ? WHERE tx_key = ? AND charge_box_id = ?"
        )

        def save(conn: sqlite3.Connection) -> TransactionRecord:
            try:
                if tx.key is None:
                    key = conn.execute(insert, values).lastrowid
                    assert key is not None  # an INSERT always sets it
                    return replace(tx, key=key)
                if conn.execute(update, (*values, tx.key, tx.charge_box_id)).rowcount == 0:
                    raise UnknownTransactionError(f"no transaction {tx.key} of {tx.charge_box_id}")
            except sqlite3.IntegrityError as e:
                raise TransactionConflictError(
                    f"{tx.charge_box_id} already has a transaction with this local_id or remote_id"
                ) from e
            row = fetch_one(conn, f"{TX_SELECT} WHERE tx_key = ?", tx.key)
            assert row is not None  # updated in this very transaction
            return tx_from_row(row)

        return await self._write(save, durable=True)

    async def _find_tx(self, where: str, *args: object) -> TransactionRecord | None:
        row = await self._run(lambda conn: fetch_one(conn, f"{TX_SELECT} WHERE {where}", *args))
        return None if row is None else tx_from_row(row)

    async def get_transaction(self, charge_box_id: str, key: int) -> TransactionRecord | None:
        return await self._find_tx("charge_box_id = ? AND tx_key = ?", charge_box_id, key)

    async def get_transaction_by_local_id(self, charge_box_id: str, local_id: int) -> TransactionRecord | None:
        return await self._find_tx("charge_box_id = ? AND local_id = ?", charge_box_id, local_id)

    async def get_transaction_by_remote_id(self, charge_box_id: str, remote_id: str) -> TransactionRecord | None:
        return await self._find_tx("charge_box_id = ? AND remote_id = ?", charge_box_id, remote_id)

    async def active_transactions(self, charge_box_id: str) -> list[TransactionRecord]:
        sql = f"{TX_SELECT} WHERE charge_box_id = ? AND state != ? ORDER BY tx_key"
        rows = await self._run(lambda conn: fetch_all(conn, sql, charge_box_id, TX_ENDED))
        return [tx_from_row(row) for row in rows]

    async def next_seq_no(self, charge_box_id: str, key: int) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            sql = "SELECT seq_no FROM tx WHERE tx_key = ? AND charge_box_id = ?"
            row = fetch_one(conn, sql, key, charge_box_id)
            if row is None:
                raise UnknownTransactionError(f"no transaction {key} of {charge_box_id}")
            conn.execute("UPDATE tx SET seq_no = ? WHERE tx_key = ?", (row[0] + 1, key))
            return int(row[0])

        return await self._write(bump, durable=True)

    async def mint_id(self, scope: str, floor: int = 1) -> int:
        if floor < 1:
            raise ValueError(f"floor must be at least 1, got {floor}")

        def mint(conn: sqlite3.Connection) -> int:
            row = fetch_one(conn, "SELECT last FROM id_counter WHERE scope = ?", scope)
            last = 0 if row is None else int(row[0])
            new_id = max(last + 1, floor)
            if new_id > MAX_ID:
                raise IdSpaceExhaustedError(f"id scope {scope!r} has no ids left below {MAX_ID + 1}")
            conn.execute("INSERT OR REPLACE INTO id_counter (scope, last) VALUES (?, ?)", (scope, new_id))
            return new_id

        return await self._write(mint, durable=True)

    async def save_id_token(self, token: IdTokenRecord) -> None:
        t = token
        values = (
            t.charge_box_id, id_tag_key(t.id_tag), t.id_tag, t.token_value, t.token_type,
            None if t.additional_info is None else dump_json(cast(JsonValue, t.additional_info)),
            None if t.id_tag_info is None else dump_json(t.id_tag_info), t.updated_at,
        )  # fmt: skip
        sql = (
            "INSERT OR REPLACE INTO id_token (charge_box_id, id_tag_key, id_tag, token_value, token_type,"
            " additional_info, id_tag_info, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        await self._write(lambda conn: conn.execute(sql, values))

    async def get_id_token(self, charge_box_id: str, id_tag: str) -> IdTokenRecord | None:
        sql = f"{TOKEN_SELECT} WHERE charge_box_id = ? AND id_tag_key = ?"
        row = await self._run(lambda conn: fetch_one(conn, sql, charge_box_id, id_tag_key(id_tag)))
        return None if row is None else token_from_row(row)

    async def put_remote_start(
        self,
        charge_box_id: str,
        remote_start_id: int,
        id_tag: str,
        connector_id: int | None,
        created_at: float,
    ) -> RemoteStartRecord:
        record = RemoteStartRecord(charge_box_id, remote_start_id, id_tag, connector_id, created_at)
        values = (charge_box_id, remote_start_id, id_tag_key(id_tag), id_tag, connector_id, created_at)
        sql = (
            "INSERT OR REPLACE INTO remote_start (charge_box_id, remote_start_id, id_tag_key, id_tag,"
            " connector_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        )
        await self._write(lambda conn: conn.execute(sql, values))
        return record

    async def take_remote_start(
        self, charge_box_id: str, id_tag: str, connector_id: int | None
    ) -> RemoteStartRecord | None:
        sql = (
            f"{REMOTE_START_SELECT} WHERE charge_box_id = ? AND id_tag_key = ?"
            " AND (? IS NULL OR connector_id IS NULL OR connector_id = ?) ORDER BY created_at, rowid LIMIT 1"
        )

        def take(conn: sqlite3.Connection) -> RemoteStartRecord | None:
            row = fetch_one(conn, sql, charge_box_id, id_tag_key(id_tag), connector_id, connector_id)
            if row is None:
                return None
            conn.execute("DELETE FROM remote_start WHERE charge_box_id = ? AND remote_start_id = ?", row[:2])
            return RemoteStartRecord(*row)

        return await self._write(take)

    async def expire_remote_starts(self, older_than: float) -> int:
        sql = "DELETE FROM remote_start WHERE created_at < ?"
        return await self._write(lambda conn: conn.execute(sql, (older_than,)).rowcount)

    async def outbox_append(
        self,
        charge_box_id: str,
        action: str,
        payload: JsonObject,
        created_at: float,
        droppable: bool,
        kind: str = "call",
    ) -> OutboxEntry:
        values = (charge_box_id, action, dump_json(payload), kind, created_at, droppable)
        sql = (
            "INSERT INTO outbox (charge_box_id, action, payload, kind, created_at, droppable) VALUES (?, ?, ?, ?, ?, ?)"
        )
        seq = await self._write(lambda conn: conn.execute(sql, values).lastrowid, durable=True)
        assert seq is not None  # an INSERT always sets it
        return OutboxEntry(charge_box_id, seq, action, payload, kind, created_at, droppable)

    async def outbox_peek(self, charge_box_id: str, limit: int) -> list[OutboxEntry]:
        sql = f"{OUTBOX_SELECT} WHERE charge_box_id = ? ORDER BY seq LIMIT ?"
        rows = await self._run(lambda conn: fetch_all(conn, sql, charge_box_id, limit))
        return [outbox_from_row(row) for row in rows]

    async def outbox_remove(self, charge_box_id: str, seq: int) -> bool:
        sql = "DELETE FROM outbox WHERE charge_box_id = ? AND seq = ?"
        return await self._write(lambda conn: conn.execute(sql, (charge_box_id, seq)).rowcount > 0)

    async def outbox_len(self, charge_box_id: str) -> int:
        sql = "SELECT COUNT(*) FROM outbox WHERE charge_box_id = ?"
        row = await self._run(lambda conn: fetch_one(conn, sql, charge_box_id))
        return 0 if row is None else int(row[0])

    async def outbox_counts(self, charge_box_id: str) -> tuple[int, int]:
        sql = "SELECT COUNT(*), COALESCE(SUM(droppable), 0) FROM outbox WHERE charge_box_id = ?"
        row = await self._run(lambda conn: fetch_one(conn, sql, charge_box_id))
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    async def outbox_total(self) -> int:
        row = await self._run(lambda conn: fetch_one(conn, "SELECT COUNT(*) FROM outbox"))
        return 0 if row is None else int(row[0])

    async def outbox_drop_oldest_droppable(self, charge_box_id: str) -> OutboxEntry | None:
        sql = f"{OUTBOX_SELECT} WHERE charge_box_id = ? AND droppable = 1 ORDER BY seq LIMIT 1"

        def drop(conn: sqlite3.Connection) -> OutboxEntry | None:
            row = fetch_one(conn, sql, charge_box_id)
            if row is not None:
                conn.execute("DELETE FROM outbox WHERE seq = ?", (row[1],))
            return None if row is None else outbox_from_row(row)

        return await self._write(drop)

    async def get_value(self, charge_box_id: str, key: str) -> JsonValue:
        sql = "SELECT value FROM charger_value WHERE charge_box_id = ? AND name = ?"
        row = await self._run(lambda conn: fetch_one(conn, sql, charge_box_id, key))
        return None if row is None else cast(JsonValue, load_json(row[0]))

    async def set_value(self, charge_box_id: str, key: str, value: JsonValue) -> None:
        conn = self._conn
        if conn is None:
            raise StoreClosedError("the state store is closed")
        text = dump_json(value)
        flushing = self._flusher is not None and not self._flusher.done()
        if not (self._batch or flushing or self._lock.locked()) and self._thread_lock.acquire(blocking=False):
            # Nothing queued or being written: commit right here, without a task, a future and two trips
            # through the event loop. Saves that arrive while a commit is under way are grouped as below.
            try:
                self._save_value(conn, charge_box_id, key, text)
            finally:
                self._thread_lock.release()
            if self._commits >= CHECKPOINT_EVERY:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_values())
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((charge_box_id, key, text, done))
        if not flushing:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_values())
        await done

    def _save_value(self, conn: sqlite3.Connection, charge_box_id: str, key: str, text: str) -> None:
        """Commit one value; the caller holds the connection.

        In autocommit mode a statement is a transaction of its own, so one row needs no BEGIN and
        COMMIT round trips (a third of the CPU of a save through _transaction). The gateway is the
        file's only writer, so the statement's deferred write lock cannot find its snapshot outdated.
        """
        if self._synchronous != "NORMAL":
            conn.execute("PRAGMA synchronous=NORMAL")
            self._synchronous = "NORMAL"
        if conn.execute(_UPDATE_VALUE, (text, charge_box_id, key)).rowcount == 0:
            conn.execute(_INSERT_VALUE, (charge_box_id, key, text))
        self._commits += 1

    async def _flush_values(self) -> None:
        while True:
            while self._batch:
                batch, self._batch = self._batch, []
                rows = [(charge_box_id, key, text) for charge_box_id, key, text, _ in batch]
                try:
                    await self._write_inline(partial(_set_values, rows))
                except BaseException as exc:  # every waiter hears of it; nobody is left hanging
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc if isinstance(exc, Exception) else StoreClosedError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for *_, done in batch:
                        if not done.done():
                            done.set_result(None)
            await self._checkpoint_if_due()  # after the waiters were released: they need not wait for it
            if not self._batch:  # no await since the check: a later save starts a new flusher
                return

    async def delete_value(self, charge_box_id: str, key: str) -> None:
        sql = "DELETE FROM charger_value WHERE charge_box_id = ? AND name = ?"
        await self._write(lambda conn: conn.execute(sql, (charge_box_id, key)))
