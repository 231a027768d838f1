"""The read side of one projection: its views, its tables' rows, its dead letters and its lag, always from
the generation readers are switched to. It only reads; infra/app/projector.py writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from infra.app.deadletters import DeadLetter, DeadLetters, DeadLetterStatus
from infra.app.generations import Generations, model_name
from infra.formats.codec import Seals
from infra.ports.eventstore import StoreTotals
from infra.ports.readmodels import KEY_MAX, ReadModelStore
from projections.projection import PersonKey, Projection, Table

R = TypeVar("R", bound=BaseModel)
READ_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Lag:
    projection: str
    generation: int
    events: int
    seconds: float
    parked_streams: int


class ReadModel[E: BaseModel, V: BaseModel]:
    """What the queries read of one projection; a rebuild switches it to a new generation by the pointer
    it shares with the writer."""

    def __init__(
        self,
        projection: Projection[E, V],
        store: ReadModelStore,
        generations: Generations,
        dead_letters: DeadLetters,
        clock: Callable[[], datetime],
        seals: Seals | None = None,
    ) -> None:
        self.projection, self.store = projection, store
        self.generations, self.dead_letters = generations, dead_letters
        self._clock = clock
        self.seals = seals  # the writer stores personal fields sealed: they are opened here

    def person_partition(self, key: PersonKey) -> str:
        """The partition the writer files a person's rows under (see PersonKey)."""
        return key.plain() if self.seals is None else self.seals.subject_of(key.identifier)

    def get(self, stream_id: str) -> V | None:
        return self.read(stream_id)[0]

    def read(self, stream_id: str, min_version: int = 0, wait_seconds: float = 0.0) -> tuple[V | None, bool]:
        """The stream's view, and whether it has applied at least `min_version` of the stream (read your
        writes). If not, waits up to `wait_seconds` for the projection to catch up, then answers anyway."""
        deadline = time.monotonic() + wait_seconds
        while True:  # the generation again on each try: a rebuild may switch readers while we wait
            model = model_name(self.projection.name, self.generations.current().active)
            document = self.store.get(model, self.projection.document_id(stream_id))
            fresh = (document.versions.get(stream_id, 0) if document else 0) >= min_version
            remaining = deadline - time.monotonic()
            if fresh or remaining <= 0:
                view = None if document is None or document.view is None else self.view_of(document.view)
                return view, fresh
            time.sleep(min(READ_POLL_SECONDS, remaining))

    def rows(
        self,
        table: Table[R],
        partition: str,
        *,
        key_from: str = "",
        key_before: str = KEY_MAX,
        descending: bool = False,
        limit: int = 100,
    ) -> list[tuple[str, R]]:
        """A page of one partition of a table, as (key, row), ordered by key."""
        documents = self.store.query(
            model_name(table.name, self.generations.current().active),
            partition,
            key_from=key_from,
            key_before=key_before,
            descending=descending,
            limit=limit,
        )
        return [
            (d.key, table.row_type.model_validate(self.opened(d.view)))
            for d in documents
            if d.view is not None
        ]

    def letters(self) -> list[DeadLetter]:
        """The active generation's dead letters; one still `retrying` whose stream has since got past it
        (a later delivery succeeded) is shown as `recovered` (reading them writes nothing)."""
        model = model_name(self.projection.name, self.generations.current().active)
        letters = []
        for letter in self.dead_letters.all(model):
            if letter.status is DeadLetterStatus.RETRYING:
                document = self.store.get(model, self.projection.document_id(letter.stream_id))
                if document is not None and document.versions.get(letter.stream_id, 0) >= letter.version:
                    letter = letter.model_copy(update={"status": DeadLetterStatus.RECOVERED})
            letters.append(letter)
        return letters

    def lag(self, totals: StoreTotals) -> Lag:
        """How far the active generation is behind a store holding `totals`: events, and how much older
        its newest applied event is than the store's newest. Each service's store holds only its own
        streams, all of which this projection follows, so every event in it counts."""
        generation = self.generations.current().active
        model = model_name(self.projection.name, generation)
        progress = self.store.progress(model)
        behind = max(0, totals.events - progress.applied)
        seconds = 0.0
        if behind and totals.newest is not None:
            if progress.newest is not None:
                seconds = (totals.newest - progress.newest).total_seconds()
            else:  # nothing applied yet: as far behind as the newest event is old
                seconds = (self._clock() - totals.newest).total_seconds()
        parked = sum(1 for letter in self.dead_letters.all(model) if letter.status is DeadLetterStatus.PARKED)
        return Lag(self.projection.name, generation, behind, max(0.0, seconds), parked)

    def view_of(self, view: dict[str, Any]) -> V:
        """A stored view as the projection's view, its sealed fields opened."""
        return self.projection.view_type.model_validate(self.opened(view))

    def opened(self, view: dict[str, Any]) -> Any:
        return view if self.seals is None else self.seals.open(view)
