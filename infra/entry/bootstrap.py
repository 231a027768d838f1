"""The composition root: the one place that builds stores, clients and services from settings.

Nothing is built at import time. `root()` builds once per worker process, on first use; the Azure SDKs
are imported only when the Azure backend is chosen.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from domain import accounts
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.adapters.sqlite.snapshots import SqliteSnapshotStore
from infra.adapters.sqlite.sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.app.commands import CommandHandler
from infra.app.projector import ProjectionRunner
from infra.app.relay import Relay
from infra.entry.settings import (
    ACCOUNTS_EVENTS_CONTAINER,
    ACCOUNTS_HUB,
    ACCOUNTS_SOURCE,
    COSMOS_DATABASE,
    LEASES_CONTAINER,
    READMODELS_CONTAINER,
    SNAPSHOTS_CONTAINER,
    Settings,
    cosmos_connection,
    eventhub_connection,
    load_settings,
)
from infra.ports.checkpoints import Checkpoints
from infra.ports.eventstore import EventStore, StoredEvent
from infra.ports.publisher import Publisher
from infra.ports.readmodels import ReadModelStore
from infra.ports.snapshots import SnapshotStore
from infra.ports.sources import ChangeFeedSource, PartitionSource
from projections import account_statement, account_summary, daily_totals
from projections.projection import Projection

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.cosmos import CosmosClient
    from azure.eventhub import EventHubProducerClient

    from infra.adapters.cosmos.container import CosmosContainer
    from infra.adapters.cosmos.setup import ContainerSpec
    from infra.adapters.eventhubs.publisher import ProducerClient


V = TypeVar("V", bound=BaseModel)
HUB_RECEIVE_WAIT_SECONDS = 1.0  # Azure mode: how long one receive waits for a partition's batch to fill


@dataclass(frozen=True)
class AccountsService:
    commands: CommandHandler[accounts.Account, accounts.AccountCommand, accounts.AccountEvent]
    summaries: ProjectionRunner[accounts.AccountEvent, account_summary.AccountSummary]
    statements: ProjectionRunner[accounts.AccountEvent, account_statement.StatementHeader]
    daily_totals: ProjectionRunner[accounts.AccountEvent, daily_totals.AccountCurrency]
    relay: Relay

    @property
    def projections(self) -> list[ProjectionRunner[accounts.AccountEvent, Any]]:
        """Every read model of the service, each with its own checkpoints, dead letters and generations."""
        return [self.summaries, self.statements, self.daily_totals]

    def projection(self, name: str) -> ProjectionRunner[accounts.AccountEvent, Any]:
        for runner in self.projections:
            if runner.projection.name == name:
                return runner
        raise LookupError(f"no read model named {name!r}")

    def project(self, delivered: Sequence[StoredEvent]) -> dict[str, int]:
        """Apply a delivered batch to every read model; a failure in one does not hold back the others,
        and is raised afterwards (as one ExceptionGroup) so the batch is delivered again. Returns how
        many new events each read model applied.

        The summary goes first, as the read model most read right after a command; the statement goes
        last, so once it shows a version (?min_version) the others have had the batch that brought it."""
        applied, failures = {}, []
        in_order: list[ProjectionRunner[accounts.AccountEvent, Any]] = [
            self.summaries,
            self.daily_totals,
            self.statements,
        ]
        for runner in in_order:
            try:
                with runner.store.unit_of_work():  # on SQLite: one transaction per read model and batch
                    applied[runner.projection.name] = runner.apply(delivered)
            except Exception as error:
                failures.append(error)
        if failures:
            raise ExceptionGroup(f"{len(failures)} read models could not apply the batch", failures)
        return applied


@dataclass(frozen=True)
class Backend:
    """What one service's functions need, whatever it runs on."""

    events: EventStore
    snapshots: SnapshotStore
    read_models: ReadModelStore
    publisher: Publisher


class EmbeddedBackend:
    """SQLite files under the data folder: the event log, snapshots, read models and the hub."""

    def __init__(self, settings: Settings) -> None:
        service_dir = settings.data_dir / "accounts"
        self.events = SqliteEventStore(service_dir / "events.sqlite")
        self.snapshots = SqliteSnapshotStore(service_dir / "snapshots.sqlite")
        self.read_models = SqliteReadModelStore(service_dir / "readmodels.sqlite")
        self.hub = EmbeddedHub(service_dir / "hub.sqlite", partition_count=settings.hub_partitions)

    def backend(self) -> Backend:
        return Backend(self.events, self.snapshots, self.read_models, self.hub)

    def close(self) -> None:
        for closeable in (self.events, self.snapshots, self.read_models, self.hub):
            closeable.close()


