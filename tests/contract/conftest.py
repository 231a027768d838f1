"""Fixtures for the contract suites: each port's adapters are built in one place and run through one suite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.adapters.cosmos.container import CosmosContainer
from infra.adapters.cosmos.eventstore import (
    EVENTS_INDEXING_POLICY,
    EVENTS_PARTITION_KEY_PATH,
    CosmosEventStore,
)
from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH, CosmosKeyStore
from infra.adapters.cosmos.readmodels import (
    READMODELS_INDEXING_POLICY,
    READMODELS_PARTITION_KEY_PATH,
    CosmosReadModelStore,
)
from infra.adapters.cosmos.snapshots import SNAPSHOTS_PARTITION_KEY_PATH, CosmosSnapshotStore
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.keys import InMemoryKeyStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.adapters.memory.snapshots import InMemorySnapshotStore
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.keys import SqliteKeyStore
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.adapters.sqlite.snapshots import SqliteSnapshotStore
from infra.ports.eventstore import EventStore
from infra.ports.keys import KeyStore
from infra.ports.readmodels import ReadModelStore
from infra.ports.snapshots import SnapshotStore
from tests.fakes.cosmos import FakeContainer
from tests.wire import server as wire_server
from tests.wire.fixtures import wire_database

if TYPE_CHECKING:
    from azure.cosmos import DatabaseProxy

# The Cosmos adapters also run over a real wire, through the real azure-cosmos SDK: always against the
# Cosmos-protocol server of tests/wire ("cosmos-wire", skipped with its reason when node or the server's
# package is missing), and against a real Cosmos DB emulator when one is configured ("cosmos-emulator").
COSMOS_EMULATOR_ENDPOINT = os.environ.get("COSMOS_EMULATOR_ENDPOINT", "").strip()
COSMOS_EMULATOR_KEY = os.environ.get("COSMOS_EMULATOR_KEY", "").strip() or wire_server.KEY
needs_cosmos_emulator = pytest.mark.skipif(
    not COSMOS_EMULATOR_ENDPOINT,
    reason="COSMOS_EMULATOR_ENDPOINT is not set: start a Cosmos DB emulator (docker compose up -d cosmos) "
    "and set it to the emulator's endpoint, for example https://localhost:8081/, to run these",
)

# Add an adapter here (and a branch in its factory) and it runs through the whole contract suite.
OVER_THE_WIRE = ["cosmos-wire", *(["cosmos-emulator"] if COSMOS_EMULATOR_ENDPOINT else [])]
EVENT_STORES = ["memory", "sqlite", "cosmos", *OVER_THE_WIRE]
READ_MODEL_STORES = ["memory", "sqlite", "cosmos", *OVER_THE_WIRE]
SNAPSHOT_STORES = ["memory", "sqlite", "cosmos", *OVER_THE_WIRE]
KEY_STORES = ["memory", "sqlite", "cosmos", *OVER_THE_WIRE]


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
def open_event_store(
    kind: str, directory: Path, clock: FakeClock, database: DatabaseProxy | None = None
) -> Iterator[EventStore]:
    """The one factory of event-store adapters under contract."""
    if kind == "memory":
        yield InMemoryEventStore(clock)
    elif kind == "sqlite":
        store = SqliteEventStore(directory / "events.db", clock)
        try:
            yield store
        finally:
            store.close()
    elif kind == "cosmos":
        yield CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH), clock)
    elif kind in OVER_THE_WIRE and database is not None:
        with new_container(database, EVENTS_PARTITION_KEY_PATH, EVENTS_INDEXING_POLICY) as container:
            yield CosmosEventStore(container, clock)
    else:
        raise ValueError(f"no event store adapter called {kind!r}")


@contextmanager
def open_read_model_store(
    kind: str, directory: Path, database: DatabaseProxy | None = None
) -> Iterator[ReadModelStore]:
    """The one factory of read-model-store adapters under contract."""
    if kind == "memory":
        yield InMemoryReadModelStore()
    elif kind == "sqlite":
        store = SqliteReadModelStore(directory / "views.db")
        try:
            yield store
        finally:
            store.close()
    elif kind == "cosmos":
        yield CosmosReadModelStore(FakeContainer(READMODELS_PARTITION_KEY_PATH))
    elif kind in OVER_THE_WIRE and database is not None:
        with new_container(database, READMODELS_PARTITION_KEY_PATH, READMODELS_INDEXING_POLICY) as container:
            yield CosmosReadModelStore(container)
    else:
        raise ValueError(f"no read model store adapter called {kind!r}")


@contextmanager
def open_snapshot_store(
    kind: str, directory: Path, database: DatabaseProxy | None = None
) -> Iterator[SnapshotStore]:
    """The one factory of snapshot-store adapters under contract."""
    if kind == "memory":
        yield InMemorySnapshotStore()
    elif kind == "sqlite":
        store = SqliteSnapshotStore(directory / "snapshots.db")
        try:
            yield store
        finally:
            store.close()
    elif kind == "cosmos":
        yield CosmosSnapshotStore(FakeContainer(SNAPSHOTS_PARTITION_KEY_PATH))
    elif kind in OVER_THE_WIRE and database is not None:
        with new_container(database, SNAPSHOTS_PARTITION_KEY_PATH) as container:
            yield CosmosSnapshotStore(container)
    else:
        raise ValueError(f"no snapshot store adapter called {kind!r}")


@contextmanager
def open_key_store(kind: str, directory: Path, database: DatabaseProxy | None = None) -> Iterator[KeyStore]:
    """The one factory of key-store adapters under contract."""
    if kind == "memory":
        yield InMemoryKeyStore()
    elif kind == "sqlite":
        store = SqliteKeyStore(directory / "keys.db")
        try:
            yield store
        finally:
            store.close()
    elif kind == "cosmos":
        yield CosmosKeyStore(FakeContainer(KEYS_PARTITION_KEY_PATH))
    elif kind in OVER_THE_WIRE and database is not None:
        with new_container(database, KEYS_PARTITION_KEY_PATH) as container:
            yield CosmosKeyStore(container)
    else:
        raise ValueError(f"no key store adapter called {kind!r}")


@contextmanager
def new_container(
    database: DatabaseProxy, partition_key_path: str, indexing_policy: dict[str, Any] | None = None
) -> Iterator[CosmosContainer]:
    """A container of its own in `database` (on the wire server or the emulator), deleted afterwards."""
    from azure.cosmos import PartitionKey

    options: dict[str, Any] = {} if indexing_policy is None else {"indexing_policy": indexing_policy}
    name = f"contract-{uuid.uuid4().hex[:12]}"
    container = database.create_container(name, PartitionKey(path=partition_key_path), **options)
    try:
        yield container
    finally:
        database.delete_container(name)


@pytest.fixture(scope="session")
def cosmos_emulator() -> Iterator[DatabaseProxy]:
    """A database of its own on the emulator (COSMOS_EMULATOR_ENDPOINT), deleted after the session."""
    if not COSMOS_EMULATOR_ENDPOINT:
        pytest.skip(needs_cosmos_emulator.kwargs["reason"])
    with wire_database(COSMOS_EMULATOR_ENDPOINT, COSMOS_EMULATOR_KEY) as database:
        yield database


def database_for(request: pytest.FixtureRequest) -> DatabaseProxy | None:
    """The database a wire adapter of the contract suites runs in; None for the others."""
    fixture = {"cosmos-wire": "cosmos_wire", "cosmos-emulator": "cosmos_emulator"}.get(request.param)
    if fixture is None:
        return None
    database: DatabaseProxy = request.getfixturevalue(fixture)
    return database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 17, 9, 30, 0, 123456, tzinfo=UTC))


@pytest.fixture(params=EVENT_STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[EventStore]:
    with open_event_store(request.param, tmp_path, clock, database_for(request)) as adapter:
        yield adapter


@pytest.fixture(params=READ_MODEL_STORES)
def read_models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelStore]:
    with open_read_model_store(request.param, tmp_path, database_for(request)) as adapter:
        yield adapter


@pytest.fixture(params=SNAPSHOT_STORES)
def snapshots(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SnapshotStore]:
    with open_snapshot_store(request.param, tmp_path, database_for(request)) as adapter:
        yield adapter


@pytest.fixture(params=KEY_STORES)
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    with open_key_store(request.param, tmp_path, database_for(request)) as adapter:
        yield adapter
