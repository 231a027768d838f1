"""The read-model store on Azure Cosmos DB, with the documents' own `_etag` as the condition."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.exceptions import (
    CosmosResourceNotFoundError,
)

from infra.adapters.cosmos.container import (
    LOST_RACE,
    CosmosContainer,
    check_id,
    request_charge,
    response_headers,
    transient_errors_as_unavailable,
)
from infra.formats.documents import format_time
from infra.ports.readmodels import (
    KEY_MAX,
    Progress,
    ReadModelConflict,
    ViewDocument,
    own_partition,
    stored_partition,
)

READMODELS_PARTITION_KEY_PATH = "/pk"


# The queries filter and sort on these only; the views themselves are never indexed, so a write pays
# for five index terms instead of one per property of the view.
READMODELS_INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [
        {"path": "/pk/?"},
        {"path": "/model/?"},
        {"path": "/key/?"},
        {"path": "/applied/?"},
        {"path": "/updatedAt/?"},
    ],
    "excludedPaths": [{"path": "/*"}, {"path": '/"_etag"/?'}],
}


# Single-partition (partition_key = the document's pk): a page of one partition by key. keys are strings,
# compared as strings.
# (TOP takes a parameter: learn.microsoft.com/azure/cosmos-db/nosql/query/parameterized-queries)
QUERY_ASCENDING = (
    "SELECT TOP @limit * FROM c WHERE c.pk = @pk AND c.key >= @from AND c.key < @before ORDER BY c.key ASC"
)


QUERY_DESCENDING = QUERY_ASCENDING.replace("ORDER BY c.key ASC", "ORDER BY c.key DESC")


# Cross-partition, for the operator's tools (verify, status), never on a request's hot path.
SCAN_QUERY = "SELECT * FROM c WHERE c.model = @model"


APPLIED_QUERY = "SELECT VALUE SUM(c.applied) FROM c WHERE c.model = @model"


NEWEST_QUERY = "SELECT VALUE MAX(c.updatedAt) FROM c WHERE c.model = @model"


class CosmosReadModelStore:
    """The ReadModelStore port on a `readmodels` container partitioned by `/pk`: a document per
    (model, partition, id), with id `<model>:<id>` and pk `<model>:<partition>`, so a stream's own
    document is a point read and a partition's documents are one single-partition query."""

    def __init__(self, container: CosmosContainer) -> None:
        self._container = container
        self._charged = 0.0
        self._charged_lock = threading.Lock()

    def request_units(self) -> float:
        """The request units this store's point reads and writes were charged so far, refusals included
        (a rebuild's throttle reads it)."""
        with self._charged_lock:
            return self._charged

    def _charge(self, headers: Mapping[str, Any] | None) -> None:
        charge = request_charge(headers)
        if charge:
            with self._charged_lock:
                self._charged += charge

    def get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        item_id = view_item_id(model, document_id)
        with transient_errors_as_unavailable():
            try:
                stored = self._container.read_item(
                    item_id, partition_key=partition_value(model, partition or document_id)
                )
            except CosmosResourceNotFoundError as error:
                self._charge(error.headers)
                return None
        self._charge(response_headers(stored))
        return _document(stored)

    def put(self, model: str, document: ViewDocument) -> str:
        item_id = view_item_id(model, document.id)
        body = {
            "id": item_id,
            "pk": partition_value(model, own_partition(document)),
            "model": model,
            "key": document.key,
            "view": document.view,
            "versions": document.versions,
            "applied": sum(document.versions.values()),
            "parked": document.parked,
            "updatedAt": None if document.updated_at is None else format_time(document.updated_at),
        }
        with transient_errors_as_unavailable():
            try:
                if document.etag is None:
                    stored = self._container.create_item(body=body)
                else:
                    stored = self._container.replace_item(
                        item_id, body, etag=document.etag, match_condition=MatchConditions.IfNotModified
                    )
            except LOST_RACE as error:  # 409 it exists, 412 it changed, 404 it is gone
                self._charge(error.headers)
                raise ReadModelConflict(f"{model}/{document.id} changed since it was read") from error
        self._charge(response_headers(stored))
        return str(stored["_etag"])

    def unit_of_work(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()  # each write is its own request

    def put_many(self, writes: Sequence[tuple[str, ViewDocument]]) -> list[str]:
        return [self.put(model, document) for model, document in writes]  # no transaction spans partitions

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
        pk = partition_value(model, partition)
        parameters: list[dict[str, object]] = [
            {"name": "@pk", "value": pk},
            {"name": "@from", "value": key_from},
            {"name": "@before", "value": key_before},
            {"name": "@limit", "value": limit},
        ]
        query = QUERY_DESCENDING if descending else QUERY_ASCENDING
        with transient_errors_as_unavailable():
            found = list(self._container.query_items(query=query, parameters=parameters, partition_key=pk))
        return [_document(stored) for stored in found]

    def scan(self, model: str) -> Iterator[ViewDocument]:
        with transient_errors_as_unavailable():
            found = list(self._cross_partition(SCAN_QUERY, model))
        return (_document(stored) for stored in found)

    def delete(self, model: str, document_id: str, partition: str | None = None) -> None:
        # (suppress is inside: a 404 is an answer, it is already gone)
        with transient_errors_as_unavailable(), contextlib.suppress(CosmosResourceNotFoundError):
            self._container.delete_item(
                view_item_id(model, document_id),
                partition_key=partition_value(model, partition or document_id),
            )

    def progress(self, model: str) -> Progress:
        with transient_errors_as_unavailable():
            applied = [value for value in self._cross_partition(APPLIED_QUERY, model) if value is not None]
            newest = [value for value in self._cross_partition(NEWEST_QUERY, model) if value is not None]
        return Progress(
            int(applied[0]) if applied else 0, datetime.fromisoformat(newest[0]) if newest else None
        )

    def _cross_partition(self, query: str, model: str) -> Iterable[Any]:
        return self._container.query_items(
            query=query, parameters=[{"name": "@model", "value": model}], enable_cross_partition_query=True
        )


def _document(stored: dict[str, Any]) -> ViewDocument:
    model = stored["model"]
    document_id = stored["id"][len(model) + 1 :]
    partition = stored["pk"][len(model) + 1 :]
    updated_at = stored.get("updatedAt")
    return ViewDocument(
        id=document_id,
        view=stored["view"],
        versions=stored["versions"],
        etag=stored["_etag"],
        partition=stored_partition(document_id, partition),
        key=stored.get("key", ""),
        parked=stored.get("parked"),
        updated_at=None if updated_at is None else datetime.fromisoformat(updated_at),
    )


def partition_value(model: str, partition: str) -> str:
    # A partition key value may hold any character (an email's / or #): it travels in a header, not a URL.
    return f"{model}:{partition}"


def view_item_id(model: str, document_id: str) -> str:
    item_id = f"{model}:{document_id}"
    try:
        check_id(item_id)
    except ValueError as refused:
        raise ValueError(f"{item_id!r}: not a Cosmos DB id ({refused})") from None
    return item_id