class AzureBackend:
    """Cosmos DB and Event Hubs: the service's containers and the producer of its hub."""

    def __init__(
        self,
        containers: Mapping[str, CosmosContainer],
        producer: ProducerClient[Any],
        close: Callable[[], None] = lambda: None,
    ) -> None:
        from infra.adapters.cosmos.eventstore import CosmosEventStore
        from infra.adapters.cosmos.readmodels import CosmosReadModelStore
        from infra.adapters.cosmos.snapshots import CosmosSnapshotStore
        from infra.adapters.eventhubs.publisher import EventHubsPublisher

        self.containers = dict(containers)
        self.producer = producer
        self._close = close
        self.events = CosmosEventStore(self.containers[ACCOUNTS_EVENTS_CONTAINER])
        self.snapshots = CosmosSnapshotStore(self.containers[SNAPSHOTS_CONTAINER])
        self.read_models = CosmosReadModelStore(self.containers[READMODELS_CONTAINER])
        self.publisher = EventHubsPublisher(producer)

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureBackend:
        """Clients built from the settings the trigger bindings use."""
        cosmos = _cosmos_client()
        database = cosmos.get_database_client(settings.cosmos_database)
        names = (ACCOUNTS_EVENTS_CONTAINER, SNAPSHOTS_CONTAINER, READMODELS_CONTAINER)
        producer = _producer(ACCOUNTS_HUB)

        def close() -> None:
            producer.close()
            cosmos.close()

        return cls({name: database.get_container_client(name) for name in names}, producer, close)

    def backend(self) -> Backend:
        return Backend(self.events, self.snapshots, self.read_models, self.publisher)

    def container(self, name: str) -> CosmosContainer:
        """The events container a change-feed trigger names (for the dev host's Azure mode)."""
        if name != ACCOUNTS_EVENTS_CONTAINER:
            raise LookupError(f"no events container named {name!r}")
        return self.containers[name]

    def close(self) -> None:
        self._close()


def credential_for() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # AZURE_CLIENT_ID, when set, selects the app's user-assigned managed identity.
    return DefaultAzureCredential()


def _cosmos_client() -> CosmosClient:
    from azure.cosmos import CosmosClient

    connection = cosmos_connection(os.environ)
    if connection.connection_string is not None:
        if "localhost" in connection.connection_string or "127.0.0.1" in connection.connection_string:
            # The emulators serve a self-signed certificate and advertise container addresses.
            return CosmosClient.from_connection_string(
                connection.connection_string, connection_verify=False, enable_endpoint_discovery=False
            )
        return CosmosClient.from_connection_string(connection.connection_string)
    assert connection.endpoint is not None
    return CosmosClient(connection.endpoint, credential=credential_for())


def _producer(hub: str) -> EventHubProducerClient:
    from infra.adapters.eventhubs.clients import producer_from_settings

    connection = eventhub_connection(os.environ)
    if connection.connection_string is not None:
        return producer_from_settings(connection.connection_string, hub)
    assert connection.endpoint is not None
    return producer_from_settings(connection.endpoint, hub, credential=credential_for())


def _event_hub_partitions(hub: str, consumer_group: str, checkpoints: Checkpoints) -> list[PartitionSource]:
    """One source per partition of `hub`, each with its own client (a receive closes its client)."""
    from infra.adapters.eventhubs.clients import consumer_from_settings
    from infra.adapters.eventhubs.receiver import EventHubsPartition, EventHubsPartitionReceiver

    connection = eventhub_connection(os.environ)

    def receiver() -> EventHubsPartitionReceiver:
        if connection.connection_string is not None:
            client = consumer_from_settings(connection.connection_string, hub, consumer_group)
        else:
            assert connection.endpoint is not None
            client = consumer_from_settings(connection.endpoint, hub, consumer_group, credential_for())
        return EventHubsPartitionReceiver(client, consumer_group, checkpoints)

    probe = receiver()
    try:
        partition_ids = probe.partition_ids()
    finally:
        probe.close()
    return [
        EventHubsPartition(receiver(), partition, HUB_RECEIVE_WAIT_SECONDS) for partition in partition_ids
    ]


