from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain import accounts
from domain.accounts import Account, AccountCommand, AccountEvent, DepositMoney, OpenAccount
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.app.commands import CommandHandler, ConcurrencyExhausted, Idempotency, VersionMismatch
from infra.formats.codec import EventCodec
from infra.ports.eventstore import IdempotencyRecord, Metadata, NewEvent, StreamHead

STREAM = "account-00000000-0000-4000-8000-000000000001"
CODEC: EventCodec[AccountEvent] = EventCodec(accounts.decider.event_types, accounts.decider.upcasters)
METADATA = Metadata(correlation_id="c")


class RacedStore(InMemoryEventStore):
    """An in-memory store where another writer deposits 1 just before each of our first `races` appends."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races
        self.appends = 0

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        self.appends += 1
        if self.races > 0 and expected_version > 0:
            self.races -= 1
            balance = CommandHandler(self, accounts.decider).load(stream_id)[0].balance
            rival = accounts.MoneyDeposited(amount=1, balance_after=balance + 1)
            super().append(stream_id, expected_version, [CODEC.encode(rival)], metadata)
        return super().append(stream_id, expected_version, events, metadata, idempotency, head)


class InFlightRepeatStore(InMemoryEventStore):
    """A store where the first idempotency look-up misses: the original request is still in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.misses = 0

    def find_idempotency(self, stream_id: str, key: str) -> IdempotencyRecord | None:
        if self.misses == 0:
            self.misses += 1
            return None
        return super().find_idempotency(stream_id, key)


def opened(store: InMemoryEventStore) -> CommandHandler[Account, AccountCommand, AccountEvent]:
    handler = CommandHandler(store, accounts.decider, max_attempts=3)
    handler.handle(STREAM, OpenAccount(owner_name="A", owner_email="a@example.com", currency="EUR"), METADATA)
    return handler


def test_a_conflicting_append_is_decided_again_on_the_reloaded_state() -> None:
    store = RacedStore(races=2)
    handler = opened(store)

    outcome = handler.handle(STREAM, DepositMoney(amount=10), METADATA)

    assert outcome.version == 4  # opened, two rival deposits, ours
    assert outcome.state.balance == 12
    assert [event.data.get("balance_after") for event in store.read(STREAM)] == [None, 1, 2, 12]


def test_a_stream_that_keeps_changing_gives_up_after_the_bounded_attempts() -> None:
    store = RacedStore(races=10)
    handler = opened(store)
    appends_before = store.appends

    with pytest.raises(ConcurrencyExhausted):
        handler.handle(STREAM, DepositMoney(amount=10), METADATA)

    assert store.appends - appends_before == 3
    assert all(event.data.get("amount") != 10 for event in store.read(STREAM))


def test_a_pinned_expected_version_is_not_retried_on_conflict() -> None:
    store = RacedStore(races=1)
    handler = opened(store)

    with pytest.raises(VersionMismatch):
        handler.handle(STREAM, DepositMoney(amount=10), METADATA, expected_version=1)

    assert [event.version for event in store.read(STREAM)] == [1, 2]


def test_a_pinned_expected_version_behind_the_stream_is_refused_before_deciding() -> None:
    handler = opened(InMemoryEventStore())

    with pytest.raises(VersionMismatch) as refused:
        handler.handle(STREAM, DepositMoney(amount=10), METADATA, expected_version=5)

    assert refused.value.actual == 1


def test_an_idempotent_command_that_loses_a_race_to_its_own_repeat_returns_the_recorded_outcome() -> None:
    store = InFlightRepeatStore()
    handler = opened(store)
    key = Idempotency("k", "fingerprint")
    first = handler.handle(STREAM, DepositMoney(amount=10), METADATA, idempotency=key)
    store.misses = 0

    repeat = handler.handle(STREAM, DepositMoney(amount=10), METADATA, idempotency=key)

    assert repeat.replayed
    assert (repeat.version, repeat.state) == (first.version, first.state)
    assert len(store.read(STREAM)) == 2


def test_idempotent_stream_ids_are_stable_per_scope_and_fresh_otherwise() -> None:
    handler = opened(InMemoryEventStore())

    assert handler.new_stream_id("actor\nkey") == handler.new_stream_id("actor\nkey")
    assert handler.new_stream_id("actor\nkey") != handler.new_stream_id("other\nkey")
    assert handler.new_stream_id() != handler.new_stream_id()
    assert handler.new_stream_id().startswith("account-")
