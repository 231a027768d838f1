"""Poison events: an event a read model cannot decode or apply is retried, then parked with its stream
behind it while other streams flow, and replayed once the cause is fixed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from pydantic import BaseModel

from domain import accounts
from domain.accounts import (
    AccountClosed,
    AccountCommand,
    AccountEvent,
    AccountOpened,
    DepositMoney,
    MoneyWithdrawn,
    OpenAccount,
    WithdrawMoney,
    decider,
)
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app.commands import CommandHandler
from infra.app.deadletters import MAX_ERROR_CHARS, DeadLetter, DeadLetterStatus
from infra.app.generations import model_name
from infra.app.projector import PoisonEvent, ProjectionRunner
from infra.app.readside import Lag
from infra.entry.accounts_api import accounts as accounts_of
from infra.formats.codec import EventCodec
from infra.ports.eventstore import EventStore, Metadata, NewEvent, StoredEvent
from infra.ports.readmodels import ViewDocument
from projections import account_statement, account_summary, daily_totals
from projections.account_summary import AccountSummary
from projections.projection import Fact, Projection

V = TypeVar("V", bound=BaseModel)
Documents = dict[str, dict[tuple[str | None, str], ViewDocument]]

POISONED = "account-00000000-0000-4000-8000-000000000001"
HEALTHY = "account-00000000-0000-4000-8000-000000000002"
POISON_VERSION = 3  # POISONED's withdrawal
ATTEMPTS = 3
CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)
METADATA = Metadata(correlation_id="test")
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
PROJECTIONS: list[Projection[AccountEvent, Any]] = [
    account_summary.projection,
    account_statement.projection,
    daily_totals.projection,
]


class NextRelease:
    """The code of a release that stores deposits at schema version 2, with the channel they came by."""

    class MoneyDeposited(accounts.MoneyDeposited):
        schema_version: ClassVar[int] = 2
        channel: str

    EVENT_TYPES: tuple[type[AccountEvent], ...] = (
        AccountOpened,
        MoneyDeposited,
        MoneyWithdrawn,
        AccountClosed,
    )
    CODEC: EventCodec[AccountEvent] = EventCodec(
        EVENT_TYPES, {("MoneyDeposited", 1): lambda data: {**data, "channel": "branch"}}
    )


def ticking_clock() -> Callable[[], datetime]:
    """One second later at each call."""
    seconds = count()
    return lambda: START + timedelta(seconds=next(seconds))


@dataclass
class Fault:
    """A bug in a read model's code that breaks on one event, until the fix is deployed (`fixed`)."""

    stream_id: str
    version: int
    fixed: bool = False
    message: str = "the read model cannot handle this event"

    def check(self, fact: Fact[AccountEvent]) -> None:
        if not self.fixed and (fact.stream_id, fact.version) == (self.stream_id, self.version):
            raise ValueError(self.message)


def with_fault[V: BaseModel](
    projection: Projection[AccountEvent, V], fault: Fault
) -> Projection[AccountEvent, V]:
    """The same read model (same name, same documents) with `fault` in its evolve."""

    def evolve(view: V | None, fact: Fact[AccountEvent]) -> V:
        fault.check(fact)
        return projection.evolve(view, fact)

    return replace(projection, evolve=evolve)


def runner[V: BaseModel](
    projection: Projection[AccountEvent, V],
    read_models: InMemoryReadModelStore,
    events: InMemoryEventStore,
    codec: EventCodec[AccountEvent] = CODEC,
    clock: Callable[[], datetime] = lambda: START,
) -> ProjectionRunner[AccountEvent, V]:
    return ProjectionRunner(projection, codec, read_models, events, poison_attempts=ATTEMPTS, clock=clock)


def handle(events: EventStore, stream_id: str, *commands: AccountCommand) -> list[StoredEvent]:
    """Decide and append `commands` on the stream; return the events they appended."""
    handler = CommandHandler(events, decider, cache_size=0)
    before = len(events.read(stream_id))
    for command in commands:
        handler.handle(stream_id, command, METADATA)
    return events.read(stream_id, from_version=before + 1)


def documents(runner: ProjectionRunner[AccountEvent, Any]) -> Documents:
    """Every document of every model the runner writes, without etags (they differ between stores)."""
    return {
        model.rsplit("@", 1)[0]: {
            (d.partition, d.id): replace(d, etag=None) for d in runner.store.scan(model)
        }
        for model in runner.models(1)
    }