class Root:
    """Everything one worker needs, built from settings."""

    def __init__(self, settings: Settings, azure: AzureBackend | None = None) -> None:
        self.settings = settings
        self._saved_positions: Checkpoints | None = None
        self._lock = threading.Lock()
        self.embedded = EmbeddedBackend(settings) if settings.backend == "embedded" else None
        self.azure: AzureBackend | None = None
        if settings.backend == "azure":
            self.azure = azure or AzureBackend.from_settings(settings)
        built = self.embedded or self.azure
        assert built is not None
        backend = built.backend()
        commands = CommandHandler(
            backend.events,
            accounts.decider,
            snapshots=backend.snapshots,
            snapshot_every=settings.snapshot_every,
            cache_size=settings.state_cache_size,
        )

        def runner(
            projection: Projection[accounts.AccountEvent, V],
        ) -> ProjectionRunner[accounts.AccountEvent, V]:
            return ProjectionRunner(
                projection,
                commands.codec,
                backend.read_models,
                backend.events,
                poison_attempts=settings.poison_attempts,
                generation_cache_seconds=settings.generation_cache_seconds,
            )

        self.accounts = AccountsService(
            commands=commands,
            summaries=runner(account_summary.projection),
            statements=runner(account_statement.projection),
            daily_totals=runner(daily_totals.projection),
            relay=Relay(backend.publisher, ACCOUNTS_SOURCE),
        )

    def change_feed(self, container: str, lease: str) -> ChangeFeedSource:
        """The change feed of the events container a Cosmos DB trigger names, its position kept under
        `lease`: the embedded store's own, or (Azure mode) the container's pull model with a local
        checkpoint."""
        if container != ACCOUNTS_EVENTS_CONTAINER:
            raise LookupError(f"no events container named {container!r}")
        if self.embedded is not None:
            return EmbeddedChangeFeed(self.embedded.events, lease)
        assert self.azure is not None
        from infra.adapters.cosmos.changefeed import CosmosChangeFeed

        return CosmosChangeFeed(self.azure.container(container), self._checkpoints(), lease)

    def hub_partitions(self, hub: str, consumer_group: str) -> list[PartitionSource]:
        """Every partition of the event hub a trigger names, as sources for that consumer group."""
        if hub != ACCOUNTS_HUB:
            raise LookupError(f"no event hub named {hub!r}")
        if self.embedded is not None:
            embedded = self.embedded.hub
            return [EmbeddedPartition(embedded, consumer_group, p) for p in range(embedded.partition_count)]
        return _event_hub_partitions(hub, consumer_group, self._checkpoints())

    def _checkpoints(self) -> Checkpoints:
        with self._lock:
            if self._saved_positions is None:
                from infra.adapters.sqlite.checkpoints import SqliteCheckpoints

                self._saved_positions = SqliteCheckpoints(
                    self.settings.data_dir / "devhost" / "checkpoints.sqlite"
                )
            return self._saved_positions

    def close(self) -> None:
        for built in (self.embedded, self.azure, self._saved_positions):
            if built is not None:
                built.close()


def cosmos_containers() -> list[ContainerSpec]:
    """Every Cosmos DB container the app uses, as the Bicep must declare it."""
    from infra.adapters.cosmos.setup import container_specs

    return container_specs(
        ACCOUNTS_EVENTS_CONTAINER, SNAPSHOTS_CONTAINER, READMODELS_CONTAINER, LEASES_CONTAINER
    )


def create_emulator_containers(connection_string: str) -> Iterator[ContainerSpec]:
    """Creates the database and containers on an emulator, yielding each once it is ready."""
    from infra.adapters.cosmos.setup import create_containers

    database = os.environ.get("EVENTBANK_COSMOS_DATABASE", COSMOS_DATABASE)
    return create_containers(connection_string, database, cosmos_containers())


@contextlib.contextmanager
def scratch_read_models() -> Iterator[ReadModelStore]:
    """An empty read-model store in a temporary SQLite file, removed afterwards (verify replays into it)."""
    with tempfile.TemporaryDirectory(prefix="eventbank-scratch-") as folder:
        store = SqliteReadModelStore(Path(folder) / "readmodels.sqlite")
        try:
            yield store
        finally:
            store.close()


_lock = threading.Lock()
_root: Root | None = None


def root() -> Root:
    global _root
    if _root is None:
        with _lock:
            if _root is None:
                _root = Root(load_settings())
    return _root


def install(new_root: Root) -> None:
    """Use `new_root` from now on (tests build one over fakes of the Azure clients)."""
    global _root
    reset()
    with _lock:
        _root = new_root


def reset() -> None:
    """Close and forget the root, so the next call builds it again from the current settings."""
    global _root
    with _lock:
        if _root is not None:
            _root.close()
        _root = None
