"""The composition root: the one place that builds stores, clients and services from settings.

Nothing is built at import time. `root()` builds once per worker process, on first use; the Azure SDKs
are imported only when the Azure backend is chosen. It is the one module that knows both backends'
adapters and how to reach Azure, which is why it is the largest of the entry layer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.adapters.sqlite.checkpoints import SqliteCheckpoints, adopt_legacy_positions
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.adapters.sqlite.keys import SqliteKeyStore
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.adapters.sqlite.snapshots import SqliteSnapshotStore
from infra.adapters.sqlite.sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.app.commands import CommandHandler
from infra.app.projector import ProjectionRunner
from infra.app.reactions import Reactor
from infra.app.rebuild import Pace
from infra.app.relay import Relay
from infra.app.sealing import Sealer
from infra.app.service import Service
from infra.entry.settings import (
    COSMOS_DATABASE,
    KEYS_CONTAINER,
    LEASES_CONTAINER,
    READMODELS_CONTAINER,
    SNAPSHOTS_CONTAINER,
    Connection,
    Settings,
    cosmos_connection,
    eventhub_connection,
    load_settings,
)
from infra.ports.checkpoints import Checkpoints
from infra.ports.eventstore import EventStore
from infra.ports.keys import KeyStore
from infra.ports.publisher import Publisher
from infra.ports.readmodels import ReadModelStore
from infra.ports.snapshots import SnapshotStore
from infra.ports.sources import ChangeFeedSource, PartitionSource

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.cosmos import CosmosClient
    from azure.eventhub import EventHubProducerClient

    from infra.adapters.cosmos.container import CosmosContainer
    from infra.adapters.cosmos.setup import ContainerSpec
    from infra.adapters.eventhubs.publisher import ProducerClient
    from infra.entry.services import ServiceDefinition


HUB_RECEIVE_WAIT_SECONDS = 1.0  # Azure mode: how long one receive waits for a partition's batch to fill


@dataclass(frozen=True)
class Backend:
    """What one service's functions need, whatever it runs on."""

    events: EventStore
    snapshots: SnapshotStore
    read_models: ReadModelStore
    publisher: Publisher
    keys: KeyStore
    rebuild_pace: Pace = field(default_factory=Pace)


class EmbeddedBackend:
    """One service's SQLite files in its own folder under the data folder: the event log, snapshots,
    read models, the hub, and where the change feed's and the hub's readers have got to."""

    def __init__(self, settings: Settings, service: ServiceDefinition) -> None:
        service_dir = settings.data_dir / service.name
        self.events = SqliteEventStore(service_dir / "events.sqlite")
        self.snapshots = SqliteSnapshotStore(service_dir / "snapshots.sqlite")
        self.read_models = SqliteReadModelStore(service_dir / "readmodels.sqlite")
        self.hub = EmbeddedHub(service_dir / "hub.sqlite", partition_count=settings.hub_partitions)
        self.checkpoints = SqliteCheckpoints(service_dir / "checkpoints.sqlite")
        self.keys = SqliteKeyStore(service_dir / "keys.sqlite")
        adopt_legacy_positions(self.checkpoints, service_dir / "events.sqlite", service_dir / "hub.sqlite")

    def backend(self) -> Backend:
        return Backend(self.events, self.snapshots, self.read_models, self.hub, self.keys)

    def close(self) -> None:
        for closeable in (
            self.events,
            self.snapshots,
            self.read_models,
            self.hub,
            self.checkpoints,
            self.keys,
        ):
            closeable.close()


