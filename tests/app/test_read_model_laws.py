"""The read-model laws, over every projection and every table it writes: whatever the delivery does
(duplicates, reordering, drops, arbitrary batches, a worker dying half-way through a batch), the read
models end up exactly as a clean, in-order replay of the event store leaves them."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from domain.accounts import (
    Account,
    AccountClosed,
    AccountCommand,
    AccountEvent,
    AccountOpened,
    CloseAccount,
    DepositMoney,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Status,
    WithdrawMoney,
    decider,
)
from domain.errors import DomainError
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH, CosmosReadModelStore
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.adapters.sqlite.readmodels import SqliteReadModelStore
from infra.app.commands import CommandHandler
from infra.app.deadletters import DEAD_LETTERS_MODEL
from infra.app.generations import model_name
from infra.app.projector import ProjectionRunner
from infra.formats.codec import EventCodec
from infra.ports.eventstore import Metadata, StoredEvent
from infra.ports.readmodels import KEY_MAX, Progress, ReadModelStore, ViewDocument, own_partition
from projections import account_statement, account_summary, daily_totals
from projections.account_statement import Entry, StatementHeader, StatementLine, time_key
from projections.account_summary import AccountSummary, Owner
from projections.daily_totals import Contribution, DailyTotal
from projections.projection import Projection
from tests.fakes.cosmos import FakeContainer

CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)
METADATA = Metadata(correlation_id="test")
PROJECTIONS: tuple[Projection[AccountEvent, Any], ...] = (
    account_summary.projection,
    account_statement.projection,
    daily_totals.projection,
)
# Every model the three projections write in their first generation, and the dead letters they share.
MODELS = [
    DEAD_LETTERS_MODEL,
    *(
        model_name(name, 1)
        for projection in PROJECTIONS
        for name in (projection.name, *(table.name for table in projection.tables))
    ),
]
CONTRIBUTIONS_MODEL = model_name(daily_totals.CONTRIBUTIONS.name, 1)

STREAMS = [f"account-00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
A, B, C, D = STREAMS
A_ID, B_ID, C_ID = (account_summary.account_id(stream_id) for stream_id in (A, B, C))
# Two owners differ only in the case of their email (one partition of accounts-by-owner), two currencies.
OPENS = {
    A: OpenAccount(owner_name="Ada", owner_email="Ada.Lovelace@Example.COM", currency="EUR"),
    B: OpenAccount(owner_name="Ada", owner_email="ada.lovelace@example.com", currency="USD"),
    C: OpenAccount(owner_name="Bob", owner_email="bob@example.com", currency="EUR"),
    D: OpenAccount(owner_name="Cy", owner_email="cy@example.com", currency="EUR"),
}
ADA = "ada.lovelace@example.com"
DAY_1, DAY_2 = date(2024, 3, 1), date(2024, 3, 2)


def at(day: date, hour: int, minute: int = 0, tz: timezone = UTC) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


# --- the write side ----------------------------------------------------------------------------------


class Clock:
    """The event store's clock, moved on by the test, so events fall on the days it chooses."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Bank:
    """An in-memory event store on a clock of our own, behind the command pipeline (so the log is valid)."""

    clock: Clock
    events: InMemoryEventStore
    handler: CommandHandler[Account, AccountCommand, AccountEvent]

    def do(self, stream_id: str, command: AccountCommand, when: datetime | None = None) -> Account:
        if when is not None:
            self.clock.now = when
        return self.handler.handle(stream_id, command, METADATA).state

    def log(self) -> list[StoredEvent]:
        """Every event, stream after stream, each stream in version order."""
        return [event for stream_id in sorted(self.events.streams()) for event in self.events.read(stream_id)]


def new_bank(start: datetime) -> Bank:
    clock = Clock(start)
    events = InMemoryEventStore(clock=clock)
    return Bank(clock, events, CommandHandler(events, decider))


