"""All translation state of one charger, kept as JSON documents; what changes is saved before it is relied on.

TRANSLATION.md 6.2 lists the state; here it lives in a few documents per charger (transactions,
tokens, counters, statuses, jobs, caches). A flow mutates them through `doc(name)`, which marks the
document dirty; the session turns every dirty document into a `Save` command before the next frame
leaves, which is the write-order rule of TRANSLATION.md 6.3.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.core.ocppj import JsonObject

#: Store key prefix of translation documents (the store's per-charger key/value table).
KEY_PREFIX: Final = "tr."
#: Store key prefix of the 1.5 -> 1.6 lift's documents (TRANSLATION.md 5): a 1.5 charger behind a 2.0.1
#: CSMS has two translators, each with its own documents under its own prefix.
LIFT15_KEY_PREFIX: Final = "l15."
DOCUMENTS: Final = ("tx", "tokens", "counters", "status", "jobs", "cache")
#: 1.x transaction ids and similar counters never go below "seconds since 2020-01-01", so they stay
#: unique even if the counter document were lost (TRANSLATION.md 3.3.1); they fit a 32-bit int until 2088.
EPOCH_2020: Final = 1_577_836_800


class ChargerState:
    """The translation documents of one charger."""

    def __init__(self, documents: dict[str, Any] | None = None, *, prefix: str = KEY_PREFIX) -> None:
        """Wrap loaded documents (store key without prefix -> JSON object); missing ones start empty.

        Args:
            documents: the loaded documents, by name (the store key without `prefix`).
            prefix: the store key prefix the documents are saved under (`writes`).
        """
        self.prefix = prefix
        loaded = documents or {}
        self._docs: dict[str, JsonObject] = {
            name: loaded[name] if isinstance(loaded.get(name), dict) else {} for name in DOCUMENTS
        }
        self._dirty: list[str] = []

    @staticmethod
    def store_keys(prefix: str = KEY_PREFIX) -> list[str]:
        """The store keys to load for a charger (documents saved under `prefix`)."""
        return [prefix + name for name in DOCUMENTS]

    def read(self, name: str) -> JsonObject:
        """A document for reading; do not mutate it (use `doc`)."""
        return self._docs[name]

    def doc(self, name: str) -> JsonObject:
        """A document for changing; it will be saved before the next message leaves."""
        if name not in self._dirty:
            self._dirty.append(name)
        return self._docs[name]

    def writes(self) -> list[tuple[str, Any]]:
        """(store key, document) of every changed document, and forget the changes.

        The documents themselves, not copies: the adapter serializes each as it carries out the Save,
        before any later event can change it, and a later state saved early is still at least as new
        as what the next frame depends on.
        """
        out = [(self.prefix + name, self._docs[name]) for name in self._dirty]
        self._dirty.clear()
        return out

    def next_counter(self, name: str, now: float, *, time_floor: bool = False) -> int:
        """Next value of a persisted per-charger counter (1, 2, ...; or time-floored, see EPOCH_2020)."""
        counters = self.doc("counters")
        value = int(counters.get(name, 0)) + 1
        if time_floor:
            value = max(value, int(now) - EPOCH_2020)
        counters[name] = value
        return value
