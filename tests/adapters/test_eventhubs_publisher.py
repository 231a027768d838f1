from __future__ import annotations

import random
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AccessToken
from azure.eventhub import EventDataBatch, EventHubProducerClient
from azure.eventhub.exceptions import EventDataSendError, EventHubError
from pytest_mock import MockerFixture

from infra.adapters.eventhubs.clients import producer_from_settings
from infra.adapters.eventhubs.publisher import EventHubsPublisher, MessageTooLarge, PublishFailed
from infra.app.relay import Relay
from infra.formats import cloud_events
from infra.formats.documents import to_document
from infra.ports.eventstore import Metadata, StoredEvent, StoreUnavailable
from infra.ports.publisher import OutgoingMessage
from tests.fakes.eventhubs import DEFAULT_MAX_BATCH_BYTES, FakeProducerClient, SentEvent

SOURCE = "/eventbank/accounts"
HUB = "accounts"
STREAMS = [f"account-{uuid.UUID(int=n)}" for n in (3, 1, 2)]
RECORDED_AT = datetime(2024, 5, 17, 9, 30, 0, 123456, tzinfo=UTC)
EMULATOR_CONNECTION = (
    "Endpoint=sb://localhost;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true"
)
# Small enough that a few CloudEvents fill a batch (one of ours is about 500 bytes).
SMALL_BATCH_BYTES = 2_000


def stored(stream_id: str, version: int) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        version=version,
        type="MoneyDeposited",
        schema_version=1,
        data={"amount": version * 10, "balance_after": version * 100},
        metadata=Metadata(correlation_id=f"corr-{version}", causation_id=f"cmd-{version}"),
        recorded_at=RECORDED_AT + timedelta(seconds=version),
    )


def page(versions_per_stream: int, seed: int = 0) -> list[dict[str, object]]:
    """A change-feed page for every stream in STREAMS, shuffled as the feed may deliver one transaction."""
    documents: list[dict[str, object]] = [
        to_document(stored(stream_id, version))
        for stream_id in STREAMS
        for version in range(1, versions_per_stream + 1)
    ]
    random.Random(seed).shuffle(documents)
    return documents


def versions(events: list[SentEvent]) -> list[int]:
    return [cloud_events.decode(event.body).version for event in events]


def relay_through(producer: FakeProducerClient) -> Relay:
    return Relay(EventHubsPublisher(producer), SOURCE)


# --- partitioning and order ---


def test_every_batch_is_sent_with_its_events_stream_id_as_partition_key() -> None:
    producer = FakeProducerClient(max_batch_bytes=SMALL_BATCH_BYTES)

    relay_through(producer).relay(page(versions_per_stream=6))

    assert len(producer.sent) > len(STREAMS)
    for batch in producer.sent:
        assert {cloud_events.decode(event.body).stream_id for event in batch.events} == {batch.partition_key}
    assert {batch.partition_key for batch in producer.sent} == set(STREAMS)


@pytest.mark.parametrize("seed", range(3))
def test_each_streams_events_are_sent_in_version_order_however_the_page_is_shuffled(seed: int) -> None:
    producer = FakeProducerClient(max_batch_bytes=SMALL_BATCH_BYTES)

    relayed = relay_through(producer).relay(page(versions_per_stream=8, seed=seed))

    assert relayed == 8 * len(STREAMS)
    for stream_id in STREAMS:
        assert versions(producer.sent_to(stream_id)) == list(range(1, 9))


def test_messages_are_grouped_by_partition_key_keeping_their_order_within_a_key() -> None:
    producer = FakeProducerClient()
    messages = [OutgoingMessage(key, f"{key}{n}".encode()) for n in range(3) for key in ("a", "b")]

    EventHubsPublisher(producer).publish(messages)

    assert [(batch.partition_key, len(batch.events)) for batch in producer.sent] == [("a", 3), ("b", 3)]
    assert [event.body for event in producer.sent_to("a")] == [b"a0", b"a1", b"a2"]
    assert [event.body for event in producer.sent_to("b")] == [b"b0", b"b1", b"b2"]


def test_every_event_carries_the_cloud_events_content_type() -> None:
    producer = FakeProducerClient()

    relay_through(producer).relay(page(versions_per_stream=2))

    sent = [event for batch in producer.sent for event in batch.events]
    assert len(sent) == 2 * len(STREAMS)
    assert {event.content_type for event in sent} == {cloud_events.CONTENT_TYPE}


# --- the size limit ---


def test_a_page_too_big_for_one_batch_is_split_in_order_with_nothing_lost() -> None:
    producer = FakeProducerClient(max_batch_bytes=SMALL_BATCH_BYTES)

    relay_through(producer).relay(page(versions_per_stream=40))

    for stream_id in STREAMS:
        batches = [batch for batch in producer.sent if batch.partition_key == stream_id]
        assert len(batches) > 1
        assert versions(producer.sent_to(stream_id)) == list(range(1, 41))
    assert all(batch.size_in_bytes <= SMALL_BATCH_BYTES for batch in producer.sent)


def test_messages_over_one_megabyte_in_total_for_one_key_become_several_batches_under_the_limit() -> None:
    producer = FakeProducerClient()  # the real limit: 1 MB
    bodies = [bytes([n]) * 100_000 for n in range(30)]

    EventHubsPublisher(producer).publish([OutgoingMessage("account-1", body) for body in bodies])

    assert len(producer.sent) >= 3
    assert all(batch.size_in_bytes <= DEFAULT_MAX_BATCH_BYTES for batch in producer.sent)
    assert [event.body for event in producer.sent_to("account-1")] == bodies


