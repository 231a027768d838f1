"""The projection runner over the account summary: exactly once and in stream order, whatever the delivery."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from itertools import pairwise

import hypothesis
import pytest
from hypothesis import strategies as st

from domain.accounts import (
    AccountCommand,
    AccountEvent,
    CloseAccount,
    DepositMoney,
    OpenAccount,
    Status,
    WithdrawMoney,
    decider,
)
from domain.errors import DomainError
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app.commands import CommandHandler
from infra.app.generations import model_name
from infra.app.projector import EventReader, GapNotFilled, ProjectionRunner
from infra.formats.codec import EventCodec
from infra.ports.eventstore import Metadata, StoredEvent
from infra.ports.readmodels import ReadModelConflict, ReadModelStore, ViewDocument
from projections import account_summary
from projections.account_summary import AccountSummary, Owner
from projections.projection import Fact

STREAM = "account-00000000-0000-4000-8000-000000000001"
ACCOUNT_ID = "00000000-0000-4000-8000-000000000001"
MODEL = model_name(account_summary.projection.name, 1)
CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)
METADATA = Metadata(correlation_id="test")
OPEN = OpenAccount(owner_name="Ada", owner_email="ada@example.com", currency="EUR")


def runner(
    read_models: ReadModelStore, events: EventReader, max_attempts: int = 10
) -> ProjectionRunner[AccountEvent, AccountSummary]:
    return ProjectionRunner(account_summary.projection, CODEC, read_models, events, max_attempts)


def replay(events: Sequence[StoredEvent]) -> AccountSummary | None:
    """The summary a clean, in-order fold of these events gives."""
    summary = None
    for event in events:
        fact = Fact(event.stream_id, event.version, event.recorded_at, CODEC.decode(event))
        summary = account_summary.evolve(summary, fact)
    return summary


class ConflictOnceReadModelStore(InMemoryReadModelStore):
    """A read-model store whose first write loses a race to a writer that left the document as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, model: str, document: ViewDocument) -> str:
        if model != MODEL:  # the summaries' own documents, not the by-owner rows
            return super().put(model, document)
        self.puts += 1
        if self.puts == 1:
            raise ReadModelConflict(f"{model}/{document.id} changed since it was read")
        return super().put(model, document)


class RacedReadModelStore(InMemoryReadModelStore):
    """A read-model store where a rival runner applies `rival_delivery` just before our first write."""

    def __init__(self, rival_delivery: list[StoredEvent]) -> None:
        super().__init__()
        self.rival_delivery = rival_delivery
        self.puts = 0

    def put(self, model: str, document: ViewDocument) -> str:
        if model != MODEL:
            return super().put(model, document)
        self.puts += 1
        delivery, self.rival_delivery = self.rival_delivery, []
        if delivery:
            runner(self, InMemoryEventStore()).apply(delivery)
        return super().put(model, document)


class AlwaysConflictingReadModelStore(InMemoryReadModelStore):
    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, model: str, document: ViewDocument) -> str:
        if model != MODEL:
            return super().put(model, document)
        self.puts += 1
        raise ReadModelConflict(f"{model}/{document.id} changed since it was read")


@pytest.fixture
def event_store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def log(event_store: InMemoryEventStore) -> list[StoredEvent]:
    """An account opened, then 100 deposited and 30 withdrawn: versions 1..3 of STREAM."""
    handler = CommandHandler(event_store, decider)
    commands: list[AccountCommand] = [OPEN, DepositMoney(amount=100), WithdrawMoney(amount=30)]
    for command in commands:
        handler.handle(STREAM, command, METADATA)
    return event_store.read(STREAM)


# --- delivery in order --------------------------------------------------------------------------------


def test_an_in_order_delivery_gives_the_account_summary(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)

    assert projector.apply(log) == 3

    assert projector.get(STREAM) == AccountSummary(
        id=ACCOUNT_ID,
        owner=Owner(name="Ada", email="ada@example.com"),
        currency="EUR",
        balance=70,
        status=Status.OPEN,
        version=3,
        updated_at=log[-1].recorded_at,
    )


def test_events_delivered_one_batch_at_a_time_give_the_same_summary(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)

    applied = [projector.apply([event]) for event in log]

    assert applied == [1, 1, 1]
    assert projector.get(STREAM) == replay(log)


