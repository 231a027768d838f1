"""Rebuilding a read model into a new generation under live traffic, and verifying one against a replay.

Rebuild, with every writer caching the generation pointer for at most `cache_seconds`:
1. mark a new generation `building` (or resume the one a crashed rebuild left), then wait out the cache:
   from then on every live batch is applied to it too;
2. replay the whole log into it, scanned in pages (`Pace`): an event a live writer applied only to the
   old generation was in the store before the scan began, so nothing falls between the two;
3. switch readers to it (`active`), keeping the old one written as `retiring` while caches expire;
4. wait out the cache again and stop writing the old one; then delete its documents.
A stream's checkpoint in the new generation makes the catch-up and the live writes idempotent, so they
can race freely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.app.deadletters import DeadLetter, DeadLetterStatus
from infra.app.generations import GenerationState
from infra.app.projector import Each, ProjectionRunner
from infra.ports.eventstore import EventStore
from infra.ports.readmodels import ReadModelStore, ViewDocument

# a margin over the cache period, for clocks and a batch that read the pointer just before the change
CACHE_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class Pace:
    """How a rebuild or a verify replays the log: in pages of `page_size` events, read in one scan, each
    page applied in one unit of work of the read-model store (SQLite: one transaction per page, each
    document written once per page), its streams by `writers` threads (1 for SQLite, whose writes
    serialise anyway). With `request_units_per_second`, the writers pause whenever what `charged()`
    reports (the read-model store's request units so far) is ahead of that budget: a rebuild on Cosmos DB
    leaves the rest of the throughput to live traffic."""

    page_size: int = 5_000
    writers: int = 1
    request_units_per_second: float | None = None
    charged: Callable[[], float] | None = None

    @classmethod
    def within(cls, request_units_per_second: float, charged: Callable[[], float]) -> Pace:
        """For a store charged in request units (Cosmos DB): a writer per REQUEST_UNITS_PER_WRITER of the
        budget, at most MAX_WRITERS, and the throttle holding them to it."""
        writers = max(1, min(MAX_WRITERS, round(request_units_per_second / REQUEST_UNITS_PER_WRITER)))
        return cls(1_000, writers, request_units_per_second, charged)


# One writer applies a stream in two to four sequential round trips of a few milliseconds (its document
# read, then its rows and document written, 1 and about 5 request units each): about 100 streams and
# 500 request units a second.
REQUEST_UNITS_PER_WRITER = 500
MAX_WRITERS = 16


class Throttle:
    """Keeps spending under a budget per second: `wait()` sleeps while what `charged()` reports since
    the start is more than the budget allows for the time gone by."""

    def __init__(
        self,
        per_second: float,
        charged: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_second, self._charged, self._clock, self._sleep = per_second, charged, clock, sleep
        self._started, self._spent_before = clock(), charged()

    def wait(self) -> None:
        ahead = (self._charged() - self._spent_before) / self._per_second - (self._clock() - self._started)
        if ahead > 0:
            self._sleep(ahead)


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    previous: int
    generation: int
    streams: int
    parked: list[DeadLetter]
    pruned: int = 0  # documents of the previous generation deleted
    switched: bool = True  # False: streams were parked in the new generation, so readers stayed


def rebuild(
    runner: ProjectionRunner[Any, Any],
    events: EventStore,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda events: None,
    sleep: Callable[[float], None] = time.sleep,
    keep_previous: bool = False,
    allow_parked: bool = False,
    pace: Pace = Pace(),
) -> RebuildReport:
    """Replay the whole store into a new generation of `runner`'s read model, switch readers to it, and
    (unless `keep_previous`) delete the previous generation once no worker can still use it.

    If the replay parks any stream (an event the code cannot apply), readers stay on the active
    generation (unless `allow_parked`) and the new one keeps being written: fix the cause and run the
    rebuild again, which resumes it, retrying the parked streams first. A rebuild that stopped after its
    switch is finished (the old generation retired and deleted) before a new one starts.

    `on_start(total)` is called once with the number of events in the store, `on_progress(events)` after
    each page with the number of events in it."""
    cache = runner.generations.cache_seconds
    wait = cache + CACHE_MARGIN_SECONDS if cache else 0.0
    _finish_retiring(runner, sleep, wait, keep_previous)

    def start(state: GenerationState) -> GenerationState:
        if state.building is not None:
            return state  # resume a rebuild that stopped half-way
        return state.model_copy(update={"building": state.active + 1})

    started = runner.generations.update(start)
    previous, generation = started.active, started.building
    assert generation is not None
    runner.replay(generation=generation)  # a resumed rebuild retries what it parked, the cause now fixed
    sleep(wait)
    streams = replay_log(runner, events, generation, pace, on_start, on_progress)
    parked = [
        letter
        for letter in runner.dead_letters.all(runner.model(generation))
        if letter.status is DeadLetterStatus.PARKED
    ]
    if parked and not allow_parked:
        return RebuildReport(runner.projection.name, previous, generation, streams, parked, switched=False)

    def switch(state: GenerationState) -> GenerationState:
        if state.building != generation:
            raise RebuildConflict(f"another rebuild of {runner.projection.name} changed its generations")
        return GenerationState(active=generation, retiring=previous)

    runner.generations.update(switch)
    pruned = _finish_retiring(runner, sleep, wait, keep_previous or bool(parked))
    return RebuildReport(runner.projection.name, previous, generation, streams, parked, pruned)


def replay_log(
    runner: ProjectionRunner[Any, Any],
    events: EventStore,
    generation: int,
    pace: Pace,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda events: None,
) -> int:
    """Apply every event of the store to a generation of `runner`'s read model, a scanned page at a time
    (streams parked at a poison event are in its dead letters); returns how many streams the scan met."""
    on_start(events.totals().events)
    streams: set[str] = set()
    with _writers(pace) as each:
        for page in events.scan(pace.page_size):
            with runner.store.unit_of_work():
                runner.apply_scanned(page, generation, each)
            streams.update(event.stream_id for event in page)
            on_progress(len(page))
    return len(streams)


@contextmanager
def _writers(pace: Pace) -> Iterator[Each]:
    """How a page's streams are applied: one after the other, or by a pool of `pace.writers`, each
    pausing after a stream while the throttle says the budget is spent."""
    throttle = (
        None
        if pace.request_units_per_second is None or pace.charged is None
        else Throttle(pace.request_units_per_second, pace.charged)
    )
    if pace.writers <= 1 and throttle is None:
        yield map
        return
    lock = threading.Lock()  # one writer waits for the budget at a time; the others queue behind it

    def paced[T](apply: Callable[[T], int]) -> Callable[[T], int]:
        def run(work: T) -> int:
            applied = apply(work)
            if throttle is not None:
                with lock:
                    throttle.wait()
            return applied

        return run

    with ThreadPoolExecutor(max(1, pace.writers), thread_name_prefix="rebuild") as pool:
        yield lambda apply, streams: pool.map(paced(apply), streams)


class RebuildConflict(Exception):
    """Another rebuild of the same read model moved its generations on."""


def _finish_retiring(
    runner: ProjectionRunner[Any, Any], sleep: Callable[[float], None], wait: float, keep: bool
) -> int:
    """Once no worker can still use the retiring generation, stop writing it and (unless `keep`) delete it."""
    retiring = runner.generations.current_uncached().retiring
    if retiring is None:
        return 0
    sleep(wait)
    runner.generations.update(lambda s: s.model_copy(update={"retiring": None}))
    if keep:
        return 0
    sleep(wait)  # until no worker's cached pointer still has it written
    return prune(runner, retiring)


def prune(runner: ProjectionRunner[Any, Any], generation: int) -> int:
    """Delete every document of a generation (its views, rows and dead letters); refuses one in use."""
    if generation in runner.generations.current_uncached().targets():
        raise ValueError(f"generation {generation} of {runner.projection.name} is in use")
    deleted = 0
    for model in runner.models(generation):
        for document in runner.store.scan(model):
            runner.store.delete(model, document.id, document.partition)
            deleted += 1
    for letter in runner.dead_letters.all(runner.model(generation)):
        runner.dead_letters.delete(letter)
        deleted += 1
    return deleted


@dataclass(frozen=True)
class Difference:
    model: str
    partition: str
    id: str
    # "missing": a replay has it, the read model does not; "unexpected": the other way; "different"
    kind: str
    stored: dict[str, Any] | None
    replayed: dict[str, Any] | None


def verify(
    runner: ProjectionRunner[Any, Any],
    events: EventStore,
    scratch: ReadModelStore,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda events: None,
    pace: Pace = Pace(),
) -> list[Difference]:
    """Every difference between the active generation of `runner`'s read model and a fresh replay of the
    store into `scratch` (an empty store the caller owns). Exact when no events are in flight."""
    replay = ProjectionRunner(runner.projection, runner.codec, scratch, runner.events, poison_attempts=1)
    # parked in the replay too: compared as parked
    replay_log(replay, events, 1, pace, on_start, on_progress)
    active = runner.generation_state().active
    differences = []
    for stored_model, replayed_model in zip(runner.models(active), replay.models(1), strict=True):
        base = stored_model.rsplit("@", 1)[0]
        differences.extend(
            _compare(
                base, runner.store.scan(stored_model), scratch.scan(replayed_model), runner.read_side.opened
            )
        )
    return differences


def _compare(
    model: str,
    stored: Iterable[ViewDocument],
    replayed: Iterable[ViewDocument],
    opened: Callable[[Any], Any] = lambda view: view,
) -> list[Difference]:
    """The differences of two sets of documents, their sealed fields compared opened (each sealing of a
    value is different: a fresh nonce)."""

    def keyed(documents: Iterable[ViewDocument]) -> dict[tuple[str, str], ViewDocument]:
        return {(d.partition or d.id, d.id): d for d in documents}

    ours, theirs = keyed(stored), keyed(replayed)
    differences = []
    for key in sorted(ours.keys() | theirs.keys()):
        mine, fresh = ours.get(key), theirs.get(key)
        if mine is None:
            kind = "missing"
        elif fresh is None:
            kind = "unexpected"
        elif _compared(mine, opened) != _compared(fresh, opened):
            kind = "different"
        else:
            continue
        differences.append(
            Difference(model, key[0], key[1], kind, _shown(mine, opened), _shown(fresh, opened))
        )
    return differences


def _compared(document: ViewDocument, opened: Callable[[Any], Any]) -> tuple[object, ...]:
    # everything but the etag: the key orders and bounds queries, updated_at feeds the lag
    return (opened(document.view), document.versions, document.parked, document.key, document.updated_at)


def _shown(document: ViewDocument | None, opened: Callable[[Any], Any]) -> dict[str, Any] | None:
    if document is None:
        return None
    return {"view": opened(document.view), "versions": document.versions, "parked": document.parked}
