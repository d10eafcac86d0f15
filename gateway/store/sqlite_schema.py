"""The SQLite store's on-disk layout: ordered migrations, row <-> record mapping, migrated connections.

The schema version lives in PRAGMA user_version: migration i brings the file from version i to i + 1.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Final, cast

from gateway.core.json_text import compact_json_encoder
from gateway.store import (
    IdTokenRecord,
    JsonObject,
    JsonValue,
    OutboxEntry,
    SchemaVersionError,
    StateFileInUseError,
    TransactionRecord,
)

# Append only: a released migration is never edited, since files in the field already ran it.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE charger (
        charge_box_id TEXT PRIMARY KEY,
        dialect TEXT NOT NULL,
        last_seen REAL NOT NULL,
        soap_url TEXT
    );
    CREATE TABLE tx (
        tx_key INTEGER PRIMARY KEY AUTOINCREMENT,
        charge_box_id TEXT NOT NULL,
        local_id INTEGER,
        remote_id TEXT,
        connector_id INTEGER NOT NULL,
        evse_id INTEGER,
        id_tag TEXT,
        seq_no INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        meter_start INTEGER,
        remote_start_id INTEGER,
        state TEXT NOT NULL,
        ended_at TEXT,
        extra TEXT NOT NULL,
        CHECK (local_id IS NOT NULL OR remote_id IS NOT NULL)
    );
    -- SQLite treats NULLs as distinct, so these hold only for ids that are set.
    CREATE UNIQUE INDEX tx_by_local_id ON tx (charge_box_id, local_id);
    CREATE UNIQUE INDEX tx_by_remote_id ON tx (charge_box_id, remote_id);
    CREATE INDEX tx_by_state ON tx (charge_box_id, state);
    CREATE TABLE id_counter (
        scope TEXT PRIMARY KEY,
        last INTEGER NOT NULL
    );
    CREATE TABLE id_token (
        charge_box_id TEXT NOT NULL,
        id_tag_key TEXT NOT NULL,
        id_tag TEXT NOT NULL,
        token_value TEXT NOT NULL,
        token_type TEXT NOT NULL,
        additional_info TEXT,
        id_tag_info TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (charge_box_id, id_tag_key)
    );
    CREATE TABLE remote_start (
        charge_box_id TEXT NOT NULL,
        remote_start_id INTEGER NOT NULL,
        id_tag_key TEXT NOT NULL,
        id_tag TEXT NOT NULL,
        connector_id INTEGER,
        created_at REAL NOT NULL,
        PRIMARY KEY (charge_box_id, remote_start_id)
    );
    CREATE INDEX remote_start_by_tag ON remote_start (charge_box_id, id_tag_key, created_at);
    -- AUTOINCREMENT, not a plain rowid: a seq must never be reused after its entry is removed.
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        charge_box_id TEXT NOT NULL,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        droppable INTEGER NOT NULL
    );
    CREATE INDEX outbox_by_charger ON outbox (charge_box_id, droppable, seq);
    CREATE TABLE charger_value (
        charge_box_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (charge_box_id, name)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

# Row <-> record mapping: the column order of each SELECT is the argument order of its *_from_row.
Row = tuple[Any, ...]

CHARGER_SELECT = "SELECT charge_box_id, dialect, last_seen, soap_url FROM charger"
TX_SELECT = (
    "SELECT tx_key, charge_box_id, local_id, remote_id, connector_id, evse_id, id_tag, seq_no,"
    " started_at, meter_start, remote_start_id, state, ended_at, extra FROM tx"
)
TOKEN_SELECT = (
    "SELECT charge_box_id, id_tag, token_value, token_type, additional_info, id_tag_info, updated_at FROM id_token"
)
REMOTE_START_SELECT = "SELECT charge_box_id, remote_start_id, id_tag, connector_id, created_at FROM remote_start"
OUTBOX_SELECT = "SELECT charge_box_id, seq, action, payload, kind, created_at, droppable FROM outbox"


_dump: Final = compact_json_encoder(ensure_ascii=True, allow_nan=True)


def dump_json(value: JsonValue) -> str:
    """Encodes a JSON column compactly, in ASCII (what `json.dumps(value, separators=(",", ":"))` writes, but
    for float spelling, and null for NaN and the infinities: see compact_json_encoder)."""
    return _dump(value)


def load_json(text: str | None) -> Any:
    """Decodes a JSON column; SQL NULL stays None."""
    return None if text is None else json.loads(text)


def tx_from_row(row: Row) -> TransactionRecord:
    """Builds a record from a TX_SELECT row."""
    return TransactionRecord(
        key=row[0], charge_box_id=row[1], local_id=row[2], remote_id=row[3], connector_id=row[4],
        evse_id=row[5], id_tag=row[6], seq_no=row[7], started_at=row[8], meter_start=row[9],
        remote_start_id=row[10], state=row[11], ended_at=row[12], extra=cast(JsonObject, load_json(row[13])),
    )  # fmt: skip


def token_from_row(row: Row) -> IdTokenRecord:
    """Builds a record from a TOKEN_SELECT row."""
    return IdTokenRecord(row[0], row[1], row[2], row[3], load_json(row[4]), load_json(row[5]), row[6])


def outbox_from_row(row: Row) -> OutboxEntry:
    """Builds an entry from an OUTBOX_SELECT row."""
    return OutboxEntry(row[0], row[1], row[2], cast(JsonObject, load_json(row[3])), row[4], row[5], bool(row[6]))


def fetch_one(conn: sqlite3.Connection, sql: str, *args: object) -> Row | None:
    """Runs sql and returns its first row, or None."""
    return cast(Row | None, conn.execute(sql, args).fetchone())


def fetch_all(conn: sqlite3.Connection, sql: str, *args: object) -> list[Row]:
    """Runs sql and returns all its rows."""
    return cast(list[Row], conn.execute(sql, args).fetchall())


#: How long opening the state file waits for another process to let go of it: a gateway being restarted
#: may still be in its shutdown (5 s at most) when its successor starts.
LOCK_WAIT_S: Final = 10.0


def connect(path: str, *, lock_wait: float = LOCK_WAIT_S) -> sqlite3.Connection:
    """Opens path (blocking), takes it for this process alone, sets it up and migrates it to SCHEMA_VERSION.

    The file is held with an exclusive lock until the connection closes: two gateways writing one state
    file would each trust their own cached view of it (transactions, id counters), and SQLite then
    keeps the WAL index in the process's memory, which spares every commit six fcntl() lock calls on
    the shared-memory file (a third of a save's CPU). The price: no other process can read the file
    while the gateway runs (docs/operations.md, "State file").

    Args:
        path: the database file, or ":memory:".
        lock_wait: seconds to wait for another process to release the file.

    Returns:
        A connection in autocommit mode; callers issue BEGIN/COMMIT themselves.

    Raises:
        StateFileInUseError: another process held the file for longer than lock_wait.
        SchemaVersionError: the file's schema is newer than SCHEMA_VERSION.
    """
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    # isolation_level=None: the sqlite3 module must not open transactions behind our back, so that
    # each store method is exactly one BEGIN IMMEDIATE ... COMMIT.
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=lock_wait)
    try:
        # Before the first access in WAL mode, or SQLite would set up the shared-memory index anyway.
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            # WAL: readers never block the writer, and a commit is one append to the log.
            conn.execute("PRAGMA journal_mode=WAL")
            # A write transaction takes the file's exclusive lock, which the locking mode then keeps:
            # a second gateway fails here, at start, rather than at its first save.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            raise StateFileInUseError(
                f"{path}: the state file is in use by another process (another gateway with the same "
                f"state.path?); waited {lock_wait:g} s"
            ) from None
        # NORMAL survives a process crash; writes a charger-facing answer depends on switch to FULL
        # (see SqliteStore), so a power cut cannot take back what a charger was already told.
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Applies the migrations conn has not seen yet, each in its own transaction.

    Args:
        conn: an autocommit connection.
        path: the file name, for the error message.

    Raises:
        SchemaVersionError: the file's schema is newer than SCHEMA_VERSION.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path}: state store schema version {version} is newer than this gateway's"
            f" {SCHEMA_VERSION}; run a newer gateway or point the state path at another file"
        )
    for number in range(version, SCHEMA_VERSION):
        # executescript() runs its own statements outside Python's transaction handling, so the
        # transaction is spelled inside the script; user_version is transactional in SQLite.
        script = f"BEGIN IMMEDIATE;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def schema_version(conn: sqlite3.Connection) -> int:
    """Returns the schema version recorded in the file conn is open on."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])