def test_the_document_records_the_last_version_applied_per_stream(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    read_models = InMemoryReadModelStore()

    runner(read_models, event_store).apply(log)

    document = read_models.get(MODEL, ACCOUNT_ID)
    assert document is not None
    assert document.versions == {STREAM: 3}


# --- duplicates and stale events ----------------------------------------------------------------------


def test_a_duplicate_delivery_is_a_no_op(event_store: InMemoryEventStore, log: list[StoredEvent]) -> None:
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, event_store)
    projector.apply(log)
    before = read_models.get(MODEL, ACCOUNT_ID)

    assert projector.apply(log) == 0

    assert read_models.get(MODEL, ACCOUNT_ID) == before
    assert projector.get(STREAM) == replay(log)


def test_duplicates_within_one_delivery_are_applied_once(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)

    assert projector.apply([log[0], log[1], log[0], log[2], log[1]]) == 3

    assert projector.get(STREAM) == replay(log)


def test_a_stale_event_delivered_after_newer_ones_is_skipped(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, event_store)
    projector.apply(log)
    before = read_models.get(MODEL, ACCOUNT_ID)

    assert projector.apply([log[1]]) == 0

    assert read_models.get(MODEL, ACCOUNT_ID) == before


def test_an_out_of_order_delivery_is_applied_in_stream_order(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)

    assert projector.apply(list(reversed(log))) == 3

    assert projector.get(STREAM) == replay(log)


# --- gaps ---------------------------------------------------------------------------------------------


def test_a_delivery_with_a_gap_is_completed_from_the_event_store(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)

    assert projector.apply([log[2]]) == 3

    assert projector.get(STREAM) == replay(log)


def test_a_gap_after_the_applied_version_is_completed_from_the_event_store(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    projector = runner(InMemoryReadModelStore(), event_store)
    projector.apply([log[0]])

    assert projector.apply([log[2]]) == 2

    assert projector.get(STREAM) == replay(log)


def test_a_gap_the_event_store_cannot_fill_raises_and_writes_nothing(log: list[StoredEvent]) -> None:
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, InMemoryEventStore())

    with pytest.RaisesGroup(GapNotFilled):
        projector.apply([log[2]])

    assert read_models.get(MODEL, ACCOUNT_ID) is None


def test_a_gap_the_event_store_cannot_fill_leaves_the_applied_document_as_it_was(
    log: list[StoredEvent],
) -> None:
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, InMemoryEventStore())
    projector.apply([log[0]])
    before = read_models.get(MODEL, ACCOUNT_ID)

    with pytest.RaisesGroup(GapNotFilled):
        projector.apply([log[2]])

    assert read_models.get(MODEL, ACCOUNT_ID) == before


# --- other streams ------------------------------------------------------------------------------------


def test_events_of_another_category_are_ignored(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    other_id = "c0ffee00-0000-4000-8000-000000000002"
    other = log[0].model_copy(update={"stream_id": f"customer-{other_id}", "event_id": uuid.uuid4()})
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, event_store)

    assert projector.apply([other, *log]) == 3

    assert read_models.get(MODEL, other_id) is None
    assert read_models.get(MODEL, f"customer-{other_id}") is None
    assert projector.get(STREAM) == replay(log)


def test_a_delivery_over_several_streams_updates_each_streams_document(
    event_store: InMemoryEventStore,
) -> None:
    second = "account-00000000-0000-4000-8000-000000000002"
    handler = CommandHandler(event_store, decider)
    handler.handle(STREAM, OPEN, METADATA)
    handler.handle(second, OPEN, METADATA)
    handler.handle(second, DepositMoney(amount=5), METADATA)
    projector = runner(InMemoryReadModelStore(), event_store)

    assert projector.apply([*event_store.read(second), *event_store.read(STREAM)]) == 3

    assert projector.get(STREAM) == replay(event_store.read(STREAM))
    assert projector.get(second) == replay(event_store.read(second))


