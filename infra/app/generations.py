"""Generations of a read model: a rebuild fills a new one while live updates go to both, then readers
switch to it with one conditional write of a pointer document."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from infra.app.conflicts import until_written
from infra.ports.readmodels import ReadModelStore, ViewDocument

POINTER_MODEL = "generations"
FIRST_GENERATION = 1


class GenerationState(BaseModel):
    """Readers use `active`; writers keep `active`, `building` (a rebuild under way) and `retiring` (the one
    readers may still hold for a cache period after a switch) current."""

    model_config = ConfigDict(frozen=True)

    active: int = FIRST_GENERATION
    building: int | None = None
    retiring: int | None = None

    def targets(self) -> list[int]:
        return list(dict.fromkeys(g for g in (self.active, self.building, self.retiring) if g is not None))


def model_name(base: str, generation: int) -> str:
    return f"{base}@{generation}"


class Generations:
    """One projection's generation pointer, cached for `cache_seconds` per process.

    Every process sees a change within `cache_seconds`; a rebuild waits that long after each change
    before it relies on it.
    """

    def __init__(
        self,
        store: ReadModelStore,
        projection: str,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.projection = projection
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, GenerationState] | None = None

    def current(self) -> GenerationState:
        with self._lock:
            cached = self._cached
        now = self._clock()
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        state = self._read()[0]
        with self._lock:
            self._cached = (now, state)
        return state

    def current_uncached(self) -> GenerationState:
        return self._read()[0]

    def update(self, change: Callable[[GenerationState], GenerationState]) -> GenerationState:
        def attempt() -> GenerationState:
            state, etag = self._read()
            changed = change(state)
            self.store.put(POINTER_MODEL, ViewDocument(self.projection, changed.model_dump(), etag=etag))
            with self._lock:
                self._cached = (self._clock(), changed)
            return changed

        return until_written(attempt, f"the generation pointer of {self.projection}")

    def _read(self) -> tuple[GenerationState, str | None]:
        document = self.store.get(POINTER_MODEL, self.projection)
        if document is None or document.view is None:
            return GenerationState(), None
        return GenerationState.model_validate(document.view), document.etag
