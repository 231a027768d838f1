"""The SQLite event store's layout: files from before the lighter append are moved to it on open, with
nothing lost and every position kept."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.formats.chain import event_hash
from infra.ports.eventstore import Metadata, NewEvent

METADATA = Metadata(correlation_id="c-1")
OLD_LAYOUT = (
    "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL "
    "UNIQUE, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT "
    "NOT NULL, metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, event_hash TEXT, previous_hash TEXT, "
    "PRIMARY KEY (stream_id, version)) WITHOUT ROWID"
)


def stream() -> str:
    return f"account-{uuid.uuid4()}"


def old_file(path: Path, rows: list[tuple[str, int, int]]) -> None:
    """A file in the layout before the lighter append, holding (stream, version, position) rows."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(OLD_LAYOUT)
        for stream_id, version, position in rows:
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, 'MoneyDeposited', 1, ?, ?, "
                "'2026-11-01T09:00:00+00:00', NULL, NULL)",
                (
                    stream_id,
                    version,
                    position,
                    str(uuid.uuid4()),
                    f'{{"amount":{position}}}',
                    METADATA.model_dump_json(),
                ),
            )


def layout(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        return str(sql)


def test_an_old_file_is_moved_to_the_rowid_layout_with_every_event_and_position_kept(tmp_path: Path) -> None:
    a, b = stream(), stream()
    path = tmp_path / "events.sqlite"
    old_file(path, [(a, 1, 1), (b, 1, 2), (a, 2, 3), (b, 2, 4), (a, 3, 5)])

    store = SqliteEventStore(path)
    try:
        moved = store.read_all(0, 100)
        store.append(b, 2, [NewEvent("MoneyDeposited", 1, {"amount": 6})], METADATA)
        after = store.read_all(5, 100)
        streams = ([e.version for e in store.read(a)], [e.version for e in store.read(b)])
    finally:
        store.close()

    assert [(p, e.stream_id, e.version, e.data["amount"]) for p, e in moved] == [
        (1, a, 1, 1),
        (2, b, 1, 2),
        (3, a, 2, 3),
        (4, b, 2, 4),
        (5, a, 3, 5),
    ]
    assert [(p, e.stream_id, e.version) for p, e in after] == [(6, b, 3)]
    assert streams == ([1, 2, 3], [1, 2, 3])
    assert "WITHOUT ROWID" not in layout(path).upper()


def test_the_moved_file_keeps_refusing_a_version_already_taken(tmp_path: Path) -> None:
    a = stream()
    path = tmp_path / "events.sqlite"
    old_file(path, [(a, 1, 1)])
    SqliteEventStore(path).close()

    with closing(sqlite3.connect(path)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata, "
            "recorded_at) VALUES (?, 1, 'x', 'MoneyDeposited', 1, '{}', '{}', 't')",
            (a,),
        )


def test_processes_opening_an_old_file_at_once_move_it_once(tmp_path: Path) -> None:
    a = stream()
    path = tmp_path / "events.sqlite"
    old_file(path, [(a, version, version) for version in range(1, 201)])
    stores: list[SqliteEventStore] = []
    failures: list[BaseException] = []

    def open_it() -> None:
        try:
            stores.append(SqliteEventStore(path))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        head = stores[0].append(a, 200, [NewEvent("MoneyDeposited", 1, {"amount": 1})], METADATA)
        events = stores[-1].read(a)
    finally:
        for store in stores:
            store.close()

    assert failures == []
    assert [e.version for e in events] == list(range(1, 202))
    assert head.event_hash == event_hash(events[-1], None)
