"""A partition receiver on Azure Event Hubs with a durable local checkpoint, for the dev host."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, cast

from azure.eventhub import EventData, PartitionContext
from azure.eventhub.amqp import AmqpMessageBodyType
from azure.eventhub.exceptions import EventHubError

from infra.ports.checkpoints import Checkpoints
from infra.ports.eventstore import StoreUnavailable
from infra.ports.sources import HubMessage


class ReceiveFailed(StoreUnavailable):
    """The hub could not be read (after the SDK's own retries); nothing was checkpointed."""


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

    def __init__(
        self, client: ConsumerClient, consumer_group: str, checkpoints: Checkpoints, hub: str = ""
    ) -> None:
        self._client = client
        self.consumer_group, self.hub = consumer_group, hub
        self._checkpoints = checkpoints
        self._lock = threading.Lock()

    def partition_ids(self) -> list[str]:
        try:
            return self._client.get_partition_ids()
        except EventHubError as error:
            raise ReceiveFailed(f"the event hub's partitions could not be read: {error}") from error

    def receive(self, partition_id: str, max_count: int, timeout: float) -> list[HubMessage]:
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
        saved = self._checkpoints.get(self._name(partition_id))
        return None if saved is None else int(saved)

    def checkpoint(self, partition_id: str, sequence_number: int) -> None:
        """Record that everything up to `sequence_number` was handled; an older position is ignored."""
        self._checkpoints.advance(self._name(partition_id), sequence_number)

    def _name(self, partition_id: str) -> str:
        # a checkpoint is the hub's, the consumer group's and the partition's: two services' projectors
        # may share a consumer group's name, never a hub
        return f"eventhubs/{self.hub}/{self.consumer_group}/{partition_id}"

    def close(self) -> None:
        self._client.close()


def _received_event(partition_id: str, event: EventData) -> HubMessage:
    # The service stamps every event it delivers with these two.
    if event.sequence_number is None or event.enqueued_time is None:
        raise ValueError(f"an event from partition {partition_id} has no sequence number or enqueued time")
    key = event.partition_key
    return HubMessage(
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


class EventHubsPartition:
    """One partition of a hub as a trigger source, read through its own receiver."""

    def __init__(self, receiver: EventHubsPartitionReceiver, partition_id: str, wait_seconds: float) -> None:
        self.receiver, self.partition_id, self.wait_seconds = receiver, partition_id, wait_seconds
        self.description = f"event hub partition {partition_id} ({receiver.consumer_group})"

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        return self.receiver.receive(self.partition_id, max_count, self.wait_seconds)

    def checkpoint(self, sequence_number: int) -> None:
        self.receiver.checkpoint(self.partition_id, sequence_number)

    def wait(self, timeout: float) -> None:
        pass  # receive() itself waits up to wait_seconds for events
