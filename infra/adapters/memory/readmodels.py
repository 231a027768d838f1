"""The read-model store in memory: for tests and laws, the same contract as every backend."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

from infra.ports.readmodels import (
    KEY_MAX,
    Progress,
    ReadModelConflict,
    ViewDocument,
    own_partition,
    progress_of,
    stored_partition,
)


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
