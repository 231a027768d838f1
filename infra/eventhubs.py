"""The Azure Event Hubs adapters: the publisher behind the relay, and a partition receiver for the dev host.

This is the one module that imports azure.eventhub; its errors become ours here, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, cast

from azure.core.credentials import TokenCredential
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, PartitionContext
from azure.eventhub.amqp import AmqpMessageBodyType
from azure.eventhub.exceptions import EventHubError

from infra.eventstore import StoreError, StoreUnavailable
from infra.publisher import OutgoingMessage
from infra.sqlite import SqliteDatabase


class PublishFailed(StoreUnavailable):
    """The hub did not take the messages (after the SDK's own retries). Some may have been sent: the
    caller retries the whole batch, and consumers drop the duplicates."""


class MessageTooLarge(StoreError):
    """One message does not fit an empty batch (1 MB on Standard): retrying cannot help."""


class ReceiveFailed(StoreUnavailable):
    """The hub could not be read (after the SDK's own retries); nothing was checkpointed."""


# --- publishing ---


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


# --- receiving, for the dev host ---


@dataclass(frozen=True)
class ReceivedEvent:
    partition_id: str
    sequence_number: int
    partition_key: str | None
    body: bytes
    enqueued_time: datetime


class ConsumerClient(Protocol):
    """What the receiver needs of azure.eventhub.EventHubConsumerClient."""

    def receive_batch(
        self,
        on_event_batch: Callable[[PartitionContext, list[EventData]], None],
        *,
        max_batch_size: int,
        max_wait_time: float,
        partition_id: str,
        prefetch: int,
        starting_position: str | int,
        starting_position_inclusive: bool,
        on_error: Callable[[PartitionContext, Exception], None],
    ) -> None: ...

    def get_partition_ids(self) -> list[str]: ...

    def close(self) -> None: ...


CHECKPOINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS eventhubs_checkpoints (
    consumer_group  TEXT    NOT NULL,
    partition_id    TEXT    NOT NULL,
    sequence_number INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, partition_id)
) WITHOUT ROWID;
"""


class EventHubsPartitionReceiver:
    """Pull-style reading of an event hub, one partition at a time, with durable local checkpoints.

    `receive` returns the next events after the consumer group's checkpoint and `checkpoint` moves it
    (forward only), so the dev host can run the Event Hubs-triggered function against a real hub or the
    emulator exactly as it does against the embedded hub: a batch that failed is received again.

    The SDK only receives through callbacks, and `receive_batch` blocks until the client is closed. So
    each `receive` runs one `receive_batch` from the checkpoint (exclusive), takes its first callback (a
    batch of up to `max_count` events, or an empty one once `timeout` has passed) and closes the client
    from inside that callback, which ends the call. Closing ends every receive on that client, so calls
    are serialised: give each concurrently polled partition a receiver with its own client.
    """

    def __init__(self, client: ConsumerClient, consumer_group: str, checkpoints_path: Path | str) -> None:
        self._client = client
        self.consumer_group = consumer_group
        self._db = SqliteDatabase(checkpoints_path, CHECKPOINTS_SCHEMA)
        self._lock = threading.Lock()

    def partition_ids(self) -> list[str]:
        try:
            return self._client.get_partition_ids()
        except EventHubError as error:
            raise ReceiveFailed(f"the event hub's partitions could not be read: {error}") from error

    def receive(self, partition_id: str, max_count: int, timeout: float) -> list[ReceivedEvent]:
        """Up to `max_count` events after the checkpoint, oldest first, waiting at most about `timeout`
        seconds for the batch to fill (like the trigger's maxWaitTime); [] if none arrived."""
        if max_count < 1 or timeout <= 0:
            raise ValueError("receive needs max_count >= 1 and timeout > 0 (0 would wait forever)")
        position = self.position(partition_id)
        received: list[EventData] = []
        errors: list[Exception] = []

        def on_event_batch(context: PartitionContext, events: list[EventData]) -> None:
            if not received and not errors:
                received.extend(events[:max_count])
            self._client.close()

        def on_error(context: PartitionContext, error: Exception) -> None:
            errors.append(error)
            self._client.close()

        with self._lock:
            try:
                self._client.receive_batch(
                    on_event_batch,
                    max_batch_size=max_count,
                    max_wait_time=timeout,
                    partition_id=partition_id,
                    prefetch=max_count,
                    starting_position="-1" if position is None else position,
                    starting_position_inclusive=False,
                    on_error=on_error,
                )
            except EventHubError as error:
                errors.append(error)
        if errors:
            failure = errors[0]
            if isinstance(failure, EventHubError):
                raise ReceiveFailed(f"partition {partition_id} could not be read: {failure}") from failure
            raise failure
        return [_received_event(partition_id, event) for event in received]

    def position(self, partition_id: str) -> int | None:
        """The last checkpointed sequence number on `partition_id`, or None to start from the beginning."""
        row = (
            self._db.connection()
            .execute(
                "SELECT sequence_number FROM eventhubs_checkpoints "
                "WHERE consumer_group = ? AND partition_id = ?",
                (self.consumer_group, partition_id),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    def checkpoint(self, partition_id: str, sequence_number: int) -> None:
        """Record that everything up to `sequence_number` was handled; an older position is ignored."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO eventhubs_checkpoints VALUES (?, ?, ?) "
                "ON CONFLICT (consumer_group, partition_id) "
                "DO UPDATE SET sequence_number = max(sequence_number, excluded.sequence_number)",
                (self.consumer_group, partition_id, sequence_number),
            )

    def close(self) -> None:
        self._db.close()
        self._client.close()


def _received_event(partition_id: str, event: EventData) -> ReceivedEvent:
    # The service stamps every event it delivers with these two.
    if event.sequence_number is None or event.enqueued_time is None:
        raise ValueError(f"an event from partition {partition_id} has no sequence number or enqueued time")
    key = event.partition_key
    return ReceivedEvent(
        partition_id=partition_id,
        sequence_number=event.sequence_number,
        partition_key=key.decode() if isinstance(key, bytes) else key,
        body=_body_bytes(event),
        enqueued_time=event.enqueued_time,
    )


def _body_bytes(event: EventData) -> bytes:
    if event.body_type == AmqpMessageBodyType.DATA:
        # A DATA body is a sequence of byte sections (usually one); the SDK's annotation is too wide.
        body = event.body
        return body if isinstance(body, bytes) else b"".join(cast(Iterable[bytes], body))
    return event.body_as_str().encode()


# --- building the clients (called by the composition root) ---


def is_connection_string(value: str) -> bool:
    return "endpoint=" in value.lower()


def producer_from_settings(
    connection_or_namespace: str, hub_name: str, credential: TokenCredential | None = None
) -> EventHubProducerClient:
    """A producer from a connection string (the emulator) or a fully qualified namespace and a credential
    (managed identity in Azure). Not buffered and without on_error, so every send failure raises."""
    if is_connection_string(connection_or_namespace):
        return EventHubProducerClient.from_connection_string(connection_or_namespace, eventhub_name=hub_name)
    return EventHubProducerClient(
        fully_qualified_namespace=connection_or_namespace,
        eventhub_name=hub_name,
        credential=_required(credential, connection_or_namespace),
    )


def consumer_from_settings(
    connection_or_namespace: str,
    hub_name: str,
    consumer_group: str,
    credential: TokenCredential | None = None,
) -> EventHubConsumerClient:
    """A consumer for `consumer_group`, from a connection string or a namespace and a credential."""
    if is_connection_string(connection_or_namespace):
        return EventHubConsumerClient.from_connection_string(
            connection_or_namespace, consumer_group, eventhub_name=hub_name
        )
    return EventHubConsumerClient(
        fully_qualified_namespace=connection_or_namespace,
        eventhub_name=hub_name,
        consumer_group=consumer_group,
        credential=_required(credential, connection_or_namespace),
    )


def _required(credential: TokenCredential | None, namespace: str) -> TokenCredential:
    if credential is None:
        raise ValueError(
            f"{namespace!r} is not a connection string; a namespace needs a credential "
            "(DefaultAzureCredential in Azure)"
        )
    return credential
