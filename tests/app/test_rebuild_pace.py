"""How a rebuild replays the log: scanned pages, one unit of work each, and on Cosmos DB several writers
held to a request-unit budget."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from domain.accounts import AccountEvent, DepositMoney, OpenAccount, decider
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH, CosmosReadModelStore
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.app.commands import CommandHandler
from infra.app.projector import ProjectionRunner
from infra.app.rebuild import MAX_WRITERS, REQUEST_UNITS_PER_WRITER, Pace, Throttle, rebuild
from infra.formats.codec import EventCodec
from infra.ports.eventstore import EventStore, Metadata
from infra.ports.readmodels import ReadModelStore, ViewDocument
from projections import account_summary
from projections.account_summary import AccountSummary
from tests.fakes.cosmos import FakeContainer

CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)
METADATA = Metadata(correlation_id="test")


def accounts(store: EventStore, count: int) -> list[str]:
    handler = CommandHandler(store, decider)
    streams = [f"account-00000000-0000-4000-8000-{n:012d}" for n in range(1, count + 1)]
    for n, stream_id in enumerate(streams):
        handler.handle(
            stream_id,
            OpenAccount(owner_name=f"Owner {n}", owner_email=f"o{n % 3}@example.com", currency="EUR"),
            METADATA,
        )
    for n, stream_id in enumerate(streams):  # interleaved in the log, as real traffic is
        handler.handle(stream_id, DepositMoney(amount=n + 1), METADATA)
    return streams


def summaries(store: ReadModelStore, events: EventStore) -> ProjectionRunner[AccountEvent, AccountSummary]:
    return ProjectionRunner(account_summary.projection, CODEC, store, events, generation_cache_seconds=0)


def contents(runner: ProjectionRunner[AccountEvent, AccountSummary], generation: int) -> dict[str, object]:
    """Every document of a generation, by model without generation, without etags."""
    return {
        model.rsplit("@", 1)[0]: sorted(
            (replace(d, etag=None) for d in runner.store.scan(model)), key=lambda d: (d.partition or "", d.id)
        )
        for model in runner.models(generation)
    }


def cold_replay(events: EventStore) -> dict[str, object]:
    clean = summaries(InMemoryReadModelStore(), events)
    for page in events.scan(10_000):
        clean.apply(page)
    return contents(clean, 1)


# --- scanned pages ---


@pytest.mark.parametrize("page_size", [1, 7, 10_000])
def test_a_rebuild_on_sqlite_in_pages_of_any_size_equals_a_cold_replay(
    tmp_path: Path, page_size: int
) -> None:
    events = SqliteEventStore(tmp_path / "events.sqlite")
    read_models = SqliteReadModelStore(tmp_path / "readmodels.sqlite")
    try:
        accounts(events, 12)
        runner = summaries(read_models, events)
        progress: list[int] = []

        report = rebuild(
            runner, events, on_start=progress.append, on_progress=progress.append, pace=Pace(page_size)
        )

        assert report.switched
        assert report.streams == 12
        assert contents(runner, 2) == cold_replay(events)
        total, *pages = progress
        assert total == sum(pages) == 24  # the progress counts events: the start gives the total
        assert len(pages) == -(-24 // page_size)
    finally:
        events.close()
        read_models.close()


# --- writers and the request-unit budget ---


def test_the_throttle_sleeps_until_what_was_spent_fits_the_budget() -> None:
    now, spent, slept = [100.0], [0.0], list[float]()
    throttle = Throttle(50.0, lambda: spent[0], clock=lambda: now[0], sleep=slept.append)

    spent[0], now[0] = 40.0, 100.5  # 40 units in half a second: the budget allows 25
    throttle.wait()
    spent[0], now[0] = 60.0, 102.0  # 60 units in two seconds: within the budget of 100
    throttle.wait()

    assert slept == [pytest.approx(0.3)]  # 40 / 50 per second = 0.8 s, of which 0.5 s had gone by


def test_the_throttle_counts_only_what_was_spent_since_it_started() -> None:
    slept: list[float] = []
    throttle = Throttle(10.0, lambda: 1_000.0, clock=lambda: 0.0, sleep=slept.append)

    throttle.wait()

    assert slept == []


def test_a_budget_sizes_the_writers_and_caps_them() -> None:
    def charged() -> float:
        return 0.0

    assert Pace.within(100, charged).writers == 1
    assert Pace.within(4 * REQUEST_UNITS_PER_WRITER, charged).writers == 4
    assert Pace.within(1_000_000, charged).writers == MAX_WRITERS
    assert Pace.within(1_000, charged).request_units_per_second == 1_000


def test_the_cosmos_read_model_store_counts_the_request_units_it_is_charged() -> None:
    store = CosmosReadModelStore(FakeContainer(READMODELS_PARTITION_KEY_PATH))
    assert store.request_units() == 0

    store.put("m", ViewDocument(id="a", view={"n": 1}))
    after_write = store.request_units()
    store.get("m", "a")
    store.get("m", "missing")  # a 404 is charged too, as the service does

    assert after_write == 5.0  # the fake's charge for writing a small document
    assert store.request_units() == 5.0 + 1.0 + 1.0


def test_a_rebuild_on_cosmos_by_many_writers_keeps_to_its_budget_and_equals_a_cold_replay() -> None:
    events = InMemoryEventStore()
    accounts(events, 30)
    store = CosmosReadModelStore(FakeContainer(READMODELS_PARTITION_KEY_PATH))
    runner = summaries(store, events)
    budget = 1_000.0
    pace = replace(Pace.within(budget, store.request_units), page_size=8, writers=4)

    started, spent_before = time.monotonic(), store.request_units()
    report = rebuild(runner, events, pace=pace, keep_previous=True)
    elapsed, spent = time.monotonic() - started, store.request_units() - spent_before

    assert report.switched
    assert report.streams == 30
    assert contents(runner, 2) == cold_replay(events)
    # the writers paused: no faster than the budget, but for the charge of the last few streams
    assert spent > 300
    assert elapsed >= (spent - 4 * 20) / budget
