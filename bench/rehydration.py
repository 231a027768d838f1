"""2. Rehydration vs stream length: one deposit on a stream of 10, 1,000 and 100,000 events.

All the streams live in one store, so only their length differs. Each is built by appending straight
to the store in batches (at most MAX_EVENTS_PER_APPEND events each) with consistent balances, and gets
the snapshot the pipeline would have written: at the last multiple of `snapshot_every`, of the state at
that version. Then, per stream and repeat:
- cold: a fresh CommandHandler (empty state cache) handles a deposit: snapshot + tail, decide, append;
- warm: the same handler handles another deposit: a cache hit, decide, append.
For context only, a handler without snapshots or cache replays the whole stream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.sizes import Sizes
from bench.stats import clock, median
from domain import accounts
from infra.app.commands import CommandHandler
from infra.entry.accounts_api import accounts as accounts_of
from infra.entry.bootstrap import Root
from infra.entry.settings import Settings
from infra.ports.eventstore import MAX_EVENTS_PER_APPEND, EventStore, Metadata, NewEvent
from infra.ports.snapshots import Snapshot, SnapshotStore

AccountHandler = CommandHandler[accounts.Account, accounts.AccountCommand, accounts.AccountEvent]
DEPOSIT = 100


@dataclass(frozen=True)
class StreamTiming:
    length: int
    snapshot_version: int
    cold_seconds: float  # median
    warm_seconds: float  # median
    full_replay_seconds: float  # median, without snapshot or cache: context only


@dataclass(frozen=True)
class RehydrationResult:
    snapshot_every: int
    repeats: int
    streams: list[StreamTiming]


def run(sizes: Sizes, workdir: Path) -> RehydrationResult:
    root = Root(Settings(data_dir=workdir / "rehydration", backend="embedded"))
    try:
        pipeline = accounts_of(root).commands
        assert pipeline.snapshots is not None, "the composition root builds the pipeline with snapshots"
        snapshots: SnapshotStore = pipeline.snapshots
        streams = {
            length: build_stream(pipeline, snapshots, length, pipeline.snapshot_every)
            for length in sizes.stream_lengths
        }
        cold: dict[int, list[float]] = {length: [] for length in streams}
        warm: dict[int, list[float]] = {length: [] for length in streams}
        for repeat in range(sizes.rehydration_repeats + 1):  # interleaved, so noise hits every length alike
            for length, (stream_id, _) in streams.items():
                handler = fresh_handler(pipeline, snapshots, root.settings)
                cold_seconds, warm_seconds = (
                    _timed_deposit(handler, stream_id),
                    _timed_deposit(handler, stream_id),
                )
                if repeat:  # the first pass only warms up the files
                    cold[length].append(cold_seconds)
                    warm[length].append(warm_seconds)
        timings = []
        for length, (stream_id, snapshot_version) in streams.items():
            replay = [
                _timed_deposit(
                    CommandHandler(
                        pipeline.store, accounts.decider, cache_size=0, seals=pipeline.codec.seals
                    ),
                    stream_id,
                )
                for _ in range(sizes.full_replay_repeats)
            ]
            timings.append(
                StreamTiming(
                    length, snapshot_version, median(cold[length]), median(warm[length]), median(replay)
                )
            )
        return RehydrationResult(pipeline.snapshot_every, sizes.rehydration_repeats, timings)
    finally:
        root.close()


def fresh_handler(pipeline: AccountHandler, snapshots: SnapshotStore, settings: Settings) -> AccountHandler:
    """A handler built like the composition root's, over the same stores, with an empty cache."""
    return CommandHandler(
        pipeline.store,
        accounts.decider,
        snapshots=snapshots,
        snapshot_every=settings.snapshot_every,
        cache_size=settings.state_cache_size,
        seals=pipeline.codec.seals,
    )


def build_stream(
    pipeline: AccountHandler, snapshots: SnapshotStore, length: int, snapshot_every: int
) -> tuple[str, int]:
    """An account stream of `length` events (opened, then deposits); returns its id and snapshot version."""
    stream_id = f"account-{uuid.uuid4()}"
    opened = accounts.AccountOpened(owner=accounts.Owner(name="Ada", email="ada@example.com"), currency="EUR")
    state = accounts.decider.evolve(accounts.decider.initial, opened)
    snapshot_version = (length // snapshot_every) * snapshot_every
    batch: list[NewEvent] = [pipeline.codec.encode(opened)]
    version = 0
    for next_version in range(2, length + 1):
        deposited = accounts.MoneyDeposited(amount=DEPOSIT, balance_after=state.balance + DEPOSIT)
        state = accounts.decider.evolve(state, deposited)
        batch.append(pipeline.codec.encode(deposited))
        if len(batch) == MAX_EVENTS_PER_APPEND or next_version in (length, snapshot_version):
            version = _append(pipeline.store, stream_id, version, batch)
            batch = []
        if next_version == snapshot_version:  # as the pipeline does: after the events are committed
            snapshots.put(
                Snapshot(
                    stream_id=stream_id,
                    version=snapshot_version,
                    state_version=accounts.decider.state_version,
                    state=state.model_dump(mode="json"),
                )
            )
    if batch:
        _append(pipeline.store, stream_id, version, batch)
    return stream_id, snapshot_version


def _append(store: EventStore, stream_id: str, version: int, batch: list[NewEvent]) -> int:
    return store.append(stream_id, version, batch, Metadata(correlation_id=str(uuid.uuid4()))).version


def _timed_deposit(handler: AccountHandler, stream_id: str) -> float:
    command = accounts.DepositMoney(amount=DEPOSIT)
    metadata = Metadata(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))
    started = clock()
    handler.handle(stream_id, command, metadata)
    return clock() - started
