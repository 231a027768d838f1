"""The event store on Azure Cosmos DB: an events container partitioned by `/streamId`, so each stream is
one logical partition, and one transactional batch per append.

Each event is one document (infra.formats.documents) whose id is its zero-padded version: two writers of one
version collide with 409 in the stream's partition, which is the optimistic-concurrency check. An
idempotency record is a document of the same partition, created in the same batch, so the events and
the record commit together or not at all. The batch holds `create` operations only (plus a `read` guard):
the log is append-only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from infra.adapters.cosmos.container import BatchOperation, CosmosContainer, transient_errors_as_unavailable
from infra.formats.chain import hashed_events
from infra.formats.documents import (
    EVENT_KIND,
    event_document_id,
    format_time,
    from_document,
    is_event_document,
    to_document,
)
from infra.ports.eventstore import (
    MAX_VERSION,
    AppendTooLarge,
    ConcurrencyError,
    IdempotencyRecord,
    Metadata,
    NewEvent,
    StoredEvent,
    StoreTotals,
    StreamHead,
    utc_now,
    validate_append,
    validate_stream_id,
)

EVENTS_PARTITION_KEY_PATH = "/streamId"
IDEMPOTENCY_KIND = "idempotency"

# Transactional batch limits (Cosmos DB service quotas): operations per batch and request payload size.
MAX_BATCH_OPERATIONS = 100
MAX_BATCH_BYTES = 2 * 1024 * 1024
# What the SDK wraps around each document in the request body: {"operationType":"Create","resourceBody":…},
# with room to spare.
BATCH_OPERATION_OVERHEAD_BYTES = 64

# The only paths the queries below filter or sort on. Everything else, the event payload first, is left
# out of the index, so a write pays for three index terms instead of one per property.
EVENTS_INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/kind/?"}, {"path": "/version/?"}, {"path": "/recordedAt/?"}],
    "excludedPaths": [{"path": "/*"}, {"path": '/"_etag"/?'}],
}

# Single-partition: always run with partition_key = the stream id. recordedAt is a fixed-width UTC string
# (infra.formats.documents.format_time), so comparing the strings compares the times.
READ_EVENTS_QUERY = (
    "SELECT * FROM c WHERE c.kind = @kind AND c.version >= @fromVersion AND c.version <= @toVersion "
    "AND c.recordedAt <= @until ORDER BY c.version"
)
# Cross-partition, for the operator's tools (rebuild, status), never on a command's path.
STREAM_IDS_QUERY = "SELECT VALUE c.streamId FROM c WHERE c.kind = @kind AND c.version = 1"
COUNT_EVENTS_QUERY = "SELECT VALUE COUNT(1) FROM c WHERE c.kind = @kind"
NEWEST_EVENT_QUERY = "SELECT VALUE MAX(c.recordedAt) FROM c WHERE c.kind = @kind"
# The bounds a read without `to_version` or `until` uses: the largest integer a JSON number holds exactly,
# and the latest time format_time can write.
_END_OF_TIME = format_time(datetime.max.replace(tzinfo=UTC))


class CosmosEventStore:
    """The EventStore port on a Cosmos DB events container (partition key `/streamId`)."""

    def __init__(self, container: CosmosContainer, clock: Callable[[], datetime] = utc_now) -> None:
        self._container = container
        self._clock = clock

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        validate_append(stream_id, expected_version, events)
        if not events:
            # No create will collide at expected_version + 1, so the version is checked by a query first.
            # Not atomic with the record's write, and it need not be: no event is written, and an event,
            # once written, is never removed, so the stream was at expected_version when the query ran.
            previous = self._require_version(stream_id, expected_version)
            if idempotency is None:
                return StreamHead(expected_version, previous)
        else:
            previous = self._previous_hash(stream_id, expected_version, head)
        documents = self._event_documents(stream_id, expected_version, events, metadata, previous)
        last_hash = documents[-1]["eventHash"] if documents else previous
        if idempotency is not None:
            documents.append(idempotency_document(stream_id, idempotency))
        operations: list[BatchOperation] = [("create", (document,), {}) for document in documents]
        # The creates collide (409) if the stream is already past expected_version. A stream still short
        # of it would take the events with a gap, so the document of version expected_version must exist:
        # a `read` of it leads the batch, and a missing item fails the whole batch with 404. In the batch
        # it costs no extra round trip. Only when it would not fit (99 events and a record) is it a point
        # read before the batch: as sound, because an event, once written, is never removed.
        guarded = bool(events) and expected_version > 0
        guard_in_batch = guarded and len(operations) < MAX_BATCH_OPERATIONS
        if guard_in_batch:
            operations.insert(0, ("read", (event_document_id(expected_version),), {}))
        check_batch_limits(operations)
        if guarded and not guard_in_batch:
            self._require_event(stream_id, expected_version)
        self._execute(stream_id, expected_version, operations, guard_in_batch)
        return StreamHead(expected_version + len(events), last_hash)

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        validate_stream_id(stream_id)
        documents = self._query_events(
            stream_id,
            from_version,
            MAX_VERSION if to_version is None else to_version,
            _END_OF_TIME if until is None else format_time(until),
        )
        return [from_document(document) for document in documents]

    def streams(self) -> Iterator[str]:
        # every stream has exactly one version 1: the index on kind and version answers this
        with transient_errors_as_unavailable():
            found = list(self._cross_partition(STREAM_IDS_QUERY))
        return iter(found)

    def scan(self, page_size: int) -> Iterator[list[StoredEvent]]:
        # the change feed from the beginning: in order within a partition key (a stream), except the
        # items of one transactional batch (one append), sorted here
        continuation = None
        while True:
            documents, continuation = read_changes(self._container, continuation, page_size)
            if not documents:
                return
            events = [from_document(document) for document in documents if is_event_document(document)]
            if events:
                yield sorted(events, key=lambda event: (event.stream_id, event.version))

    def totals(self) -> StoreTotals:
        with transient_errors_as_unavailable():
            count = list(self._cross_partition(COUNT_EVENTS_QUERY))
            newest = [value for value in self._cross_partition(NEWEST_EVENT_QUERY) if value is not None]
        return StoreTotals(
            int(count[0]) if count else 0, datetime.fromisoformat(newest[0]) if newest else None
        )

    def _cross_partition(self, query: str) -> Iterable[Any]:
        return self._container.query_items(
            query=query,
            parameters=[{"name": "@kind", "value": EVENT_KIND}],
            enable_cross_partition_query=True,
        )

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        with transient_errors_as_unavailable():
            try:
                document = self._container.read_item(idempotency_document_id(key), partition_key=stream_id)
            except CosmosResourceNotFoundError:
                return None
        return IdempotencyRecord(
            key=document["key"],
            fingerprint=document["fingerprint"],
            result=document["result"],
            recorded_at=datetime.fromisoformat(document["recordedAt"]),
        )

    def _previous_hash(self, stream_id: str, expected_version: int, head: StreamHead | None) -> str | None:
        """The hash the new events link to: the caller's, if it read the event at expected_version, or the
        stored event's, at the cost of a point read (a stream short of that version conflicts here)."""
        if expected_version == 0:
            return None
        if head is not None and head.version == expected_version:
            return head.event_hash
        with transient_errors_as_unavailable():
            try:
                document = self._container.read_item(
                    event_document_id(expected_version), partition_key=stream_id
                )
            except CosmosResourceNotFoundError as error:
                raise ConcurrencyError(stream_id, expected_version) from error
        hashed: str | None = document.get("eventHash")
        return hashed

    def _event_documents(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        previous_hash: str | None,
    ) -> list[dict[str, Any]]:
        stored = hashed_events(stream_id, expected_version, events, metadata, self._clock(), previous_hash)
        return [to_document(event) for event in stored]

    def _execute(
        self, stream_id: str, expected_version: int, operations: list[BatchOperation], guarded: bool
    ) -> None:
        with transient_errors_as_unavailable():
            try:
                self._container.execute_item_batch(batch_operations=operations, partition_key=stream_id)
            except CosmosBatchOperationError as error:
                # 409: a version (or the idempotency key) is taken; 404 on the guard: the stream is short.
                guard_failed = guarded and error.error_index == 0 and error.status_code == 404
                if error.status_code == 409 or guard_failed:
                    raise ConcurrencyError(stream_id, expected_version) from error
                raise
            except CosmosResourceExistsError as error:
                raise ConcurrencyError(stream_id, expected_version) from error

    def _require_event(self, stream_id: str, version: int) -> None:
        with transient_errors_as_unavailable():
            try:
                self._container.read_item(event_document_id(version), partition_key=stream_id)
            except CosmosResourceNotFoundError as error:
                raise ConcurrencyError(stream_id, version) from error

    def _require_version(self, stream_id: str, expected_version: int) -> str | None:
        """Raise ConcurrencyError unless the stream is at `expected_version`; the hash of its last event."""
        found = self._query_events(stream_id, expected_version, expected_version + 1, _END_OF_TIME)
        if [document["version"] for document in found] != ([expected_version] if expected_version else []):
            raise ConcurrencyError(stream_id, expected_version)
        hashed: str | None = found[0].get("eventHash") if found else None
        return hashed

    def _query_events(
        self, stream_id: str, from_version: int, to_version: int, until: str
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, object]] = [
            {"name": "@kind", "value": EVENT_KIND},
            {"name": "@fromVersion", "value": from_version},
            {"name": "@toVersion", "value": to_version},
            {"name": "@until", "value": until},
        ]
        with transient_errors_as_unavailable():
            return list(
                self._container.query_items(
                    query=READ_EVENTS_QUERY, parameters=parameters, partition_key=stream_id
                )
            )


