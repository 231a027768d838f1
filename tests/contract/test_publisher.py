"""One contract for every publisher (ports/publisher.py): the embedded hub and Event Hubs (over a fake
producer). Every message of a publish arrives, each partition key's in the order given and on one
partition. (How each fails to send is its own: tests/adapters/test_eventhubs_publisher.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.adapters.eventhubs.publisher import EventHubsPublisher
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.ports.publisher import OutgoingMessage, Publisher
from tests.fakes.eventhubs import FakeProducerClient


@dataclass
class Wire:
    publisher: Publisher
    delivered: Callable[[str], list[bytes]]  # what arrived for a partition key, in order
    partitions: Callable[[str], set[str]]  # the partitions it arrived on
    attempts: Callable[[], int]  # what reached the backend: messages (embedded hub), sends (Event Hubs)


@pytest.fixture(params=["sqlite", "eventhubs"])
def wire(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wire]:
    if request.param == "sqlite":
        hub = EmbeddedHub(tmp_path / "hub.sqlite", partition_count=4)

        def received(key: str) -> list[tuple[str, bytes]]:
            return [
                (str(partition), message.body)
                for partition in range(hub.partition_count)
                for message in hub.read(partition, -1, 1_000)
                if message.partition_key == key
            ]

        yield Wire(
            hub,
            lambda key: [body for _, body in received(key)],
            lambda key: {partition for partition, _ in received(key)},
            lambda: sum(len(hub.read(partition, -1, 1_000)) for partition in range(hub.partition_count)),
        )
        hub.close()
    else:
        producer = FakeProducerClient()
        yield Wire(
            EventHubsPublisher(producer),
            lambda key: [event.body for event in producer.sent_to(key)],
            # the service picks the partition from the key alone: one key, one partition
            lambda key: {batch.partition_key for batch in producer.sent if batch.partition_key == key},
            lambda: producer.send_attempts,
        )


def test_every_message_arrives_each_keys_in_the_order_given(wire: Wire) -> None:
    messages = [OutgoingMessage(f"account-{n % 3}", f"m{n}".encode()) for n in range(12)]

    wire.publisher.publish(messages)

    for key in ("account-0", "account-1", "account-2"):
        assert wire.delivered(key) == [m.body for m in messages if m.partition_key == key]
        assert len(wire.partitions(key)) == 1


def test_publishing_nothing_sends_nothing(wire: Wire) -> None:
    wire.publisher.publish([])

    assert wire.delivered("account-0") == []
    assert wire.attempts() == 0
