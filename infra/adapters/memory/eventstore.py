"""The event store in memory: the same contract as every backend, for tests and laws."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from infra.formats.chain import hashed_events
from infra.ports.eventstore import (
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


class InMemoryEventStore:
    """The event store held in process memory: real and complete, but gone when the process ends."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._streams: dict[str, list[StoredEvent]] = {}
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}

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
        with self._lock:
            stream = self._streams.get(stream_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            if idempotency is not None and (stream_id, idempotency.key) in self._idempotency:
                raise ConcurrencyError(stream_id, expected_version, len(stream))
            copied = [dataclasses.replace(event, data=copy.deepcopy(event.data)) for event in events]
            stored = hashed_events(
                stream_id,
                expected_version,
                copied,
                metadata,
                self._clock(),
                stream[-1].event_hash if stream else None,
            )
            self._streams[stream_id] = [*stream, *stored]
            if idempotency is not None:
                self._idempotency[(stream_id, idempotency.key)] = idempotency
            last = self._streams[stream_id][-1] if self._streams[stream_id] else None
            return StreamHead(expected_version + len(events), None if last is None else last.event_hash)

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        validate_stream_id(stream_id)
        with self._lock:
            stream = self._streams.get(stream_id, [])
        last = len(stream) if to_version is None else min(to_version, len(stream))
        selected = stream[max(from_version, 1) - 1 : max(last, 0)]
        if until is not None:
            selected = [event for event in selected if event.recorded_at <= until]
        # copies, so no caller can change what is stored
        return [event.model_copy(update={"data": copy.deepcopy(event.data)}) for event in selected]

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        with self._lock:
            return self._idempotency.get((stream_id, key))

    def streams(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._streams))

    def scan(self, page_size: int) -> Iterator[list[StoredEvent]]:
        with self._lock:  # the streams as they are now; each is a prefix of what it will be
            streams = [list(stream) for stream in self._streams.values()]
        every = (event.model_copy(update={"data": copy.deepcopy(event.data)}) for s in streams for event in s)
        return (list(page) for page in itertools.batched(every, page_size, strict=False))

    def totals(self) -> StoreTotals:
        with self._lock:
            events = [event for stream in self._streams.values() for event in stream]
        return StoreTotals(len(events), max((event.recorded_at for event in events), default=None))
