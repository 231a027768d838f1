from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.eventhub import EventHubConsumerClient
from azure.eventhub.exceptions import ConnectionLostError

from infra.adapters.eventhubs.clients import consumer_from_settings
from infra.adapters.eventhubs.receiver import EventHubsPartitionReceiver, ReceiveFailed
from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.ports.eventstore import StoreUnavailable
from infra.ports.sources import HubMessage
from tests.fakes.eventhubs import FakeHub

GROUP = "accounts-readmodels"
HUB = "accounts"
ENQUEUED_AT = datetime(2024, 5, 17, 9, 30, 0, 123000, tzinfo=UTC)
EMULATOR_CONNECTION = (
    "Endpoint=sb://localhost;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true"
)


@pytest.fixture
def hub() -> FakeHub:
    hub = FakeHub(partition_count=2)
    for n in range(5):
        hub.append("0", f"a{n}".encode(), "account-a", ENQUEUED_AT + timedelta(seconds=n))
    hub.append("1", b"b0", "account-b", ENQUEUED_AT)
    return hub


@pytest.fixture
def receiver(hub: FakeHub, tmp_path: Path) -> Iterator[EventHubsPartitionReceiver]:
    receiver = EventHubsPartitionReceiver(
        hub.consumer(GROUP), GROUP, SqliteCheckpoints(tmp_path / "checkpoints.db")
    )
    yield receiver
    receiver.close()


def bodies(events: list[HubMessage]) -> list[str]:
    return [event.body.decode() for event in events]


# --- receiving ---


def test_without_a_checkpoint_a_partition_is_read_from_its_start(
    receiver: EventHubsPartitionReceiver,
) -> None:
    received = receiver.receive("0", max_count=100, timeout=1)

    assert received[0] == HubMessage("0", 0, "account-a", b"a0", ENQUEUED_AT)
    assert bodies(received) == ["a0", "a1", "a2", "a3", "a4"]
    assert [event.sequence_number for event in received] == [0, 1, 2, 3, 4]


def test_a_receive_returns_at_most_max_count_events_oldest_first(
    receiver: EventHubsPartitionReceiver,
) -> None:
    assert bodies(receiver.receive("0", max_count=2, timeout=1)) == ["a0", "a1"]


def test_a_batch_that_was_not_checkpointed_is_received_again(receiver: EventHubsPartitionReceiver) -> None:
    first = receiver.receive("0", max_count=2, timeout=1)

    assert receiver.receive("0", max_count=2, timeout=1) == first


def test_a_receive_returns_the_events_after_the_checkpoint(receiver: EventHubsPartitionReceiver) -> None:
    receiver.checkpoint("0", receiver.receive("0", max_count=2, timeout=1)[-1].sequence_number)

    assert bodies(receiver.receive("0", max_count=2, timeout=1)) == ["a2", "a3"]


def test_a_partition_read_to_its_end_returns_nothing_until_new_events_arrive(
    receiver: EventHubsPartitionReceiver, hub: FakeHub
) -> None:
    receiver.checkpoint("1", receiver.receive("1", max_count=10, timeout=1)[-1].sequence_number)

    assert receiver.receive("1", max_count=10, timeout=1) == []
    hub.append("1", b"b1", "account-b")
    assert bodies(receiver.receive("1", max_count=10, timeout=1)) == ["b1"]


def test_the_receivers_partitions_are_the_hubs(receiver: EventHubsPartitionReceiver) -> None:
    assert receiver.partition_ids() == ["0", "1"]


@pytest.mark.parametrize(("max_count", "timeout"), [(0, 1.0), (1, 0.0)])
def test_a_receive_that_could_wait_forever_or_return_nothing_is_refused(
    receiver: EventHubsPartitionReceiver, max_count: int, timeout: float
) -> None:
    with pytest.raises(ValueError, match="max_count >= 1 and timeout > 0"):
        receiver.receive("0", max_count, timeout)


# --- checkpoints ---


def test_a_checkpoint_never_moves_backwards(receiver: EventHubsPartitionReceiver) -> None:
    receiver.checkpoint("0", 3)
    receiver.checkpoint("0", 1)

    assert receiver.position("0") == 3
    assert bodies(receiver.receive("0", max_count=10, timeout=1)) == ["a4"]