def two_day_bank() -> Bank:
    """Three accounts in two currencies over two UTC days: opened, paid into and out of, one closed."""
    bank = new_bank(at(DAY_1, 22))
    bank.do(A, OPENS[A])
    bank.do(A, DepositMoney(amount=100, reference="salary"), at(DAY_1, 23))
    bank.do(B, OPENS[B], at(DAY_1, 23, 10))
    bank.do(B, DepositMoney(amount=7), at(DAY_1, 23, 20))
    bank.do(C, OPENS[C], at(DAY_1, 23, 30))
    bank.do(C, DepositMoney(amount=50), at(DAY_1, 23, 40))
    # 00:45 in UTC+1 is still the first UTC day
    bank.do(B, DepositMoney(amount=3), at(DAY_2, 0, 45, timezone(timedelta(hours=1))))
    bank.do(A, WithdrawMoney(amount=30, reference="rent"), at(DAY_2, 0, 30))
    bank.do(C, WithdrawMoney(amount=50), at(DAY_2, 0, 40))
    bank.do(C, CloseAccount(), at(DAY_2, 0, 50))
    return bank


# --- the read side -----------------------------------------------------------------------------------


def runners(store: ReadModelStore, events: InMemoryEventStore) -> list[ProjectionRunner[AccountEvent, Any]]:
    return [ProjectionRunner(projection, CODEC, store, events) for projection in PROJECTIONS]


def contents(store: ReadModelStore) -> dict[str, dict[tuple[str, str], ViewDocument]]:
    """Every document of every model by (partition, id), without etags (each store has its own)."""
    return {
        model: {(own_partition(d), d.id): replace(d, etag=None) for d in store.scan(model)}
        for model in MODELS
    }


def clean_replay(bank: Bank) -> dict[str, dict[tuple[str, str], ViewDocument]]:
    """What every model holds after the whole log is delivered once, in order, to a fresh store."""
    store = InMemoryReadModelStore()
    for runner in runners(store, bank.events):
        runner.apply(bank.log())
    return contents(store)


def deliver(
    runners: Sequence[ProjectionRunner[AccountEvent, Any]], batches: Sequence[list[StoredEvent]]
) -> None:
    for batch in batches:
        for runner in runners:
            runner.apply(batch)


def totals_counted_from(log: Sequence[StoredEvent]) -> list[DailyTotal]:
    """The daily totals counted straight from the events (in stream order), without the projection."""
    currencies: dict[str, str] = {}
    counts: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
    for stored in log:
        event = CODEC.decode(stored)
        if isinstance(event, AccountOpened):
            currencies[stored.stream_id] = event.currency
        count = counts[(stored.recorded_at.astimezone(UTC).date(), currencies[stored.stream_id])]
        if isinstance(event, AccountOpened):
            count["opened"] += 1
        elif isinstance(event, MoneyDeposited):
            count["deposits"] += event.amount
        elif isinstance(event, MoneyWithdrawn):
            count["withdrawals"] += event.amount
        elif isinstance(event, AccountClosed):
            count["closed"] += 1
    return [
        DailyTotal(
            day=day,
            currency=currency,
            deposits=count["deposits"],
            withdrawals=count["withdrawals"],
            accounts_opened=count["opened"],
            accounts_closed=count["closed"],
        )
        for (day, currency), count in sorted(counts.items())
    ]


def totals_in(store: ReadModelStore) -> list[DailyTotal]:
    """Every day's totals, from every contribution the daily-totals projection wrote."""
    documents = store.scan(CONTRIBUTIONS_MODEL)
    return daily_totals.totals([Contribution.model_validate(d.view) for d in documents if d.view is not None])


# --- account statement --------------------------------------------------------------------------------


