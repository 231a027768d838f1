"""Where the dev host's non-HTTP triggers get their input: the embedded backends, or Azure itself.

A change-feed source hands out pages of event documents and commits a position only when told to; a
partition source hands out hub messages after a checkpoint and moves the checkpoint only when told to.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from infra.adapters.sqlite.database import SqliteDatabase
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.formats.documents import to_document

if TYPE_CHECKING:
    from infra.adapters.cosmos.container import CosmosContainer
    from infra.adapters.eventhubs.receiver import EventHubsPartitionReceiver


class HubMessage(Protocol):
    @property
    def sequence_number(self) -> int: ...
    @property
    def partition_key(self) -> str | None: ...
    @property
    def body(self) -> bytes: ...
    @property
    def enqueued_time(self) -> datetime: ...


@dataclass(frozen=True)
class Page:
    documents: list[dict[str, Any]]
    position: object


class ChangeFeedSource(Protocol):
    description: str

    def next_page(self, max_items: int) -> Page | None:
        """The next documents after the committed position, or None when there are none."""
        ...

    def commit(self, page: Page) -> None:
        """Move the committed position past `page`."""
        ...

    def wait(self, timeout: float) -> None:
        """Wait for new changes, at most `timeout` seconds (a poll interval where nothing signals them)."""
        ...


class PartitionSource(Protocol):
    description: str
    partition_id: str

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        """The next messages after the checkpoint, oldest first; may be empty."""
        ...

    def checkpoint(self, sequence_number: int) -> None: ...

    def wait(self, timeout: float) -> None:
        """Wait for new messages, at most `timeout` seconds (a poll interval where nothing signals them)."""
        ...


# --- embedded ---


class EmbeddedChangeFeed:
    def __init__(self, store: SqliteEventStore, lease: str) -> None:
        self.store, self.lease = store, lease
        self.description = f"embedded change feed (lease {lease})"

    def next_page(self, max_items: int) -> Page | None:
        changes = self.store.read_all(self.store.lease(self.lease), max_items)
        if not changes:
            return None
        return Page([to_document(event) for _, event in changes], changes[-1][0])

    def commit(self, page: Page) -> None:
        assert isinstance(page.position, int)
        self.store.renew_lease(self.lease, page.position)

    def wait(self, timeout: float) -> None:
        self.store.wait_for_appends(timeout)


class EmbeddedPartition:
    def __init__(self, hub: EmbeddedHub, consumer_group: str, partition: int) -> None:
        self.hub, self.consumer_group, self.partition = hub, consumer_group, partition
        self.partition_id = str(partition)
        self.description = f"embedded hub partition {partition}"

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        return self.hub.receive(self.consumer_group, self.partition, max_count)

    def checkpoint(self, sequence_number: int) -> None:
        self.hub.checkpoint(self.consumer_group, self.partition, sequence_number)

    def wait(self, timeout: float) -> None:
        self.hub.wait_for_messages(self.partition, timeout)


# --- Azure (Cosmos DB change feed pull model, Event Hubs), for running without `func` ---

CHECKPOINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS continuations (name TEXT PRIMARY KEY, continuation TEXT NOT NULL) WITHOUT ROWID;
"""


class CosmosChangeFeed:
    """The container's change feed through the pull model, with the continuation kept in a local file."""

    def __init__(self, container: CosmosContainer, checkpoints_path: Path, name: str) -> None:
        self.container, self.name = container, name
        self._db = SqliteDatabase(checkpoints_path, CHECKPOINTS_SCHEMA)
        self.description = f"Cosmos DB change feed (continuation {name!r})"

    def next_page(self, max_items: int) -> Page | None:
        from infra.adapters.cosmos.eventstore import read_changes

        row = self._db.connection().execute(
            "SELECT continuation FROM continuations WHERE name = ?", (self.name,)
        )
        found = row.fetchone()
        documents, continuation = read_changes(self.container, None if found is None else found[0], max_items)
        if not documents:
            return None
        return Page(documents, continuation)

    def wait(self, timeout: float) -> None:
        time.sleep(timeout)

    def commit(self, page: Page) -> None:
        if page.position is None:
            return
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO continuations VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET continuation = excluded.continuation",
                (self.name, str(page.position)),
            )


class EventHubsPartition:
    def __init__(self, receiver: EventHubsPartitionReceiver, partition_id: str, wait_seconds: float) -> None:
        self.receiver, self.partition_id, self.wait_seconds = receiver, partition_id, wait_seconds
        self.description = f"event hub partition {partition_id} ({receiver.consumer_group})"

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        return self.receiver.receive(self.partition_id, max_count, self.wait_seconds)

    def checkpoint(self, sequence_number: int) -> None:
        self.receiver.checkpoint(self.partition_id, sequence_number)

    def wait(self, timeout: float) -> None:
        pass  # receive() itself waits up to wait_seconds for events


def event_hub_partitions(
    hub: str, consumer_group: str, checkpoints_path: Path, wait_seconds: float
) -> list[EventHubsPartition]:
    """One source per partition of `hub`, each with its own client (a receive closes its client)."""
    from infra.adapters.eventhubs.clients import consumer_from_settings
    from infra.adapters.eventhubs.receiver import EventHubsPartitionReceiver
    from infra.entry.bootstrap import credential_for
    from infra.entry.settings import eventhub_connection

    connection = eventhub_connection(os.environ)

    def receiver() -> EventHubsPartitionReceiver:
        if connection.connection_string is not None:
            client = consumer_from_settings(connection.connection_string, hub, consumer_group)
        else:
            assert connection.endpoint is not None
            client = consumer_from_settings(connection.endpoint, hub, consumer_group, credential_for())
        return EventHubsPartitionReceiver(client, consumer_group, checkpoints_path)

    probe = receiver()
    try:
        partition_ids = probe.partition_ids()
    finally:
        probe.close()
    return [EventHubsPartition(receiver(), partition, wait_seconds) for partition in partition_ids]
