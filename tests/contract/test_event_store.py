"""The EventStore port's contract: every adapter runs every test here (see the `store` fixture)."""

from __future__ import annotations

import itertools
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from infra.formats.chain import event_hash
from infra.ports.eventstore import (
    MAX_EVENTS_PER_APPEND,
    AppendTooLarge,
    ConcurrencyError,
    EventStore,
    IdempotencyRecord,
    InvalidStreamId,
    Metadata,
    NewEvent,
    StoredEvent,
    StoreTotals,
    StreamHead,
)
from tests.contract.conftest import FakeClock

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
OTHER_STREAM = "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"
METADATA = Metadata(correlation_id="corr-1", causation_id="cause-1", actor="user:ada")
RACERS = 20


def events(count: int, type_: str = "MoneyDeposited") -> list[NewEvent]:
    return [NewEvent(type_, 1, {"n": n}) for n in range(count)]


def record(key: str, recorded_at: datetime) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key, fingerprint="sha256:abc", result={"version": 1}, recorded_at=recorded_at
    )


def versions(store: EventStore, stream_id: str = STREAM) -> list[int]:
    return [event.version for event in store.read(stream_id)]


# --- appending and versions ---


def test_appending_to_a_new_stream_at_expected_version_0_returns_the_event_count(store: EventStore) -> None:
    assert store.append(STREAM, 0, events(3), METADATA).version == 3


def test_versions_are_1_based_and_dense_across_appends(store: EventStore) -> None:
    store.append(STREAM, 0, events(2), METADATA)
    store.append(STREAM, 2, events(1), METADATA)
    new_version = store.append(STREAM, 3, events(3), METADATA).version

    assert new_version == 6
    assert versions(store) == [1, 2, 3, 4, 5, 6]


def test_events_are_read_back_in_the_order_they_were_appended(store: EventStore) -> None:
    appended = events(5)
    store.append(STREAM, 0, appended[:2], METADATA)
    store.append(STREAM, 2, appended[2:], METADATA)

    assert [event.event_id for event in store.read(STREAM)] == [event.event_id for event in appended]


@pytest.mark.parametrize("expected_version", [0, 1, 3, 4])
def test_appending_at_a_wrong_expected_version_is_a_conflict_and_writes_nothing(
    store: EventStore, expected_version: int
) -> None:
    store.append(STREAM, 0, events(2), METADATA)

    with pytest.raises(ConcurrencyError):
        store.append(STREAM, expected_version, events(2), METADATA)

    assert versions(store) == [1, 2]


def test_a_stream_that_was_never_written_reads_empty(store: EventStore) -> None:
    assert store.read(STREAM) == []


def test_streams_are_independent(store: EventStore) -> None:
    store.append(STREAM, 0, events(2), METADATA)
    store.append(OTHER_STREAM, 0, events(1), METADATA)

    assert versions(store) == [1, 2]
    assert versions(store, OTHER_STREAM) == [1]


# --- reading bounds ---


@pytest.mark.parametrize(
    ("from_version", "to_version", "expected"),
    [
        (1, None, [1, 2, 3, 4, 5]),
        (3, None, [3, 4, 5]),
        (1, 2, [1, 2]),
        (2, 4, [2, 3, 4]),
        (3, 3, [3]),
        (4, 99, [4, 5]),
        (5, None, [5]),
        (6, None, []),
        (40, 50, []),
    ],
)
def test_a_read_returns_the_versions_between_its_inclusive_bounds(
    store: EventStore, from_version: int, to_version: int | None, expected: list[int]
) -> None:
    store.append(STREAM, 0, events(5), METADATA)

    read = store.read(STREAM, from_version=from_version, to_version=to_version)

    assert [event.version for event in read] == expected


def test_a_read_until_a_time_returns_only_the_events_recorded_at_or_before_it(
    store: EventStore, clock: FakeClock
) -> None:
    first = clock.now
    store.append(STREAM, 0, events(2), METADATA)
    second = clock.advance(timedelta(minutes=1))
    store.append(STREAM, 2, events(1), METADATA)
    clock.advance(timedelta(minutes=1))
    store.append(STREAM, 3, events(1), METADATA)

    assert versions_until(store, first - timedelta(microseconds=1)) == []
    assert versions_until(store, first) == [1, 2]
    assert versions_until(store, second - timedelta(microseconds=1)) == [1, 2]
    assert versions_until(store, second) == [1, 2, 3]
    assert versions_until(store, clock.now + timedelta(days=1)) == [1, 2, 3, 4]