def cold_replay(
    projection: Projection[AccountEvent, Any],
    events: InMemoryEventStore,
    codec: EventCodec[AccountEvent] = CODEC,
) -> Documents:
    """The documents a clean replay of the whole store into a fresh read model gives."""
    clean = runner(projection, InMemoryReadModelStore(), events, codec)
    for stream_id in events.streams():
        clean.apply(events.read(stream_id))
    return documents(clean)


def summary_of(
    events: InMemoryEventStore, stream_id: str, to_version: int | None = None
) -> AccountSummary | None:
    """The summary a clean fold of the stream's events up to `to_version` gives."""
    clean = runner(account_summary.projection, InMemoryReadModelStore(), events)
    clean.apply(events.read(stream_id, to_version=to_version))
    return clean.get(stream_id)


def letter_of(runner: ProjectionRunner[AccountEvent, Any], stream_id: str = POISONED) -> DeadLetter:
    letter = runner.dead_letters.get(runner.model(1), stream_id)
    assert letter is not None
    return letter


def document_of(runner: ProjectionRunner[AccountEvent, Any], stream_id: str = POISONED) -> ViewDocument:
    document = runner.store.get(runner.model(1), runner.projection.document_id(stream_id))
    assert document is not None
    return document


def deliver_until_parked(
    runner: ProjectionRunner[AccountEvent, Any], batch: list[StoredEvent], poisoned_streams: int = 1
) -> None:
    """Deliver `batch` as the trigger does, again after each failure, until the poison is parked."""
    for _ in range(ATTEMPTS - 1):
        with pytest.RaisesGroup(*[PoisonEvent] * poisoned_streams):
            runner.apply(batch)
    runner.apply(batch)


@pytest.fixture
def events() -> InMemoryEventStore:
    """POISONED: opened, 100 deposited, 30 withdrawn (the poison event), 5 deposited; HEALTHY: opened,
    7 deposited. Each append is recorded one second after the one before."""
    store = InMemoryEventStore(clock=ticking_clock())
    open_ada = OpenAccount(owner_name="Ada", owner_email="ada@example.com", currency="EUR")
    open_grace = OpenAccount(owner_name="Grace", owner_email="grace@example.com", currency="EUR")
    handle(store, POISONED, open_ada, DepositMoney(amount=100))
    handle(store, HEALTHY, open_grace)
    handle(store, POISONED, WithdrawMoney(amount=30), DepositMoney(amount=5))
    handle(store, HEALTHY, DepositMoney(amount=7))
    return store


@pytest.fixture
def batch(events: InMemoryEventStore) -> list[StoredEvent]:
    """Both streams' events, interleaved as one partition of the hub delivers them."""
    poisoned, healthy = events.read(POISONED), events.read(HEALTHY)
    return [poisoned[0], healthy[0], poisoned[1], poisoned[2], healthy[1], poisoned[3]]


@pytest.fixture
def fault() -> Fault:
    return Fault(POISONED, POISON_VERSION)


Summaries = ProjectionRunner[AccountEvent, AccountSummary]


@pytest.fixture
def summaries(fault: Fault, events: InMemoryEventStore) -> Summaries:
    """The account summary, with a fault at POISONED's withdrawal."""
    return runner(with_fault(account_summary.projection, fault), InMemoryReadModelStore(), events)


# --- retried ------------------------------------------------------------------------------------------


def test_a_poison_event_fails_the_batch_so_that_it_is_delivered_again(
    summaries: Summaries, batch: list[StoredEvent]
) -> None:
    with pytest.RaisesGroup(PoisonEvent) as failed:
        summaries.apply(batch)

    poison = failed.value.exceptions[0]
    assert isinstance(poison, PoisonEvent)
    assert (poison.letter.stream_id, poison.letter.version) == (POISONED, POISON_VERSION)


def test_a_failed_delivery_is_recorded_as_a_retrying_dead_letter(
    summaries: Summaries, batch: list[StoredEvent]
) -> None:
    with pytest.RaisesGroup(PoisonEvent):
        summaries.apply(batch)

    assert letter_of(summaries) == DeadLetter(
        model="account-summary@1",
        stream_id=POISONED,
        version=POISON_VERSION,
        event_type="MoneyWithdrawn",
        error="ValueError: the read model cannot handle this event",
        attempts=1,
        status=DeadLetterStatus.RETRYING,
        first_failed_at=START,
        last_failed_at=START,
    )


