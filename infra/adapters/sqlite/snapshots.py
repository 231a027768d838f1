"""The snapshot store on SQLite: one row per stream, the newest snapshot only."""

from __future__ import annotations

from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase
from infra.ports.snapshots import Snapshot

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
