"""1. Command throughput in process: N accounts x M deposits through each contender, on SQLite.

Contenders, all on SQLite in WAL mode with synchronous=NORMAL, one transaction per command:
- ours: the CommandHandler exactly as the composition root builds it (snapshots and state cache on);
- ours without the hash chain and without sealing personal data: what those two cost;
- ours, store append only: the same appends without the pipeline around them (where the time goes);
- the `eventsourcing` library in its default configuration, and in its fastest;
- raw: one single-row INSERT + COMMIT per command with `sqlite3`, the physical limit.

The rounds are interleaved (one deposit on every account, contender after contender, each round
starting with the next contender), so a noisy neighbour on the machine slows every contender alike;
the whole comparison runs in a few trials, each on fresh files, and a contender's figure is its median
trial.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.peer_eventsourcing import DEFAULT_SETTINGS, FASTEST_SETTINGS, EventsourcingBank
from bench.sizes import Sizes
from bench.stats import clock, median
from domain import accounts
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.snapshots import SqliteSnapshotStore
from infra.app.commands import CommandHandler
from infra.entry.accounts_api import accounts as accounts_of
from infra.entry.bootstrap import Root
from infra.entry.settings import Settings
from infra.ports.eventstore import Metadata

AMOUNT = 100

OURS = "ours"
OURS_APPEND_ONLY = "ours_store_append_only"
OURS_WITHOUT_TRUST = "ours_without_chain_or_sealing"
EVENTSOURCING_DEFAULT = "eventsourcing_default"
EVENTSOURCING_FASTEST = "eventsourcing_fastest"
RAW = "raw_sqlite_insert_commit"


class Contender(Protocol):
    name: str

    def open_accounts(self, count: int) -> None: ...

    def deposit_each(self, amount: int) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Throughput:
    name: str
    commands: int  # per trial
    trial_seconds: list[float]

    @property
    def trial_rates(self) -> list[float]:
        return [self.commands / seconds for seconds in self.trial_seconds]

    @property
    def per_second(self) -> float:
        return median(self.trial_rates)


@dataclass(frozen=True)
class ThroughputResult:
    accounts: int
    deposits_per_account: int
    trials: int
    results: dict[str, Throughput]
    snapshot_every: int
    state_cache_size: int
    eventsourcing_synchronous: int
    raw_synchronous: int


class OurPipeline:
    """Deposits through the CommandHandler the composition root builds for the embedded backend."""

    name = OURS

    def __init__(self, data_dir: Path) -> None:
        self.root = Root(Settings(data_dir=data_dir, backend="embedded"))
        self.commands = accounts_of(self.root).commands
        self.streams: list[str] = []

    def open_accounts(self, count: int) -> None:
        for index in range(count):
            stream_id = self.commands.new_stream_id()
            command = accounts.OpenAccount(
                owner_name=f"Owner {index}", owner_email=f"owner{index}@example.com", currency="EUR"
            )
            self.commands.handle(stream_id, command, _metadata(), expected_version=0)
            self.streams.append(stream_id)

    def deposit_each(self, amount: int) -> None:
        for stream_id in self.streams:
            self.commands.handle(stream_id, accounts.DepositMoney(amount=amount), _metadata())

    def balance(self, stream_id: str) -> int:
        state, _ = self.commands.load(stream_id)
        return state.balance

    def close(self) -> None:
        self.root.close()


class OurPipelineWithoutTrust(OurPipeline):
    """The same pipeline without the hash chain and without sealing personal data: what the two cost."""

    name = OURS_WITHOUT_TRUST

    def __init__(self, data_dir: Path) -> None:
        self.root = Root(Settings(data_dir=data_dir, backend="embedded"))
        self.store = SqliteEventStore(data_dir / "plain-events.sqlite", chain=False)
        settings = self.root.settings
        self.commands = CommandHandler(
            self.store,
            accounts.decider,
            snapshots=SqliteSnapshotStore(data_dir / "plain-snapshots.sqlite"),
            snapshot_every=settings.snapshot_every,
            cache_size=settings.state_cache_size,
        )
        self.streams = []

    def close(self) -> None:
        self.store.close()
        super().close()


class OurStoreAppendOnly:
    """The same events appended straight to the SqliteEventStore: the pipeline's cost is the rest."""

    name = OURS_APPEND_ONLY

    def __init__(self, data_dir: Path) -> None:
        self.root = Root(Settings(data_dir=data_dir, backend="embedded"))
        self.store = accounts_of(self.root).commands.store
        self.codec = accounts_of(self.root).commands.codec
        self.streams: dict[str, tuple[int, int]] = {}  # stream id -> (version, balance)

    def open_accounts(self, count: int) -> None:
        for index in range(count):
            stream_id = f"account-{uuid.uuid4()}"
            owner = accounts.Owner(name=f"Owner {index}", email=f"owner{index}@example.com")
            opened = accounts.AccountOpened(owner=owner, currency="EUR")
            self.store.append(stream_id, 0, [self.codec.encode(opened)], _metadata())
            self.streams[stream_id] = (1, 0)

    def deposit_each(self, amount: int) -> None:
        for stream_id, (version, balance) in self.streams.items():
            deposited = accounts.MoneyDeposited(amount=amount, balance_after=balance + amount)
            self.store.append(stream_id, version, [self.codec.encode(deposited)], _metadata())
            self.streams[stream_id] = (version + 1, balance + amount)

    def close(self) -> None:
        self.root.close()