class AzureBackend:
    """Cosmos DB and Event Hubs: each service's events container and hub producer, and the containers the
    services share (snapshots, read models)."""

    def __init__(
        self,
        containers: Mapping[str, CosmosContainer],
        producers: Mapping[str, ProducerClient[Any]],
        close: Callable[[], None] = lambda: None,
        rebuild_request_units: float = Settings.model_fields["rebuild_request_units"].default,
    ) -> None:
        from infra.adapters.cosmos.keys import CosmosKeyStore
        from infra.adapters.cosmos.readmodels import CosmosReadModelStore
        from infra.adapters.cosmos.snapshots import CosmosSnapshotStore

        self.containers = dict(containers)
        self.producers = dict(producers)
        self._close = close
        self.rebuild_request_units = rebuild_request_units
        self.snapshots = CosmosSnapshotStore(self.containers[SNAPSHOTS_CONTAINER])
        self.read_models = CosmosReadModelStore(self.containers[READMODELS_CONTAINER])
        self.keys = CosmosKeyStore(self.containers[KEYS_CONTAINER])

    @classmethod
    def from_settings(cls, settings: Settings, services: Sequence[ServiceDefinition]) -> AzureBackend:
        """Clients built from the settings the trigger bindings use."""
        cosmos = _cosmos_client()
        database = cosmos.get_database_client(settings.cosmos_database)
        names = [
            *(service.events_container for service in services),
            SNAPSHOTS_CONTAINER,
            READMODELS_CONTAINER,
            KEYS_CONTAINER,
        ]
        producers = {service.hub: _producer(service.hub) for service in services}

        def close() -> None:
            for producer in producers.values():
                producer.close()
            cosmos.close()

        return cls(
            {name: database.get_container_client(name) for name in names},
            producers,
            close,
            settings.rebuild_request_units,
        )

    def backend(self, service: ServiceDefinition) -> Backend:
        from infra.adapters.cosmos.eventstore import CosmosEventStore
        from infra.adapters.eventhubs.publisher import EventHubsPublisher

        events = CosmosEventStore(self.containers[service.events_container])
        return Backend(
            events,
            self.snapshots,
            self.read_models,
            EventHubsPublisher(self.producers[service.hub]),
            self.keys,
            Pace.within(self.rebuild_request_units, self.read_models.request_units),
        )

    def container(self, name: str) -> CosmosContainer:
        return self.containers[name]

    def close(self) -> None:
        self._close()


def credential_for() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # AZURE_CLIENT_ID, when set, selects the app's user-assigned managed identity.
    return DefaultAzureCredential()


def _address(connection: Connection) -> tuple[str, TokenCredential | None]:
    """The one choice between a connection string (the emulators: no credential) and an endpoint reached
    with the managed identity."""
    if connection.connection_string is not None:
        return connection.connection_string, None
    assert connection.endpoint is not None
    return connection.endpoint, credential_for()


def _cosmos_client() -> CosmosClient:
    from azure.cosmos import CosmosClient

    from infra.adapters.cosmos.container import emulator_client

    address, credential = _address(cosmos_connection(os.environ))
    if credential is not None:
        return CosmosClient(address, credential=credential)
    if "localhost" in address or "127.0.0.1" in address:
        return emulator_client(address)
    return CosmosClient.from_connection_string(address)


def _producer(hub: str) -> EventHubProducerClient:
    from infra.adapters.eventhubs.clients import producer_from_settings

    address, credential = _address(eventhub_connection(os.environ))
    return producer_from_settings(address, hub, credential)


def _event_hub_partitions(hub: str, consumer_group: str, checkpoints: Checkpoints) -> list[PartitionSource]:
    """One source per partition of `hub`, each with its own client (a receive closes its client)."""
    from infra.adapters.eventhubs.clients import consumer_from_settings
    from infra.adapters.eventhubs.receiver import EventHubsPartition, EventHubsPartitionReceiver

    address, credential = _address(eventhub_connection(os.environ))

    def receiver() -> EventHubsPartitionReceiver:
        client = consumer_from_settings(address, hub, consumer_group, credential)
        return EventHubsPartitionReceiver(client, consumer_group, checkpoints, hub=hub)

    probe = receiver()
    try:
        partition_ids = probe.partition_ids()
    finally:
        probe.close()
    return [
        EventHubsPartition(receiver(), partition, HUB_RECEIVE_WAIT_SECONDS) for partition in partition_ids
    ]


