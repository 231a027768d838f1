"""2. Rehydration vs stream length: one deposit on a stream of 10, 1,000 and 100,000 events.

All the streams live in one store, so only their length differs. Each is built by appending straight
to the store in batches (at most MAX_EVENTS_PER_APPEND events each) with consistent balances, and gets
the snapshot the pipeline would have written: at the last multiple of `snapshot_every`, of the state at
that version. Then, per stream and repeat:
- cold: a fresh CommandHandler (empty state cache) handles a deposit: snapshot + tail, decide, append;
- warm: the same handler handles another deposit: a cache hit, decide, append.
For context only, a handler without snapshots or cache replays the whole stream.

The same streams are also built in stores without the hash chain and without sealing (as in 1.), and
timed alongside: what the two cost a rehydration, cold and in a full replay (where every event is read
with its hashes, and the owner's sealed name and email are opened).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.sizes import Sizes
from bench.stats import clock, median
from domain import accounts
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.snapshots import SqliteSnapshotStore
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
    cold_without_trust_seconds: float  # median, stores without the hash chain and sealing
    full_replay_without_trust_seconds: float


@dataclass(frozen=True)
class RehydrationResult:
    snapshot_every: int
    repeats: int
    streams: list[StreamTiming]


def run(sizes: Sizes, workdir: Path) -> RehydrationResult:
    root = Root(Settings(data_dir=workdir / "rehydration", backend="embedded"))
    plain_store = SqliteEventStore(workdir / "rehydration" / "plain-events.sqlite", chain=False)
    plain_snapshots = SqliteSnapshotStore(workdir / "rehydration" / "plain-snapshots.sqlite")
    try:
        pipeline = accounts_of(root).commands
        assert pipeline.snapshots is not None, "the composition root builds the pipeline with snapshots"
        snapshots: SnapshotStore = pipeline.snapshots
        plain = CommandHandler(plain_store, accounts.decider, snapshots=plain_snapshots)
        streams = {
            length: build_stream(pipeline, snapshots, length, pipeline.snapshot_every)
            for length in sizes.stream_lengths
        }
        plain_streams = {
            length: build_stream(plain, plain_snapshots, length, pipeline.snapshot_every)
            for length in sizes.stream_lengths
        }
        cold: dict[int, list[float]] = {length: [] for length in streams}
        warm: dict[int, list[float]] = {length: [] for length in streams}
        cold_plain: dict[int, list[float]] = {length: [] for length in streams}
        for repeat in range(sizes.rehydration_repeats + 1):  # interleaved, so noise hits every length alike
            for length, (stream_id, _) in streams.items():
                ours = (pipeline, snapshots, stream_id, cold[length], warm[length])
                without = (plain, plain_snapshots, plain_streams[length][0], cold_plain[length], None)
                for source, kept, stream, colds, warms in (ours, without) if repeat % 2 else (without, ours):
                    handler = fresh_handler(source, kept, root.settings)
                    cold_seconds = _timed_deposit(handler, stream)
                    # both take the warm step, so each is timed after the same steps (neither always first)
                    warm_seconds = _timed_deposit(handler, stream)
                    if repeat:  # the first pass only warms up the files
                        colds.append(cold_seconds)
                        if warms is not None:
                            warms.append(warm_seconds)
        timings = []
        for length, (stream_id, snapshot_version) in streams.items():
            replay: list[float] = []
            replay_plain: list[float] = []
            for repeat in range(full_replay_repeats(sizes, length)):
                for handler, stream, timings_of in (
                    (replaying_handler(pipeline), stream_id, replay),
                    (replaying_handler(plain), plain_streams[length][0], replay_plain),
                )[:: 1 if repeat % 2 else -1]:
                    timings_of.append(_timed_deposit(handler, stream))
            timings.append(
                StreamTiming(
                    length,
                    snapshot_version,
                    median(cold[length]),
                    median(warm[length]),
                    median(replay),
                    median(cold_plain[length]),
                    median(replay_plain),
                )
            )
        return RehydrationResult(pipeline.snapshot_every, sizes.rehydration_repeats, timings)
    finally:
        plain_store.close()
        plain_snapshots.close()
        root.close()


def full_replay_repeats(sizes: Sizes, length: int) -> int:
    """Full replays per stream: at least the sizes' count, more for shorter streams (about 20,000 events
    replayed per contender, at most 50 times), so that with and without compare on a steady median."""
    return max(sizes.full_replay_repeats, min(50, 20_000 // length))


def replaying_handler(pipeline: AccountHandler) -> AccountHandler:
    """A handler over the same store without snapshots or cache: each command replays the whole stream."""
    return CommandHandler(pipeline.store, accounts.decider, cache_size=0, seals=pipeline.codec.seals)


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
