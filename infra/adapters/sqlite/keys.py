"""The key store on SQLite: one row per data subject; a destroyed key is deleted and its page zeroed."""

from __future__ import annotations

import secrets
from pathlib import Path

from infra.adapters.sqlite.database import SqliteDatabase
from infra.ports.keys import KEY_BYTES

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    subject TEXT PRIMARY KEY,
    key     BLOB NOT NULL
) WITHOUT ROWID;
"""


class SqliteKeyStore:
    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def get(self, subject: str) -> bytes | None:
        row = self._db.connection().execute("SELECT key FROM keys WHERE subject = ?", (subject,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_or_create(self, subject: str) -> bytes:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO keys VALUES (?, ?) ON CONFLICT (subject) DO NOTHING",
                (subject, secrets.token_bytes(KEY_BYTES)),
            )
            (key,) = conn.execute("SELECT key FROM keys WHERE subject = ?", (subject,)).fetchone()
        return bytes(key)

    def destroy(self, subject: str) -> bool:
        with self._db.transaction() as conn:
            destroyed = conn.execute("DELETE FROM keys WHERE subject = ?", (subject,)).rowcount > 0
        self._db.purge()
        return destroyed

    def close(self) -> None:
        self._db.close()
