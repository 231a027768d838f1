"""One contract for every trigger source the dev host pumps from (ports/sources.py): the change feed of each
event store backend, and the partitions of each hub. What a source hands out is handed out again until
it is committed; a committed position survives a new source; nothing is skipped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.adapters.cosmos.changefeed import CosmosChangeFeed
from infra.adapters.cosmos.container import CosmosContainer
from infra.adapters.cosmos.eventstore import (
    EVENTS_INDEXING_POLICY,
    EVENTS_PARTITION_KEY_PATH,
    CosmosEventStore,
)
from infra.adapters.eventhubs.receiver import EventHubsPartition, EventHubsPartitionReceiver
from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.adapters.sqlite.sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.ports.eventstore import EventStore, Metadata, NewEvent
from infra.ports.publisher import OutgoingMessage
from infra.ports.sources import ChangeFeedSource, PartitionSource
from tests.contract.conftest import OVER_THE_WIRE, database_for, new_container
from tests.fakes.cosmos import FakeContainer
from tests.fakes.eventhubs import FakeHub

# --- change feeds ---


@dataclass
class Feed:
    store: EventStore
    open: Callable[[], ChangeFeedSource]  # a source over the same feed and position name, as after a restart

    def append(self, count: int) -> str:
        stream_id = f"account-{uuid.uuid4()}"
        events = [NewEvent("E", 1, {"n": n}) for n in range(count)]
        self.store.append(stream_id, 0, events, Metadata())
        return stream_id


@pytest.fixture(params=["sqlite", "cosmos", *OVER_THE_WIRE])
def feed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Feed]:
    if request.param == "sqlite":
        store = SqliteEventStore(tmp_path / "events.sqlite")
        positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
        yield Feed(store, lambda: EmbeddedChangeFeed(store, positions, "relay"))
        positions.close()
        store.close()
    else:
        with contextlib.ExitStack() as stack:
            database = database_for(request)
            container: CosmosContainer = (
                FakeContainer(EVENTS_PARTITION_KEY_PATH)
                if database is None
                else stack.enter_context(
                    new_container(database, EVENTS_PARTITION_KEY_PATH, EVENTS_INDEXING_POLICY)
                )
            )
            checkpoints = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
            yield Feed(CosmosEventStore(container), lambda: CosmosChangeFeed(container, checkpoints, "relay"))
            checkpoints.close()


def versions(documents: list[dict[str, object]], stream_id: str) -> list[object]:
    return sorted(d["version"] for d in documents if d.get("streamId") == stream_id)  # type: ignore[type-var]


def test_a_page_holds_every_event_appended(feed: Feed) -> None:
    stream_id = feed.append(3)

    page = feed.open().next_page(100)

    assert page is not None
    assert versions(page.documents, stream_id) == [1, 2, 3]


def test_an_uncommitted_page_comes_again_and_a_committed_one_does_not(feed: Feed) -> None:
    first = feed.append(2)
    source = feed.open()
    again = source.next_page(100)
    page = source.next_page(100)
    assert page is not None
    assert again is not None
    assert versions(again.documents, first) == versions(page.documents, first) == [1, 2]

    source.commit(page)
    second = feed.append(1)
    after = source.next_page(100)

    assert after is not None
    assert versions(after.documents, first) == []
    assert versions(after.documents, second) == [1]


def test_a_new_source_resumes_after_the_committed_position(feed: Feed) -> None:
    first = feed.append(2)
    source = feed.open()
    page = source.next_page(100)
    assert page is not None
    source.commit(page)

    second = feed.append(1)
    resumed = feed.open().next_page(100)

    assert resumed is not None
    assert versions(resumed.documents, first) == []
    assert versions(resumed.documents, second) == [1]


def test_nothing_new_is_no_page(feed: Feed) -> None:
    source = feed.open()
    assert source.next_page(100) is None

    feed.append(1)
    page = source.next_page(100)
    assert page is not None
    source.commit(page)

    assert source.next_page(100) is None


# --- hub partitions ---


@dataclass
class Partition:
    publish: Callable[[str, bytes], None]  # to the partition the sources read
    open: Callable[[], PartitionSource]  # a source over the same partition and consumer group


@pytest.fixture(params=["sqlite", "eventhubs"])
def partition(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Partition]:
    if request.param == "sqlite":
        hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=1)
        positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
        yield Partition(
            lambda key, body: hub.publish([OutgoingMessage(key, body)]),
            lambda: EmbeddedPartition(hub, positions, "readmodels", 0),
        )
        positions.close()
        hub.close()
    else:
        fake = FakeHub(partition_count=1)
        checkpoints = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")

        def source() -> PartitionSource:
            receiver = EventHubsPartitionReceiver(fake.consumer("readmodels"), "readmodels", checkpoints)
            return EventHubsPartition(receiver, "0", wait_seconds=0.01)

        def publish(key: str, body: bytes) -> None:
            fake.append("0", body, key)

        yield Partition(publish, source)
        checkpoints.close()


def test_messages_come_in_sequence_order_with_their_keys(partition: Partition) -> None:
    for n in range(3):
        partition.publish("account-1", f"m{n}".encode())

    received = partition.open().receive(10)

    assert [m.body for m in received] == [b"m0", b"m1", b"m2"]
    assert [m.sequence_number for m in received] == sorted(m.sequence_number for m in received)
    assert {m.partition_key for m in received} == {"account-1"}
    assert {m.partition_id for m in received} == {"0"}


def test_a_batch_not_checkpointed_comes_again_and_a_checkpointed_one_does_not(partition: Partition) -> None:
    partition.publish("account-1", b"one")
    partition.publish("account-1", b"two")
    source = partition.open()

    again = source.receive(10)
    batch = source.receive(10)
    source.checkpoint(batch[-1].sequence_number)
    partition.publish("account-1", b"three")

    assert [m.body for m in again] == [m.body for m in batch] == [b"one", b"two"]
    assert [m.body for m in source.receive(10)] == [b"three"]


def test_a_checkpoint_survives_a_new_source_and_never_moves_back(partition: Partition) -> None:
    for body in (b"one", b"two", b"three"):
        partition.publish("account-1", body)
    source = partition.open()
    received = source.receive(10)
    source.checkpoint(received[1].sequence_number)
    source.checkpoint(received[0].sequence_number)  # late: an older position is ignored

    assert [m.body for m in partition.open().receive(10)] == [b"three"]
