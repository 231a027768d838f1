"""The read-model store port: view documents with the per-stream versions they have applied."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from infra.documents import format_time
from infra.sqlite import SqliteDatabase

# Above every key the projections write (they are ASCII): the open upper bound of a key range.
KEY_MAX = "\uffff"


@dataclass(frozen=True)
class ViewDocument:
    id: str
    view: dict[str, Any] | None
    versions: dict[str, int] = field(default_factory=dict)
    etag: str | None = None
    # Documents a query reads together share a partition; None: the document is its own partition.
    partition: str | None = None
    # The order of documents within their partition, and what a query's range bounds.
    key: str = ""
    # On a stream's document: the version its projection is parked at (a poison event), else None.
    parked: int | None = None
    # When the newest event it has applied was recorded.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Progress:
    """How far a model's documents have got: the sum of their per-stream versions, and the newest event."""

    applied: int
    newest: datetime | None


class ReadModelConflict(Exception):
    """The document changed (or appeared) since it was read: reload and apply again."""


class ReadModelStore(Protocol):
    """Documents keyed by (read model, partition, id), written with etag conditions."""

    def get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        """The document and its etag, or None."""
        ...

    def put(self, model: str, document: ViewDocument) -> str:
        """Write `document` if the stored one still has `document.etag` (None: if none is stored).

        Returns the new etag; raises ReadModelConflict otherwise, so no update is ever lost.
        """
        ...

    def put_many(self, writes: Sequence[tuple[str, ViewDocument]]) -> list[str]:
        """Each (model, document) as `put` would write it, in order, stopping with ReadModelConflict at the
        first whose etag no longer matches; returns their new etags. An adapter may write them all or none
        (SQLite does); others may have written the ones before the conflict (Cosmos DB: documents of
        different partitions share no transaction)."""
        ...

    def unit_of_work(self) -> AbstractContextManager[object]:
        """A scope whose writes this adapter may commit together, once, at its end, whether or not the
        scope raised (SQLite does: one transaction per read model and delivered batch); each write still
        succeeds or conflicts on its own, and a put_many inside it may stop half-way, as on Cosmos DB."""
        ...

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
        """Up to `limit` documents of one partition with `key_from <= key < key_before`, ordered by key."""
        ...

    def scan(self, model: str) -> Iterator[ViewDocument]:
        """Every document of the model, in no particular order."""
        ...

    def delete(self, model: str, document_id: str, partition: str | None = None) -> None:
        """Remove the document, if it is there (pruning a generation no reader or writer uses)."""
        ...

    def progress(self, model: str) -> Progress:
        """The sum of every document's versions and the latest `updated_at`, over the whole model."""
        ...


def own_partition(document: ViewDocument) -> str:
    return document.id if document.partition is None else document.partition


def stored_partition(document_id: str, partition: str) -> str | None:
    return None if partition == document_id else partition


class InMemoryReadModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: dict[tuple[str, str, str], ViewDocument] = {}
        self._writes = 0

    def get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        with self._lock:
            return copy.deepcopy(self._documents.get((model, partition or document_id, document_id)))

    def put(self, model: str, document: ViewDocument) -> str:
        partition = own_partition(document)
        with self._lock:
            stored = self._documents.get((model, partition, document.id))
            if (stored.etag if stored else None) != document.etag:
                raise ReadModelConflict(f"{model}/{document.id} changed since it was read")
            self._writes += 1
            etag = str(self._writes)
            self._documents[(model, partition, document.id)] = replace(
                copy.deepcopy(document), etag=etag, partition=stored_partition(document.id, partition)
            )
            return etag

    def put_many(self, writes: Sequence[tuple[str, ViewDocument]]) -> list[str]:
        return [self.put(model, document) for model, document in writes]

    def unit_of_work(self) -> AbstractContextManager[object]:
        return nullcontext()

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
        with self._lock:
            found = [
                copy.deepcopy(document)
                for (m, p, _), document in self._documents.items()
                if m == model and p == partition and key_from <= document.key < key_before
            ]
        return sorted(found, key=lambda document: document.key, reverse=descending)[:limit]

    def scan(self, model: str) -> Iterator[ViewDocument]:
        with self._lock:
            found = [copy.deepcopy(d) for (m, _, _), d in self._documents.items() if m == model]
        return iter(found)

    def delete(self, model: str, document_id: str, partition: str | None = None) -> None:
        with self._lock:
            self._documents.pop((model, partition or document_id, document_id), None)

    def progress(self, model: str) -> Progress:
        return progress_of(self.scan(model))


def progress_of(documents: Iterator[ViewDocument]) -> Progress:
    applied, newest = 0, None
    for document in documents:
        applied += sum(document.versions.values())
        if document.updated_at is not None and (newest is None or document.updated_at > newest):
            newest = document.updated_at
    return Progress(applied, newest)


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