def test_statement_lines_carry_each_movement_with_the_balance_after_it_ordered_by_time_then_version() -> None:
    bank = new_bank(at(DAY_1, 9))
    bank.do(A, OPENS[A])
    bank.do(B, OPENS[B])
    bank.do(B, DepositMoney(amount=500), at(DAY_1, 9, 30))
    bank.do(A, DepositMoney(amount=100, reference="salary"), at(DAY_1, 10))
    bank.do(A, WithdrawMoney(amount=30, reference="rent"), at(DAY_1, 11))
    bank.clock.now = at(DAY_1, 12)  # eight deposits at the same instant: versions 4 to 11, in that order
    for _ in range(8):
        bank.do(A, DepositMoney(amount=1))
    runner = ProjectionRunner(account_statement.projection, CODEC, InMemoryReadModelStore(), bank.events)

    runner.apply([*reversed(bank.log()), *bank.log()])

    lines = [line for _, line in runner.read_side.rows(account_statement.LINES, A_ID)]
    assert [line.version for line in lines] == list(range(2, 12))
    assert lines[:3] == [
        StatementLine(
            version=2,
            recorded_at=at(DAY_1, 10),
            entry=Entry.DEPOSIT,
            amount=100,
            balance_after=100,
            reference="salary",
        ),
        StatementLine(
            version=3,
            recorded_at=at(DAY_1, 11),
            entry=Entry.WITHDRAWAL,
            amount=30,
            balance_after=70,
            reference="rent",
        ),
        StatementLine(
            version=4,
            recorded_at=at(DAY_1, 12),
            entry=Entry.DEPOSIT,
            amount=1,
            balance_after=71,
            reference=None,
        ),
    ]
    assert lines[-1].balance_after == 78
    assert runner.get(A) == StatementHeader(id=A_ID, currency="EUR", balance=78, version=11)


def test_a_time_range_of_the_statement_is_one_key_range_query() -> None:
    bank = new_bank(at(DAY_1, 9))
    bank.do(A, OPENS[A])
    for hour in (10, 11, 12, 13):
        bank.do(A, DepositMoney(amount=hour), at(DAY_1, hour))
    runner = ProjectionRunner(account_statement.projection, CODEC, InMemoryReadModelStore(), bank.events)
    runner.apply(bank.log())

    between = runner.read_side.rows(
        account_statement.LINES, A_ID, key_from=time_key(at(DAY_1, 11)), key_before=time_key(at(DAY_1, 13))
    )
    newest = runner.read_side.rows(account_statement.LINES, A_ID, descending=True, limit=1)

    assert [line.amount for _, line in between] == [11, 12]
    assert [line.amount for _, line in newest] == [13]


# --- accounts by owner --------------------------------------------------------------------------------


def test_by_owner_rows_land_in_the_lower_cased_owner_email_partition_and_mirror_the_latest_summary() -> None:
    bank = new_bank(at(DAY_1, 9))
    bank.do(B, OPENS[B])
    bank.do(A, OPENS[A])
    bank.do(C, OPENS[C])
    bank.do(A, DepositMoney(amount=10))
    bank.do(B, DepositMoney(amount=5))
    bank.do(B, WithdrawMoney(amount=5))
    bank.do(B, CloseAccount())
    runner = ProjectionRunner(account_summary.projection, CODEC, InMemoryReadModelStore(), bank.events)

    runner.apply(reversed(bank.log()))

    summary_a, summary_b, summary_c = runner.get(A), runner.get(B), runner.get(C)
    assert isinstance(summary_a, AccountSummary)
    assert isinstance(summary_b, AccountSummary)
    assert summary_a.owner == Owner(name="Ada", email="Ada.Lovelace@example.com")
    assert (summary_a.balance, summary_b.status) == (10, Status.CLOSED)
    assert runner.read_side.rows(account_summary.BY_OWNER, ADA) == [(A_ID, summary_a), (B_ID, summary_b)]
    assert runner.read_side.rows(account_summary.BY_OWNER, "bob@example.com") == [(C_ID, summary_c)]
    assert runner.read_side.rows(account_summary.BY_OWNER, "Ada.Lovelace@example.com") == []


# --- daily totals -------------------------------------------------------------------------------------


