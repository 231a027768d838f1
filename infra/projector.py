"""The projection runner: applies delivered events to a read model exactly once and in stream order."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from infra.codec import EventCodec
from infra.eventstore import StoredEvent
from infra.readmodels import ReadModelConflict, ReadModelStore, ViewDocument
from projections.projection import Fact, Projection

E = TypeVar("E", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)


READ_POLL_SECONDS = 0.02


class EventReader(Protocol):
    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]: ...


class GapNotFilled(Exception):
    """Events between the read model's version and a delivered one are missing from the store too."""


class ProjectionRunner(Generic[E, V]):
    """Folds delivered events into a projection's documents.

    The document records the last version it applied per stream, written with the update under an
    etag condition: a duplicate or stale delivery is a no-op, and a delivery that skips versions is
    completed from the event store before it is applied, so no event is ever skipped or applied twice.
    """

    def __init__(
        self,
        projection: Projection[E, V],
        codec: EventCodec[E],
        store: ReadModelStore,
        events: EventReader,
        max_attempts: int = 10,
    ) -> None:
        self.projection = projection
        self.codec = codec
        self.store = store
        self.events = events
        self.max_attempts = max_attempts

    def apply(self, delivered: Iterable[StoredEvent]) -> int:
        """Apply a batch of delivered events (any order, duplicates allowed); return how many were new.

        Each stream is applied on its own; if any fails, the others are still applied and then an
        ExceptionGroup is raised, so the batch is delivered again (the applied streams are no-ops then).
        """
        by_stream: dict[str, dict[int, StoredEvent]] = defaultdict(dict)
        prefix = f"{self.projection.category}-"
        for event in delivered:
            if event.stream_id.startswith(prefix):
                by_stream[event.stream_id][event.version] = event
        applied, failures = 0, []
        for stream_id, events in by_stream.items():
            try:
                applied += self._apply_stream(stream_id, events)
            except Exception as error:  # one stream's failure must not hold back the others in the batch
                failures.append(error)
        if failures:
            raise ExceptionGroup(
                f"{len(failures)} of {len(by_stream)} streams could not be applied", failures
            )
        return applied

    def get(self, stream_id: str) -> V | None:
        return self.read(stream_id)[0]

    def read(self, stream_id: str, min_version: int = 0, wait_seconds: float = 0.0) -> tuple[V | None, bool]:
        """The stream's view, and whether it has applied at least `min_version` of the stream (read your
        writes). If not, waits up to `wait_seconds` for the projection to catch up, then answers anyway."""
        deadline = time.monotonic() + wait_seconds
        while True:
            document = self.store.get(self.projection.name, self.projection.document_id(stream_id))
            fresh = (document.versions.get(stream_id, 0) if document else 0) >= min_version
            remaining = deadline - time.monotonic()
            if fresh or remaining <= 0:
                view = None if document is None else self.projection.view_type.model_validate(document.view)
                return view, fresh
            time.sleep(min(READ_POLL_SECONDS, remaining))

    def _apply_stream(self, stream_id: str, delivered: dict[int, StoredEvent]) -> int:
        document_id = self.projection.document_id(stream_id)
        for _ in range(self.max_attempts):
            document = self.store.get(self.projection.name, document_id)
            applied = document.versions.get(stream_id, 0) if document else 0
            last = max(delivered)
            if last <= applied:
                return 0
            pending = [delivered[v] for v in range(applied + 1, last + 1) if v in delivered]
            if len(pending) != last - applied:
                pending = self.events.read(stream_id, from_version=applied + 1, to_version=last)
                if [event.version for event in pending] != list(range(applied + 1, last + 1)):
                    raise GapNotFilled(
                        f"{stream_id}: versions {applied + 1}..{last} are not all in the store"
                    )
            view = None if document is None else self.projection.view_type.model_validate(document.view)
            for event in pending:
                fact = Fact(event.stream_id, event.version, event.recorded_at, self.codec.decode(event))
                view = self.projection.evolve(view, fact)
            assert view is not None
            updated = ViewDocument(
                id=document_id,
                view=view.model_dump(mode="json"),
                versions={**(document.versions if document else {}), stream_id: last},
                etag=document.etag if document else None,
            )
            try:
                self.store.put(self.projection.name, updated)
            except ReadModelConflict:
                continue
            return len(pending)
        raise ReadModelConflict(f"{self.projection.name}/{document_id} kept changing")