def test_a_read_until_compares_instants_whatever_the_offset_it_is_written_in(
    store: EventStore, clock: FakeClock
) -> None:
    store.append(STREAM, 0, events(1), METADATA)
    clock.advance(timedelta(hours=1))
    store.append(STREAM, 1, events(1), METADATA)
    first_in_paris_summer_time = (clock.now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))

    assert versions_until(store, first_in_paris_summer_time) == [1]


def test_a_read_until_combines_with_the_version_bounds(store: EventStore, clock: FakeClock) -> None:
    store.append(STREAM, 0, events(3), METADATA)
    until = clock.now
    clock.advance(timedelta(seconds=5))
    store.append(STREAM, 3, events(3), METADATA)

    read = store.read(STREAM, from_version=2, to_version=5, until=until)

    assert [event.version for event in read] == [2, 3]


def versions_until(store: EventStore, until: datetime) -> list[int]:
    return [event.version for event in store.read(STREAM, until=until)]


# --- the stored envelope ---


def test_the_stored_envelope_carries_the_event_its_metadata_and_the_recording_time(
    store: EventStore, clock: FakeClock
) -> None:
    event_id = uuid.UUID("6c1f2e0a-5b4d-4c3e-8a9f-0d1e2f3a4b5c")
    data = {"amount": 125, "memo": "rent März €", "tags": ["a", "b"], "nested": {"ok": True, "n": None}}
    metadata = Metadata(correlation_id="corr-9", causation_id="cmd-9", idempotency_key="key-9", actor="ada")

    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 2, data, event_id)], metadata)

    (stored,) = store.read(STREAM)
    assert stored.model_copy(update={"event_hash": None}) == StoredEvent(
        event_id=event_id,
        stream_id=STREAM,
        version=1,
        type="MoneyDeposited",
        schema_version=2,
        data=data,
        metadata=metadata,
        recorded_at=clock.now,
    )
    assert stored.event_hash == event_hash(stored, None)


# --- the hash chain ---


def test_every_event_is_stored_linked_to_the_hash_of_the_one_before_it(store: EventStore) -> None:
    store.append(STREAM, 0, events(2), METADATA)
    store.append(STREAM, 2, events(3), METADATA)

    stored = store.read(STREAM)

    assert stored[0].previous_hash is None
    for before, event in itertools.pairwise(stored):
        assert event.previous_hash == before.event_hash
    for event in stored:
        assert event.event_hash == event_hash(event, event.previous_hash)
    assert len({event.event_hash for event in stored}) == 5


def test_an_append_returns_the_new_head_with_its_last_events_hash(store: EventStore) -> None:
    first = store.append(STREAM, 0, events(2), METADATA)
    second = store.append(STREAM, 2, events(1), METADATA, head=first)
    unchanged = store.append(STREAM, 3, [], METADATA, record("key-1", datetime.now(UTC)))

    stored = store.read(STREAM)
    assert first == StreamHead(2, stored[1].event_hash)
    assert second == StreamHead(3, stored[2].event_hash)
    assert stored[2].previous_hash == stored[1].event_hash
    assert unchanged == second


def test_the_same_data_at_the_same_time_in_another_stream_has_another_hash(store: EventStore) -> None:
    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 1, {"amount": 1})], METADATA)
    store.append(OTHER_STREAM, 0, [NewEvent("MoneyDeposited", 1, {"amount": 1})], METADATA)

    assert store.read(STREAM)[0].event_hash != store.read(OTHER_STREAM)[0].event_hash


def test_recorded_at_is_in_utc(store: EventStore) -> None:
    store.append(STREAM, 0, events(1), METADATA)

    (event,) = store.read(STREAM)

    assert event.recorded_at.utcoffset() == timedelta(0)


def test_events_of_one_append_share_its_metadata_and_recording_time(
    store: EventStore, clock: FakeClock
) -> None:
    store.append(STREAM, 0, events(3), METADATA)

    assert {(event.metadata, event.recorded_at) for event in store.read(STREAM)} == {(METADATA, clock.now)}


def test_changing_the_data_of_an_event_read_back_does_not_change_the_stored_event(
    store: EventStore,
) -> None:
    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 1, {"amount": 10})], METADATA)

    store.read(STREAM)[0].data["amount"] = 1_000_000

    assert store.read(STREAM)[0].data == {"amount": 10}