def idempotency_document_id(key: str) -> str:
    # Keys may hold characters a Cosmos DB id may not (/ \ ? #): the id is a digest of the key.
    return f"idempotency-{hashlib.sha256(key.encode()).hexdigest()}"


def idempotency_document(stream_id: str, record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "id": idempotency_document_id(record.key),
        "kind": IDEMPOTENCY_KIND,
        "streamId": stream_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "result": record.result,
        "recordedAt": format_time(record.recorded_at),
    }


def check_batch_limits(operations: Sequence[BatchOperation]) -> None:
    """Raise AppendTooLarge for a batch the service would refuse: an append is never split, as its
    events and record must commit together.

    The size is an upper bound of the request body: each document as compact JSON with non-ASCII
    escaped (never shorter than its UTF-8 form), plus the operation's wrapper.
    """
    if len(operations) > MAX_BATCH_OPERATIONS:
        raise AppendTooLarge(f"{len(operations)} operations in one batch; at most {MAX_BATCH_OPERATIONS}")
    size = sum(
        len(json.dumps(args, separators=(",", ":"))) + BATCH_OPERATION_OVERHEAD_BYTES
        for _, args, _ in operations
    )
    if size > MAX_BATCH_BYTES:
        raise AppendTooLarge(f"about {size} bytes in one batch; at most {MAX_BATCH_BYTES}")


