"""The projection runner: applies delivered events to a read model exactly once and in stream order.

About 400 lines: one algorithm (checkpoint per stream, rows before it, gap filling, poison counting and
parking, replay, the written-documents cache) whose parts keep each other's guarantees. What reads the
read model is infra/app/readside.py."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from infra.app.cache import BoundedCache
from infra.app.conflicts import UPDATE_ATTEMPTS, until_written
from infra.app.deadletters import DeadLetter, DeadLetters, DeadLetterStatus
from infra.app.generations import Generations, GenerationState, model_name
from infra.app.readside import Lag, ReadModel
from infra.formats.codec import EventCodec
from infra.ports.eventstore import StoredEvent, StoreTotals, utc_now
from infra.ports.readmodels import ReadModelConflict, ReadModelStore, ViewDocument, own_partition
from projections.projection import Fact, Projection, Row

log = logging.getLogger("eventbank.projector")
# infra/azure/app/monitoring.bicep alerts on log lines that start with this
PARKED_LOG_PREFIX = "PARKED "
DEFAULT_POISON_ATTEMPTS = 3
DEFAULT_CACHE_SIZE = 20_000  # documents (stream views and rows) each runner keeps from its own writes


class EventReader(Protocol):
    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]: ...


# one stream's events by version, and how to run a function over many of them (map, a pool's map)
StreamWork = tuple[str, dict[int, StoredEvent]]
Each = Callable[[Callable[[StreamWork], int], Sequence[StreamWork]], Iterable[int]]


class GapNotFilled(Exception):
    """Events between the read model's version and a delivered one are missing from the store too."""


class PoisonEvent(Exception):
    """An event its projection could not decode or apply; the batch is delivered again until it parks."""

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(
            f"{letter.model}: {letter.stream_id} version {letter.version} failed "
            f"({letter.attempts} attempts): {letter.error}"
        )
        self.letter = letter


@dataclass(frozen=True)
class _Failure:
    event: StoredEvent
    error: Exception


class _RowFailure(Exception):
    def __init__(self, event: StoredEvent, error: Exception) -> None:
        super().__init__(str(error))
        self.event, self.error = event, error


