"""Fakes of the Event Hubs SDK clients, reproducing only the behaviour infra/adapters/eventhubs/ relies
on.

Anything they do not reproduce raises NotImplementedError rather than pretending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from azure.eventhub import EventData, PartitionContext
from azure.eventhub.amqp import AmqpMessageBodyType
from azure.eventhub.exceptions import EventHubError

DEFAULT_MAX_BATCH_BYTES = 1_048_576  # the SDK's MAX_MESSAGE_LENGTH_BYTES: 1 MB on Standard and above
# What the AMQP encoding adds to each event in a batch (properties, annotations, framing), roughly.
EVENT_OVERHEAD_BYTES = 64
NAMESPACE = "fake.servicebus.windows.net"
HUB = "accounts"


def body_bytes(event: EventData) -> bytes:
    if event.body_type != AmqpMessageBodyType.DATA:
        raise NotImplementedError("only DATA bodies (bytes) are faked")
    body = event.body
    return body if isinstance(body, bytes) else b"".join(cast(Iterable[bytes], body))


# --- producing ---


@dataclass(frozen=True)
class SentEvent:
    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class SentBatch:
    partition_key: str
    events: tuple[SentEvent, ...]
    size_in_bytes: int
    max_size_in_bytes: int


class FakeEventBatch:
    """EventDataBatch: `add` raises ValueError when the event would take it over its size limit."""

    def __init__(self, partition_key: str, max_size_in_bytes: int) -> None:
        self.partition_key = partition_key
        self.max_size_in_bytes = max_size_in_bytes
        self.size_in_bytes = 0
        self.events: list[SentEvent] = []

    def add(self, event_data: EventData) -> None:
        if event_data.partition_key is not None:
            raise NotImplementedError("events carrying their own partition key")
        body = body_bytes(event_data)
        size = len(body) + EVENT_OVERHEAD_BYTES
        if self.size_in_bytes + size > self.max_size_in_bytes:
            raise ValueError(f"EventDataBatch has reached its size limit: {self.max_size_in_bytes}")
        self.size_in_bytes += size
        self.events.append(SentEvent(body, event_data.content_type))

    def __len__(self) -> int:
        return len(self.events)


class FakeProducerClient:
    """EventHubProducerClient, not buffered: create_batch by partition key, send_batch, close.

    `fail_on_send=n` makes the n-th send (1-based) raise `failure` without sending anything; the
    sends after it succeed, as after an outage.
    """

    def __init__(
        self,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        fail_on_send: int | None = None,
        failure: Exception | None = None,
    ) -> None:
        self.max_batch_bytes = max_batch_bytes
        self.fail_on_send = fail_on_send
        self.failure = failure or EventHubError("the event hub is unavailable")
        self.sent: list[SentBatch] = []
        self.send_attempts = 0
        self.closed = False

    def create_batch(
        self,
        *,
        partition_key: str | None = None,
        partition_id: str | None = None,
        max_size_in_bytes: int | None = None,
    ) -> FakeEventBatch:
        self._check_open()
        if partition_key is None or partition_id is not None or max_size_in_bytes is not None:
            raise NotImplementedError("only create_batch(partition_key=...) is faked")
        return FakeEventBatch(partition_key, self.max_batch_bytes)

    def send_batch(self, event_data_batch: FakeEventBatch) -> None:
        self._check_open()
        self.send_attempts += 1
        if self.send_attempts == self.fail_on_send:
            raise self.failure
        if len(event_data_batch) == 0:  # the SDK returns without sending
            return
        self.sent.append(
            SentBatch(
                event_data_batch.partition_key,
                tuple(event_data_batch.events),
                event_data_batch.size_in_bytes,
                event_data_batch.max_size_in_bytes,
            )
        )

    def sent_to(self, partition_key: str) -> list[SentEvent]:
        """Every event sent with `partition_key`, in send order."""
        return [
            event for batch in self.sent if batch.partition_key == partition_key for event in batch.events
        ]

    def close(self) -> None:
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise NotImplementedError("using a producer after close")


# --- consuming ---


class FakeHub:
    """The partitions of one hub: events get the sequence numbers a fresh partition gives (0, 1, ...)."""

    def __init__(self, partition_count: int = 4) -> None:
        self.partitions: dict[str, list[EventData]] = {str(n): [] for n in range(partition_count)}

    def append(
        self, partition_id: str, body: bytes, partition_key: str, enqueued_time: datetime | None = None
    ) -> EventData:
        log = self.partitions[partition_id]
        enqueued_time = enqueued_time or datetime.now(UTC)
        event = EventData(body)
        # What the service stamps on a delivered event, as the SDK's AMQP decoder hands it over.
        event.raw_amqp_message.annotations = {
            b"x-opt-sequence-number": len(log),
            b"x-opt-partition-key": partition_key.encode(),
            b"x-opt-enqueued-time": int(enqueued_time.timestamp() * 1000),
        }
        log.append(event)
        return event

    def consumer(self, consumer_group: str) -> FakeConsumerClient:
        return FakeConsumerClient(self, consumer_group)


class FakeConsumerClient:
    """EventHubConsumerClient.receive_batch for one partition, without a checkpoint store.

    Like the SDK, it blocks and keeps calling `on_event_batch` (with the next batch after the starting
    position, or [] when nothing arrived within max_wait_time: the fake does not wait) until `close()`,
    and it reports receive errors to `on_error` and carries on. Set `receive_error` to simulate an outage.
    """

    MAX_CALLBACKS = 100  # more callbacks than this without close(): a real client would never return

    def __init__(self, hub: FakeHub, consumer_group: str) -> None:
        self.hub = hub
        self.consumer_group = consumer_group
        self.receive_error: Exception | None = None
        self.receive_calls = 0
        self._running = False

    def receive_batch(
        self,
        on_event_batch: Callable[[PartitionContext, list[EventData]], None],
        *,
        max_batch_size: int = 300,
        max_wait_time: float | None = None,
        partition_id: str | None = None,
        prefetch: int = 300,
        starting_position: str | int | None = None,
        starting_position_inclusive: bool = False,
        on_error: Callable[[PartitionContext, Exception], None] | None = None,
    ) -> None:
        if self._running:
            raise NotImplementedError("concurrent receives on one client")
        if partition_id is None:
            raise NotImplementedError("receiving from every partition (load balancing)")
        if partition_id not in self.hub.partitions:
            raise NotImplementedError(
                "an unknown partition (the SDK reports it to on_error, without context)"
            )
        if not max_wait_time:
            raise NotImplementedError("waiting without max_wait_time: the fake never gets new events")
        log = self.hub.partitions[partition_id]
        position = self._start_index(log, starting_position, starting_position_inclusive)
        context = PartitionContext(NAMESPACE, HUB, self.consumer_group, partition_id)
        self.receive_calls += 1
        self._running = True
        for _ in range(self.MAX_CALLBACKS):
            if not self._running:
                return
            if self.receive_error is not None:
                if on_error is not None:
                    on_error(context, self.receive_error)
                continue
            batch = log[position : position + max_batch_size]
            position += len(batch)
            on_event_batch(context, batch)
        self._running = False
        raise AssertionError(f"receive_batch called back {self.MAX_CALLBACKS} times and was never closed")

    def get_partition_ids(self) -> list[str]:
        return list(self.hub.partitions)

    def close(self) -> None:
        self._running = False

    @staticmethod
    def _start_index(log: list[EventData], position: str | int | None, inclusive: bool) -> int:
        if position == "-1":
            return 0
        if position is None or position == "@latest":
            return len(log)
        if isinstance(position, int):  # a sequence number, which in the fake is the index
            return max(0, min(len(log), position if inclusive else position + 1))
        raise NotImplementedError("starting from an offset or an enqueued time")
