"""The read-model store port: view documents with the per-stream versions they have applied."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra.sqlite import SqliteDatabase


@dataclass(frozen=True)
class ViewDocument:
    id: str
    view: dict[str, Any]
    versions: dict[str, int] = field(default_factory=dict)
    etag: str | None = None


class ReadModelConflict(Exception):
    """The document changed (or appeared) since it was read: reload and apply again."""


class ReadModelStore(Protocol):
    """Documents keyed by (read model, id), written with etag conditions."""

    def get(self, model: str, document_id: str) -> ViewDocument | None:
        """The document and its etag, or None."""
        ...

    def put(self, model: str, document: ViewDocument) -> str:
        """Write `document` if the stored one still has `document.etag` (None: if none is stored).

        Returns the new etag; raises ReadModelConflict otherwise, so no update is ever lost.
        """
        ...


class InMemoryReadModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: dict[tuple[str, str], ViewDocument] = {}
        self._writes = 0

    def get(self, model: str, document_id: str) -> ViewDocument | None:
        with self._lock:
            return copy.deepcopy(self._documents.get((model, document_id)))

    def put(self, model: str, document: ViewDocument) -> str:
        with self._lock:
            stored = self._documents.get((model, document.id))
            if (stored.etag if stored else None) != document.etag:
                raise ReadModelConflict(f"{model}/{document.id} changed since it was read")
            self._writes += 1
            etag = str(self._writes)
            self._documents[(model, document.id)] = ViewDocument(
                document.id, copy.deepcopy(document.view), dict(document.versions), etag
            )
            return etag


SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
    model    TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    view     TEXT    NOT NULL,
    versions TEXT    NOT NULL,
    etag     INTEGER NOT NULL,
    PRIMARY KEY (model, id)
) WITHOUT ROWID;
"""


class SqliteReadModelStore:
    def __init__(self, path: Path | str) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def get(self, model: str, document_id: str) -> ViewDocument | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT view, versions, etag FROM views WHERE model = ? AND id = ?", (model, document_id)
            )
            .fetchone()
        )
        if row is None:
            return None
        return ViewDocument(document_id, json.loads(row[0]), json.loads(row[1]), str(row[2]))

    def put(self, model: str, document: ViewDocument) -> str:
        view, versions = json.dumps(document.view), json.dumps(document.versions)
        with self._db.transaction() as conn:
            if document.etag is None:
                inserted = conn.execute(
                    "INSERT INTO views VALUES (?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                    (model, document.id, view, versions),
                ).rowcount
                etag = 1
            else:
                etag = int(document.etag) + 1
                inserted = conn.execute(
                    "UPDATE views SET view = ?, versions = ?, etag = ? "
                    "WHERE model = ? AND id = ? AND etag = ?",
                    (view, versions, etag, model, document.id, int(document.etag)),
                ).rowcount
            if inserted != 1:
                raise ReadModelConflict(f"{model}/{document.id} changed since it was read")
        return str(etag)

    def close(self) -> None:
        self._db.close()
