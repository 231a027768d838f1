"""Rebuilding a read model into a new generation, under live traffic, and verifying one against a replay."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from domain.accounts import AccountEvent, DepositMoney, OpenAccount, WithdrawMoney, decider
from domain.errors import DomainError
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app.commands import CommandHandler
from infra.app.generations import Generations, GenerationState, model_name
from infra.app.projector import ProjectionRunner
from infra.app.rebuild import CACHE_MARGIN_SECONDS, Difference, Pace, prune, rebuild, verify
from infra.formats.codec import EventCodec
from infra.ports.eventstore import Metadata, StoredEvent
from infra.ports.readmodels import ViewDocument
from projections import account_summary
from projections.account_summary import BY_OWNER, AccountSummary
from projections.projection import Fact

Documents = dict[str, dict[tuple[str | None, str], ViewDocument]]
Summaries = ProjectionRunner[AccountEvent, AccountSummary]

CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)
METADATA = Metadata(correlation_id="test")
STREAMS = [f"account-00000000-0000-4000-8000-{n:012d}" for n in range(1, 5)]
NAME = account_summary.projection.name


def opening(n: int) -> OpenAccount:
    return OpenAccount(owner_name=f"Owner {n}", owner_email=f"owner{n % 2}@example.com", currency="EUR")


def runner(
    read_models: InMemoryReadModelStore, events: InMemoryEventStore, cache_seconds: float = 0.0
) -> Summaries:
    return ProjectionRunner(
        account_summary.projection, CODEC, read_models, events, generation_cache_seconds=cache_seconds
    )


def every_event(events: InMemoryEventStore) -> list[StoredEvent]:
    return [event for stream_id in events.streams() for event in events.read(stream_id)]


def documents(runner: ProjectionRunner[AccountEvent, Any], generation: int) -> Documents:
    """Every document of every model a generation holds, by model without generation; no etags."""
    return {
        model.rsplit("@", 1)[0]: {
            (d.partition, d.id): replace(d, etag=None) for d in runner.store.scan(model)
        }
        for model in runner.models(generation)
    }


def cold_replay(events: InMemoryEventStore) -> Documents:
    """What replaying the whole store into an empty read model gives."""
    clean = runner(InMemoryReadModelStore(), events)
    clean.apply(every_event(events))
    return documents(clean, 1)


def pointer(read_models: InMemoryReadModelStore) -> GenerationState:
    """The generation pointer as stored, not as any runner caches it."""
    return Generations(read_models, NAME, cache_seconds=0).current()


@pytest.fixture
def events() -> InMemoryEventStore:
    """Four accounts, each opened with money deposited and some withdrawn."""
    store = InMemoryEventStore()
    handler = CommandHandler(store, decider)
    for n, stream_id in enumerate(STREAMS):
        handler.handle(stream_id, opening(n), METADATA)
        handler.handle(stream_id, DepositMoney(amount=100 + n), METADATA)
        handler.handle(stream_id, WithdrawMoney(amount=n + 1), METADATA)
    return store


@pytest.fixture
def read_models() -> InMemoryReadModelStore:
    return InMemoryReadModelStore()


@pytest.fixture
def summaries(read_models: InMemoryReadModelStore, events: InMemoryEventStore) -> Summaries:
    """The account summary with every event of the store applied, in generation 1."""
    projector = runner(read_models, events)
    projector.apply(every_event(events))
    return projector


def corrupt(runner: ProjectionRunner[AccountEvent, Any], model: str, document_id: str, **view: Any) -> None:
    document = runner.store.get(model, document_id)
    assert document is not None
    assert document.view is not None
    runner.store.put(model, replace(document, view={**document.view, **view}))


# --- rebuild ------------------------------------------------------------------------------------------


def test_a_rebuild_of_an_idle_store_fills_a_new_generation_equal_to_a_cold_replay(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    report = rebuild(summaries, events)

    assert (report.projection, report.previous, report.generation) == (NAME, 1, 2)
    assert (report.streams, report.parked) == (len(STREAMS), [])
    assert documents(summaries, 2) == cold_replay(events)


def test_after_a_rebuild_readers_use_the_new_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    corrupt(summaries, summaries.model(1), account_summary.account_id(STREAMS[0]), balance=-1)
    reader = runner(read_models, events)  # another worker

    rebuild(summaries, events)

    assert pointer(read_models) == GenerationState(active=2, building=None, retiring=None)
    clean = runner(InMemoryReadModelStore(), events)
    clean.apply(every_event(events))
    for projector in (summaries, reader):
        assert [projector.get(stream_id) for stream_id in STREAMS] == [clean.get(s) for s in STREAMS]
        assert projector.read_side.read(STREAMS[0], min_version=3) == (clean.get(STREAMS[0]), True)
        assert projector.read_side.rows(BY_OWNER, "owner0@example.com") == clean.read_side.rows(
            BY_OWNER, "owner0@example.com"
        )


def test_a_rebuild_waits_out_the_generation_cache_after_each_change_of_the_pointer(
    events: InMemoryEventStore, read_models: InMemoryReadModelStore
) -> None:
    projector = runner(read_models, events, cache_seconds=5.0)
    projector.apply(every_event(events))
    waits: list[tuple[float, GenerationState, int]] = []

    def sleep(seconds: float) -> None:
        waits.append((seconds, pointer(read_models), len(list(read_models.scan(projector.model(2))))))

    rebuild(projector, events, sleep=sleep)

    wait = 5.0 + CACHE_MARGIN_SECONDS
    assert waits == [
        # before any stream is caught up in generation 2: every writer must be writing it by then
        (wait, GenerationState(active=1, building=2), 0),
        # after the switch: writers that still hold the old pointer keep generation 1 current meanwhile
        (wait, GenerationState(active=2, retiring=1), len(STREAMS)),
        # and before generation 1 is deleted: no writer may still hold a pointer that writes it
        (wait, GenerationState(active=2), len(STREAMS)),
    ]


def test_while_a_rebuild_runs_live_updates_go_to_both_generations(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    live = runner(read_models, events)  # no cache: it follows each change of the pointer at once
    handler = CommandHandler(events, decider)
    applied: list[tuple[int, int]] = []

    def sleep(seconds: float) -> None:
        outcome = handler.handle(STREAMS[0], DepositMoney(amount=1), METADATA)
        live.apply(events.read(STREAMS[0], from_version=outcome.version))
        old, new = (
            read_models.get(summaries.model(g), account_summary.account_id(STREAMS[0])) for g in (1, 2)
        )
        applied.append((old.versions[STREAMS[0]] if old else 0, new.versions[STREAMS[0]] if new else 0))

    rebuild(summaries, events, sleep=sleep)

    # while building (the new one is filled from the store), while retiring the old one, and then
    # (before the old one is deleted) to the new one only
    assert applied == [(4, 4), (5, 5), (5, 6)]


def test_after_a_rebuild_live_updates_go_to_the_new_generation_only(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    rebuild(summaries, events)
    old = documents(summaries, 1)

    CommandHandler(events, decider).handle(STREAMS[0], DepositMoney(amount=5), METADATA)
    assert summaries.apply(events.read(STREAMS[0], from_version=4)) == 1

    assert documents(summaries, 1) == old
    assert documents(summaries, 2) == cold_replay(events)


def test_a_second_rebuild_moves_on_to_the_next_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    rebuild(summaries, events)

    report = rebuild(summaries, events)

    assert (report.previous, report.generation) == (2, 3)
    assert pointer(read_models) == GenerationState(active=3)
    assert documents(summaries, 3) == cold_replay(events)


class Crash(Exception):
    pass


def test_a_rebuild_that_stopped_half_way_is_resumed_in_the_same_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    progressed = 0
    total = events.totals().events

    def crash_half_way(scanned: int) -> None:
        nonlocal progressed
        progressed += scanned
        if progressed >= total // 2:
            raise Crash

    with pytest.raises(Crash):
        rebuild(summaries, events, on_progress=crash_half_way, pace=Pace(page_size=2))
    assert 0 < len(list(read_models.scan(summaries.model(2)))) < len(STREAMS)
    assert pointer(read_models) == GenerationState(active=1, building=2)
    # meanwhile live updates keep both generations current
    CommandHandler(events, decider).handle(STREAMS[-1], DepositMoney(amount=5), METADATA)
    summaries.apply(events.read(STREAMS[-1]))

    report = rebuild(summaries, events)

    assert (report.previous, report.generation) == (1, 2)
    assert pointer(read_models) == GenerationState(active=2)
    assert documents(summaries, 2) == cold_replay(events)
    assert list(read_models.scan(summaries.model(3))) == []


# --- rebuild under live load --------------------------------------------------------------------------


class LiveLoad:
    """Writers (one per thread, each with its own streams and its own runner, as each Functions instance
    has) handling commands and applying the events they append at once, until stopped. Besides their
    busy streams they open accounts that get no event after their first two, so no later delivery can
    fill in what a rebuild missed of them."""

    def __init__(self, events: InMemoryEventStore, read_models: InMemoryReadModelStore, writers: int) -> None:
        self.events = events
        self.read_models = read_models
        self.commands = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._threads = [
            threading.Thread(target=self._write, args=(writer, writers), daemon=True)
            for writer in range(writers)
        ]

    def __enter__(self) -> LiveLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def wait_for(self, more_commands: int) -> None:
        """Block until the writers have handled `more_commands` more commands, so the load overlaps each
        step of a rebuild whatever the scheduling."""
        with self._progress:
            target = self.commands + more_commands
            if not self._progress.wait_for(lambda: self.commands >= target or bool(self.errors), timeout=10):
                raise TimeoutError("the live load stopped making progress")

    def _write(self, writer: int, writers: int) -> None:
        handler = CommandHandler(self.events, decider)
        live = runner(self.read_models, self.events, cache_seconds=0.05)
        owned = [s for n, s in enumerate(STREAMS) if n % writers == writer]
        try:
            for n in range(1_000_000):
                if self._stop.is_set():
                    return
                if n % 10 == 9:  # now and then an account opened, funded and then left alone
                    dormant = handler.new_stream_id()
                    handler.handle(dormant, opening(n), METADATA)
                    handler.handle(dormant, DepositMoney(amount=n), METADATA)
                    live.apply(self.events.read(dormant))
                stream_id = owned[n % len(owned)]
                command = DepositMoney(amount=n % 7 + 1) if n % 3 else WithdrawMoney(amount=n % 5 + 1)
                try:
                    outcome = handler.handle(stream_id, command, METADATA)
                except DomainError:  # not enough money: nothing appended
                    continue
                # the events just appended, and on every fourth command the whole stream again
                first = 1 if n % 4 == 0 else outcome.version - outcome.appended + 1
                live.apply(self.events.read(stream_id, from_version=first))
                with self._progress:
                    self.commands += 1
                    self._progress.notify_all()
                self._stop.wait(0.002)  # a steady load rather than as many events as the CPU allows
        except BaseException as error:
            with self._progress:
                self.errors.append(error)
                self._progress.notify_all()


def test_a_rebuild_under_live_load_loses_no_event_and_equals_a_cold_replay(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    admin = runner(read_models, events, cache_seconds=0.05)

    with LiveLoad(events, read_models, writers=2) as load:

        def sleep(seconds: float) -> None:
            time.sleep(seconds)
            load.wait_for(5)

        report = rebuild(
            admin, events, on_progress=lambda _: load.wait_for(1), sleep=sleep, pace=Pace(page_size=3)
        )
        load.wait_for(25)

    assert load.errors == []
    assert pointer(read_models) == GenerationState(active=2)
    # every event a live writer applied reached generation 2: applying everything again adds nothing
    quiesced = runner(read_models, events)
    assert quiesced.apply(every_event(events)) == 0
    assert documents(quiesced, 2) == cold_replay(events)
    assert report.streams >= len(STREAMS)
    assert len(list(events.streams())) > report.streams  # accounts opened after the catch-up began


# --- verify -------------------------------------------------------------------------------------------


def test_verify_finds_no_difference_in_a_healthy_read_model(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    assert verify(summaries, events, InMemoryReadModelStore()) == []


def test_verify_reports_a_corrupted_document_as_different(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    account_id = account_summary.account_id(STREAMS[1])
    expected = summaries.store.get(summaries.model(1), account_id)
    assert expected is not None
    corrupt(summaries, summaries.model(1), account_id, balance=1_000_000)

    differences = verify(summaries, events, InMemoryReadModelStore())

    assert differences == [
        Difference(
            model=NAME,
            partition=account_id,
            id=account_id,
            kind="different",
            stored={
                "view": {**(expected.view or {}), "balance": 1_000_000},
                "versions": {STREAMS[1]: 3},
                "parked": None,
            },
            replayed={"view": expected.view, "versions": {STREAMS[1]: 3}, "parked": None},
        )
    ]


def test_verify_reports_the_documents_of_a_stream_never_projected_as_missing(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    unprojected = "account-00000000-0000-4000-8000-0000000000ff"
    CommandHandler(events, decider).handle(unprojected, opening(7), METADATA)
    account_id = account_summary.account_id(unprojected)

    differences = verify(summaries, events, InMemoryReadModelStore())

    assert [(d.model, d.partition, d.id, d.kind, d.stored) for d in differences] == [
        (NAME, account_id, account_id, "missing", None),
        ("accounts-by-owner", "owner1@example.com", account_id, "missing", None),
    ]


def test_verify_reports_a_document_no_replay_gives_as_unexpected(
    summaries: Summaries, events: InMemoryEventStore
) -> None:
    stray = ViewDocument(id="stray", view={"balance": 1}, partition="owner0@example.com", key="stray")
    summaries.store.put("accounts-by-owner@1", stray)

    differences = verify(summaries, events, InMemoryReadModelStore())

    assert [(d.model, d.partition, d.id, d.kind, d.replayed) for d in differences] == [
        ("accounts-by-owner", "owner0@example.com", "stray", "unexpected", None)
    ]


def test_verify_compares_the_active_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    rebuild(summaries, events, keep_previous=True)
    corrupt(summaries, summaries.model(1), account_summary.account_id(STREAMS[0]), balance=-1)
    assert verify(summaries, events, InMemoryReadModelStore()) == []

    corrupt(summaries, summaries.model(2), account_summary.account_id(STREAMS[0]), balance=-1)
    assert [d.kind for d in verify(summaries, events, InMemoryReadModelStore())] == ["different"]


def test_a_rebuild_reports_a_stream_a_live_writer_parked_in_the_new_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    def evolve(view: AccountSummary | None, fact: Fact[AccountEvent]) -> AccountSummary:
        if (fact.stream_id, fact.version) == (STREAMS[0], 4):
            raise ValueError("a bug the live release has")
        return account_summary.evolve(view, fact)

    live = ProjectionRunner(
        replace(account_summary.projection, evolve=evolve), CODEC, read_models, events, poison_attempts=1
    )
    handler = CommandHandler(events, decider)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        if not slept:  # building: the live writer parks the stream in both generations first
            outcome = handler.handle(STREAMS[0], DepositMoney(amount=1), METADATA)
            live.apply(events.read(STREAMS[0], from_version=outcome.version))
        slept.append(seconds)

    report = rebuild(summaries, events, sleep=sleep)

    assert [(letter.stream_id, letter.version) for letter in report.parked] == [(STREAMS[0], 4)]


# --- pruning the previous generation ---


def test_a_rebuild_deletes_every_document_of_the_previous_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    before = sum(len(list(read_models.scan(model))) for model in summaries.models(1))

    report = rebuild(summaries, events)

    assert before > 0
    assert report.pruned == before
    assert [list(read_models.scan(model)) for model in summaries.models(1)] == [[]] * len(summaries.models(1))
    assert documents(summaries, 2) == cold_replay(events)


def test_a_rebuild_asked_to_keep_the_previous_generation_keeps_it(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    kept = documents(summaries, 1)

    report = rebuild(summaries, events, keep_previous=True)

    assert report.pruned == 0
    assert documents(summaries, 1) == kept


def test_pruning_refuses_a_generation_in_use(summaries: Summaries, events: InMemoryEventStore) -> None:
    kept = documents(summaries, 1)

    with pytest.raises(ValueError, match="in use"):
        prune(summaries, 1)

    assert documents(summaries, 1) == kept
    assert kept[NAME]


# --- found in review: a replay that parks, and a rebuild that died after its switch ---


def test_a_rebuild_whose_replay_parks_a_stream_keeps_readers_on_the_active_generation(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    before = documents(summaries, 1)
    broken = {"release": True}

    def evolve(view: AccountSummary | None, fact: Fact[AccountEvent]) -> AccountSummary:
        if broken["release"] and (fact.stream_id, fact.version) == (STREAMS[0], 1):
            raise ValueError("this release cannot read the account's first event")
        return account_summary.evolve(view, fact)

    regressed = ProjectionRunner(
        replace(account_summary.projection, evolve=evolve),
        CODEC,
        read_models,
        events,
        generation_cache_seconds=0,
    )

    report = rebuild(regressed, events)

    assert not report.switched
    assert [(letter.stream_id, letter.version) for letter in report.parked] == [(STREAMS[0], 1)]
    assert pointer(read_models) == GenerationState(active=1, building=2)
    assert documents(summaries, 1) == before  # readers keep the good generation, and nothing was pruned
    assert summaries.get(STREAMS[0]) is not None

    broken["release"] = False  # the fix is deployed: the rebuild resumes, retrying what it parked
    again = rebuild(regressed, events)

    assert (again.switched, again.generation, again.parked) == (True, 2, [])
    assert pointer(read_models) == GenerationState(active=2)
    assert documents(summaries, 2) == cold_replay(events)


def test_a_rebuild_that_died_after_its_switch_is_finished_by_the_next_one(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    sleeps = 0

    def dies_at_the_second_wait(_: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 2:
            raise Crash

    with pytest.raises(Crash):
        rebuild(summaries, events, sleep=dies_at_the_second_wait)
    assert pointer(read_models) == GenerationState(active=2, retiring=1)

    report = rebuild(summaries, events)

    assert (report.previous, report.generation) == (2, 3)
    assert pointer(read_models) == GenerationState(active=3)
    assert [list(read_models.scan(model)) for model in summaries.models(1)] == [[]] * len(summaries.models(1))
    assert documents(summaries, 3) == cold_replay(events)


def test_verify_reports_a_row_whose_key_is_wrong_though_its_view_is_right(
    summaries: Summaries, read_models: InMemoryReadModelStore, events: InMemoryEventStore
) -> None:
    table = model_name(BY_OWNER.name, 1)
    row = next(read_models.scan(table))
    read_models.put(table, replace(row, key="zzz"))

    found = verify(summaries, events, InMemoryReadModelStore())

    assert [(d.model, d.kind, d.id) for d in found] == [(BY_OWNER.name, "different", row.id)]