def test_daily_contributions_go_to_their_utc_day_and_sum_per_day_and_currency() -> None:
    bank = two_day_bank()
    runner = ProjectionRunner(daily_totals.projection, CODEC, InMemoryReadModelStore(), bank.events)

    runner.apply(bank.log())
    runner.apply(reversed(bank.log()))  # delivered again: counted once

    first = runner.read_side.rows(daily_totals.CONTRIBUTIONS, daily_totals.day_partition(DAY_1))
    second = runner.read_side.rows(daily_totals.CONTRIBUTIONS, daily_totals.day_partition(DAY_2))
    assert [key for key, _ in first] == [A_ID, B_ID, C_ID]
    assert [key for key, _ in second] == [A_ID, C_ID]
    assert daily_totals.totals([row for _, row in first]) == [
        DailyTotal(
            day=DAY_1, currency="EUR", deposits=150, withdrawals=0, accounts_opened=2, accounts_closed=0
        ),
        DailyTotal(
            day=DAY_1, currency="USD", deposits=10, withdrawals=0, accounts_opened=1, accounts_closed=0
        ),
    ]
    assert daily_totals.totals([row for _, row in second]) == [
        DailyTotal(
            day=DAY_2, currency="EUR", deposits=0, withdrawals=80, accounts_opened=0, accounts_closed=1
        ),
    ]
    assert (
        runner.read_side.rows(
            daily_totals.CONTRIBUTIONS, daily_totals.day_partition(DAY_2 + timedelta(days=1))
        )
        == []
    )


# --- the law: any delivery converges to a clean replay ----------------------------------------------

deposits = st.builds(DepositMoney, amount=st.integers(1, 50), reference=st.sampled_from([None, "salary"]))
withdrawals = st.builds(WithdrawMoney, amount=st.integers(1, 50), reference=st.sampled_from([None, "rent"]))
# Mostly money moving, so streams grow; None: withdraw the whole balance and close the account.
commands: st.SearchStrategy[AccountCommand | None] = st.one_of(*[deposits] * 5, *[withdrawals] * 3, st.none())
zones = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))])


def random_bank(data: st.DataObject) -> Bank:
    """1 to 4 accounts opened, then random commands minutes to hours apart, so they span several UTC days,
    on a clock in a random zone; the commands a real account would refuse are skipped."""
    streams = STREAMS[: data.draw(st.integers(1, len(STREAMS)), label="streams")]
    bank = new_bank(datetime(2024, 3, 1, 20, tzinfo=UTC).astimezone(data.draw(zones, label="zone")))
    balances = {stream_id: bank.do(stream_id, OPENS[stream_id]).balance for stream_id in streams}
    steps = st.tuples(st.sampled_from(streams), commands, st.integers(0, 16 * 60))
    for stream_id, command, minutes in data.draw(st.lists(steps, min_size=4, max_size=30), label="commands"):
        bank.clock.now += timedelta(minutes=minutes)
        try:
            if command is None and balances[stream_id] > 0:
                balances[stream_id] = bank.do(stream_id, WithdrawMoney(amount=balances[stream_id])).balance
            balances[stream_id] = bank.do(stream_id, CloseAccount() if command is None else command).balance
        except DomainError:
            continue
    return bank


def lossy_delivery(data: st.DataObject, log: list[StoredEvent]) -> list[list[StoredEvent]]:
    """Each event 0 to 3 times, shuffled, split into batches. A stream's last event is delivered at least
    once (without it nothing tells the runner the stream has grown); the others may all be dropped."""
    last = {event.stream_id: event.version for event in log}
    copies = data.draw(st.lists(st.integers(0, 3), min_size=len(log), max_size=len(log)), label="copies")
    kept = [
        event
        for event, n in zip(log, copies, strict=True)
        for _ in range(max(n, 1) if event.version == last[event.stream_id] else n)
    ]
    shuffled = data.draw(st.permutations(kept), label="order")
    batches = data.draw(st.integers(1, min(len(shuffled), 8)), label="batches")
    positions = st.integers(1, max(len(shuffled) - 1, 1))
    cuts = data.draw(st.sets(positions, min_size=batches - 1, max_size=batches - 1), label="cuts")
    return [shuffled[start:end] for start, end in pairwise([0, *sorted(cuts), len(shuffled)])]