class Root:
    """Everything one worker needs, built from settings: one Service per service definition."""

    def __init__(
        self,
        settings: Settings,
        azure: AzureBackend | None = None,
        services: Sequence[ServiceDefinition] | None = None,
    ) -> None:
        from infra.entry.services import SERVICES, check_distinct

        self.settings = settings
        self.definitions = tuple(SERVICES if services is None else services)
        check_distinct(self.definitions)
        self._saved_positions: Checkpoints | None = None
        self._lock = threading.Lock()
        self.embedded: dict[str, EmbeddedBackend] = {}
        self.azure: AzureBackend | None = None
        if settings.backend == "azure":
            self.azure = azure or AzureBackend.from_settings(settings, self.definitions)
        else:
            self.embedded = {d.name: EmbeddedBackend(settings, d) for d in self.definitions}
        self._services = {d.name: self._build(d) for d in self.definitions}

    def _build(self, definition: ServiceDefinition) -> Service:
        backend = (
            self.azure.backend(definition)
            if self.azure is not None
            else self.embedded[definition.name].backend()
        )
        settings = self.settings
        commands = CommandHandler(
            backend.events,
            definition.decider,
            snapshots=backend.snapshots,
            snapshot_every=settings.snapshot_every,
            cache_size=settings.state_cache_size,
            seals=Sealer(backend.keys),
        )
        runners: list[ProjectionRunner[Any, Any]] = [
            ProjectionRunner(
                projection,
                commands.codec,
                backend.read_models,
                backend.events,
                poison_attempts=settings.poison_attempts,
                generation_cache_seconds=settings.generation_cache_seconds,
            )
            for projection in definition.projections
        ]
        reactors = {
            subscription.function: Reactor(commands, subscription.policy)
            for subscription in definition.subscriptions
        }
        return Service(
            definition.name,
            commands,
            runners,
            Relay(backend.publisher, definition.source),
            reactors,
            backend.rebuild_pace,
        )

    @property
    def services(self) -> list[Service]:
        return list(self._services.values())

    def service(self, name: str) -> Service:
        try:
            return self._services[name]
        except KeyError:
            raise LookupError(f"no service named {name!r}") from None

    def change_feed(self, container: str, lease: str) -> ChangeFeedSource:
        """The change feed of the events container a Cosmos DB trigger names, its position kept under
        `lease`: the embedded store's own, or (Azure mode) the container's pull model with a local
        checkpoint."""
        definition = self._definition(
            lambda d: d.events_container == container, f"events container {container!r}"
        )
        if self.azure is None:
            embedded = self.embedded[definition.name]
            return EmbeddedChangeFeed(embedded.events, embedded.checkpoints, lease)
        from infra.adapters.cosmos.changefeed import CosmosChangeFeed

        return CosmosChangeFeed(self.azure.container(container), self._checkpoints(), lease)

    def hub_partitions(self, hub: str, consumer_group: str) -> list[PartitionSource]:
        """Every partition of the event hub a trigger names, as sources for that consumer group."""
        definition = self._definition(lambda d: d.hub == hub, f"event hub {hub!r}")
        if self.azure is None:
            local = self.embedded[definition.name]
            partitions = range(local.hub.partition_count)
            return [EmbeddedPartition(local.hub, local.checkpoints, consumer_group, p) for p in partitions]
        return _event_hub_partitions(hub, consumer_group, self._checkpoints())

    def _definition(self, matches: Callable[[ServiceDefinition], bool], what: str) -> ServiceDefinition:
        for definition in self.definitions:
            if matches(definition):
                return definition
        raise LookupError(f"no service has the {what}")

    def _checkpoints(self) -> Checkpoints:
        with self._lock:
            if self._saved_positions is None:
                self._saved_positions = SqliteCheckpoints(
                    self.settings.data_dir / "devhost" / "checkpoints.sqlite"
                )
            return self._saved_positions

    def close(self) -> None:
        for built in (*self.embedded.values(), self.azure, self._saved_positions):
            if built is not None:
                built.close()


def cosmos_containers() -> list[ContainerSpec]:
    """Every Cosmos DB container the app uses, as the Bicep must declare it."""
    from infra.adapters.cosmos.setup import container_specs
    from infra.entry.services import SERVICES

    events = [service.events_container for service in SERVICES]
    return container_specs(
        events, SNAPSHOTS_CONTAINER, READMODELS_CONTAINER, LEASES_CONTAINER, KEYS_CONTAINER
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
_settings: Settings | None = None  # read once, for the root and for what needs the settings but no root


def root() -> Root:
    global _root, _settings
    if _root is None:
        with _lock:
            if _root is None:
                _settings = _settings or load_settings()
                _root = Root(_settings)
    return _root


def settings() -> Settings:
    """The settings the root is (or will be) built from, read once; builds no client."""
    global _settings
    current = _root
    if current is not None:
        return current.settings
    with _lock:
        _settings = _settings or load_settings()
        return _settings


def install(new_root: Root) -> None:
    """Use `new_root` from now on (tests build one over fakes of the Azure clients)."""
    global _root
    reset()
    with _lock:
        _root = new_root


def reset() -> None:
    """Close and forget the root, so the next call builds it again from the current settings."""
    global _root, _settings
    with _lock:
        if _root is not None:
            _root.close()
        _root = None
        _settings = None
