"""The gateway's persistent state: the backend-neutral StateStore protocol, its records and open_store.

Every backend (SQLite now, Redis later) passes the same contract tests in tests/store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from gateway.core.ocppj import JsonObject
from gateway.errors import GatewayError

__all__ = [
    "MAX_ID",
    "TX_ACTIVE",
    "TX_ENDED",
    "ChargerRecord",
    "IdSpaceExhaustedError",
    "IdTokenRecord",
    "JsonObject",
    "JsonValue",
    "OutboxEntry",
    "RemoteStartRecord",
    "SchemaVersionError",
    "StateFileInUseError",
    "StateStore",
    "StoreClosedError",
    "StoreError",
    "TransactionConflictError",
    "TransactionRecord",
    "UnknownTransactionError",
    "id_tag_key",
    "open_store",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""What get_value/set_value hold: any JSON document."""

MAX_ID = 2**31 - 1
"""Largest id mint_id hands out: SOAP xs:int and many chargers hold transactionId in a signed 32-bit int."""

TX_ACTIVE = "active"
TX_ENDED = "ended"


class StoreError(GatewayError):
    """The state store cannot do what was asked; toward a peer it is an InternalError."""


class StoreClosedError(StoreError):
    """The store was used after close()."""


class SchemaVersionError(StoreError):
    """The stored schema is newer than this code knows: a newer gateway wrote it."""


class StateFileInUseError(StoreError):
    """Another process (another gateway) holds the state file."""


class TransactionConflictError(StoreError):
    """Another record of the charger already holds this local_id or remote_id."""


class UnknownTransactionError(StoreError, LookupError):
    """No transaction record has the given key."""


class IdSpaceExhaustedError(StoreError):
    """mint_id would exceed MAX_ID."""


def id_tag_key(id_tag: str) -> str:
    """Folds an idTag for lookups: OCPP 1.x IdToken is a case-insensitive string (CiString20Type).

    Args:
        id_tag: the idTag or alias as a charger or CSMS spelled it.

    Returns:
        The spelling every backend indexes by.
    """
    return id_tag.upper()


@dataclass(frozen=True, slots=True)
class ChargerRecord:
    """A charger the gateway has seen; last_seen is wall-clock seconds."""

    charge_box_id: str
    dialect: str
    last_seen: float
    soap_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionRecord:
    """One transaction of one charger, mapping the 1.6 integer id to the 2.0.1 / upstream id (spec 3.2).

    key is store-assigned on first save (None before). local_id is the 1.6-side integer transactionId,
    remote_id the 2.0.1-side id or the upstream's id as text; at least one of them is set. state is
    TX_ENDED once the transaction is over; any other value (TX_ACTIVE or a finer 3.4.2 state) counts as
    active. seq_no is the next 2.0.1 seqNo to use.
    """

    charge_box_id: str
    local_id: int | None = None
    remote_id: str | None = None
    connector_id: int
    evse_id: int | None = None
    id_tag: str | None = None
    seq_no: int = 0
    started_at: str
    meter_start: int | None = None
    remote_start_id: int | None = None
    state: str = TX_ACTIVE
    ended_at: str | None = None
    extra: JsonObject = field(default_factory=dict)
    key: int | None = None


