"""Gateway-issued 1.6 transaction ids in pass-through (gateway.core.ids16)."""

from __future__ import annotations

from gateway.core.ids16 import IdMap16

#: 2024-05-01T10:00:00Z, and the id minted then: seconds since 2020-01-01T00:00Z.
NOON = 1714557600.0
FLOOR = int(NOON) - 1_577_836_800
DAY = 24 * 3600.0


def _start(n: int) -> dict[str, object]:
    return {"connectorId": 1, "idTag": "TAG", "meterStart": n, "timestamp": "2024-05-01T09:58:00Z"}


def test_the_first_id_is_the_seconds_since_2020() -> None:
    assert IdMap16().mint(_start(0), NOON) == (FLOOR, True)


def test_ids_keep_rising_within_one_second() -> None:
    ids = IdMap16()
    assert [ids.mint(_start(n), NOON)[0] for n in range(3)] == [FLOOR, FLOOR + 1, FLOOR + 2]


def test_ids_rise_across_a_reload_even_when_the_clock_went_back() -> None:
    ids = IdMap16()
    ids.mint(_start(0), NOON)
    assert IdMap16(ids.document()).mint(_start(1), NOON - 3600)[0] == FLOOR + 1


def test_an_id_the_csms_gave_is_never_minted() -> None:
    ids = IdMap16()
    first, _ = ids.mint(_start(0), NOON)
    ids.confirm(first, FLOOR + 1)
    assert ids.mint(_start(1), NOON)[0] == FLOOR + 2


def test_the_map_survives_a_reload() -> None:
    ids = IdMap16()
    minted, _ = ids.mint(_start(0), NOON)
    ids.confirm(minted, 42)
    again = IdMap16(ids.document())
    assert again.to_csms("MeterValues", {"transactionId": minted}, NOON) == {"transactionId": 42}
    assert again.to_charger("RemoteStopTransaction", {"transactionId": 42}) == {"transactionId": minted}


def test_an_unconfirmed_transaction_is_not_rewritten() -> None:
    ids = IdMap16()
    minted, _ = ids.mint(_start(0), NOON)
    assert ids.to_csms("StopTransaction", {"transactionId": minted}, NOON) is None


def test_a_transaction_stopped_a_day_ago_is_forgotten_at_the_next_mint() -> None:
    ids = IdMap16()
    minted, _ = ids.mint(_start(0), NOON)
    ids.confirm(minted, 42)
    ids.to_csms("StopTransaction", {"transactionId": minted}, NOON)
    ids.mint(_start(1), NOON + DAY)
    assert ids.to_charger("RemoteStopTransaction", {"transactionId": 42}) is None


def test_a_running_transaction_is_kept_however_old() -> None:
    ids = IdMap16()
    minted, _ = ids.mint(_start(0), NOON)
    ids.confirm(minted, 42)
    ids.mint(_start(1), NOON + 30 * DAY)
    assert ids.to_charger("RemoteStopTransaction", {"transactionId": 42}) == {"transactionId": minted}


def test_an_unreadable_document_is_an_empty_map() -> None:
    assert not IdMap16("garbage")


def _stopped(ids: IdMap16, n: int, wall: float) -> int:
    minted, _ = ids.mint(_start(n), wall)
    ids.confirm(minted, 1000 + n)
    ids.to_csms("StopTransaction", {"transactionId": minted}, wall)
    return minted


def test_only_the_newest_stopped_transactions_are_kept() -> None:
    """One per charger per outage would otherwise pile up for a day (the soak's memory checkpoints)."""
    ids = IdMap16()
    for n in range(10):
        _stopped(ids, n, NOON + n)
    ids.mint(_start(99), NOON + 20)
    kept = [n for n in range(10) if ids.to_charger("RemoteStopTransaction", {"transactionId": 1000 + n})]
    assert kept == [6, 7, 8, 9]


def test_running_transactions_are_bounded_too() -> None:
    """Starts whose Stop never came cannot grow the map without bound: the oldest go first."""
    ids = IdMap16()
    first, _ = ids.mint(_start(0), NOON)
    for n in range(1, 200):
        ids.mint(_start(n), NOON)
    assert len(ids.document()["map"]) == 64
    assert str(first) not in ids.document()["map"]
