"""4. Projection throughput: rebuilding the account summary read model from a store of 1M events.

The store holds accounts of EVENTS_PER_ACCOUNT events each (opened, then deposits), written through
the store's own append, a few events per account at a time, round-robin over the accounts: the log
interleaves accounts as real traffic does, and a batch of 100 touches about 100 / events_per_append
accounts. The rebuild reads the log in position order, as the embedded change feed does, and hands it
to a ProjectionRunner over a fresh SqliteReadModelStore in batches of 100, as the hub would deliver.
Then the operator's rebuild (infra/app/rebuild.py) replays the same log into a new generation of another
fresh store: scanned pages, one transaction each, every document written once per page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.sizes import Sizes
from bench.stats import clock
from domain import accounts
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.app.projector import ProjectionRunner
from infra.app.rebuild import Pace, rebuild
from infra.formats.codec import EventCodec
from infra.ports.eventstore import Metadata, NewEvent
from projections import account_summary

EVENTS_PER_ACCOUNT = 100
DEPOSIT = 100


@dataclass(frozen=True)
class ProjectionResult:
    events: int
    accounts: int
    events_per_append: int
    batch_size: int
    batches: int
    build_seconds: float
    rebuild_seconds: float
    read_seconds: float  # of the rebuild, reading the log
    scan_page_size: int  # the operator's rebuild: pages of the log scan
    scan_rebuild_seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.rebuild_seconds

    @property
    def scan_events_per_second(self) -> float:
        return self.events / self.scan_rebuild_seconds


def run(sizes: Sizes, workdir: Path) -> ProjectionResult:
    folder = workdir / "projection"
    store = SqliteEventStore(folder / "events.sqlite")
    read_models = SqliteReadModelStore(folder / "readmodels.sqlite")
    scanned = SqliteReadModelStore(folder / "rebuilt.sqlite")
    codec: EventCodec[accounts.AccountEvent] = EventCodec(accounts.EVENT_TYPES, accounts.UPCASTERS)
    try:
        started = clock()
        streams = build_log(store, codec, sizes.projection_events, sizes.projection_events_per_append)
        build_seconds = clock() - started

        runner = ProjectionRunner(account_summary.projection, codec, read_models, store)
        after, applied, batches, read_seconds = 0, 0, 0, 0.0
        started = clock()
        while True:
            reading = clock()
            batch = store.read_all(after, sizes.projection_batch)
            read_seconds += clock() - reading
            if not batch:
                break
            applied += runner.apply(event for _, event in batch)
            after = batch[-1][0]
            batches += 1
        rebuild_seconds = clock() - started

        summary = runner.get(streams[-1])
        expected_balance = (EVENTS_PER_ACCOUNT - 1) * DEPOSIT
        if applied != sizes.projection_events or summary is None or summary.balance != expected_balance:
            raise AssertionError(f"the rebuild applied {applied} events and ended at {summary}")

        rebuilt = ProjectionRunner(
            account_summary.projection, codec, scanned, store, generation_cache_seconds=0
        )
        pace = Pace()
        started = clock()
        report = rebuild(rebuilt, store, pace=pace)
        scan_rebuild_seconds = clock() - started
        summary = rebuilt.get(streams[-1])
        if report.streams != len(streams) or summary is None or summary.balance != expected_balance:
            raise AssertionError(f"the operator's rebuild met {report.streams} streams, ended at {summary}")
        return ProjectionResult(
            events=applied,
            accounts=len(streams),
            events_per_append=sizes.projection_events_per_append,
            batch_size=sizes.projection_batch,
            batches=batches,
            build_seconds=build_seconds,
            rebuild_seconds=rebuild_seconds,
            read_seconds=read_seconds,
            scan_page_size=pace.page_size,
            scan_rebuild_seconds=scan_rebuild_seconds,
        )
    finally:
        store.close()
        read_models.close()
        scanned.close()


def build_log(
    store: SqliteEventStore, codec: EventCodec[accounts.AccountEvent], events: int, per_append: int
) -> list[str]:
    """Accounts of EVENTS_PER_ACCOUNT events, appended `per_append` at a time, round-robin."""
    streams = [f"account-{uuid.uuid4()}" for _ in range(events // EVENTS_PER_ACCOUNT)]
    opened = codec.encode(
        accounts.AccountOpened(owner=accounts.Owner(name="Ada", email="ada@example.com"), currency="EUR")
    )
    metadata = Metadata(correlation_id=str(uuid.uuid4()))
    for version in range(0, EVENTS_PER_ACCOUNT, per_append):
        for stream_id in streams:
            batch: list[NewEvent] = []
            for next_version in range(version + 1, min(version + per_append, EVENTS_PER_ACCOUNT) + 1):
                if next_version == 1:
                    batch.append(NewEvent(opened.type, opened.schema_version, opened.data))
                    continue
                deposited = accounts.MoneyDeposited(
                    amount=DEPOSIT, balance_after=(next_version - 1) * DEPOSIT
                )
                batch.append(codec.encode(deposited))
            store.append(stream_id, version, batch, metadata)
    return streams