def test_changing_the_data_dict_after_appending_does_not_change_the_stored_event(store: EventStore) -> None:
    data = {"amount": 10}
    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 1, data)], METADATA)

    data["amount"] = 1_000_000

    assert store.read(STREAM)[0].data == {"amount": 10}


# --- stream ids ---

UPPER_CASE_UUID = "3F2B8C1E-9D4A-4E6B-8F0C-2A1D5E7B9C40"


@pytest.mark.parametrize(
    "stream_id",
    [
        "",
        "account",
        "account-",
        f"account-{UPPER_CASE_UUID}",
        f"Account-{UPPER_CASE_UUID.lower()}",
        "account-3f2b8c1e9d4a4e6b8f0c2a1d5e7b9c40",
        f"{STREAM}/",
        f"acc/ount-{STREAM.removeprefix('account-')}",
        f"{STREAM}\\",
        f"acc\\ount-{STREAM.removeprefix('account-')}",
        f"{STREAM}?",
        f"{STREAM}?x=1",
        f"{STREAM}#",
        f"acc#ount-{STREAM.removeprefix('account-')}",
        f"{STREAM}\n",
        f" {STREAM}",
    ],
)
def test_an_invalid_stream_id_is_rejected_on_append_and_on_read(store: EventStore, stream_id: str) -> None:
    with pytest.raises(InvalidStreamId):
        store.append(stream_id, 0, events(1), METADATA)
    with pytest.raises(InvalidStreamId):
        store.read(stream_id)


def test_a_valid_stream_id_of_any_category_is_accepted(store: EventStore) -> None:
    stream_id = "transfer7-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"

    assert store.append(stream_id, 0, events(1), METADATA).version == 1
    assert versions(store, stream_id) == [1]


# --- append size ---


def test_an_append_of_the_maximum_size_is_accepted(store: EventStore) -> None:
    assert store.append(STREAM, 0, events(MAX_EVENTS_PER_APPEND), METADATA).version == MAX_EVENTS_PER_APPEND


def test_an_append_beyond_the_maximum_size_is_rejected_and_writes_nothing(
    store: EventStore, clock: FakeClock
) -> None:
    store.append(STREAM, 0, events(1), METADATA)

    with pytest.raises(AppendTooLarge):
        store.append(STREAM, 1, events(MAX_EVENTS_PER_APPEND + 1), METADATA, record("key-1", clock.now))

    assert versions(store) == [1]
    assert store.find_idempotency(STREAM, "key-1") is None


# --- idempotency records ---


def test_an_idempotency_record_appended_with_events_is_found_by_its_key(
    store: EventStore, clock: FakeClock
) -> None:
    idempotency = record("key-1", clock.now)

    store.append(STREAM, 0, events(2), METADATA, idempotency)

    assert store.find_idempotency(STREAM, "key-1") == idempotency
    assert store.find_idempotency(STREAM, "key-2") is None


def test_a_second_append_with_the_same_key_is_a_conflict_that_writes_neither_events_nor_record(
    store: EventStore, clock: FakeClock
) -> None:
    original = record("key-1", clock.now)
    store.append(STREAM, 0, events(2), METADATA, original)
    retry = IdempotencyRecord(key="key-1", fingerprint="sha256:def", result={"v": 9}, recorded_at=clock.now)

    with pytest.raises(ConcurrencyError):
        store.append(STREAM, 2, events(3), METADATA, retry)

    assert versions(store) == [1, 2]
    assert store.find_idempotency(STREAM, "key-1") == original


def test_a_conflicting_version_writes_no_idempotency_record(store: EventStore, clock: FakeClock) -> None:
    store.append(STREAM, 0, events(1), METADATA)

    with pytest.raises(ConcurrencyError):
        store.append(STREAM, 0, events(1), METADATA, record("key-1", clock.now))

    assert store.find_idempotency(STREAM, "key-1") is None


def test_an_idempotency_record_on_one_stream_is_not_visible_on_another(
    store: EventStore, clock: FakeClock
) -> None:
    store.append(STREAM, 0, events(1), METADATA, record("key-1", clock.now))

    assert store.find_idempotency(OTHER_STREAM, "key-1") is None
    assert store.append(OTHER_STREAM, 0, events(1), METADATA, record("key-1", clock.now)).version == 1


def test_an_append_of_no_events_with_a_record_writes_only_the_record(
    store: EventStore, clock: FakeClock
) -> None:
    store.append(STREAM, 0, events(2), METADATA)
    idempotency = record("key-1", clock.now)

    assert store.append(STREAM, 2, [], METADATA, idempotency).version == 2

    assert versions(store) == [1, 2]
    assert store.find_idempotency(STREAM, "key-1") == idempotency


