"""Fixtures for the contract suites: each port's adapters are built in one place and run through one suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.eventstore import EventStore
from infra.memory_store import InMemoryEventStore
from infra.readmodels import InMemoryReadModelStore, ReadModelStore, SqliteReadModelStore
from infra.snapshots import InMemorySnapshotStore, SnapshotStore, SqliteSnapshotStore
from infra.sqlite_store import SqliteEventStore

# Add an adapter here (and a branch in its factory) and it runs through the whole contract suite.
EVENT_STORES = ["memory", "sqlite"]
READ_MODEL_STORES = ["memory", "sqlite"]
SNAPSHOT_STORES = ["memory", "sqlite"]


class FakeClock:
    """A clock the test moves by hand: every append records `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@contextmanager
def open_event_store(kind: str, directory: Path, clock: FakeClock) -> Iterator[EventStore]:
    """The one factory of event-store adapters under contract."""
    if kind == "memory":
        yield InMemoryEventStore(clock)
    elif kind == "sqlite":
        store = SqliteEventStore(directory / "events.db", clock)
        try:
            yield store
        finally:
            store.close()
    else:
        raise ValueError(f"no event store adapter called {kind!r}")


@contextmanager
def open_read_model_store(kind: str, directory: Path) -> Iterator[ReadModelStore]:
    """The one factory of read-model-store adapters under contract."""
    if kind == "memory":
        yield InMemoryReadModelStore()
    elif kind == "sqlite":
        store = SqliteReadModelStore(directory / "views.db")
        try:
            yield store
        finally:
            store.close()
    else:
        raise ValueError(f"no read model store adapter called {kind!r}")


@contextmanager
def open_snapshot_store(kind: str, directory: Path) -> Iterator[SnapshotStore]:
    """The one factory of snapshot-store adapters under contract."""
    if kind == "memory":
        yield InMemorySnapshotStore()
    elif kind == "sqlite":
        store = SqliteSnapshotStore(directory / "snapshots.db")
        try:
            yield store
        finally:
            store.close()
    else:
        raise ValueError(f"no snapshot store adapter called {kind!r}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 17, 9, 30, 0, 123456, tzinfo=UTC))


@pytest.fixture(params=EVENT_STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[EventStore]:
    with open_event_store(request.param, tmp_path, clock) as adapter:
        yield adapter


@pytest.fixture(params=READ_MODEL_STORES)
def read_models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelStore]:
    with open_read_model_store(request.param, tmp_path) as adapter:
        yield adapter


@pytest.fixture(params=SNAPSHOT_STORES)
def snapshots(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SnapshotStore]:
    with open_snapshot_store(request.param, tmp_path) as adapter:
        yield adapter