def read_changes(
    container: CosmosContainer, continuation: str | None, max_items: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the container's change feed (latest version of each item), with the continuation to
    read the next page from; from the beginning without one.

    The page holds every kind of document the container has: filter with
    infra.formats.documents.is_event_document.
    Items of one transactional batch may come in any order: sort by stream and version.
    """
    # The continuation comes from this call's own response: the SDK hands its headers to response_hook, and
    # its change-feed fetcher then puts the feed's full continuation (all ranges, base64) under "etag" in
    # that same mapping. The client's shared last_response_headers would be whichever request on the client
    # answered last, from any thread.
    responses: list[Mapping[str, Any]] = []

    def keep(headers: Mapping[str, Any], _: object) -> None:
        responses.append(headers)

    with transient_errors_as_unavailable():
        if continuation is None:
            feed = container.query_items_change_feed(
                start_time="Beginning", max_item_count=max_items, response_hook=keep
            )
        else:
            feed = container.query_items_change_feed(
                continuation=continuation, max_item_count=max_items, response_hook=keep
            )
        documents = list(next(feed.by_page(), iter(())))
    token = responses[-1].get("etag") if responses else None
    if token is not None and str(token).strip('"').isdigit():
        # A bare LSN: the SDK no longer put its full continuation in the hooked headers, and resuming from
        # this would read it as a partition range's (azure-cosmos 4.17's ChangeFeedIterable); stop here.
        raise RuntimeError(f"the SDK gave a bare LSN {token!r} as the change feed's continuation")
    return documents, continuation if token is None else str(token)