@dataclass(frozen=True, slots=True)
class IdTokenRecord:
    """What the gateway knows of one idTag on one charger (spec 1.8): token-type cache, alias, auth cache.

    When id_tag is an alias, token_value and token_type are the original 2.0.1 token it stands for.
    additional_info is a 2.0.1 additionalInfo array; id_tag_info the last upstream idTagInfo/idTokenInfo.
    """

    charge_box_id: str
    id_tag: str
    token_value: str
    token_type: str
    additional_info: list[JsonObject] | None
    id_tag_info: JsonObject | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class RemoteStartRecord:
    """A remote start the CSMS asked for and no transaction has claimed yet (spec 4.2)."""

    charge_box_id: str
    remote_start_id: int
    id_tag: str
    connector_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A translated charger call waiting for the upstream (spec 1.10); seq is store-assigned."""

    charge_box_id: str
    seq: int
    action: str
    payload: JsonObject
    kind: str
    created_at: float
    droppable: bool


class StateStore(Protocol):
    """Durable gateway state. Every write is committed before the call returns (spec 6.3 write order).

    Times given as floats are wall-clock seconds (time.time()), so they mean something after a restart.
    """

    @property
    def is_open(self) -> bool:
        """True until close() is called."""

    @property
    def schema_version(self) -> int:
        """The schema version of the open store."""

    async def close(self) -> None:
        """Flushes and closes the store; calling it again does nothing."""

    async def upsert_charger(self, charger: ChargerRecord) -> None:
        """Inserts the charger or replaces the record with the same charge_box_id."""

    async def get_charger(self, charge_box_id: str) -> ChargerRecord | None:
        """Returns the charger's record, or None if it was never stored."""

    async def list_chargers(self) -> list[ChargerRecord]:
        """Returns every charger, ordered by charge_box_id."""

    async def touch_charger(self, charge_box_id: str, last_seen: float) -> None:
        """Sets last_seen of a known charger; an unknown charger is ignored."""

    async def save_transaction(self, tx: TransactionRecord) -> TransactionRecord:
        """Inserts tx (key None) or replaces the record with tx.key.

        seq_no never moves backwards: a save from a stale copy keeps what next_seq_no handed out.

        Args:
            tx: the record; local_id or remote_id must be set.

        Returns:
            The record as stored, with its key.

        Raises:
            ValueError: neither local_id nor remote_id is set.
            TransactionConflictError: another record of the charger has the same local_id or remote_id.
            UnknownTransactionError: tx.key names no record of tx.charge_box_id.
        """

    async def get_transaction(self, charge_box_id: str, key: int) -> TransactionRecord | None:
        """Returns the record with this store key, or None."""

    async def get_transaction_by_local_id(self, charge_box_id: str, local_id: int) -> TransactionRecord | None:
        """Returns the record with this 1.6-side integer transactionId, or None."""

    async def get_transaction_by_remote_id(self, charge_box_id: str, remote_id: str) -> TransactionRecord | None:
        """Returns the record with this 2.0.1-side or upstream transactionId, or None."""

    async def active_transactions(self, charge_box_id: str) -> list[TransactionRecord]:
        """Returns the charger's records whose state is not TX_ENDED, oldest first."""

    async def next_seq_no(self, charge_box_id: str, key: int) -> int:
        """Returns the record's next seqNo and durably increments it before returning (spec 3.3.1).

        Raises:
            UnknownTransactionError: key names no record of the charger.
        """

    async def mint_id(self, scope: str, floor: int = 1) -> int:
        """Returns an id never returned before for scope: max(last + 1, floor), persisted first.

        Args:
            scope: the id space, for example "tx:CB1" or "remote_start:CB1".
            floor: the smallest acceptable id; the caller's time-based floor of spec 3.3.1.

        Raises:
            ValueError: floor is below 1.
            IdSpaceExhaustedError: the id would exceed MAX_ID.
        """

    async def save_id_token(self, token: IdTokenRecord) -> None:
        """Inserts the token or replaces the record of the same charger and idTag (any case)."""

    async def get_id_token(self, charge_box_id: str, id_tag: str) -> IdTokenRecord | None:
        """Returns the record for this idTag or alias, compared case-insensitively, or None."""

    async def put_remote_start(
        self,
        charge_box_id: str,
        remote_start_id: int,
        id_tag: str,
        connector_id: int | None,
        created_at: float,
    ) -> RemoteStartRecord:
        """Records a pending remote start, replacing one with the same remote_start_id.

        Args:
            charge_box_id: the charger asked to start.
            remote_start_id: the 2.0.1 remoteStartId.
            id_tag: the idTag the charger will report.
            connector_id: the connector asked for; None matches any.
            created_at: when the CSMS asked.

        Returns:
            The stored record.
        """

    async def take_remote_start(
        self, charge_box_id: str, id_tag: str, connector_id: int | None
    ) -> RemoteStartRecord | None:
        """Removes and returns the oldest pending remote start matching idTag (any case) and connector.

        A None connector_id, on either side, matches any connector.
        """

    async def expire_remote_starts(self, older_than: float) -> int:
        """Removes pending remote starts created before older_than; returns how many."""

    async def outbox_append(
        self,
        charge_box_id: str,
        action: str,
        payload: JsonObject,
        created_at: float,
        droppable: bool,
        kind: str = "call",
    ) -> OutboxEntry:
        """Appends to the charger's outbox; the entry is durable when this returns.

        Args:
            charge_box_id: whose outbox.
            action: the OCPP action of the queued call.
            payload: its payload, already translated for the upstream.
            created_at: when it was queued.
            droppable: whether a bounded outbox may drop it (never for transaction starts/stops).
            kind: how to send it: "call", or a caller-defined kind such as a reference resolved at send time.

        Returns:
            The entry with its seq, greater than every seq the charger's outbox ever had.
        """

    async def outbox_peek(self, charge_box_id: str, limit: int) -> list[OutboxEntry]:
        """Returns up to limit of the charger's oldest entries in seq order, without removing them."""

    async def outbox_remove(self, charge_box_id: str, seq: int) -> bool:
        """Removes one entry; returns False if it was not there."""

    async def outbox_len(self, charge_box_id: str) -> int:
        """Returns how many entries the charger's outbox holds."""

    async def outbox_drop_oldest_droppable(self, charge_box_id: str) -> OutboxEntry | None:
        """Removes and returns the charger's oldest droppable entry, or None if there is none."""

    async def outbox_counts(self, charge_box_id: str) -> tuple[int, int]:
        """Returns how many entries the charger's outbox holds, and how many of them are droppable."""

    async def outbox_total(self) -> int:
        """Returns how many entries all chargers' outboxes hold together."""

    async def get_value(self, charge_box_id: str, key: str) -> JsonValue:
        """Returns the charger's value under key, or None if unset."""

    async def set_value(self, charge_box_id: str, key: str, value: JsonValue) -> None:
        """Stores a JSON value under the charger's key, replacing any previous one."""

    async def delete_value(self, charge_box_id: str, key: str) -> None:
        """Removes the charger's value under key, if any."""


async def open_store(path: str) -> StateStore:
    """Opens (creating or migrating if needed) the SQLite state store at path.

    Args:
        path: the database file; missing parent directories are created.

    Returns:
        The open store; the caller closes it.

    Raises:
        SchemaVersionError: the file was written by a newer gateway.
    """
    # Imported here because the backend imports the records above from this module.
    from gateway.store.sqlite import SqliteStore

    return await SqliteStore.open(path)
