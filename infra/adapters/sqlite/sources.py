"""The embedded backend's trigger sources: its event store's change feed and its hub's partitions."""

from __future__ import annotations

from collections.abc import Sequence

from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.formats.documents import to_document
from infra.ports.checkpoints import Checkpoints
from infra.ports.sources import FeedPage, HubMessage


class EmbeddedChangeFeed:
    """The event store's change feed, in position order, from the position saved under `lease`."""

    def __init__(self, store: SqliteEventStore, checkpoints: Checkpoints, lease: str) -> None:
        self.store, self.checkpoints, self.lease = store, checkpoints, lease
        self.description = f"embedded change feed (lease {lease})"
        self._appended = store.appends()

    def next_page(self, max_items: int) -> FeedPage | None:
        changes = self.store.read_all(int(self.checkpoints.get(self.lease) or 0), max_items)
        if not changes:
            return None
        return FeedPage([to_document(event) for _, event in changes], changes[-1][0])

    def commit(self, page: FeedPage) -> None:
        assert isinstance(page.position, int)
        self.checkpoints.advance(self.lease, page.position)

    def wait(self, timeout: float) -> None:
        self._appended.wait(timeout)


def hub_position_name(consumer_group: str, partition: int | str) -> str:
    """The name an embedded hub partition's position is saved under, for a consumer group."""
    return f"hub/{consumer_group}/{partition}"


class EmbeddedPartition:
    """One partition of the embedded hub for a consumer group, from the position saved for both."""

    def __init__(
        self, hub: EmbeddedHub, checkpoints: Checkpoints, consumer_group: str, partition: int
    ) -> None:
        self.hub, self.checkpoints = hub, checkpoints
        self.consumer_group, self.partition = consumer_group, partition
        self.partition_id = str(partition)
        self.name = hub_position_name(consumer_group, partition)
        self.description = f"embedded hub partition {partition}"
        self._published = hub.messages(partition)

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        after = self.checkpoints.get(self.name)
        return self.hub.read(self.partition, -1 if after is None else int(after), max_count)

    def checkpoint(self, sequence_number: int) -> None:
        self.checkpoints.advance(self.name, sequence_number)

    def wait(self, timeout: float) -> None:
        self._published.wait(timeout)