def test_checkpoints_are_per_partition(receiver: EventHubsPartitionReceiver) -> None:
    receiver.checkpoint("0", 4)

    assert receiver.receive("0", max_count=10, timeout=1) == []
    assert bodies(receiver.receive("1", max_count=10, timeout=1)) == ["b0"]


def test_checkpoints_are_per_consumer_group(hub: FakeHub, tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    projector = EventHubsPartitionReceiver(hub.consumer(GROUP), GROUP, SqliteCheckpoints(path))
    audit = EventHubsPartitionReceiver(hub.consumer("audit"), "audit", SqliteCheckpoints(path))
    try:
        projector.checkpoint("0", 2)

        assert bodies(projector.receive("0", max_count=10, timeout=1)) == ["a3", "a4"]
        assert bodies(audit.receive("0", max_count=10, timeout=1)) == ["a0", "a1", "a2", "a3", "a4"]
    finally:
        projector.close()
        audit.close()


def test_checkpoints_survive_reopening_the_file(hub: FakeHub, tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    first = EventHubsPartitionReceiver(hub.consumer(GROUP), GROUP, SqliteCheckpoints(path))
    first.checkpoint("0", first.receive("0", max_count=3, timeout=1)[-1].sequence_number)
    first.close()

    reopened = EventHubsPartitionReceiver(hub.consumer(GROUP), GROUP, SqliteCheckpoints(path))
    try:
        assert reopened.position("0") == 2
        assert bodies(reopened.receive("0", max_count=10, timeout=1)) == ["a3", "a4"]
        assert reopened.position("1") is None
    finally:
        reopened.close()


# --- failures ---


def test_a_hub_that_cannot_be_read_raises_receive_failed_and_moves_nothing(
    hub: FakeHub, tmp_path: Path
) -> None:
    client = hub.consumer(GROUP)
    client.receive_error = ConnectionLostError("link detached")
    receiver = EventHubsPartitionReceiver(client, GROUP, SqliteCheckpoints(tmp_path / "checkpoints.db"))
    try:
        with pytest.raises(ReceiveFailed, match="link detached") as failure:
            receiver.receive("0", max_count=10, timeout=1)
        assert isinstance(failure.value, StoreUnavailable)
        assert receiver.position("0") is None

        client.receive_error = None
        assert bodies(receiver.receive("0", max_count=2, timeout=1)) == ["a0", "a1"]
    finally:
        receiver.close()


def test_an_error_that_is_not_the_sdks_is_not_disguised(hub: FakeHub, tmp_path: Path) -> None:
    client = hub.consumer(GROUP)
    client.receive_error = RuntimeError("a bug")
    receiver = EventHubsPartitionReceiver(client, GROUP, SqliteCheckpoints(tmp_path / "checkpoints.db"))
    try:
        with pytest.raises(RuntimeError, match="a bug"):
            receiver.receive("0", max_count=10, timeout=1)
    finally:
        receiver.close()


# --- the real SDK client ---


class UnusedCredential:
    """A TokenCredential that must not be asked: building a client does not connect."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("no token is needed to build a client")


def test_a_connection_string_builds_a_consumer_the_receiver_accepts(tmp_path: Path) -> None:
    client = consumer_from_settings(EMULATOR_CONNECTION, HUB, GROUP)

    assert isinstance(client, EventHubConsumerClient)
    assert client.eventhub_name == HUB
    EventHubsPartitionReceiver(client, GROUP, SqliteCheckpoints(tmp_path / "checkpoints.db")).close()


def test_a_namespace_and_a_credential_build_a_consumer() -> None:
    client = consumer_from_settings("eventbank.servicebus.windows.net", HUB, GROUP, UnusedCredential())

    assert client.eventhub_name == HUB
    client.close()


def test_a_namespace_without_a_credential_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a credential"):
        consumer_from_settings("eventbank.servicebus.windows.net", HUB, GROUP)


def test_checkpoints_are_per_hub_too(hub: FakeHub, tmp_path: Path) -> None:
    checkpoints = SqliteCheckpoints(tmp_path / "checkpoints.db")
    accounts = EventHubsPartitionReceiver(hub.consumer(GROUP), GROUP, checkpoints, hub="accounts")
    transfers = EventHubsPartitionReceiver(hub.consumer(GROUP), GROUP, checkpoints, hub="transfers")

    accounts.checkpoint("0", 2)

    assert (accounts.position("0"), transfers.position("0")) == (2, None)