class ProjectionRunner[E: BaseModel, V: BaseModel]:
    """Folds delivered events into a projection's documents.

    Each stream's document records the last version it applied (its checkpoint), written after the rows
    and under an etag condition: a duplicate or stale delivery is a no-op, and a delivery that skips
    versions is completed from the event store first, so no event is ever skipped or applied twice.
    Rows carry their own per-stream versions, so rows written before a crash are not applied again.

    An event that cannot be decoded or applied is poison: each failed delivery counts an attempt in the
    dead letters; after `poison_attempts` the stream is parked at it (later events wait behind it, other
    streams flow) until `replay`.
    """

    def __init__(
        self,
        projection: Projection[E, V],
        codec: EventCodec[E],
        store: ReadModelStore,
        events: EventReader,
        max_attempts: int = UPDATE_ATTEMPTS,
        poison_attempts: int = DEFAULT_POISON_ATTEMPTS,
        generation_cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.projection = projection
        self.codec = codec
        self.store = store
        self.events = events
        self.max_attempts = max_attempts
        self.poison_attempts = poison_attempts
        self.generations = Generations(store, projection.name, generation_cache_seconds)
        self.dead_letters = DeadLetters(store, clock)
        self._clock = clock
        # The documents this runner last wrote, with their etags: the next batch of a stream starts from
        # them instead of reading them again. A write from elsewhere changes the etag, so our next write
        # conflicts, drops them and reads afresh: the cache can make a write fail, never a view wrong.
        self._written: BoundedCache[tuple[str, str, str], ViewDocument] = BoundedCache(cache_size)
        self.read_side = ReadModel(projection, store, self.generations, self.dead_letters, clock, codec.seals)

    # --- writing ---

    def apply(self, delivered: Iterable[StoredEvent]) -> int:
        """Apply a batch of delivered events (any order, duplicates allowed); return how many were new.

        Each stream is applied on its own, to every generation being written; if any fails, the others
        are still applied and then an ExceptionGroup is raised, so the batch is delivered again (the
        applied streams are no-ops then).
        """
        by_stream = self._by_stream(delivered)
        targets = self.generations.current().targets() if by_stream else []
        applied, failures = 0, []
        for generation in targets:
            for stream_id, events in by_stream.items():
                try:
                    count = self._apply_stream(generation, stream_id, events, park_at_once=False)
                except Exception as error:  # one stream's failure must not hold back the others in the batch
                    failures.append(error)
                else:
                    applied += count if generation == targets[0] else 0
        if failures:
            raise ExceptionGroup(f"{len(failures)} stream updates of {self.projection.name} failed", failures)
        return applied

    def apply_scanned(self, page: Iterable[StoredEvent], generation: int, each: Each = map) -> int:
        """Apply a page of a scan of the whole log (a rebuild's, a verify's) to one generation: each
        stream's events after its checkpoint, a stream parked at once at a poison event while the others
        go on. Returns how many were new. `each(apply, streams)` runs `apply` on every stream: one after
        the other by default, or a thread pool's map (the streams are independent)."""

        def apply(work: StreamWork) -> int:
            stream_id, events = work
            try:
                return self._apply_stream(generation, stream_id, events, park_at_once=True)
            except PoisonEvent:  # parked: the rebuild lists the dead letters afterwards
                return 0

        return sum(each(apply, list(self._by_stream(page).items())))

    def catch_up(self, stream_id: str, generation: int | None = None) -> int:
        """Apply whatever the store holds after the stream's checkpoint (a rebuild, or a replay)."""
        target = self.generations.current().active if generation is None else generation
        return self._apply_stream(target, stream_id, None, park_at_once=True)

    def replay(self, stream_id: str | None = None, generation: int | None = None) -> list[DeadLetter]:
        """Unpark the parked streams (or the one given) of the active generation (or the one given) and
        catch them up.

        Returns each one's letter afterwards: replayed, or parked again with the new error."""
        target = self.generations.current_uncached().active if generation is None else generation
        model = self.model(target)
        if stream_id is not None:
            letter = self.dead_letters.get(model, stream_id)
            letters = [] if letter is None else [letter]
        else:
            letters = self.dead_letters.all(model)
        return [
            self._replay(target, letter) for letter in letters if letter.status is DeadLetterStatus.PARKED
        ]

    def _replay(self, generation: int, letter: DeadLetter) -> DeadLetter:
        model = self.model(generation)
        self._unpark(model, letter.stream_id)
        try:
            self._apply_stream(generation, letter.stream_id, None, park_at_once=True)
        except PoisonEvent as poisoned:
            return poisoned.letter
        # replayed only if the stream really got past it: a delivery racing this replay may have parked
        # it again (then the letter it wrote stands)
        document = self.store.get(model, self.projection.document_id(letter.stream_id))
        if document is None or document.parked is not None:
            return self.dead_letters.get(model, letter.stream_id) or letter
        if document.versions.get(letter.stream_id, 0) < letter.version:
            return letter
        return self.dead_letters.mark(letter, DeadLetterStatus.REPLAYED)

    # --- reading: the read side's (infra/app/readside.py), here for the operator tools and tests ---

    def get(self, stream_id: str) -> V | None:
        return self.read_side.get(stream_id)

    def letters(self) -> list[DeadLetter]:
        return self.read_side.letters()

    def lag(self, totals: StoreTotals) -> Lag:
        return self.read_side.lag(totals)

    # --- generations ---

    def model(self, generation: int) -> str:
        return model_name(self.projection.name, generation)

    def models(self, generation: int) -> list[str]:
        """Every model a generation of this projection writes: its stream documents, then its tables."""
        return [self.model(generation), *(model_name(t.name, generation) for t in self.projection.tables)]

    def generation_state(self) -> GenerationState:
        return self.generations.current()

    # --- internals ---

    def _by_stream(self, delivered: Iterable[StoredEvent]) -> dict[str, dict[int, StoredEvent]]:
        """This projection's events by stream and version (a duplicate delivery kept once)."""
        by_stream: dict[str, dict[int, StoredEvent]] = defaultdict(dict)
        prefix = f"{self.projection.category}-"
        for event in delivered:
            if event.stream_id.startswith(prefix):
                by_stream[event.stream_id][event.version] = event
        return by_stream

    def _apply_stream(
        self, generation: int, stream_id: str, delivered: dict[int, StoredEvent] | None, park_at_once: bool
    ) -> int:
        model = self.model(generation)
        document_id = self.projection.document_id(stream_id)
        recorded: DeadLetter | None = None  # this delivery's failure, counted once however often we retry
        read_store = False  # whether the stream's document has been read from the store, not the cache
        # not until_written: this loop keeps what it learnt between tries (to read past the cache, the
        # failure it already counted)
        for _ in range(self.max_attempts):
            document = self._get(model, document_id) if not read_store else self.store.get(model, document_id)
            if document is not None and document.parked is not None:
                return 0  # parked: everything after the poison event waits behind it
            applied = document.versions.get(stream_id, 0) if document else 0
            pending = self._pending(stream_id, applied, delivered)
            if not pending:
                return 0
            view, done, rows, failure = self._fold(document, pending)
            while True:
                try:
                    writes = self._row_writes(generation, stream_id, rows)
                    break
                except _RowFailure as row_failure:  # fold only the events before the one it failed at
                    before = [event for event in pending if event.version < row_failure.event.version]
                    view, done, rows, _ = self._fold(document, before)
                    failure = _Failure(row_failure.event, row_failure.error)
            letter, parked = None, None
            if failure is not None and not read_store:
                # a failure counts only against the stored document: ours may be behind another writer's
                self._drop(model, document_id, document_id)
                read_store = True
                continue
            if failure is not None:
                park_after = 1 if park_at_once else self.poison_attempts
                if recorded is None or recorded.version != failure.event.version:
                    recorded = self.dead_letters.record_failure(
                        model, failure.event, failure.error, park_after
                    )
                letter = recorded
                if letter.status is DeadLetterStatus.PARKED:
                    parked = failure.event.version
            if done is not None or parked is not None:
                writes.append(
                    (
                        model,
                        ViewDocument(
                            id=document_id,
                            # nothing folded (a stored view it cannot read): keep the stored one as it is
                            view=(document.view if document else None)
                            if done is None
                            else (None if view is None else self._stored(view)),
                            versions={
                                **(document.versions if document else {}),
                                stream_id: done.version if done else applied,
                            },
                            etag=document.etag if document else None,
                            parked=parked,
                            updated_at=done.recorded_at
                            if done
                            else (document.updated_at if document else None),
                        ),
                    )
                )
            try:
                etags = self.store.put_many(writes)  # the rows, then the checkpoint that says they are done
            except ReadModelConflict:
                self._forget(writes)
                continue
            self._remember(writes, etags)
            if parked is not None and letter is not None:
                # an alert rule can match this line: a stream of a read model waits for a fix
                log.error(
                    PARKED_LOG_PREFIX + "%s %s at version %d after %d attempts: %s",
                    model,
                    stream_id,
                    parked,
                    letter.attempts,
                    letter.error,
                )
            if letter is not None and (letter.status is DeadLetterStatus.RETRYING or park_at_once):
                raise PoisonEvent(letter)
            return 0 if done is None else done.version - applied
        raise ReadModelConflict(f"{model}/{document_id} kept changing")

    def _fold(
        self, document: ViewDocument | None, pending: Sequence[StoredEvent]
    ) -> tuple[V | None, StoredEvent | None, list[tuple[StoredEvent, Row[Any]]], _Failure | None]:
        """The view after as many of `pending` as fold, the last one folded, their rows, and the failure
        that stopped it: poison is whatever decoding or the pure fold raises, and a stored view the code
        can no longer read (it fails at the first pending event)."""
        rows: list[tuple[StoredEvent, Row[Any]]] = []
        done: StoredEvent | None = None
        try:
            view = None if document is None or document.view is None else self._view(document.view)
        except Exception as error:
            return None, None, rows, (_Failure(pending[0], error) if pending else None)
        for event in pending:
            try:
                fact = Fact(event.stream_id, event.version, event.recorded_at, self.codec.decode(event))
                evolved = self.projection.evolve(view, fact)
                produced = self.projection.rows(evolved, fact)
            except Exception as error:
                return view, done, rows, _Failure(event, error)
            view, done = evolved, event
            rows.extend((event, row) for row in produced)
        return view, done, rows, None

    def _pending(
        self, stream_id: str, applied: int, delivered: dict[int, StoredEvent] | None
    ) -> list[StoredEvent]:
        if delivered is None:
            return self.events.read(stream_id, from_version=applied + 1)
        last = max(delivered)
        if last <= applied:
            return []
        pending = [delivered[v] for v in range(applied + 1, last + 1) if v in delivered]
        if len(pending) != last - applied:
            pending = self.events.read(stream_id, from_version=applied + 1, to_version=last)
            if [event.version for event in pending] != list(range(applied + 1, last + 1)):
                raise GapNotFilled(f"{stream_id}: versions {applied + 1}..{last} are not all in the store")
        return pending

    def _row_writes(
        self, generation: int, stream_id: str, rows: Sequence[tuple[StoredEvent, Row[Any]]]
    ) -> list[tuple[str, ViewDocument]]:
        """Each row document with its changes folded in, for one write each; a change it has already
        applied (its version of the stream is at or past the event's) is skipped, so rows written before a
        crash are not doubled."""
        by_document: dict[tuple[str, str, str], list[tuple[StoredEvent, Row[Any]]]] = defaultdict(list)
        for event, row in rows:
            partition = (
                row.partition
                if isinstance(row.partition, str)
                else self.read_side.person_partition(row.partition)
            )
            by_document[(row.table.name, partition, row.id)].append((event, row))
        writes = []
        for (table_name, partition, row_id), changes in by_document.items():
            model = model_name(table_name, generation)
            row_type = changes[0][1].table.row_type
            document = self._get(model, row_id, partition)
            seen = document.versions.get(stream_id, 0) if document else 0
            fresh = [(event, row) for event, row in changes if event.version > seen]
            if not fresh:
                continue
            failing = fresh[0][0]
            try:  # a stored row the code can no longer read, or an update that raises: poison
                current = (
                    None
                    if document is None or document.view is None
                    else row_type.model_validate(self.codec.opened(document.view))
                )
                for event, row in fresh:
                    failing = event
                    current = row.update(current)
            except Exception as error:
                raise _RowFailure(failing, error) from error
            assert current is not None
            last_event, last_row = fresh[-1]
            updated = ViewDocument(
                id=row_id,
                view=self._stored(current),
                versions={**(document.versions if document else {}), stream_id: last_event.version},
                etag=document.etag if document else None,
                partition=partition,
                key=last_row.key,
                updated_at=last_event.recorded_at,
            )
            writes.append((model, updated))
        return writes

    def _get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        cached = self._written.get((model, partition or document_id, document_id))
        return cached if cached is not None else self.store.get(model, document_id, partition)

    def _remember(self, writes: Sequence[tuple[str, ViewDocument]], etags: Sequence[str]) -> None:
        for (model, document), etag in zip(writes, etags, strict=True):
            key = (model, own_partition(document), document.id)
            if document.parked is None:
                self._written.put(key, replace(document, etag=etag))
            else:  # a parked stream is read afresh each time: a replay elsewhere unparks it
                self._written.forget(key)

    def _forget(self, writes: Sequence[tuple[str, ViewDocument]]) -> None:
        for model, document in writes:
            self._drop(model, own_partition(document), document.id)

    def _drop(self, model: str, partition: str, document_id: str) -> None:
        self._written.forget((model, partition, document_id))

    def _unpark(self, model: str, stream_id: str) -> None:
        document_id = self.projection.document_id(stream_id)

        def attempt() -> None:
            document = self.store.get(model, document_id)
            if document is not None and document.parked is not None:
                self.store.put(model, replace(document, parked=None))

        until_written(attempt, f"{model}/{document_id}", self.max_attempts)

    def _view(self, view: dict[str, Any]) -> V:
        return self.read_side.view_of(view)

    def _stored(self, view: BaseModel) -> dict[str, Any]:
        """A view or row as stored: its personal fields sealed, as in the events."""
        return self.codec.stored(view)
