"""The event store on SQLite: one transaction per append, events in a rowid table whose rowid is the
global position (in which order the embedded change feed reads them), under one unique key, (stream,
version)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase, WakeUp, WakeUps
from infra.formats.chain import canonical_metadata, canonical_text, links
from infra.formats.documents import format_time
from infra.ports.eventstore import (
    ConcurrencyError,
    IdempotencyRecord,
    Metadata,
    NewEvent,
    StoredEvent,
    StoreTotals,
    StreamHead,
    utc_now,
    validate_append,
    validate_stream_id,
)

# The layout, and why: `position` is the rowid (an insert without one gets the largest so far plus one, and
# events are never deleted, so positions grow in commit order), read in order by the change feed; the one
# unique key (stream, version) is the concurrency guard and what reading a stream uses. Nothing reads by
# event id (an id is a uuid4, unique with no index to keep it so). Each append writes the table and that
# one index.
_EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    data           TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    event_hash     TEXT,
    previous_hash  TEXT,
    UNIQUE (stream_id, version)
);"""
SCHEMA = (
    _EVENTS_TABLE
    + """
CREATE TABLE IF NOT EXISTS idempotency (
    stream_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (stream_id, key)
) WITHOUT ROWID;
"""
)

_COLUMNS = (
    "stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, "
    "event_hash, previous_hash"
)
# An event as one JSON object, put together by SQLite and parsed by pydantic in one call (a third of the
# time of reading the columns and parsing each in Python: this is every read of the log)
_EVENT_JSON = (
    "json_object('event_id', event_id, 'stream_id', stream_id, 'version', version, 'type', type, "
    "'schema_version', schema_version, 'data', json(data), 'metadata', json(metadata), "
    "'recorded_at', recorded_at, 'event_hash', event_hash, 'previous_hash', previous_hash)"
)
# Files written before the hash chain have events without these columns: they are added (empty) on open.
_CHAIN_COLUMNS = ("event_hash", "previous_hash")