class RawSqlite:
    """One single-row INSERT and COMMIT per command: what SQLite itself does per transaction."""

    name = RAW

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE events (stream_id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,"
            " PRIMARY KEY (stream_id, version)) WITHOUT ROWID"
        )
        self.streams: dict[str, tuple[int, int]] = {}

    def open_accounts(self, count: int) -> None:
        for index in range(count):
            stream_id = f"account-{uuid.uuid4()}"
            self._insert(stream_id, 1, {"owner_name": f"Owner {index}", "currency": "EUR"})
            self.streams[stream_id] = (1, 0)

    def deposit_each(self, amount: int) -> None:
        for stream_id, (version, balance) in self.streams.items():
            self._insert(stream_id, version + 1, {"amount": amount, "balance_after": balance + amount})
            self.streams[stream_id] = (version + 1, balance + amount)

    def _insert(self, stream_id: str, version: int, data: dict[str, object]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO events VALUES (?, ?, ?)", (stream_id, version, json.dumps(data)))
        self.conn.execute("COMMIT")

    def synchronous(self) -> int:
        return int(self.conn.execute("PRAGMA synchronous").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


def run(sizes: Sizes, workdir: Path) -> ThroughputResult:
    trials = [_trial(sizes, workdir / f"throughput-{trial}") for trial in range(sizes.trials)]
    first = trials[0]
    commands = sizes.accounts * sizes.deposits_per_account
    return ThroughputResult(
        accounts=sizes.accounts,
        deposits_per_account=sizes.deposits_per_account,
        trials=sizes.trials,
        results={
            name: Throughput(name, commands, [trial.elapsed[name] for trial in trials])
            for name in first.elapsed
        },
        snapshot_every=first.snapshot_every,
        state_cache_size=first.state_cache_size,
        eventsourcing_synchronous=first.eventsourcing_synchronous,
        raw_synchronous=first.raw_synchronous,
    )


@dataclass(frozen=True)
class Trial:
    elapsed: dict[str, float]  # contender -> seconds spent on the deposits
    snapshot_every: int
    state_cache_size: int
    eventsourcing_synchronous: int
    raw_synchronous: int


def _trial(sizes: Sizes, workdir: Path) -> Trial:
    ours = OurPipeline(workdir / "ours")
    es_default = EventsourcingBank(EVENTSOURCING_DEFAULT, workdir / "es-default.sqlite", DEFAULT_SETTINGS)
    es_fastest = EventsourcingBank(EVENTSOURCING_FASTEST, workdir / "es-fastest.sqlite", FASTEST_SETTINGS)
    raw = RawSqlite(workdir / "raw.sqlite")
    contenders: list[Contender] = [
        ours,
        OurPipelineWithoutTrust(workdir / "without-trust"),
        OurStoreAppendOnly(workdir / "append-only"),
        es_default,
        es_fastest,
        raw,
    ]
    try:
        for contender in contenders:
            contender.open_accounts(sizes.accounts)
        elapsed = dict.fromkeys((contender.name for contender in contenders), 0.0)
        for round_ in range(sizes.deposits_per_account):
            # each round starts with the next contender, so none always follows the same one (one that runs
            # right after code like its own finds it warm in the CPU's caches)
            start = round_ % len(contenders)
            for contender in contenders[start:] + contenders[:start]:
                started = clock()
                contender.deposit_each(AMOUNT)
                elapsed[contender.name] += clock() - started
        expected = AMOUNT * sizes.deposits_per_account
        balances = {
            OURS: ours.balance(ours.streams[-1]),
            EVENTSOURCING_DEFAULT: es_default.balance(es_default.accounts[-1]),
            EVENTSOURCING_FASTEST: es_fastest.balance(es_fastest.accounts[-1]),
        }
        if any(balance != expected for balance in balances.values()):
            raise AssertionError(f"a contender lost a deposit: balances {balances}, expected {expected}")
        return Trial(
            elapsed=elapsed,
            snapshot_every=ours.root.settings.snapshot_every,
            state_cache_size=ours.root.settings.state_cache_size,
            eventsourcing_synchronous=es_default.synchronous(),
            raw_synchronous=raw.synchronous(),
        )
    finally:
        for contender in contenders:
            contender.close()


def _metadata() -> Metadata:
    return Metadata(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))