def assert_the_read_models_agree_with(log: Sequence[StoredEvent], store: ReadModelStore) -> None:
    """Checked against the log itself rather than a replay: each projection applied every event once, a
    statement line per movement, a copy of each summary in its owner's partition, and the daily totals."""
    for projection in PROJECTIONS:
        assert store.progress(model_name(projection.name, 1)).applied == len(log)
    movements = {
        (account_summary.account_id(event.stream_id), event.version)
        for event in log
        if isinstance(CODEC.decode(event), MoneyDeposited | MoneyWithdrawn)
    }
    lines = store.scan(model_name(account_statement.LINES.name, 1))
    assert {(d.partition, StatementLine.model_validate(d.view).version) for d in lines} == movements
    owners = {}
    for document in store.scan(model_name(account_summary.projection.name, 1)):
        summary = AccountSummary.model_validate(document.view)
        assert summary.owner is not None
        owners[(account_summary.owner_partition(summary.owner.email), document.id)] = document.view
    copies = store.scan(model_name(account_summary.BY_OWNER.name, 1))
    assert {(d.partition, d.id): d.view for d in copies} == owners
    assert totals_in(store) == totals_counted_from(log)


LAWS = hypothesis.settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)


@LAWS
@hypothesis.given(st.data())
def test_any_duplicated_reordered_lossy_delivery_in_any_batches_leaves_every_model_equal_to_a_clean_replay(
    data: st.DataObject,
) -> None:
    bank = random_bank(data)
    log = bank.log()
    store = InMemoryReadModelStore()

    deliver(runners(store, bank.events), lossy_delivery(data, log))

    assert contents(store) == clean_replay(bank)
    assert_the_read_models_agree_with(log, store)


# --- a worker that dies half-way through a batch ------------------------------------------------------


class WorkerCrashed(Exception):
    """The worker died: none of its later writes reach the store."""


class CrashingReadModelStore:
    """A read-model store whose worker dies at its `crash_at`th write (None: never): before the write
    reaches the store, or with `after_write`, just after it, before the worker hears back."""

    def __init__(self, inner: ReadModelStore, crash_at: int | None, after_write: bool = False) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.after_write = after_write
        self.puts = 0

    def get(self, model: str, document_id: str, partition: str | None = None) -> ViewDocument | None:
        return self.inner.get(model, document_id, partition)

    def put(self, model: str, document: ViewDocument) -> str:
        self.puts += 1
        if self.crash_at is None or self.puts < self.crash_at:
            return self.inner.put(model, document)
        if self.puts == self.crash_at and self.after_write:
            self.inner.put(model, document)
        raise WorkerCrashed(f"write {self.puts}: {model}/{document.id}")

    def query(
        self,
        model: str,
        partition: str,
        *,
        key_from: str = "",
        key_before: str = KEY_MAX,
        descending: bool = False,
        limit: int = 100,
    ) -> list[ViewDocument]:
        return self.inner.query(
            model, partition, key_from=key_from, key_before=key_before, descending=descending, limit=limit
        )

    def scan(self, model: str) -> Iterator[ViewDocument]:
        return self.inner.scan(model)

    def progress(self, model: str) -> Progress:
        return self.inner.progress(model)

    def delete(self, model: str, document_id: str, partition: str | None = None) -> None:
        self.inner.delete(model, document_id, partition)

    def unit_of_work(self) -> AbstractContextManager[object]:
        return self.inner.unit_of_work()

    def put_many(self, writes: Sequence[tuple[str, ViewDocument]]) -> list[str]:
        return [self.put(model, document) for model, document in writes]  # it can die between any two


def writes_of(bank: Bank, batches: Sequence[list[StoredEvent]]) -> int:
    """How many writes a worker makes applying these batches to every projection, if it does not crash."""
    counting = CrashingReadModelStore(InMemoryReadModelStore(), crash_at=None)
    deliver(runners(counting, bank.events), batches)
    return counting.puts


def crash_then_redeliver(
    bank: Bank, batches: Sequence[list[StoredEvent]], crash_at: int, after_write: bool
) -> InMemoryReadModelStore:
    """A worker dies at its `crash_at`th write; a new one gets the batch it died in again, then the rest."""
    store = InMemoryReadModelStore()
    crashing = CrashingReadModelStore(store, crash_at, after_write)
    dying = runners(crashing, bank.events)
    crashed_in = None
    for index, batch in enumerate(batches):
        try:
            deliver(dying, [batch])
        except* WorkerCrashed:  # anything else fails the test
            crashed_in = index
        if crashed_in is not None:
            break
    assert crashed_in is not None, f"no crash at write {crash_at} of {crashing.puts}"
    deliver(runners(store, bank.events), batches[crashed_in:])
    return store


