"""Checkpoints on SQLite: one row per name, in a local file: where the embedded backend's change feed and
hub readers are, and the dev host's positions in Azure mode."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase
from infra.adapters.sqlite.sources import hub_position_name

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

    def advance(self, name: str, position: int) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO continuations VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET continuation = "
                "CASE WHEN CAST(continuation AS INTEGER) < CAST(excluded.continuation AS INTEGER) "
                "THEN excluded.continuation ELSE continuation END",
                (name, str(position)),
            )

    def empty(self) -> bool:
        return self._db.connection().execute("SELECT 1 FROM continuations LIMIT 1").fetchone() is None

    def close(self) -> None:
        self._db.close()


def adopt_legacy_positions(checkpoints: SqliteCheckpoints, events: Path, hub: Path) -> None:
    """Positions kept by an earlier version in the event store's `leases` and the hub's `checkpoints`
    tables, copied once into an empty checkpoint store, so an upgrade neither relays nor projects again."""
    if not checkpoints.empty():
        return
    for path, query, name in (
        (events, "SELECT name, position FROM leases", str),
        (hub, "SELECT consumer_group, partition, sequence_number FROM checkpoints", hub_position_name),
    ):
        if not path.exists():
            continue
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                rows = conn.execute(query).fetchall()
            except sqlite3.OperationalError:  # no such table: nothing to adopt
                continue
        for *key, position in rows:
            checkpoints.advance(name(*key), int(position))