def test_a_stream_that_cannot_be_applied_does_not_hold_back_the_others_in_its_batch(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    gapped = log[2].model_copy(update={"stream_id": "account-00000000-0000-4000-8000-0000000000ff"})
    projector = runner(InMemoryReadModelStore(), event_store)

    with pytest.RaisesGroup(GapNotFilled):
        projector.apply([gapped, *log])

    assert projector.get(STREAM) == replay(log)


# --- concurrent writers -------------------------------------------------------------------------------


def test_a_conflicting_write_is_retried(event_store: InMemoryEventStore, log: list[StoredEvent]) -> None:
    read_models = ConflictOnceReadModelStore()
    projector = runner(read_models, event_store)

    assert projector.apply(log) == 3

    assert read_models.puts == 2
    assert projector.get(STREAM) == replay(log)


def test_a_write_that_races_a_rival_runner_applies_only_what_the_rival_did_not(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    read_models = RacedReadModelStore(rival_delivery=log[:2])
    projector = runner(read_models, event_store)

    assert projector.apply(log) == 1

    assert projector.get(STREAM) == replay(log)
    document = read_models.get(MODEL, ACCOUNT_ID)
    assert document is not None
    assert document.versions == {STREAM: 3}


def test_a_document_that_keeps_changing_gives_up_after_the_bounded_attempts(
    event_store: InMemoryEventStore, log: list[StoredEvent]
) -> None:
    read_models = AlwaysConflictingReadModelStore()
    projector = runner(read_models, event_store, max_attempts=3)

    with pytest.RaisesGroup(ReadModelConflict):
        projector.apply(log)

    assert read_models.puts == 3


# --- the projection law -------------------------------------------------------------------------------

STREAMS = [f"account-00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
deposits = st.builds(DepositMoney, amount=st.integers(1, 50))
withdrawals = st.builds(WithdrawMoney, amount=st.integers(1, 50))
# Mostly money moving, so that streams grow before a close ends them (st.one_of picks kinds equally).
kinds: list[st.SearchStrategy[AccountCommand]] = [deposits, deposits, deposits, withdrawals, withdrawals]
commands = st.sampled_from([*kinds, st.just(CloseAccount()), st.just(OPEN)]).flatmap(lambda kind: kind)


def event_log(data: st.DataObject) -> InMemoryEventStore:
    """Random commands over 1..4 account streams, each opened first; refused commands are skipped."""
    streams = STREAMS[: data.draw(st.integers(1, len(STREAMS)), label="streams")]
    store = InMemoryEventStore()
    handler = CommandHandler(store, decider)
    for stream_id in streams:
        handler.handle(stream_id, OPEN, METADATA)
    for stream_id, command in data.draw(st.lists(st.tuples(st.sampled_from(streams), commands), max_size=30)):
        try:
            handler.handle(stream_id, command, METADATA)
        except DomainError:
            continue
    return store


def delivery(data: st.DataObject, log: list[StoredEvent]) -> list[list[StoredEvent]]:
    """Each event 1..3 times, some dropped, all shuffled, split into batches."""
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(log), max_size=len(log)), label="copies")
    dropped = data.draw(st.sets(st.integers(0, len(log) - 1)), label="dropped")
    kept = [event for i, event in enumerate(log) if i not in dropped for _ in range(copies[i])]
    shuffled = data.draw(st.permutations(kept), label="order")
    cuts = data.draw(st.sets(st.integers(1, len(shuffled) - 1)) if len(shuffled) > 1 else st.just(set()))
    return [shuffled[start:end] for start, end in pairwise([0, *sorted(cuts), len(shuffled)])]


@hypothesis.settings(deadline=None)
@hypothesis.given(st.data())
def test_any_duplicated_reordered_lossy_delivery_gives_the_same_summaries_as_a_clean_replay(
    data: st.DataObject,
) -> None:
    event_store = event_log(data)
    streams = [stream_id for stream_id in STREAMS if event_store.read(stream_id)]
    log = [event for stream_id in streams for event in event_store.read(stream_id)]
    batches = delivery(data, log)
    read_models = InMemoryReadModelStore()
    projector = runner(read_models, event_store)

    for batch in batches:
        projector.apply(batch)

    for stream_id in streams:
        delivered = [event.version for batch in batches for event in batch if event.stream_id == stream_id]
        document = read_models.get(MODEL, account_summary.account_id(stream_id))
        if not delivered:
            assert document is None
            continue
        assert document is not None
        assert document.versions == {stream_id: max(delivered)}
        # Up to the last version delivered: the whole stream when its last event was delivered.
        assert projector.get(stream_id) == replay(event_store.read(stream_id, to_version=max(delivered)))
