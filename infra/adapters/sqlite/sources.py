"""The embedded backend's trigger sources: its event store's change feed and its hub's partitions."""

from __future__ import annotations

from collections.abc import Sequence

from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.formats.documents import to_document
from infra.ports.sources import FeedPage, HubMessage


class EmbeddedChangeFeed:
    def __init__(self, store: SqliteEventStore, lease: str) -> None:
        self.store, self.lease = store, lease
        self.description = f"embedded change feed (lease {lease})"

    def next_page(self, max_items: int) -> FeedPage | None:
        changes = self.store.read_all(self.store.lease(self.lease), max_items)
        if not changes:
            return None
        return FeedPage([to_document(event) for _, event in changes], changes[-1][0])

    def commit(self, page: FeedPage) -> None:
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
