"""How the command pipeline gets a stream's state: a warm cache, a snapshot and its tail, or a replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from domain import accounts
from domain.accounts import Account, AccountCommand, AccountEvent, DepositMoney, OpenAccount, WithdrawMoney
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.snapshots import InMemorySnapshotStore
from infra.app.commands import CommandHandler, Idempotency, VersionMismatch
from infra.ports.eventstore import IdempotencyRecord, Metadata, NewEvent, StoredEvent, StreamHead
from infra.ports.snapshots import Snapshot

STREAM = "account-00000000-0000-4000-8000-000000000002"
METADATA = Metadata()
Handler = CommandHandler[Account, AccountCommand, AccountEvent]


class CountingStore(InMemoryEventStore):
    """The in-memory store, counting the round trips a real backend would make."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.heads: list[StreamHead | None] = []

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        self.calls.append("append")
        self.heads.append(head)
        return super().append(stream_id, expected_version, events, metadata, idempotency, head)

    def read(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        self.calls.append(f"read from {from_version}")
        return super().read(stream_id, from_version, to_version, until)

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        self.calls.append("find_idempotency")
        return super().find_idempotency(stream_id, key)


def opened(handler: Handler) -> None:
    handler.handle(STREAM, OpenAccount(owner_name="A", owner_email="a@example.com", currency="EUR"), METADATA)


def test_a_command_on_a_warm_stream_costs_one_round_trip() -> None:
    store = CountingStore()
    handler = CommandHandler(store, accounts.decider)
    opened(handler)
    store.calls.clear()

    handler.handle(STREAM, DepositMoney(amount=5), METADATA)

    assert store.calls == ["append"]


def test_a_command_hands_the_store_the_head_it_knows_so_linking_its_events_costs_no_read() -> None:
    # On Cosmos DB the head saves a point read of the last event before the batch (its hash is the link)
    store = CountingStore()
    handler = CommandHandler(store, accounts.decider)
    opened(handler)
    handler.handle(STREAM, DepositMoney(amount=5), METADATA)
    CommandHandler(store, accounts.decider).handle(STREAM, DepositMoney(amount=5), METADATA)  # cold: reads

    first, second, third = store.read(STREAM)
    assert store.heads == [
        None,  # a new stream links to nothing
        StreamHead(1, first.event_hash),  # remembered from its own append
        StreamHead(2, second.event_hash),  # read with the stream
    ]
    assert third.previous_hash == second.event_hash


def test_a_keyed_command_on_a_warm_stream_also_costs_one_round_trip() -> None:
    store = CountingStore()
    handler = CommandHandler(store, accounts.decider)
    opened(handler)
    store.calls.clear()

    handler.handle(STREAM, DepositMoney(amount=5), METADATA, idempotency=Idempotency("k", "f"))

    assert store.calls == ["append"]


def test_a_repeat_on_a_warm_stream_is_replayed_when_the_store_refuses_its_key() -> None:
    store = CountingStore()
    handler = CommandHandler(store, accounts.decider)
    opened(handler)
    first = handler.handle(STREAM, DepositMoney(amount=5), METADATA, idempotency=Idempotency("k", "f"))

    repeat = handler.handle(STREAM, DepositMoney(amount=5), METADATA, idempotency=Idempotency("k", "f"))

    assert repeat.replayed
    assert (repeat.version, repeat.state) == (first.version, first.state)
    assert len(store.read(STREAM)) == 2


def test_a_cold_stream_loads_its_snapshot_and_only_the_events_after_it() -> None:
    store, snapshots = CountingStore(), InMemorySnapshotStore()
    writer = CommandHandler(store, accounts.decider, snapshots=snapshots, snapshot_every=10)
    opened(writer)
    for _ in range(11):
        writer.handle(STREAM, DepositMoney(amount=1), METADATA)
    store.calls.clear()

    cold = CommandHandler(store, accounts.decider, snapshots=snapshots, snapshot_every=10)
    outcome = cold.handle(STREAM, DepositMoney(amount=1), METADATA)

    assert snapshots.get(STREAM) is not None
    assert snapshots.get(STREAM).version == 10  # type: ignore[union-attr]
    assert store.calls == ["read from 11", "append"]
    assert (outcome.version, outcome.state.balance) == (13, 12)


def test_a_snapshot_of_another_state_shape_is_ignored_and_the_stream_replayed() -> None:
    store, snapshots = CountingStore(), InMemorySnapshotStore()
    opened(CommandHandler(store, accounts.decider))
    snapshots.put(Snapshot(stream_id=STREAM, version=1, state_version=0, state={"shape": "old"}))
    store.calls.clear()

    outcome = CommandHandler(store, accounts.decider, snapshots=snapshots).handle(
        STREAM, DepositMoney(amount=3), METADATA
    )

    assert store.calls == ["read from 1", "append"]
    assert outcome.state.balance == 3


def with_a_stale_cache() -> Handler:
    """A handler whose cache says the account is at version 1 with 0, while another worker deposited 100."""
    store = InMemoryEventStore()
    this_instance, other_instance = (
        CommandHandler(store, accounts.decider),
        CommandHandler(store, accounts.decider),
    )
    opened(this_instance)
    other_instance.handle(STREAM, DepositMoney(amount=100), METADATA)
    return this_instance


def test_a_stale_cache_never_decides_a_command() -> None:
    this_instance = with_a_stale_cache()

    # this instance's cache still says the balance is 0: the withdrawal would be refused on it
    outcome = this_instance.handle(STREAM, WithdrawMoney(amount=60), METADATA)

    assert (outcome.version, outcome.state.balance) == (3, 40)


def test_a_stale_cache_is_refreshed_when_the_append_conflicts() -> None:
    this_instance = with_a_stale_cache()

    outcome = this_instance.handle(STREAM, DepositMoney(amount=1), METADATA)

    assert (outcome.version, outcome.state.balance) == (3, 101)


def test_time_travel_bypasses_the_cache_and_snapshots() -> None:
    snapshots = InMemorySnapshotStore()
    handler = CommandHandler(InMemoryEventStore(), accounts.decider, snapshots=snapshots, snapshot_every=2)
    opened(handler)
    for amount in (10, 20, 30):
        handler.handle(STREAM, DepositMoney(amount=amount), METADATA)

    assert handler.load(STREAM, to_version=2)[0].balance == 10
    assert handler.load(STREAM)[0].balance == 60


@pytest.mark.parametrize("cache_size", [0, 1])
def test_a_tiny_or_disabled_cache_still_gives_correct_states(cache_size: int) -> None:
    handler = CommandHandler(InMemoryEventStore(), accounts.decider, cache_size=cache_size)
    other = "account-00000000-0000-4000-8000-000000000003"
    opened(handler)
    handler.handle(other, OpenAccount(owner_name="B", owner_email="b@example.com", currency="EUR"), METADATA)

    for stream in (STREAM, other, STREAM):
        handler.handle(stream, DepositMoney(amount=1), METADATA)

    assert handler.load(STREAM)[0].balance == 2
    assert handler.load(other)[0].balance == 1


def test_opening_a_new_stream_costs_one_round_trip() -> None:
    store = CountingStore()
    command = OpenAccount(owner_name="A", owner_email="a@example.com", currency="EUR")

    CommandHandler(store, accounts.decider).handle(STREAM, command, METADATA, expected_version=0)

    assert store.calls == ["append"]


def test_a_command_expecting_a_new_stream_on_an_existing_one_is_a_version_mismatch() -> None:
    store = InMemoryEventStore()
    handler = CommandHandler(store, accounts.decider)
    opened(handler)

    with pytest.raises(VersionMismatch) as mismatch:
        CommandHandler(store, accounts.decider).handle(
            STREAM, DepositMoney(amount=1), METADATA, expected_version=0
        )

    assert mismatch.value.actual == 1
