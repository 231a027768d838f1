"""The read-model store on SQLite: documents by (model, partition, id) with a key, an etag and the
versions they applied, in one WAL file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.adapters.sqlite.database import SqliteDatabase
from infra.formats.documents import format_time
from infra.ports.readmodels import (
    KEY_MAX,
    Progress,
    ReadModelConflict,
    ViewDocument,
    own_partition,
    stored_partition,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    model      TEXT    NOT NULL,
    partition  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    view       TEXT,
    versions   TEXT    NOT NULL,
    applied    INTEGER NOT NULL,
    parked     INTEGER,
    updated_at TEXT,
    etag       INTEGER NOT NULL,
    PRIMARY KEY (model, partition, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_key ON documents (model, partition, key);
"""


_COLUMNS = "id, partition, key, view, versions, parked, updated_at, etag"


class SqliteReadModelStore:
    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        row = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM documents WHERE model = ? AND partition = ? AND id = ?",
                (model, partition or document_id, document_id),
            )
            .fetchone()
        )
        return None if row is None else _document(row)

    def put(self, model: str, document: ViewDocument) -> str:
        with self._db.transaction() as conn:
            return self._write(conn, model, document)

    def put_many(self, writes: Sequence[tuple[str, ViewDocument]]) -> list[str]:
        with self._db.transaction() as conn:  # all or nothing (unless inside a unit of work)
            return [self._write(conn, model, document) for model, document in writes]

    def unit_of_work(self) -> AbstractContextManager[object]:
        return self._db.batch()

    def _write(self, conn: sqlite3.Connection, model: str, document: ViewDocument) -> str:
        values = {
            "model": model,
            "partition": own_partition(document),
            "id": document.id,
            "key": document.key,
            "view": None if document.view is None else json.dumps(document.view),
            "versions": json.dumps(document.versions),
            "applied": sum(document.versions.values()),
            "parked": document.parked,
            "updated_at": None if document.updated_at is None else format_time(document.updated_at),
        }
        if document.etag is None:
            etag = 1
            written = conn.execute(
                "INSERT INTO documents VALUES (:model, :partition, :id, :key, :view, :versions, "
                ":applied, :parked, :updated_at, 1) ON CONFLICT DO NOTHING",
                values,
            ).rowcount
        else:
            etag = int(document.etag) + 1
            written = conn.execute(
                "UPDATE documents SET key = :key, view = :view, versions = :versions, "
                "applied = :applied, parked = :parked, updated_at = :updated_at, etag = :etag "
                "WHERE model = :model AND partition = :partition AND id = :id AND etag = :expected",
                {**values, "etag": etag, "expected": int(document.etag)},
            ).rowcount
        if written != 1:
            raise ReadModelConflict(f"{model}/{document.id} changed since it was read")
        return str(etag)

    def query(
        self,
        model: str,
        partition: str,
        *,
        key_from: str = "",
        key_before: str = KEY_MAX,
        descending: bool = False,
        limit: int = 100,
    ) -> list[ViewDocument]:
        order = "DESC" if descending else "ASC"
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM documents WHERE model = ? AND partition = ? "
                f"AND key >= ? AND key < ? ORDER BY key {order} LIMIT ?",
                (model, partition, key_from, key_before, limit),
            )
            .fetchall()
        )
        return [_document(row) for row in rows]

    def scan(self, model: str) -> Iterator[ViewDocument]:
        rows = self._db.connection().execute(f"SELECT {_COLUMNS} FROM documents WHERE model = ?", (model,))
        return (_document(row) for row in rows.fetchall())

    def delete(self, model: str, document_id: str, partition: str | None = None) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM documents WHERE model = ? AND partition = ? AND id = ?",
                (model, partition or document_id, document_id),
            )

    def progress(self, model: str) -> Progress:
        applied, newest = (
            self._db.connection()
            .execute(
                "SELECT coalesce(sum(applied), 0), max(updated_at) FROM documents WHERE model = ?", (model,)
            )
            .fetchone()
        )
        return Progress(int(applied), None if newest is None else datetime.fromisoformat(newest))

    def close(self) -> None:
        self._db.close()


def _document(row: tuple[Any, ...]) -> ViewDocument:
    document_id, partition, key, view, versions, parked, updated_at, etag = row
    return ViewDocument(
        id=document_id,
        view=None if view is None else json.loads(view),
        versions=json.loads(versions),
        etag=str(etag),
        partition=stored_partition(document_id, partition),
        key=key,
        parked=parked,
        updated_at=None if updated_at is None else datetime.fromisoformat(updated_at),
    )