class SqliteEventStore:
    """The embedded event store: one SQLite file, one transaction per append.

    Each event also gets a global `position`, allocated inside the write transaction: writers are
    serialised, so positions become visible in order and a reader tailing `position > last` never
    skips one. The embedded change feed reads by it.
    """

    def __init__(self, path: Path | str, clock: Callable[[], datetime] = utc_now, chain: bool = True) -> None:
        # chain=False stores events unhashed, as before the hash chain: only `make bench` does, to weigh it
        self._db = SqliteDatabase(path, SCHEMA)
        self._clock = clock
        self._chain = chain
        self._appended = WakeUps()
        with self._db.transaction() as conn:
            present = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for column in _CHAIN_COLUMNS:
                if column not in present:
                    conn.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")
            _adopt_the_rowid_layout(conn)

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        validate_append(stream_id, expected_version, events)
        # the texts stored are the canonical ones the hash chain hashes: each put together once, and the
        # rows written straight from what the append was given (validate_append checked it)
        metadata_json = canonical_metadata(metadata)
        data_json = [canonical_text(event.data) for event in events]
        event_ids = [str(event.event_id) for event in events]

        def append_in(conn: sqlite3.Connection) -> StreamHead:
            # the stream's last event, in the transaction: its version is the concurrency check, its
            # hash the new events' link (the caller's `head` would save nothing here)
            last = conn.execute(
                "SELECT version, event_hash FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1",
                (stream_id,),
            ).fetchone()
            actual, previous = (0, None) if last is None else last
            if actual != expected_version:
                raise ConcurrencyError(stream_id, expected_version, actual)
            recorded_at = format_time(self._clock())
            hashes: list[str | None] = [None] * len(events)
            if self._chain:
                hashes[:] = links(
                    stream_id,
                    expected_version,
                    events,
                    event_ids,
                    data_json,
                    metadata_json,
                    recorded_at,
                    previous,
                )
            links_from = [previous if self._chain else None, *hashes]
            conn.executemany(
                f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        stream_id,
                        expected_version + offset,
                        event_ids[offset - 1],
                        event.type,
                        event.schema_version,
                        data_json[offset - 1],
                        metadata_json,
                        recorded_at,
                        hashes[offset - 1],
                        links_from[offset - 1],
                    )
                    for offset, event in enumerate(events, start=1)
                ],
            )
            if idempotency is not None:
                conn.execute(
                    "INSERT INTO idempotency (stream_id, key, record) VALUES (?, ?, ?)",
                    (stream_id, idempotency.key, idempotency.model_dump_json()),
                )
            return StreamHead(expected_version + len(events), hashes[-1] if hashes else previous)

        try:
            # group commit: appends of other threads arriving meanwhile share the transaction, each in a
            # savepoint of its own (a conflict undoes only its own append)
            new_head = self._db.grouped(append_in)
        except sqlite3.IntegrityError as error:
            raise ConcurrencyError(stream_id, expected_version) from error
        self._appended.signal()
        return new_head

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        validate_stream_id(stream_id)
        sql = f"SELECT {_EVENT_JSON} FROM events WHERE stream_id = ? AND version >= ?"
        params: list[object] = [stream_id, from_version]
        if to_version is not None:
            sql += " AND version <= ?"
            params.append(to_version)
        rows = self._db.connection().execute(sql + " ORDER BY version", params).fetchall()
        events = [StoredEvent.model_validate_json(row[0]) for row in rows]
        if until is not None:
            events = [event for event in events if event.recorded_at <= until]
        return events

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        row = (
            self._db.connection()
            .execute("SELECT record FROM idempotency WHERE stream_id = ? AND key = ?", (stream_id, key))
            .fetchone()
        )
        return None if row is None else IdempotencyRecord.model_validate_json(row[0])

    def streams(self) -> Iterator[str]:
        rows = self._db.connection().execute("SELECT stream_id FROM events WHERE version = 1").fetchall()
        return (row[0] for row in rows)

    def scan(self, page_size: int) -> Iterator[list[StoredEvent]]:
        after = 0
        while page := self.read_all(after, page_size):
            after = page[-1][0]
            yield [event for _, event in page]

    def totals(self) -> StoreTotals:
        conn = self._db.connection()
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
        # the last appended is the newest: recorded_at is taken inside the serialised write transaction
        newest = conn.execute("SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1").fetchone()
        return StoreTotals(count, None if newest is None else datetime.fromisoformat(newest[0]))

    # --- the embedded change feed's side of the store ---

    def read_all(self, after_position: int, limit: int) -> list[tuple[int, StoredEvent]]:
        """Committed events of every stream in position order, after `after_position`."""
        rows = (
            self._db.connection()
            .execute(
                f"SELECT position, {_EVENT_JSON} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (after_position, limit),
            )
            .fetchall()
        )
        return [(row[0], StoredEvent.model_validate_json(row[1])) for row in rows]

    def appends(self) -> WakeUp:
        """A wake-up of its own for a reader of this store (a change feed), signalled whenever this process
        appends, so the reader waits for that rather than polling."""
        return self._appended.listen()

    def close(self) -> None:
        self._db.close()


def _adopt_the_rowid_layout(conn: sqlite3.Connection) -> None:
    """Files from before the lighter append keep events in a table clustered by (stream, version) with
    `position` and `event_id` under unique indexes of their own: copied, in position order, into today's
    layout, in the caller's transaction (so the file is either as it was or moved, and a process opening it
    meanwhile waits, then finds it moved)."""
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
    if "WITHOUT ROWID" not in sql.upper():
        return
    conn.execute("ALTER TABLE events RENAME TO events_before_rowid")
    conn.execute(_EVENTS_TABLE)
    conn.execute(
        f"INSERT INTO events (position, {_COLUMNS}) "
        f"SELECT position, {_COLUMNS} FROM events_before_rowid ORDER BY position"
    )
    conn.execute("DROP TABLE events_before_rowid")