def seeded_delivery(log: list[StoredEvent], seed: int, batches: int = 3) -> list[list[StoredEvent]]:
    """A fixed chaotic delivery: each event 0 to 2 times (a stream's last at least once), shuffled, cut up."""
    rng = random.Random(seed)
    last = {event.stream_id: event.version for event in log}
    kept = [
        event
        for event in log
        for _ in range(max(rng.randint(0, 2), 1 if event.version == last[event.stream_id] else 0))
    ]
    rng.shuffle(kept)
    cuts = sorted(rng.sample(range(1, len(kept)), batches - 1))
    return [kept[start:end] for start, end in pairwise([0, *cuts, len(kept)])]


@pytest.mark.parametrize("after_write", [False, True], ids=["before-the-write", "after-the-write"])
def test_a_batch_delivered_again_after_a_crash_at_any_write_equals_a_clean_replay(after_write: bool) -> None:
    bank = two_day_bank()
    log = bank.log()
    batches = seeded_delivery(log, seed=1)
    replayed = clean_replay(bank)
    writes = writes_of(bank, batches)
    assert writes > len(log)  # stream documents and rows of three projections

    for crash_at in range(1, writes + 1):
        store = crash_then_redeliver(bank, batches, crash_at, after_write)

        assert contents(store) == replayed, f"crashed at write {crash_at}"
        assert totals_in(store) == totals_counted_from(log), f"crashed at write {crash_at}"


@hypothesis.settings(LAWS, max_examples=50)
@hypothesis.given(st.data())
def test_any_delivery_interrupted_by_a_crash_at_any_write_and_resumed_equals_a_clean_replay(
    data: st.DataObject,
) -> None:
    bank = random_bank(data)
    log = bank.log()
    batches = lossy_delivery(data, log)
    crash_at = data.draw(st.integers(1, writes_of(bank, batches)), label="crash at")
    after_write = data.draw(st.booleans(), label="after the write")

    store = crash_then_redeliver(bank, batches, crash_at, after_write)

    assert contents(store) == clean_replay(bank)
    assert_the_read_models_agree_with(log, store)


# --- the SQLite adapter -------------------------------------------------------------------------------


def test_a_chaotic_delivery_into_sqlite_gives_the_same_documents_as_a_clean_replay_in_memory(
    tmp_path: Path,
) -> None:
    bank = two_day_bank()
    log = bank.log()
    store = SqliteReadModelStore(tmp_path / "readmodels.sqlite")
    try:
        deliver(runners(store, bank.events), seeded_delivery(log, seed=2, batches=4))

        assert contents(store) == clean_replay(bank)
        assert_the_read_models_agree_with(log, store)
    finally:
        store.close()


# --- the Cosmos DB adapter (over the fake container) ---------------------------------------------------


@pytest.mark.parametrize("seed", [2, 5, 11])
def test_a_chaotic_delivery_into_cosmos_db_gives_the_same_documents_as_a_clean_replay_in_memory(
    seed: int,
) -> None:
    bank = two_day_bank()
    log = bank.log()
    store = CosmosReadModelStore(FakeContainer(READMODELS_PARTITION_KEY_PATH))

    deliver(runners(store, bank.events), seeded_delivery(log, seed=seed, batches=4))

    assert contents(store) == clean_replay(bank)
    assert_the_read_models_agree_with(log, store)


def test_owner_emails_that_differ_beyond_ascii_case_are_different_owners() -> None:
    partitions = {
        account_summary.owner_partition(email)
        for email in ("sam@example.com", "\u017fam@example.com", "strasse@example.com", "straße@example.com")
    }

    assert len(partitions) == 4
    assert account_summary.owner_partition("Ada.Lovelace@Example.COM") == "ada.lovelace@example.com"