# --- concurrent writers (reliability R1 and R2) ---


def test_of_writers_racing_from_one_version_exactly_one_wins(store: EventStore) -> None:
    start_version = store.append(STREAM, 0, events(3), METADATA).version
    barrier = threading.Barrier(RACERS, timeout=10)

    def race(writer: int) -> str:
        loaded = len(store.read(STREAM))
        barrier.wait()
        try:
            store.append(STREAM, loaded, [NewEvent("MoneyDeposited", 1, {"writer": writer})], METADATA)
        except ConcurrencyError:
            return "conflict"
        return "appended"

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = list(pool.map(race, range(RACERS)))

    assert outcomes.count("appended") == 1
    assert outcomes.count("conflict") == RACERS - 1
    assert versions(store) == list(range(1, start_version + 2))


def test_writers_that_reload_and_retry_on_conflict_all_land_in_some_serial_order(store: EventStore) -> None:
    start_version = store.append(STREAM, 0, events(3), METADATA).version
    barrier = threading.Barrier(RACERS, timeout=10)

    def append_with_retries(writer: int) -> None:
        barrier.wait()
        for _ in range(1_000):
            loaded = len(store.read(STREAM))
            try:
                store.append(STREAM, loaded, [NewEvent("MoneyDeposited", 1, {"writer": writer})], METADATA)
            except ConcurrencyError:
                continue
            return
        raise AssertionError(f"writer {writer} never landed")

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        list(pool.map(append_with_retries, range(RACERS)))

    written = store.read(STREAM)
    assert [event.version for event in written] == list(range(1, start_version + RACERS + 1))
    assert sorted(event.data["writer"] for event in written[start_version:]) == list(range(RACERS))


# --- append-only ---


def test_the_store_offers_no_way_to_change_or_remove_events(store: EventStore) -> None:
    mutators = ("update", "delete", "remove", "replace")
    public = [name for name in dir(store) if not name.startswith("_")]

    assert [name for name in public if name.startswith(mutators)] == []


def test_reading_until_a_time_before_the_year_1000_finds_nothing(store: EventStore) -> None:
    stream = "account-00000000-0000-4000-8000-0000000000b1"
    store.append(stream, 0, [NewEvent("E", 1, {})], Metadata())

    assert store.read(stream, until=datetime(999, 1, 1, tzinfo=UTC)) == []


# --- what rebuilding and lag reporting read ---


def test_streams_lists_every_stream_once(store: EventStore) -> None:
    store.append(STREAM, 0, events(3), METADATA)
    store.append(OTHER_STREAM, 0, events(1), METADATA)
    store.append(STREAM, 3, events(2), METADATA)

    assert sorted(store.streams()) == sorted([STREAM, OTHER_STREAM])


def test_an_empty_store_has_no_streams_and_no_events(store: EventStore) -> None:
    assert list(store.streams()) == []
    assert store.totals() == StoreTotals(0, None)
    assert list(store.scan(10)) == []


@pytest.mark.parametrize("page_size", [1, 3, 100])
def test_a_scan_yields_every_event_once_in_pages_each_stream_in_version_order(
    store: EventStore, page_size: int
) -> None:
    third = "account-5d1c9e2b-3a4f-4b6c-8d7e-9f0a1b2c3d4e"
    store.append(STREAM, 0, events(3), METADATA)
    store.append(OTHER_STREAM, 0, events(1), METADATA)
    store.append(STREAM, 3, events(2), METADATA)
    store.append(third, 0, events(4), METADATA)
    store.append(OTHER_STREAM, 1, events(2), METADATA)

    pages = list(store.scan(page_size))

    # a page may be larger only to keep one append's events together (Cosmos DB's change feed does)
    assert all(0 < len(page) <= max(page_size, 4) for page in pages)
    scanned = [event for page in pages for event in page]
    for stream_id in (STREAM, OTHER_STREAM, third):
        assert [e for e in scanned if e.stream_id == stream_id] == store.read(stream_id)
    assert len(scanned) == store.totals().events == 12


def test_totals_count_every_event_and_find_the_newest(store: EventStore, clock: FakeClock) -> None:
    store.append(STREAM, 0, events(3), METADATA)
    clock.advance(timedelta(seconds=30))
    store.append(OTHER_STREAM, 0, events(2), METADATA)
    newest = store.read(OTHER_STREAM)[-1].recorded_at

    assert store.totals() == StoreTotals(5, newest)
