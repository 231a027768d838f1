"""The embedded hub: a durable, partitioned SQLite log standing in for an event hub."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase, WakeUp, WakeUps
from infra.ports.eventstore import utc_now
from infra.ports.publisher import OutgoingMessage
from infra.ports.sources import HubMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    partition       INTEGER NOT NULL,
    sequence_number INTEGER NOT NULL,
    partition_key   TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    enqueued_time   TEXT    NOT NULL,
    PRIMARY KEY (partition, sequence_number)
) WITHOUT ROWID;
"""


class EmbeddedHub:
    """A durable, partitioned log standing in for an event hub: SQLite-backed, one file per hub.

    The partition comes from a stable hash of the partition key, so one stream's messages share a
    partition and keep their order. Readers keep their positions in a checkpoint store.
    """

    def __init__(
        self, path: Path | str, partition_count: int = 4, clock: Callable[[], datetime] = utc_now
    ) -> None:
        if partition_count < 1:
            raise ValueError("a hub needs at least one partition")
        self._db = SqliteDatabase(path, SCHEMA)
        self.partition_count = partition_count
        self._clock = clock
        self._published = [WakeUps() for _ in range(partition_count)]

    def partition_for(self, partition_key: str) -> int:
        return zlib.crc32(partition_key.encode()) % self.partition_count

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        enqueued_time = self._clock().isoformat()
        with self._db.transaction() as conn:
            for message in messages:
                partition = self.partition_for(message.partition_key)
                (last,) = conn.execute(
                    "SELECT coalesce(max(sequence_number), -1) FROM messages WHERE partition = ?",
                    (partition,),
                ).fetchone()
                conn.execute(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
                    (partition, last + 1, message.partition_key, message.body, enqueued_time),
                )
        for partition in {self.partition_for(message.partition_key) for message in messages}:
            self._published[partition].signal()

    def read(self, partition: int, after: int, max_count: int) -> list[HubMessage]:
        """The messages of `partition` after the sequence number `after` (-1: from the first), oldest first.
        Where a consumer group has got to is its own business (a checkpoint store)."""
        rows = (
            self._db.connection()
            .execute(
                "SELECT sequence_number, partition_key, body, enqueued_time FROM messages "
                "WHERE partition = ? AND sequence_number > ? ORDER BY sequence_number LIMIT ?",
                (partition, after, max_count),
            )
            .fetchall()
        )
        return [
            HubMessage(str(partition), row[0], row[1], bytes(row[2]), datetime.fromisoformat(row[3]))
            for row in rows
        ]

    def messages(self, partition: int) -> WakeUp:
        """A wake-up of its own for a reader of `partition` (one consumer group's), signalled whenever this
        process publishes to it, so the reader waits for that rather than polling."""
        return self._published[partition].listen()

    def close(self) -> None:
        self._db.close()
