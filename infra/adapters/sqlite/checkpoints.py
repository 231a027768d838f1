"""Checkpoints on SQLite: one row per name, in a local file (the dev host's Azure-mode positions)."""

from __future__ import annotations

from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS continuations (name TEXT PRIMARY KEY, continuation TEXT NOT NULL) WITHOUT ROWID;
"""


class SqliteCheckpoints:
    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def get(self, name: str) -> str | None:
        row = self._db.connection().execute("SELECT continuation FROM continuations WHERE name = ?", (name,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def put(self, name: str, position: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO continuations VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET continuation = excluded.continuation",
                (name, position),
            )

    def close(self) -> None:
        self._db.close()
