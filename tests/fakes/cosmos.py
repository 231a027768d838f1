"""FakeContainer: the slice of `azure.cosmos.ContainerProxy` the Cosmos adapters use, in memory, with the
service's semantics and the SDK's own exceptions.

- Items are keyed by (partition key value, id); an id is unique within its logical partition.
- Every write sets a new `_etag` and `_ts`; reads return copies, as the SDK returns freshly parsed JSON.
- A transactional batch is atomic. A failing operation carries its own status, the others 424, raised as
  the SDK raises it (azure/cosmos/_cosmos_client_connection.py, `Batch`).
- Queries: exactly the adapters' query texts, evaluated in Python; a cross-partition one only with
  enable_cross_partition_query, as the service requires.
- The change feed: the latest version of each item, in the order of their last writes, across partitions.
- Point operations return the SDK's CosmosDict with response headers, charged as Cosmos DB's published
  figures for small items go: a read 1 request unit per started KB, a create or replace 5 (the service's
  real charge also depends on the indexing policy and the consistency level).

Anything else raises NotImplementedError rather than pretend.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any

from azure.core import MatchConditions
from azure.core.paging import ItemPaged
from azure.core.utils import CaseInsensitiveDict
from azure.cosmos._constants import _Constants
from azure.cosmos._cosmos_responses import CosmosDict
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from infra.adapters.cosmos.container import INVALID_ID_CHARACTERS, BatchOperation, ResponseHook, check_id
from infra.adapters.cosmos.eventstore import (
    COUNT_EVENTS_QUERY,
    NEWEST_EVENT_QUERY,
    READ_EVENTS_QUERY,
    STREAM_IDS_QUERY,
)
from infra.adapters.cosmos.readmodels import (
    APPLIED_QUERY,
    NEWEST_QUERY,
    QUERY_ASCENDING,
    QUERY_DESCENDING,
    SCAN_QUERY,
)

MAX_BATCH_OPERATIONS = 100
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_ID_BYTES = 1023
# An item without its partition-key property lives in the "undefined" logical partition, which no string
# partition key names: only cross-partition reads see it.
UNDEFINED_PARTITION = "\x00undefined"
CONTINUATION_PREFIX = "fake-change-feed:"


# Cosmos DB's gateway refuses a cross-partition aggregate (400, sub-status 1004) and the SDK computes it
# from the query plan: over no documents SUM and MAX come back as one None, COUNT as 0
# (azure/cosmos/_execution_context/aggregators.py). The wire server serves them itself and answers SUM 0
# and no MAX instead (tests/contract/test_cosmos_conformance.py pins that divergence).
def _aggregate(reduce: Callable[[list[Any]], Any], field: str) -> Callable[[list[dict[str, Any]]], list[Any]]:
    def over(documents: list[dict[str, Any]]) -> list[Any]:
        values = [document[field] for document in documents if document.get(field) is not None]
        return [reduce(values)] if values else [None]

    return over


def _count(documents: list[dict[str, Any]]) -> list[Any]:
    return [len(documents)]


ALL_ITEMS_QUERY = "SELECT * FROM c"
CROSS_PARTITION_QUERIES: dict[str, Callable[[list[dict[str, Any]]], list[Any]]] = {
    ALL_ITEMS_QUERY: lambda documents: documents,
    SCAN_QUERY: lambda documents: documents,
    APPLIED_QUERY: _aggregate(sum, "applied"),
    NEWEST_QUERY: _aggregate(max, "updatedAt"),
    COUNT_EVENTS_QUERY: _count,
    STREAM_IDS_QUERY: lambda documents: [
        document["streamId"] for document in documents if document.get("version") == 1
    ],
    NEWEST_EVENT_QUERY: _aggregate(max, "recordedAt"),
}


def _matches_scope(document: dict[str, Any], values: dict[str, object]) -> bool:
    if not values:
        return True
    if "@model" in values:
        return document.get("model") == values["@model"]
    return document.get("kind") == values["@kind"]


Key = tuple[str, str]


class FakeContainer:
    """One container, partitioned by a top-level `partition_key_path`; safe to share between threads."""

    def __init__(self, partition_key_path: str = "/id") -> None:
        if not partition_key_path.startswith("/") or "/" in partition_key_path[1:]:
            raise NotImplementedError(f"partition key path {partition_key_path!r}: only top-level paths")
        self.partition_key_path = partition_key_path
        self._lock = threading.Lock()
        self._items: dict[Key, dict[str, Any]] = {}
        self._positions: dict[Key, int] = {}  # the change-feed position of each item's last write
        self._last_position = 0

    # --- point operations ---

    def read_item(self, item: str, partition_key: str) -> dict[str, Any]:
        with self._lock:
            stored = self._items.get((partition_key, item))
            if stored is None:
                raise _not_found(item)
            return _answer(stored, READ_CHARGE_PER_KB)

    def create_item(self, body: dict[str, Any]) -> dict[str, Any]:
        document = _as_sent(body)
        key = self._key_of(document)
        with self._lock:
            if key in self._items:
                raise _exists(key[1])
            return _answer(self._write(key, document), WRITE_CHARGE_PER_KB)

    def delete_item(self, item: str, partition_key: str) -> None:
        with self._lock:
            if self._items.pop((partition_key, item), None) is None:
                raise _not_found(item)
            del self._positions[(partition_key, item)]  # the latest-version change feed shows no deletes

    def replace_item(
        self,
        item: str,
        body: dict[str, Any],
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> dict[str, Any]:
        if match_condition not in (None, MatchConditions.IfNotModified):
            raise NotImplementedError(f"match condition {match_condition}")
        document = _as_sent(body)
        if document.get("id") != item:
            raise _bad_request("the body's id differs from the id of the item replaced")
        key = self._key_of(document)
        with self._lock:
            stored = self._items.get(key)
            if stored is None:
                raise _not_found(item)
            if match_condition is MatchConditions.IfNotModified and stored["_etag"] != etag:
                raise cosmos_error(
                    CosmosAccessConditionFailedError,
                    412,
                    "Operation cannot be performed because one of the specified precondition is not met.",
                )
            return _answer(self._write(key, document), WRITE_CHARGE_PER_KB)

    # --- the transactional batch ---

    def execute_item_batch(
        self, batch_operations: Sequence[BatchOperation], partition_key: str
    ) -> list[dict[str, Any]]:
        if len(batch_operations) > MAX_BATCH_OPERATIONS:
            raise _bad_request("Batch request has more operations than what is supported.")
        if _size(list(batch_operations)) > MAX_REQUEST_BYTES:
            raise cosmos_error(CosmosHttpResponseError, 413, "Request size is too large.")
        with self._lock:
            staged = dict(self._items)
            outcomes: list[tuple[int, dict[str, Any]]] = []
            for index, (operation, args, options) in enumerate(batch_operations):
                if options:
                    raise NotImplementedError(f"batch operation options {sorted(options)}")
                status, document = self._stage(operation.lower(), args, partition_key, staged)
                if status >= 400:
                    raise batch_error(index, status, len(batch_operations))
                outcomes.append((status, document))
            responses = []
            self._last_position += 1  # one transaction: its writes share one change-feed position
            for status, document in outcomes:  # every operation succeeded: commit them all
                if status == 201:
                    document = self._write((partition_key, document["id"]), document, in_batch=True)
                responses.append(
                    {
                        "statusCode": status,
                        "requestCharge": 1.0,
                        "eTag": document.get("_etag"),
                        "resourceBody": copy.deepcopy(document),
                    }
                )
            return responses

    def _stage(
        self, operation: str, args: tuple[Any, ...], partition_key: str, staged: dict[Key, dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        if operation == "create":
            document = _as_sent(args[0])
            try:
                key = self._key_of(document, client_side=False)
            except CosmosHttpResponseError:
                return 400, {}
            if key[0] != partition_key:
                return 400, {}  # the service refuses an item of another partition
            if key in staged:
                return 409, {}
            if _size(document) > MAX_REQUEST_BYTES:
                return 413, {}
            staged[key] = document
            return 201, document
        if operation == "read":
            found = staged.get((partition_key, args[0]))
            return (404, {}) if found is None else (200, copy.deepcopy(found))
        raise NotImplementedError(f"batch operation {operation!r}")

    # --- queries ---

    def query_items(
        self,
        query: str,
        parameters: list[dict[str, object]] | None = None,
        partition_key: str | None = None,
        enable_cross_partition_query: bool | None = None,
    ) -> ItemPaged[Any]:
        """Lazy, as the SDK's pager: the query runs, and fails, when the results are first read."""
        values = {str(parameter["name"]): parameter["value"] for parameter in parameters or []}

        def get_next(token: str | None) -> list[Any]:
            if token is not None:
                raise StopIteration
            return self._results(query, values, partition_key, enable_cross_partition_query)

        def extract_data(results: list[Any]) -> tuple[str, Iterator[Any]]:
            return "done", iter(results)

        return ItemPaged(get_next, extract_data)

    def _results(
        self,
        query: str,
        values: dict[str, object],
        partition_key: str | None,
        enable_cross_partition_query: bool | None,
    ) -> list[Any]:
        if query == ALL_ITEMS_QUERY and partition_key is not None:
            return self._select(partition_key, lambda document: True)
        if query == READ_EVENTS_QUERY:
            found = self._select(partition_key, lambda document: _matches_read_events(document, values))
            return sorted(found, key=lambda document: int(document["version"]))
        if query in (QUERY_ASCENDING, QUERY_DESCENDING):
            found = self._select(
                partition_key,
                lambda document: (
                    document.get("pk") == values["@pk"]
                    and str(values["@from"]) <= document["key"] < str(values["@before"])
                ),
            )
            ordered = sorted(
                found, key=lambda document: str(document["key"]), reverse=query == QUERY_DESCENDING
            )
            limit = values["@limit"]
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise _bad_request("The count value provided for a TOP clause must be an integer.")
            return ordered[:limit]
        if query in CROSS_PARTITION_QUERIES:
            if partition_key is not None or not enable_cross_partition_query:
                raise _bad_request("a query across partitions needs enable_cross_partition_query")
            documents = self._select(None, lambda document: _matches_scope(document, values))
            return CROSS_PARTITION_QUERIES[query](documents)
        raise NotImplementedError(f"query {query!r}: the fake knows only the adapters' queries")

    def _select(
        self, partition_key: str | None, matches: Callable[[dict[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(document)
                for (pk, _), document in self._items.items()
                if (partition_key is None or pk == partition_key) and matches(document)
            ]

    # --- the change feed (pull model) ---

    def query_items_change_feed(
        self,
        *,
        max_item_count: int | None = None,
        start_time: str | None = None,
        continuation: str | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ItemPaged[dict[str, Any]]:
        if continuation is not None:
            start = _position(continuation)
        elif start_time == "Beginning":
            start = 0
        else:
            raise NotImplementedError(f"change feed from start_time={start_time!r}")
        page_size = max_item_count or 100

        def get_next(token: str | None) -> list[tuple[int, dict[str, Any]]]:
            after = start if token is None else _position(token)
            with self._lock:
                pending = sorted(
                    (
                        (position, copy.deepcopy(self._items[key]))
                        for key, position in self._positions.items()
                        if position > after
                    ),
                    key=lambda change: change[0],
                )
                # a page ends at a transaction's end: the page size is a hint the service exceeds rather
                # than split one transaction's changes
                size = min(page_size, len(pending))
                while 0 < size < len(pending) and pending[size][0] == pending[size - 1][0]:
                    size += 1
                changed = pending[:size]
                reached = changed[-1][0] if changed else after
            if response_hook is not None:  # as the SDK: the response's headers, the continuation as "etag"
                response_hook(
                    {"etag": f"{CONTINUATION_PREFIX}{reached}"}, [document for _, document in changed]
                )
            if not changed:
                raise StopIteration  # as the SDK's change-feed iterable ends on 304 Not Modified
            return changed

        def extract_data(
            page: list[tuple[int, dict[str, Any]]],
        ) -> tuple[str, Iterator[dict[str, Any]]]:
            return f"{CONTINUATION_PREFIX}{page[-1][0]}", iter([document for _, document in page])

        feed: ItemPaged[dict[str, Any]] = ItemPaged(get_next, extract_data)
        return feed

    # --- internals ---

    def _key_of(self, document: dict[str, Any], client_side: bool = True) -> Key:
        item_id = document.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise _bad_request("an item needs a string id")
        if client_side:  # the SDK checks point writes' ids before sending (not a batch's)
            check_id(item_id)
        elif INVALID_ID_CHARACTERS.intersection(item_id):
            raise _bad_request(f"the id {item_id!r} holds a character ids may not hold")
        if len(item_id.encode()) > MAX_ID_BYTES:
            raise _bad_request(f"the id {item_id!r} is longer than {MAX_ID_BYTES} bytes")
        partition_key = document.get(self.partition_key_path[1:], UNDEFINED_PARTITION)
        if not isinstance(partition_key, str):
            raise NotImplementedError("items whose partition key is not a string")
        return partition_key, item_id

    def _write(self, key: Key, document: dict[str, Any], in_batch: bool = False) -> dict[str, Any]:
        if _size(document) > MAX_REQUEST_BYTES:
            raise cosmos_error(CosmosHttpResponseError, 413, "Request size is too large.")
        if not in_batch:
            self._last_position += 1
        stored = {**document, "_etag": f'"{uuid.uuid4()}"', "_ts": int(time.time())}
        self._items[key] = stored
        self._positions[key] = self._last_position
        return stored


READ_CHARGE_PER_KB = 1.0
WRITE_CHARGE_PER_KB = 5.0


def _answer(stored: dict[str, Any], charge_per_kb: float) -> CosmosDict:
    """A copy of the item, as the SDK returns it: with the response's headers."""
    charge = charge_per_kb * max(1, -(-_size(stored) // 1024))
    headers = CaseInsensitiveDict(
        {
            "x-ms-activity-id": str(uuid.uuid4()),
            "x-ms-request-charge": f"{charge:.2f}",
            "etag": stored["_etag"],
        }
    )
    return CosmosDict(copy.deepcopy(stored), response_headers=headers)


def _matches_read_events(document: dict[str, Any], values: dict[str, object]) -> bool:
    version, recorded_at = document.get("version"), document.get("recordedAt")
    from_version, to_version, until = values["@fromVersion"], values["@toVersion"], values["@until"]
    assert isinstance(from_version, int)
    assert isinstance(to_version, int)
    assert isinstance(until, str)
    return (
        document.get("kind") == values["@kind"]
        and isinstance(version, int)
        and from_version <= version <= to_version
        and isinstance(recorded_at, str)
        and recorded_at <= until
    )


def batch_error(index: int, status: int, count: int) -> CosmosBatchOperationError:
    """What the SDK raises for a batch of `count` operations whose operation `index` failed with `status`."""
    return CosmosBatchOperationError(  # type: ignore[no-untyped-call]
        error_index=index,
        headers={},
        status_code=status,
        message=f"There was an error in the transactional batch on index {index}. "
        f"Error message: {_Constants.ERROR_TRANSLATIONS.get(status)}",
        operation_responses=[
            {"statusCode": status if position == index else 424, "requestCharge": 0.0}
            for position in range(count)
        ],
    )


def _as_sent(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the service receives it: JSON, so tuples become lists and no caller object is kept."""
    sent: dict[str, Any] = json.loads(json.dumps(body))
    return sent


def _size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _position(continuation: str) -> int:
    if not continuation.startswith(CONTINUATION_PREFIX):
        raise ValueError(f"not a continuation of this change feed: {continuation!r}")
    return int(continuation.removeprefix(CONTINUATION_PREFIX))


def _not_found(item: str) -> CosmosResourceNotFoundError:
    return cosmos_error(
        CosmosResourceNotFoundError, 404, f"Entity with the specified id does not exist in the system: {item}"
    )


def _exists(item: str) -> CosmosResourceExistsError:
    return cosmos_error(
        CosmosResourceExistsError, 409, f"Entity with the specified id already exists in the system: {item}"
    )


def _bad_request(message: str) -> CosmosHttpResponseError:
    return cosmos_error(CosmosHttpResponseError, 400, message)


def cosmos_error[E: CosmosHttpResponseError](
    kind: type[E], status_code: int, message: str, headers: dict[str, str] | None = None
) -> E:
    """An SDK error as the SDK builds it from a response, whose headers carry an activity id and a request
    charge as every service response does, plus `headers`."""
    sent = {"x-ms-activity-id": str(uuid.uuid4()), "x-ms-request-charge": "1", **(headers or {})}
    return kind(status_code=status_code, message=message, response=ErrorResponse(status_code, sent))


class ErrorResponse:
    """The attributes of a transport response that the SDK's exceptions read."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.reason = HTTPStatus(status_code).phrase if status_code in HTTPStatus else "Retry With"
        self.headers = CaseInsensitiveDict(headers)

    def text(self) -> str:
        return ""
