"""Tampering with a stored log is evident: edits, deletions, moves, re-hashing and truncation, done to SQLite
rows and to Cosmos DB documents as someone with data-plane rights could, are each found at their stream's
first broken link; an untouched log verifies, and events written before hashing are reported as such."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from infra.adapters.cosmos.eventstore import EVENTS_PARTITION_KEY_PATH, CosmosEventStore
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.app.verify_log import BreakKind, verify_log, verify_stream
from infra.formats.chain import event_hash
from infra.formats.documents import event_document_id, from_document
from infra.ports.eventstore import EventStore, Metadata, NewEvent
from tests.contract.conftest import FakeClock
from tests.fakes.cosmos import FakeContainer

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
OTHER = "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"
METADATA = Metadata(correlation_id="c", actor="ada")


class Tamper(Protocol):
    """What someone with write access to the backend's storage can do to one stored event."""

    @property
    def store(self) -> EventStore: ...

    def edit(self, stream_id: str, version: int, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the stored event (as a dict of StoredEvent's fields, data and metadata as dicts)."""
        ...

    def delete(self, stream_id: str, version: int) -> None: ...

    def swap(self, stream_id: str, version: int, other: int) -> None:
        """Put the event stored at `version` at `other`, and the one at `other` at `version`."""
        ...


class SqliteTamper:
    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.path = path
        self.store = SqliteEventStore(path, clock)

    def edit(self, stream_id: str, version: int, change: Callable[[dict[str, Any]], None]) -> None:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            conn.row_factory = sqlite3.Row
            row = dict(
                conn.execute(
                    "SELECT * FROM events WHERE stream_id = ? AND version = ?", (stream_id, version)
                ).fetchone()
            )
            fields = {**row, "data": json.loads(row["data"]), "metadata": json.loads(row["metadata"])}
            change(fields)
            conn.execute(
                "UPDATE events SET version = ?, event_id = ?, type = ?, data = ?, metadata = ?, "
                "recorded_at = ?, event_hash = ?, previous_hash = ? WHERE stream_id = ? AND version = ?",
                (
                    fields["version"],
                    fields["event_id"],
                    fields["type"],
                    json.dumps(fields["data"]),
                    json.dumps(fields["metadata"]),
                    fields["recorded_at"],
                    fields["event_hash"],
                    fields["previous_hash"],
                    stream_id,
                    version,
                ),
            )

    def delete(self, stream_id: str, version: int) -> None:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            conn.execute("DELETE FROM events WHERE stream_id = ? AND version = ?", (stream_id, version))

    def swap(self, stream_id: str, version: int, other: int) -> None:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            for old, new in ((version, -1), (other, version), (-1, other)):
                conn.execute(
                    "UPDATE events SET version = ? WHERE stream_id = ? AND version = ?", (new, stream_id, old)
                )


class CosmosTamper:
    _FIELDS = {
        "version": "version",
        "event_id": "eventId",
        "type": "type",
        "data": "data",
        "metadata": "metadata",
        "recorded_at": "recordedAt",
        "event_hash": "eventHash",
        "previous_hash": "previousHash",
    }

    def __init__(self, clock: FakeClock) -> None:
        self.container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
        self.store = CosmosEventStore(self.container, clock)

    def edit(self, stream_id: str, version: int, change: Callable[[dict[str, Any]], None]) -> None:
        document = self.container.read_item(event_document_id(version), partition_key=stream_id)
        fields = {name: document.get(key) for name, key in self._FIELDS.items()}
        change(fields)
        document.update({key: fields[name] for name, key in self._FIELDS.items()})
        self.container.replace_item(document["id"], document)

    def delete(self, stream_id: str, version: int) -> None:
        self.container.delete_item(event_document_id(version), partition_key=stream_id)

    def swap(self, stream_id: str, version: int, other: int) -> None:
        first = self.container.read_item(event_document_id(version), partition_key=stream_id)
        second = self.container.read_item(event_document_id(other), partition_key=stream_id)
        for document, into in ((second, version), (first, other)):
            moved = {k: v for k, v in document.items() if not k.startswith("_")}
            moved.update(id=event_document_id(into), version=into)
            self.container.replace_item(moved["id"], moved)


@pytest.fixture(params=["sqlite", "cosmos"])
def tamper(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tamper]:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    if request.param == "sqlite":
        sqlite_tamper = SqliteTamper(tmp_path / "events.sqlite", clock)
        yield sqlite_tamper
        sqlite_tamper.store.close()
    else:
        yield CosmosTamper(clock)


def written(tamper: Tamper, count: int = 5, stream_id: str = STREAM) -> None:
    for version in range(count):
        tamper.store.append(
            stream_id, version, [NewEvent("MoneyDeposited", 1, {"amount": 10 + version})], METADATA
        )


def first_break(tamper: Tamper, seen: dict[str, int] | None = None) -> tuple[str, int, BreakKind] | None:
    verdict = verify_log(tamper.store, seen)
    if verdict.intact:
        return None
    (broken,) = verdict.broken
    assert broken.broken is not None
    return broken.stream_id, broken.broken.version, broken.broken.kind


def test_an_untouched_log_verifies_every_event_of_every_stream(tamper: Tamper) -> None:
    written(tamper)
    written(tamper, 3, OTHER)

    verdict = verify_log(tamper.store, {STREAM: 5, OTHER: 3})

    assert verdict.intact
    assert (verdict.streams, verdict.events, verdict.partly_covered) == (2, 8, [])


def test_edited_data_breaks_the_chain_at_that_event(tamper: Tamper) -> None:
    written(tamper)
    tamper.edit(STREAM, 3, lambda event: event["data"].update(amount=1_000_000))

    assert first_break(tamper) == (STREAM, 3, BreakKind.EDITED)


def test_edited_metadata_breaks_the_chain_at_that_event(tamper: Tamper) -> None:
    written(tamper)
    tamper.edit(STREAM, 2, lambda event: event["metadata"].update(actor="mallory"))

    assert first_break(tamper) == (STREAM, 2, BreakKind.EDITED)


def test_an_edited_recording_time_breaks_the_chain_at_that_event(tamper: Tamper) -> None:
    written(tamper)
    tamper.edit(STREAM, 4, lambda event: event.update(recorded_at="2020-01-01T00:00:00.000000Z"))

    assert first_break(tamper) == (STREAM, 4, BreakKind.EDITED)


def test_an_event_edited_and_hashed_again_breaks_the_link_of_the_event_after_it(tamper: Tamper) -> None:
    written(tamper)
    tamper.edit(STREAM, 2, lambda event: rehashed(tamper, event, {"amount": 1_000_000}))

    assert first_break(tamper) == (STREAM, 3, BreakKind.UNLINKED)


def rehashed(tamper: Tamper, event: dict[str, Any], data: dict[str, Any]) -> None:
    (stored,) = tamper.store.read(STREAM, from_version=event["version"], to_version=event["version"])
    changed = stored.model_copy(update={"data": data})
    event.update(data=data, event_hash=event_hash(changed, changed.previous_hash))


def test_a_deleted_event_is_missing_from_the_chain(tamper: Tamper) -> None:
    written(tamper)
    tamper.delete(STREAM, 3)

    assert first_break(tamper) == (STREAM, 3, BreakKind.MISSING)


def test_two_events_moved_to_each_others_versions_break_the_chain_at_the_first(tamper: Tamper) -> None:
    written(tamper)
    tamper.swap(STREAM, 2, 3)

    assert first_break(tamper) == (STREAM, 2, BreakKind.EDITED)


def test_a_removed_hash_after_the_chain_began_is_evident(tamper: Tamper) -> None:
    written(tamper)
    tamper.edit(STREAM, 4, lambda event: event.update(event_hash=None, previous_hash=None))

    assert first_break(tamper) == (STREAM, 4, BreakKind.UNHASHED)


def test_a_truncated_tail_is_evident_when_a_read_model_saw_more(tamper: Tamper) -> None:
    written(tamper)
    tamper.delete(STREAM, 5)
    tamper.delete(STREAM, 4)

    assert first_break(tamper) is None  # the log alone cannot know it was longer
    assert first_break(tamper, {STREAM: 5}) == (STREAM, 4, BreakKind.TRUNCATED)


def test_a_stream_deleted_whole_is_evident_when_a_read_model_saw_it(tamper: Tamper) -> None:
    written(tamper, 2)
    written(tamper, 2, OTHER)
    tamper.delete(OTHER, 2)
    tamper.delete(OTHER, 1)

    assert first_break(tamper, {STREAM: 2, OTHER: 2}) == (OTHER, 1, BreakKind.TRUNCATED)


# --- events written before hashing began ---


def test_a_stream_begun_before_hashing_is_covered_from_its_first_hashed_event() -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container, clock)
    written_before_hashing(container, STREAM, 2, clock)
    store.append(STREAM, 2, [NewEvent("MoneyDeposited", 1, {"amount": 3})], METADATA)

    verdict = verify_log(store)

    assert verdict.intact
    (covered,) = verdict.partly_covered
    assert (covered.stream_id, covered.chained_from) == (STREAM, 3)
    assert store.read(STREAM)[2].previous_hash is None  # nothing to link to


def test_an_unhashed_event_recorded_after_hashing_began_elsewhere_is_evident() -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container, clock)
    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 1, {"amount": 3})], METADATA)
    clock.advance(timedelta(minutes=1))
    written_before_hashing(container, OTHER, 1, clock)  # its hash stripped, so it passes for an old one

    verdict = verify_log(store)

    (broken,) = verdict.broken
    assert broken.broken is not None
    assert (broken.stream_id, broken.broken.kind) == (OTHER, BreakKind.UNHASHED)


