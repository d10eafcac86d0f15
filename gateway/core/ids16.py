"""Gateway-issued 1.6 transaction ids in pass-through (TRANSLATION.md 1.10, docs/reliability.md).

A 1.6 StartTransaction answered from the outbox gets a transactionId the gateway mints, because the
CSMS that assigns 1.6 ids is away. When the Start is replayed, the CSMS assigns its own id; from
then on the gateway rewrites one into the other for that transaction only: minted -> CSMS id in the
charger's MeterValues and StopTransaction, CSMS id -> minted in RemoteStopTransaction and a
SetChargingProfile's TxProfile. Every other transaction's id passes through untouched.

Minted ids follow TRANSLATION.md 3.3.1: max(last + 1, seconds since 2020-01-01), so they stay unique
across restarts, below 2^31 until 2088, and far above the small sequential ids CSMSs usually issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gateway.core.ocppj import JsonObject

#: Where the map is kept among the charger's state values.
STORE_KEY: Final = "outbox.ids16"
#: 2020-01-01T00:00:00Z: the floor of minted ids (TRANSLATION.md 3.3.1).
_EPOCH_2020: Final = 1_577_836_800
#: How long a stopped transaction's ids are kept: a late RemoteStopTransaction or a retried Stop still maps.
_KEEP_STOPPED: Final = 24 * 3600.0
#: Of the stopped transactions, only the newest few are kept (as tx16 does with ended records): each
#: outage would otherwise add one per charger for a day (found by the soak's memory checkpoints).
_KEEP_STOPPED_MAX: Final = 4
#: At most this many transactions are kept in all (running ones whose Stop never came included).
_MAX_ENTRIES: Final = 64


@dataclass(slots=True)
class _Minted:
    upstream: int | None
    #: connectorId, idTag, timestamp, meterStart of the Start: its retransmission gets the same id.
    start: list[Any]
    stopped_at: float | None = None


def _start_key(payload: JsonObject) -> list[Any]:
    return [payload.get("connectorId"), payload.get("idTag"), payload.get("timestamp"), payload.get("meterStart")]


class IdMap16:
    """The transactions of one charger whose 1.6 id the gateway issued, and the CSMS's id for each."""

    def __init__(self, document: object = None) -> None:
        """Load the map from what `document()` returned (None or anything unreadable: empty)."""
        self._last = 0
        self._changed = False
        self._entries: dict[int, _Minted] = {}
        self._by_upstream: dict[int, int] = {}
        if isinstance(document, dict):
            self._last = int(document.get("last", 0))
            for key, value in (document.get("map") or {}).items():
                entry = _Minted(value.get("up"), list(value.get("start", [])), value.get("stopped"))
                self._entries[int(key)] = entry
                if entry.upstream is not None:
                    self._by_upstream[entry.upstream] = int(key)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def document(self) -> dict[str, Any]:
        """The map as a JSON document for the store."""
        return {"last": self._last, "map": {str(minted): {"up": e.upstream, "start": e.start, "stopped": e.stopped_at}
                                            for minted, e in self._entries.items()}}

    def mint(self, start: JsonObject, wall: float) -> tuple[int, bool]:
        """The id for a StartTransaction answered from the outbox; False with it if the Start was seen before."""
        key = _start_key(start)
        for minted, entry in self._entries.items():
            if entry.start == key:
                return minted, False
        self._prune(wall)
        minted = max(self._last + 1, int(wall) - _EPOCH_2020)
        while minted in self._by_upstream:  # never an id the CSMS gave one of this charger's transactions
            minted += 1
        self._last = minted
        self._entries[minted] = _Minted(None, key)
        return minted, True

    def confirm(self, minted: int, upstream: int) -> None:
        """The CSMS answered the replayed Start of `minted` with its own id."""
        entry = self._entries.get(minted)
        if entry is not None:
            entry.upstream = upstream
            self._by_upstream[upstream] = minted

    def to_csms(self, action: str, payload: JsonObject, wall: float) -> JsonObject | None:
        """A charger call naming a minted transaction, with the CSMS's id instead; None if nothing changes.

        Seeing the transaction's StopTransaction changes the map (see `take_changed`).
        """
        minted = payload.get("transactionId")
        entry = self._entries.get(minted) if isinstance(minted, int) else None
        if entry is None:
            return None
        if action == "StopTransaction" and entry.stopped_at is None:
            entry.stopped_at = wall
            self._changed = True
        if entry.upstream is None:
            return None  # its Start never reached the CSMS: there is no id to give
        return {**payload, "transactionId": entry.upstream}

    def take_changed(self) -> bool:
        """Whether to_csms changed the map since the last call (it is to be saved)."""
        changed, self._changed = self._changed, False
        return changed

    def to_charger(self, action: str, payload: JsonObject) -> JsonObject | None:
        """A CSMS call naming the CSMS's id of a minted transaction, with the minted id; None if nothing changes."""
        if action == "RemoteStopTransaction":
            minted = self._by_upstream.get(payload.get("transactionId"))  # type: ignore[arg-type]
            return None if minted is None else {**payload, "transactionId": minted}
        if action == "SetChargingProfile":
            profile = payload.get("csChargingProfiles")
            if isinstance(profile, dict):
                minted = self._by_upstream.get(profile.get("transactionId"))  # type: ignore[arg-type]
                if minted is not None:
                    return {**payload, "csChargingProfiles": {**profile, "transactionId": minted}}
        return None

    def _prune(self, wall: float) -> None:
        """Make room for one more: stopped entries older than a day or beyond the newest few go, then,
        if still full, the oldest entries whatever their state (a Stop that never came)."""
        stopped = sorted(((e.stopped_at, minted) for minted, e in self._entries.items() if e.stopped_at is not None),
                         reverse=True)
        for n, (stopped_at, minted) in enumerate(stopped):
            if n >= _KEEP_STOPPED_MAX or wall - stopped_at >= _KEEP_STOPPED:
                self._forget(minted)
        for minted in sorted(self._entries)[: max(0, len(self._entries) - _MAX_ENTRIES + 1)]:
            self._forget(minted)

    def _forget(self, minted: int) -> None:
        entry = self._entries.pop(minted)
        if entry.upstream is not None:
            self._by_upstream.pop(entry.upstream, None)