@pytest.mark.parametrize("position", ["first", "after others"])
def test_a_message_too_large_for_an_empty_batch_is_refused_not_dropped(position: str) -> None:
    producer = FakeProducerClient()
    huge = OutgoingMessage("account-1", b"x" * DEFAULT_MAX_BATCH_BYTES)
    small = [OutgoingMessage("account-1", b"small")] if position == "after others" else []

    with pytest.raises(MessageTooLarge, match=r"1048576 bytes for partition key 'account-1'"):
        EventHubsPublisher(producer).publish([*small, huge, OutgoingMessage("account-1", b"later")])

    assert [event.body for event in producer.sent_to("account-1")] == [m.body for m in small]


# --- failures ---


def test_a_send_failure_mid_relay_fails_the_relay_and_its_retry_sends_everything_in_order() -> None:
    producer = FakeProducerClient(max_batch_bytes=SMALL_BATCH_BYTES, fail_on_send=3)
    relay = relay_through(producer)
    documents = page(versions_per_stream=6)

    with pytest.raises(PublishFailed) as failure:
        relay.relay(documents)
    assert isinstance(failure.value, StoreUnavailable)
    assert isinstance(failure.value.__cause__, EventHubError)
    sent_before_retry = len(producer.sent)
    assert sent_before_retry == 2

    relay.relay(documents)  # what the relay function's retry policy does

    retried = producer.sent[sent_before_retry:]
    for stream_id in STREAMS:
        # What was sent before the failure is sent again: duplicates the projector drops.
        events = [event for batch in retried if batch.partition_key == stream_id for event in batch.events]
        assert versions(events) == list(range(1, 7))


def test_every_sdk_error_becomes_publish_failed() -> None:
    producer = FakeProducerClient(fail_on_send=1, failure=EventDataSendError("link detached"))

    with pytest.raises(PublishFailed, match="link detached"):
        EventHubsPublisher(producer).publish([OutgoingMessage("account-1", b"{}")])


def test_an_error_that_is_not_the_sdks_is_not_disguised() -> None:
    producer = FakeProducerClient(fail_on_send=1, failure=RuntimeError("a bug"))

    with pytest.raises(RuntimeError, match="a bug"):
        EventHubsPublisher(producer).publish([OutgoingMessage("account-1", b"{}")])


# --- the real SDK client, at its boundary ---


@pytest.fixture
def connection_attempts(mocker: MockerFixture) -> list[object]:
    """Refuses (and records) every TCP connection for the test's duration."""
    attempts: list[object] = []

    def refuse(*args: object) -> None:
        attempts.append(args)
        raise OSError("unit tests make no network connections")

    mocker.patch.object(socket.socket, "connect", side_effect=refuse)
    return attempts


@pytest.fixture
def real_producer(mocker: MockerFixture) -> EventHubProducerClient:
    """A real client on the emulator's connection string. Its create_batch connects to learn the link's
    size limit, so it is replaced by the SDK's own EventDataBatch at the standard 1 MB limit."""
    producer = EventHubProducerClient.from_connection_string(EMULATOR_CONNECTION, eventhub_name=HUB)

    def create_batch(*, partition_key: str) -> EventDataBatch:
        return EventDataBatch(max_size_in_bytes=DEFAULT_MAX_BATCH_BYTES, partition_key=partition_key)

    mocker.patch.object(producer, "create_batch", side_effect=create_batch)
    return producer


def test_the_real_clients_send_error_becomes_publish_failed_without_touching_the_network(
    real_producer: EventHubProducerClient, mocker: MockerFixture, connection_attempts: list[object]
) -> None:
    mocker.patch.object(real_producer, "send_batch", side_effect=EventHubError("the hub is unreachable"))
    relay = Relay(EventHubsPublisher(real_producer), SOURCE)

    with pytest.raises(PublishFailed, match="the hub is unreachable") as failure:
        relay.relay(page(versions_per_stream=2))

    assert isinstance(failure.value.__cause__, EventHubError)
    assert connection_attempts == []


def test_the_real_sdk_batch_refuses_an_oversized_message_as_message_too_large(
    real_producer: EventHubProducerClient, connection_attempts: list[object]
) -> None:
    with pytest.raises(MessageTooLarge):
        EventHubsPublisher(real_producer).publish(
            [OutgoingMessage("account-1", b"x" * DEFAULT_MAX_BATCH_BYTES)]
        )

    assert connection_attempts == []


# --- building the client ---


class UnusedCredential:
    """A TokenCredential that must not be asked: building a client does not connect."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("no token is needed to build a client")


def test_a_connection_string_builds_a_producer_for_the_hub(connection_attempts: list[object]) -> None:
    producer = producer_from_settings(EMULATOR_CONNECTION, HUB)

    assert isinstance(producer, EventHubProducerClient)
    assert producer.eventhub_name == HUB
    producer.close()
    assert connection_attempts == []


def test_a_namespace_and_a_credential_build_a_producer(connection_attempts: list[object]) -> None:
    producer = producer_from_settings("eventbank.servicebus.windows.net", HUB, UnusedCredential())

    assert producer.eventhub_name == HUB
    producer.close()
    assert connection_attempts == []


def test_a_namespace_without_a_credential_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a credential"):
        producer_from_settings("eventbank.servicebus.windows.net", HUB)
