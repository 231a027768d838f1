"""The publisher on Azure Event Hubs: batches per partition key within the 1 MB limit, order kept.

This package is the one that imports azure.eventhub; its errors become ours here, once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar

from azure.eventhub import EventData
from azure.eventhub.exceptions import EventHubError

from infra.ports.eventstore import StoreError, StoreUnavailable
from infra.ports.publisher import OutgoingMessage


class PublishFailed(StoreUnavailable):
    """The hub did not take the messages (after the SDK's own retries). Some may have been sent: the
    caller retries the whole batch, and consumers drop the duplicates."""


class MessageTooLarge(StoreError):
    """One message does not fit an empty batch (1 MB on Standard): retrying cannot help."""


class EventBatch(Protocol):
    """What the publisher needs of azure.eventhub.EventDataBatch."""

    def add(self, event_data: EventData) -> None:
        """Add one event, or raise ValueError when it would take the batch over its size limit."""
        ...

    def __len__(self) -> int: ...


BatchT = TypeVar("BatchT", bound=EventBatch)


class ProducerClient(Protocol[BatchT]):
    """What the publisher needs of azure.eventhub.EventHubProducerClient."""

    def create_batch(self, *, partition_key: str) -> BatchT: ...

    def send_batch(self, event_data_batch: BatchT) -> None: ...

    def close(self) -> None: ...


class EventHubsPublisher[BatchT: EventBatch]:
    """The Publisher port on an event hub: one batch per partition key at a time, so a key's messages
    land on one partition in the order given. A full batch is sent and a new one started.

    Every failure raises; nothing is dropped. The SDK has no idempotent producer (azure-eventhub 5.x),
    so a retried publish may send some messages twice: consumers de-duplicate on (stream, version).
    """

    def __init__(self, producer: ProducerClient[BatchT]) -> None:
        self._producer = producer

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        try:
            for partition_key, keyed in _group_by_partition_key(messages).items():
                for batch in self._batches(partition_key, keyed):
                    self._producer.send_batch(batch)
        except EventHubError as error:
            raise PublishFailed(f"the event hub did not take the messages: {error}") from error

    def close(self) -> None:
        self._producer.close()

    def _batches(self, partition_key: str, messages: list[OutgoingMessage]) -> Iterator[BatchT]:
        """Full batches of `messages` in order, the last one possibly not full."""
        batch = self._producer.create_batch(partition_key=partition_key)
        for message in messages:
            if _added(batch, message):
                continue
            if len(batch) == 0:
                raise MessageTooLarge(_too_large(message))
            yield batch
            batch = self._producer.create_batch(partition_key=partition_key)
            if not _added(batch, message):
                raise MessageTooLarge(_too_large(message))
        if len(batch):
            yield batch


def _added(batch: EventBatch, message: OutgoingMessage) -> bool:
    """Whether `message` fitted in `batch` (the SDK raises ValueError when it would not)."""
    event = EventData(message.body)
    event.content_type = message.content_type
    try:
        batch.add(event)
    except ValueError:
        return False
    return True


def _group_by_partition_key(messages: Sequence[OutgoingMessage]) -> dict[str, list[OutgoingMessage]]:
    groups: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        groups.setdefault(message.partition_key, []).append(message)
    return groups


def _too_large(message: OutgoingMessage) -> str:
    return (
        f"a message of {len(message.body)} bytes for partition key {message.partition_key!r} "
        "does not fit an empty batch"
    )
