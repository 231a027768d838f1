"""The SQLite store's change-feed side: read_all by global position, and the leases of its readers."""

from __future__ import annotations

import gc
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.ports.eventstore import ConcurrencyError, Metadata, NewEvent

METADATA = Metadata(correlation_id="c")
WRITERS = 4
APPENDS_PER_WRITER = 50
STREAMS_PER_WRITER = 8
MAX_BATCH = 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    store = SqliteEventStore(tmp_path / "events.db")
    yield store
    store.close()


def stream(n: int) -> str:
    return f"account-{uuid.UUID(int=n)}"


def batch(size: int, label: str = "") -> list[NewEvent]:
    return [NewEvent("MoneyDeposited", 1, {"batch": label, "n": n}) for n in range(size)]


def test_read_all_returns_the_events_of_every_stream_in_position_order(store: SqliteEventStore) -> None:
    store.append(stream(1), 0, batch(2), METADATA)
    store.append(stream(2), 0, batch(3), METADATA)
    store.append(stream(1), 2, batch(1), METADATA)

    changes = store.read_all(0, 100)

    assert [position for position, _ in changes] == [1, 2, 3, 4, 5, 6]
    assert [(event.stream_id, event.version) for _, event in changes] == [
        (stream(1), 1),
        (stream(1), 2),
        (stream(2), 1),
        (stream(2), 2),
        (stream(2), 3),
        (stream(1), 3),
    ]
    assert [event for _, event in changes] == [
        *store.read(stream(1), to_version=2),
        *store.read(stream(2)),
        *store.read(stream(1), from_version=3),
    ]


def test_read_all_starts_after_the_given_position_and_stops_at_the_limit(store: SqliteEventStore) -> None:
    store.append(stream(1), 0, batch(4), METADATA)
    store.append(stream(2), 0, batch(4), METADATA)

    assert [position for position, _ in store.read_all(2, 3)] == [3, 4, 5]
    assert [position for position, _ in store.read_all(6, 100)] == [7, 8]
    assert store.read_all(8, 100) == []


def test_a_rejected_append_takes_no_position(store: SqliteEventStore) -> None:
    store.append(stream(1), 0, batch(2), METADATA)
    with pytest.raises(ConcurrencyError):
        store.append(stream(1), 0, batch(2), METADATA)
    store.append(stream(2), 0, batch(1), METADATA)

    assert [position for position, _ in store.read_all(0, 100)] == [1, 2, 3]


def test_a_position_starts_empty_and_advances_only_forward(tmp_path: Path) -> None:
    positions = SqliteCheckpoints(tmp_path / "checkpoints.db")
    assert positions.get("relay") is None

    positions.advance("relay", 7)
    positions.advance("relay", 12)
    positions.advance("relay", 9)  # late: ignored

    assert positions.get("relay") == "12"
    assert positions.get("projector") is None
    positions.close()


def test_a_position_survives_closing_and_reopening_its_file(tmp_path: Path) -> None:
    first = SqliteCheckpoints(tmp_path / "checkpoints.db")
    first.put("relay", "42")
    first.close()

    reopened = SqliteCheckpoints(tmp_path / "checkpoints.db")
    try:
        assert reopened.get("relay") == "42"
    finally:
        reopened.close()


def test_a_tailing_reader_sees_every_committed_event_once_in_position_order(store: SqliteEventStore) -> None:
    """Reliability R3 and R4: writers race batches to many streams while a reader tails `position > last`."""
    writers_done = threading.Event()

    def write(writer: int) -> None:
        rng = random.Random(writer)
        streams = [stream(writer * 100 + n) for n in range(STREAMS_PER_WRITER)]
        stream_versions = dict.fromkeys(streams, 0)
        for append in range(APPENDS_PER_WRITER):
            target = rng.choice(streams)
            events = batch(rng.randint(1, MAX_BATCH), label=f"{writer}/{append}")
            stream_versions[target] = store.append(target, stream_versions[target], events, METADATA).version

    def tail() -> list[tuple[int, str, int, str]]:
        seen: list[tuple[int, str, int, str]] = []
        last = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            finished = writers_done.is_set()
            changes = store.read_all(last, 37)
            seen += [(p, event.stream_id, event.version, event.data["batch"]) for p, event in changes]
            if changes:
                last = changes[-1][0]
            elif finished:
                return seen
        raise AssertionError("the tailer never caught up")

    with ThreadPoolExecutor(max_workers=WRITERS + 1) as pool:
        tailer = pool.submit(tail)
        writers = [pool.submit(write, writer) for writer in range(WRITERS)]
        try:
            for writer_future in writers:
                writer_future.result()
        finally:
            writers_done.set()
        observed = tailer.result()

    committed = [
        (p, event.stream_id, event.version, event.data["batch"]) for p, event in store.read_all(0, 100_000)
    ]
    assert observed == committed
    assert [p for p, *_ in observed] == list(range(1, len(committed) + 1))
    assert len({batch_label for *_, batch_label in committed}) == WRITERS * APPENDS_PER_WRITER
    positions_by_batch: dict[str, list[int]] = defaultdict(list)
    for p, _, _, batch_label in committed:
        positions_by_batch[batch_label].append(p)
    for positions in positions_by_batch.values():
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    versions_by_stream: dict[str, list[int]] = defaultdict(list)
    for _, stream_id, version, _ in committed:
        versions_by_stream[stream_id].append(version)
    for stream_versions in versions_by_stream.values():
        assert stream_versions == list(range(1, len(stream_versions) + 1))


def test_connections_of_threads_that_ended_are_closed(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite")
    stream = f"account-{uuid.uuid4()}"

    for _ in range(20):
        reader = threading.Thread(target=store.read, args=(stream,))
        reader.start()
        reader.join()
        del reader
    gc.collect()

    assert len(store._db._connections) <= 2  # this thread's, and at most one not yet collected
    store.close()