def test_each_delivery_of_a_poison_event_counts_one_more_attempt(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    projector = runner(
        with_fault(account_summary.projection, fault), InMemoryReadModelStore(), events, clock=ticking_clock()
    )
    letters = []
    for _ in range(ATTEMPTS - 1):
        with pytest.RaisesGroup(PoisonEvent):
            projector.apply(batch)
        letters.append(letter_of(projector))

    assert [(letter.attempts, letter.status) for letter in letters] == [
        (1, DeadLetterStatus.RETRYING),
        (2, DeadLetterStatus.RETRYING),
    ]
    assert letters[-1].first_failed_at == START
    assert letters[-1].last_failed_at == START + timedelta(seconds=1)


def test_the_events_before_a_poison_event_are_applied_and_none_after_it(
    summaries: Summaries, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    with pytest.RaisesGroup(PoisonEvent):
        summaries.apply(batch)

    assert summaries.get(POISONED) == summary_of(events, POISONED, to_version=POISON_VERSION - 1)
    assert document_of(summaries).versions == {POISONED: POISON_VERSION - 1}


def test_a_dead_letters_error_text_is_bounded(events: InMemoryEventStore, batch: list[StoredEvent]) -> None:
    verbose = Fault(POISONED, POISON_VERSION, message="x" * 10 * MAX_ERROR_CHARS)
    projector = runner(with_fault(account_summary.projection, verbose), InMemoryReadModelStore(), events)

    with pytest.RaisesGroup(PoisonEvent) as failed:
        projector.apply(batch)

    error = letter_of(projector).error
    assert len(error) == MAX_ERROR_CHARS
    assert error.startswith("ValueError: xxx")
    assert len(str(failed.value.exceptions[0])) < 2 * MAX_ERROR_CHARS


# --- parked -------------------------------------------------------------------------------------------


def test_a_poison_event_is_parked_at_its_last_attempt_and_that_delivery_succeeds(
    summaries: Summaries, batch: list[StoredEvent]
) -> None:
    for _ in range(ATTEMPTS - 1):
        with pytest.RaisesGroup(PoisonEvent):
            summaries.apply(batch)

    assert summaries.apply(batch) == 0  # nothing raised: the trigger checkpoints and moves on

    letter = letter_of(summaries)
    assert (letter.status, letter.attempts, letter.version) == (
        DeadLetterStatus.PARKED,
        ATTEMPTS,
        POISON_VERSION,
    )
    document = document_of(summaries)
    assert (document.parked, document.versions) == (POISON_VERSION, {POISONED: POISON_VERSION - 1})


def test_parking_a_stream_logs_an_error_an_alert_can_match(
    summaries: Summaries, batch: list[StoredEvent], caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(ATTEMPTS - 1):
        with pytest.RaisesGroup(PoisonEvent):
            summaries.apply(batch)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]

    summaries.apply(batch)

    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (
            logging.ERROR,
            f"PARKED account-summary@1 {POISONED} at version 3 after 3 attempts: "
            "ValueError: the read model cannot handle this event",
        )
    ]


def test_later_events_of_a_parked_stream_wait_behind_the_poison_event(
    summaries: Summaries, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    deliver_until_parked(summaries, batch)
    parked = document_of(summaries)

    later = handle(events, POISONED, DepositMoney(amount=1), WithdrawMoney(amount=2))
    assert summaries.apply(later) == 0
    assert summaries.apply(events.read(POISONED)) == 0

    assert document_of(summaries) == parked
    assert summaries.get(POISONED) == summary_of(events, POISONED, to_version=POISON_VERSION - 1)


def test_other_streams_in_the_same_batches_keep_flowing(
    summaries: Summaries, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    healthy_after_each_failure = []
    for _ in range(ATTEMPTS - 1):
        with pytest.RaisesGroup(PoisonEvent):
            summaries.apply(batch)
        healthy_after_each_failure.append(summaries.get(HEALTHY))
    summaries.apply(batch)  # parks POISONED
    later = [
        *handle(events, POISONED, DepositMoney(amount=1)),
        *handle(events, HEALTHY, WithdrawMoney(amount=3)),
    ]

    assert summaries.apply(later) == 1

    assert healthy_after_each_failure == [summary_of(events, HEALTHY, to_version=2)] * (ATTEMPTS - 1)
    assert summaries.get(HEALTHY) == summary_of(events, HEALTHY)
    assert document_of(summaries, HEALTHY).versions == {HEALTHY: 3}


def test_lag_reports_the_parked_stream_and_the_events_waiting_behind_it(
    summaries: Summaries, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    deliver_until_parked(summaries, batch)
    summaries.apply(handle(events, POISONED, DepositMoney(amount=1)))

    # Behind: POISONED's versions 3, 4 and 5. The newest applied event (HEALTHY's deposit, the 6th
    # append) is one second older than the store's newest (POISONED's version 5, the 7th).
    assert summaries.lag(events.totals()) == Lag(
        "account-summary", generation=1, events=3, seconds=1.0, parked_streams=1
    )


def test_an_event_of_an_unknown_type_is_poison_too(events: InMemoryEventStore) -> None:
    events.append(POISONED, 4, [NewEvent("MoneyGifted", 1, {"amount": 1})], METADATA)
    projector = runner(account_summary.projection, InMemoryReadModelStore(), events)

    deliver_until_parked(projector, events.read(POISONED))

    letter = letter_of(projector)
    assert (letter.version, letter.event_type, letter.status) == (5, "MoneyGifted", DeadLetterStatus.PARKED)
    assert letter.error.startswith("UndecodableEvent: unknown event type 'MoneyGifted'")
    assert projector.get(POISONED) == summary_of(events, POISONED, to_version=4)


# --- replayed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("projection", PROJECTIONS, ids=lambda projection: projection.name)
def test_replay_after_the_fix_converges_to_a_clean_replay(
    projection: Projection[AccountEvent, Any],
    fault: Fault,
    events: InMemoryEventStore,
    batch: list[StoredEvent],
) -> None:
    projector = runner(with_fault(projection, fault), InMemoryReadModelStore(), events)
    deliver_until_parked(projector, batch)
    projector.apply(handle(events, POISONED, DepositMoney(amount=1)))  # waits behind the poison event
    fault.fixed = True

    replayed = projector.replay()

    assert [(letter.stream_id, letter.version, letter.status) for letter in replayed] == [
        (POISONED, POISON_VERSION, DeadLetterStatus.REPLAYED)
    ]
    assert letter_of(projector) == replayed[0]
    assert documents(projector) == cold_replay(projection, events)
    assert projector.lag(events.totals()) == Lag(projection.name, 1, 0, 0.0, 0)


@pytest.mark.parametrize("projection", PROJECTIONS, ids=lambda projection: projection.name)
def test_a_poison_event_that_opens_a_stream_parks_it_before_it_has_a_view(
    projection: Projection[AccountEvent, Any], events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    fault = Fault(POISONED, 1)
    projector = runner(with_fault(projection, fault), InMemoryReadModelStore(), events)

    deliver_until_parked(projector, batch)

    assert projector.get(POISONED) is None
    document = document_of(projector)
    assert (document.view, document.versions, document.parked) == (None, {POISONED: 0}, 1)
    assert projector.lag(events.totals()).events == len(events.read(POISONED))
    fault.fixed = True
    assert [letter.status for letter in projector.replay()] == [DeadLetterStatus.REPLAYED]
    assert documents(projector) == cold_replay(projection, events)


def test_a_replayed_stream_takes_new_deliveries_again(
    summaries: Summaries, fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    deliver_until_parked(summaries, batch)
    fault.fixed = True
    summaries.replay()

    assert summaries.apply(handle(events, POISONED, DepositMoney(amount=1))) == 1

    assert summaries.get(POISONED) == summary_of(events, POISONED)


def test_replay_without_a_fix_parks_the_stream_again_with_one_more_attempt(
    summaries: Summaries, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    deliver_until_parked(summaries, batch)
    before = summaries.get(POISONED)

    replayed = summaries.replay()

    assert [(letter.status, letter.attempts) for letter in replayed] == [
        (DeadLetterStatus.PARKED, ATTEMPTS + 1)
    ]
    assert letter_of(summaries) == replayed[0]
    assert document_of(summaries).parked == POISON_VERSION
    assert summaries.get(POISONED) == before
    assert summaries.lag(events.totals()).parked_streams == 1


def test_replay_of_one_stream_leaves_the_other_parked_streams_parked(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    second = Fault(HEALTHY, 2)
    projection = with_fault(with_fault(account_summary.projection, fault), second)
    projector = runner(projection, InMemoryReadModelStore(), events)
    deliver_until_parked(projector, batch, poisoned_streams=2)
    fault.fixed = second.fixed = True

    replayed = projector.replay(stream_id=POISONED)

    assert [letter.stream_id for letter in replayed] == [POISONED]
    assert letter_of(projector, HEALTHY).status is DeadLetterStatus.PARKED
    assert document_of(projector, HEALTHY).parked == 2
    assert projector.lag(events.totals()).parked_streams == 1
    assert [letter.stream_id for letter in projector.replay()] == [HEALTHY]
    assert documents(projector) == cold_replay(account_summary.projection, events)


def test_an_undecodable_event_is_replayed_once_the_code_that_reads_it_is_deployed(
    events: InMemoryEventStore,
) -> None:
    # a deposit stored by the next release, read by this one
    newer = NewEvent("MoneyDeposited", 2, {"amount": 10, "balance_after": 85, "channel": "app"})
    events.append(POISONED, 4, [newer], METADATA)
    read_models = InMemoryReadModelStore()
    projector = runner(account_summary.projection, read_models, events)
    deliver_until_parked(projector, [*events.read(HEALTHY), *events.read(POISONED)])
    assert letter_of(projector).error.startswith(
        "UndecodableEvent: MoneyDeposited schema version 2 is newer than this code's 1"
    )

    upgraded = runner(account_summary.projection, read_models, events, NextRelease.CODEC)
    replayed = upgraded.replay()

    assert [(letter.version, letter.status) for letter in replayed] == [(5, DeadLetterStatus.REPLAYED)]
    assert documents(upgraded) == cold_replay(account_summary.projection, events, NextRelease.CODEC)
    summary = upgraded.get(POISONED)
    assert summary is not None
    assert (summary.balance, summary.version) == (85, 5)


# --- found in review: a recovered letter, a raced write, a parked stream the rebuild must report ---


def test_a_retrying_letter_whose_stream_later_got_past_it_is_listed_as_recovered(
    summaries: Summaries, fault: Fault, batch: list[StoredEvent]
) -> None:
    with pytest.RaisesGroup(PoisonEvent):
        summaries.apply(batch)
    fault.fixed = True  # the cause went away before the attempts ran out (a transient one, or a fix)
    summaries.apply(batch)

    [letter] = summaries.letters()

    assert (letter.stream_id, letter.status) == (POISONED, DeadLetterStatus.RECOVERED)
    assert letter_of(summaries).status is DeadLetterStatus.RETRYING  # listing them writes nothing


def test_a_letter_still_retrying_is_listed_as_retrying(
    summaries: Summaries, batch: list[StoredEvent]
) -> None:
    with pytest.RaisesGroup(PoisonEvent):
        summaries.apply(batch)

    assert [letter.status for letter in summaries.letters()] == [DeadLetterStatus.RETRYING]


class LosesTheFirstWriteAfterAFailure(InMemoryReadModelStore):
    """A store where a rival writer changes the stream's document just before our first write to it."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def put(self, model: str, document: ViewDocument) -> str:
        if (
            not self.raced
            and model == "account-summary@1"
            and document.id == POISONED.removeprefix("account-")
        ):
            self.raced = True
            stored = self.get(model, document.id)
            super().put(model, replace(stored, etag=stored.etag) if stored else replace(document, view=None))
        return super().put(model, document)


def test_a_delivery_whose_write_loses_a_race_after_a_failure_counts_one_attempt_not_two(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    projector = runner(
        with_fault(account_summary.projection, fault), LosesTheFirstWriteAfterAFailure(), events
    )

    with pytest.RaisesGroup(PoisonEvent):
        projector.apply(batch)

    assert letter_of(projector).attempts == 1


def test_on_sqlite_a_batch_that_fails_still_keeps_its_attempt_count_and_parks(tmp_path: Path) -> None:
    """Each read model's batch is one SQLite transaction: a poison event must not roll its letter back."""
    from infra.entry.bootstrap import Root
    from infra.entry.settings import Settings

    root = Root(Settings(backend="embedded", data_dir=tmp_path, poison_attempts=ATTEMPTS))
    try:
        handle(
            accounts_of(root).commands.store,
            POISONED,
            OpenAccount(owner_name="Ada", owner_email="ada@example.com", currency="EUR"),
        )
        accounts_of(root).commands.store.append(
            POISONED, 1, [NewEvent("MoneyGifted", 1, {"amount": 1})], METADATA
        )
        handle(
            accounts_of(root).commands.store,
            HEALTHY,
            OpenAccount(owner_name="Grace", owner_email="g@example.com", currency="EUR"),
        )
        batch = accounts_of(root).commands.store.read(POISONED) + accounts_of(root).commands.store.read(
            HEALTHY
        )

        for _ in range(ATTEMPTS - 1):
            with pytest.raises(ExceptionGroup):
                root.service("accounts").project(batch)
        root.service("accounts").project(batch)

        letters = [runner.letters() for runner in root.service("accounts").projections]
        assert [[(letter.attempts, letter.status) for letter in found] for found in letters] == [
            [(ATTEMPTS, DeadLetterStatus.PARKED)]
        ] * 3
        assert accounts_of(root).summaries.get(HEALTHY) is not None
    finally:
        root.close()


def test_a_replay_that_a_live_delivery_parks_again_leaves_the_letter_parked(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    store = InMemoryReadModelStore()
    live = runner(with_fault(account_summary.projection, fault), store, events)
    admin = runner(with_fault(account_summary.projection, fault), store, events)
    deliver_until_parked(live, batch)
    later = handle(events, POISONED, DepositMoney(amount=1))
    unpark = admin._unpark

    def unpark_then_the_hub_delivers(model: str, stream_id: str) -> None:
        unpark(model, stream_id)
        live.apply(later)  # the stream's next event arrives: the poison is still there, so it parks again

    admin._unpark = unpark_then_the_hub_delivers  # type: ignore[method-assign]
    [result] = admin.replay()

    assert document_of(admin).parked == POISON_VERSION
    assert result.status is DeadLetterStatus.PARKED
    assert letter_of(admin).status is DeadLetterStatus.PARKED
    assert admin.lag(events.totals()).parked_streams == 1


def test_of_two_replays_racing_one_that_parks_again_wins_over_one_that_saw_nothing_to_do(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    store = InMemoryReadModelStore()
    first = runner(with_fault(account_summary.projection, fault), store, events)
    second = runner(with_fault(account_summary.projection, fault), store, events)
    deliver_until_parked(first, batch)
    unpark = first._unpark
    others: list[DeadLetter] = []

    def unpark_then_another_replay(model: str, stream_id: str) -> None:
        unpark(model, stream_id)
        others.extend(second.replay())  # the CLI and the HTTP route at once

    first._unpark = unpark_then_another_replay  # type: ignore[method-assign]
    first.replay()

    assert letter_of(first).status is DeadLetterStatus.PARKED
    assert document_of(first).parked == POISON_VERSION


def test_a_stored_view_the_code_can_no_longer_read_parks_the_stream_instead_of_failing_forever(
    events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    store = InMemoryReadModelStore()
    projector = runner(account_summary.projection, store, events)
    projector.apply(batch[:3])
    document = document_of(projector)
    assert document.view is not None
    # a release whose summary needs a field the stored document lacks
    store.put(
        projector.model(1), replace(document, view={k: v for k, v in document.view.items() if k != "status"})
    )

    unreadable = document_of(projector).view
    deliver_until_parked(projector, batch)

    assert document_of(projector).parked == POISON_VERSION
    assert document_of(projector).view == unreadable  # kept as stored, for the fixed release to read
    assert letter_of(projector).error.startswith("ValidationError")


def test_a_stored_row_the_code_can_no_longer_read_parks_the_stream_at_the_event_that_needs_it(
    events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    store = InMemoryReadModelStore()
    projector = runner(daily_totals.projection, store, events)
    projector.apply(batch[:3])  # POISONED: opened and 100 deposited, the same day
    table = model_name(daily_totals.CONTRIBUTIONS.name, 1)
    [row] = [d for d in store.scan(table) if d.id == account_summary.account_id(POISONED)]
    store.put(table, replace(row, view={"day": "not a day"}))

    deliver_until_parked(projector, batch)

    assert document_of(projector).parked == POISON_VERSION
    assert document_of(projector).versions == {POISONED: POISON_VERSION - 1}
    assert letter_of(projector).error.startswith("ValidationError")
    assert projector.get(HEALTHY) is not None


def test_a_runner_whose_cached_document_is_behind_counts_no_failure_for_an_event_already_applied(
    fault: Fault, events: InMemoryEventStore, batch: list[StoredEvent]
) -> None:
    store = InMemoryReadModelStore()
    old_release = runner(with_fault(account_summary.projection, fault), store, events)
    new_release = runner(account_summary.projection, store, events)
    old_release.apply(batch[:3])  # it caches POISONED at version 2
    new_release.apply(batch)  # another instance, with the fix, applies the rest

    assert old_release.apply(batch) == 0

    assert old_release.dead_letters.get(old_release.model(1), POISONED) is None
    assert document_of(old_release).parked is None
