"""The event store port: the one envelope every backend stores, and the narrow interface to it.

Events are appended and read, never updated or deleted: the port has no such operation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

# `<category>-<uuid>`: lower-case letters and digits, then a canonical lower-case UUID. Never / \ ? #.
MAX_VERSION = 2**53 - 1  # the highest version of a stream: what every JSON reader holds exactly
STREAM_ID_PATTERN = re.compile(
    r"^[a-z][a-z0-9]{0,31}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
# A Cosmos DB transactional batch holds at most 100 operations: the events plus the idempotency record.
MAX_EVENTS_PER_APPEND = 99


class Metadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class NewEvent:
    type: str
    schema_version: int
    data: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


class StoredEvent(BaseModel):
    """One event as every backend stores it. `version` is 1-based and dense within its stream.

    `event_hash` links it into its stream's hash chain (infra.formats.chain): the SHA-256 of its content
    and of `previous_hash`, the hash of the event before it (None for the first, or when the one before
    was written before hashing began). Both None: written before hashing began."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: Metadata
    recorded_at: datetime
    event_hash: str | None = None
    previous_hash: str | None = None


@dataclass(frozen=True)
class StreamHead:
    """A stream's last event as a writer last read it: its version and its chain hash (None if unhashed)."""

    version: int
    event_hash: str | None


class IdempotencyRecord(BaseModel):
    """What a command with an Idempotency-Key produced, stored in the same transaction as its events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    fingerprint: str
    result: dict[str, Any]
    recorded_at: datetime


class StoreError(Exception):
    pass


class ConcurrencyError(StoreError):
    """The stream was not at the expected version (or the idempotency key was taken) when appending."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None) -> None:
        super().__init__(
            f"stream {stream_id} is not at version {expected_version}"
            + ("" if actual_version is None else f" (it is at {actual_version})")
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StoreUnavailable(StoreError):
    """The backend is throttling or unreachable after its own retries; the caller may retry later.

    The write may or may not have happened: a retry with the same Idempotency-Key is always safe.
    """

    def __init__(self, detail: str, retry_after_seconds: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class InvalidStreamId(StoreError, ValueError):
    pass


class AppendTooLarge(StoreError, ValueError):
    pass


@dataclass(frozen=True)
class StoreTotals:
    events: int
    newest: datetime | None


class EventStore(Protocol):
    """An append-only log of streams with optimistic concurrency."""

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        """Append `events` if the stream is at `expected_version` (0: a new stream); return the stream's new
        head (its version, and its last event's hash: a later append's `head`).

        Raises ConcurrencyError when it is not, or when `idempotency`'s key is already recorded for the
        stream. The events and the idempotency record commit together or not at all. Each event is stored
        with its link in the stream's hash chain, to the hash of the event at `expected_version`: `head`,
        if the caller read that event (its version is `expected_version`), saves a backend the read of it.
        """
        ...

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        """The stream's events in version order, from `from_version` up to `to_version` inclusive,
        and only those recorded at or before `until`."""
        ...

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        """The record a command with this Idempotency-Key left on the stream, if any."""
        ...

    def streams(self) -> Iterator[str]:
        """The id of every stream, in no particular order (for rebuilding read models)."""
        ...

    def scan(self, page_size: int) -> Iterator[list[StoredEvent]]:
        """Every event in the store, in pages of at most `page_size` (or of one append's events: Cosmos DB's
        change feed keeps the items of a transactional batch together), each stream's events in version order
        and the streams interleaved (SQLite: in position order; Cosmos DB: its change feed from the
        beginning). What a rebuild or a verify reads the whole log with: a scan, not a query per stream.
        Events appended while the scan runs may or may not be in it."""
        ...

    def totals(self) -> StoreTotals:
        """How many events the store holds, and when the newest was recorded."""
        ...


def validate_stream_id(stream_id: str) -> str:
    if not STREAM_ID_PATTERN.fullmatch(stream_id):
        raise InvalidStreamId(f"invalid stream id {stream_id!r}: expected <category>-<lowercase uuid>")
    return stream_id


def validate_append(stream_id: str, expected_version: int, events: Sequence[NewEvent]) -> None:
    validate_stream_id(stream_id)
    if expected_version < 0:
        raise ValueError("expected_version must be 0 or more")
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise AppendTooLarge(f"{len(events)} events in one append; at most {MAX_EVENTS_PER_APPEND}")


def stored_events(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: Metadata,
    recorded_at: datetime,
) -> list[StoredEvent]:
    """`events` as one append at `expected_version` stores them (before their hash-chain links)."""
    return [
        StoredEvent(
            event_id=event.event_id,
            stream_id=stream_id,
            version=expected_version + offset,
            type=event.type,
            schema_version=event.schema_version,
            data=event.data,
            metadata=metadata,
            recorded_at=recorded_at,
        )
        for offset, event in enumerate(events, start=1)
    ]


def utc_now() -> datetime:
    return datetime.now(UTC)