def written_before_hashing(container: FakeContainer, stream_id: str, count: int, clock: FakeClock) -> None:
    """Events as the store wrote them before the hash chain: the same documents, without the links."""
    scratch = CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH), clock)
    for version in range(count):
        scratch.append(stream_id, version, [NewEvent("MoneyDeposited", 1, {"amount": version})], METADATA)
    for event in scratch.read(stream_id):
        document = container.create_item(
            {
                "id": event_document_id(event.version),
                "kind": "event",
                "streamId": stream_id,
                "version": event.version,
                "eventId": str(event.event_id),
                "type": event.type,
                "schemaVersion": event.schema_version,
                "data": event.data,
                "metadata": event.metadata.model_dump(mode="json"),
                "recordedAt": event.recorded_at.isoformat().replace("+00:00", "Z"),
            }
        )
        assert from_document(document).event_hash is None


def test_a_sqlite_file_from_before_hashing_gets_the_columns_and_chains_from_its_next_append(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT "
            "NULL UNIQUE, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, schema_version INTEGER NOT "
            "NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, "
            "PRIMARY KEY (stream_id, version)) WITHOUT ROWID"
        )
        conn.execute(
            "INSERT INTO events VALUES (?, 1, 1, '0c0ffee0-0000-4000-8000-000000000001', "
            "'MoneyDeposited', 1, '{\"amount\":1}', ?, '2026-11-01T09:00:00+00:00')",
            (STREAM, METADATA.model_dump_json()),
        )
    store = SqliteEventStore(path, FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    try:
        store.append(STREAM, 1, [NewEvent("MoneyDeposited", 1, {"amount": 2})], METADATA)

        old, new = store.read(STREAM)
        verdict = verify_stream(STREAM, [old, new])
    finally:
        store.close()

    assert (old.event_hash, new.previous_hash) == (None, None)
    assert new.event_hash == event_hash(new, None)
    assert (verdict.broken, verdict.chained_from) == (None, 2)
