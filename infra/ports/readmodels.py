"""The read-model store port: view documents with the per-stream versions they have applied."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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


def progress_of(documents: Iterator[ViewDocument]) -> Progress:
    applied, newest = 0, None
    for document in documents:
        applied += sum(document.versions.values())
        if document.updated_at is not None and (newest is None or document.updated_at > newest):
            newest = document.updated_at
    return Progress(applied, newest)
