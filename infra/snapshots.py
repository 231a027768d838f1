"""Snapshots of aggregate state, so loading a long stream reads a snapshot and the events after it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from infra.sqlite import SqliteDatabase


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_id: str
    version: int
    state_version: int
    state: dict[str, Any]


class SnapshotStore(Protocol):
    """The latest snapshot per stream. Snapshots are a cache of the events: losing one costs a replay."""

    def get(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, if any."""
        ...

    def put(self, snapshot: Snapshot) -> None:
        """Keep `snapshot` unless a snapshot of a later version is already kept."""
        ...


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}

    def get(self, stream_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(stream_id)

    def put(self, snapshot: Snapshot) -> None:
        with self._lock:
            kept = self._snapshots.get(snapshot.stream_id)
            if kept is None or kept.version < snapshot.version:
                self._snapshots[snapshot.stream_id] = snapshot.model_copy(deep=True)


SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    snapshot  TEXT    NOT NULL
) WITHOUT ROWID;
"""


class SqliteSnapshotStore:
    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def get(self, stream_id: str) -> Snapshot | None:
        row = (
            self._db.connection()
            .execute("SELECT snapshot FROM snapshots WHERE stream_id = ?", (stream_id,))
            .fetchone()
        )
        return None if row is None else Snapshot.model_validate_json(row[0])

    def put(self, snapshot: Snapshot) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO snapshots VALUES (?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET version = "
                "excluded.version, snapshot = excluded.snapshot WHERE excluded.version > snapshots.version",
                (snapshot.stream_id, snapshot.version, snapshot.model_dump_json()),
            )

    def close(self) -> None:
        self._db.close()
