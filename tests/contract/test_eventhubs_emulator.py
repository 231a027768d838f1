"""The Event Hubs adapters against the real Event Hubs emulator (docker compose up eventhubs azurite).

Set EVENTHUBS_EMULATOR_CONNECTION to the emulator's connection string, for example
Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;
The hub and consumer group are the ones infra/entry/settings.py names (emulator/eventhubs/Config.json).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.eventhub import EventHubConsumerClient, EventHubProducerClient

from infra.adapters.eventhubs.clients import consumer_from_settings, producer_from_settings
from infra.adapters.eventhubs.publisher import EventHubsPublisher, MessageTooLarge
from infra.adapters.eventhubs.receiver import EventHubsPartitionReceiver
from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.app.relay import Relay
from infra.entry.services import ACCOUNTS
from infra.formats import cloud_events
from infra.formats.documents import to_document
from infra.ports.eventstore import Metadata, StoredEvent
from infra.ports.publisher import OutgoingMessage
from infra.ports.sources import HubMessage

CONNECTION = os.environ.get("EVENTHUBS_EMULATOR_CONNECTION", "").strip()
pytestmark = pytest.mark.skipif(
    not CONNECTION,
    reason="EVENTHUBS_EMULATOR_CONNECTION is not set: start the Event Hubs emulator (docker compose up -d "
    "eventhubs azurite) and set it to the emulator's connection string to run these",
)
WAIT_SECONDS = 30.0


@pytest.fixture
def producer() -> Iterator[EventHubProducerClient]:
    producer = producer_from_settings(CONNECTION, ACCOUNTS.hub)
    yield producer
    producer.close()


@pytest.fixture
def consumer() -> Iterator[EventHubConsumerClient]:
    consumer = consumer_from_settings(CONNECTION, ACCOUNTS.hub, ACCOUNTS.read_models_consumer_group)
    yield consumer
    consumer.close()


def stored(stream_id: str, version: int) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        version=version,
        type="MoneyDeposited",
        schema_version=1,
        data={"amount": version, "balance_after": version * (version + 1) // 2},
        metadata=Metadata(correlation_id="contract"),
        recorded_at=datetime(2024, 5, 17, tzinfo=UTC) + timedelta(seconds=version),
    )


def receiver_after_current_end(consumer: EventHubConsumerClient, path: Path) -> EventHubsPartitionReceiver:
    """A receiver whose checkpoints sit at each partition's last event: the emulator keeps an hour of
    earlier runs' events, which these tests skip."""
    receiver = EventHubsPartitionReceiver(
        consumer, ACCOUNTS.read_models_consumer_group, SqliteCheckpoints(path)
    )
    for partition_id in receiver.partition_ids():
        last = consumer.get_partition_properties(partition_id)["last_enqueued_sequence_number"]
        receiver.checkpoint(partition_id, last)  # -1 on an empty partition: from its start
    return receiver


def receive_stream(receiver: EventHubsPartitionReceiver, stream_id: str, count: int) -> list[HubMessage]:
    """`count` events with `stream_id` as partition key, polling every partition and checkpointing."""
    found: list[HubMessage] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(found) < count and time.monotonic() < deadline:
        for partition_id in receiver.partition_ids():
            received = receiver.receive(partition_id, max_count=100, timeout=1.0)
            found += [event for event in received if event.partition_key == stream_id]
            if received:
                receiver.checkpoint(partition_id, received[-1].sequence_number)
    return found


def test_relayed_events_arrive_on_one_partition_in_version_order_with_their_stream_as_key(
    producer: EventHubProducerClient, consumer: EventHubConsumerClient, tmp_path: Path
) -> None:
    streams = [f"account-{uuid.uuid4()}" for _ in range(2)]
    events = [stored(stream_id, version) for stream_id in streams for version in range(1, 6)]
    documents = [to_document(event) for event in events]
    random.Random(7).shuffle(documents)
    receiver = receiver_after_current_end(consumer, tmp_path / "checkpoints.db")
    try:
        Relay(EventHubsPublisher(producer), ACCOUNTS.source).relay(documents)

        received = receive_stream(receiver, streams[0], 5)
    finally:
        receiver.close()

    assert len({event.partition_id for event in received}) == 1
    assert [cloud_events.decode(event.body) for event in received] == [
        e for e in events if e.stream_id == streams[0]
    ]
    assert [event.sequence_number for event in received] == sorted(
        event.sequence_number for event in received
    )


def test_a_receive_resumes_after_the_checkpoint(
    producer: EventHubProducerClient, consumer: EventHubConsumerClient, tmp_path: Path
) -> None:
    stream_id = f"account-{uuid.uuid4()}"
    receiver = receiver_after_current_end(consumer, tmp_path / "checkpoints.db")
    try:
        EventHubsPublisher(producer).publish([OutgoingMessage(stream_id, f"{n}".encode()) for n in range(4)])
        first = receive_stream(receiver, stream_id, 4)
    finally:
        receiver.close()
    assert [event.body for event in first] == [b"0", b"1", b"2", b"3"]

    resumed = EventHubsPartitionReceiver(
        consumer, ACCOUNTS.read_models_consumer_group, SqliteCheckpoints(tmp_path / "other.db")
    )
    try:
        resumed.checkpoint(first[1].partition_id, first[1].sequence_number)
        again = resumed.receive(first[1].partition_id, max_count=1000, timeout=2.0)
    finally:
        resumed.close()
    assert [event.body for event in again if event.partition_key == stream_id] == [b"2", b"3"]


def test_a_message_over_the_hubs_size_limit_is_refused(producer: EventHubProducerClient) -> None:
    with pytest.raises(MessageTooLarge):
        EventHubsPublisher(producer).publish([OutgoingMessage(f"account-{uuid.uuid4()}", b"x" * 1_048_576)])
