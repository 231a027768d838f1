"""The ReadModelStore port's contract: every adapter runs every test here (see the `read_models` fixture)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from infra.ports.readmodels import Progress, ReadModelConflict, ReadModelStore, ViewDocument

MODEL = "account-summaries"
DOC = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
RACERS = 10


def created(read_models: ReadModelStore) -> ViewDocument:
    read_models.put(MODEL, ViewDocument(DOC, {"balance": 10}, {DOC: 1}))
    document = read_models.get(MODEL, DOC)
    assert document is not None
    return document


def test_getting_a_missing_document_gives_none(read_models: ReadModelStore) -> None:
    assert read_models.get(MODEL, DOC) is None


def test_a_put_without_an_etag_creates_the_document_and_returns_its_etag(
    read_models: ReadModelStore,
) -> None:
    etag = read_models.put(MODEL, ViewDocument(DOC, {"balance": 10}, {DOC: 1}))

    assert etag
    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"balance": 10}, {DOC: 1}, etag)


def test_a_second_put_without_an_etag_is_a_conflict(read_models: ReadModelStore) -> None:
    original = created(read_models)

    with pytest.raises(ReadModelConflict):
        read_models.put(MODEL, ViewDocument(DOC, {"balance": 99}, {DOC: 9}))

    assert read_models.get(MODEL, DOC) == original


def test_a_put_with_the_current_etag_updates_the_document_and_changes_its_etag(
    read_models: ReadModelStore,
) -> None:
    original = created(read_models)

    etag = read_models.put(MODEL, ViewDocument(DOC, {"balance": 25}, {DOC: 2}, original.etag))

    assert etag != original.etag
    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"balance": 25}, {DOC: 2}, etag)


def test_a_put_with_a_stale_etag_is_a_conflict_and_leaves_the_document_unchanged(
    read_models: ReadModelStore,
) -> None:
    original = created(read_models)
    current_etag = read_models.put(MODEL, ViewDocument(DOC, {"balance": 25}, {DOC: 2}, original.etag))

    with pytest.raises(ReadModelConflict):
        read_models.put(MODEL, ViewDocument(DOC, {"balance": 999}, {DOC: 3}, original.etag))

    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"balance": 25}, {DOC: 2}, current_etag)


def test_a_put_with_an_etag_for_a_missing_document_is_a_conflict(read_models: ReadModelStore) -> None:
    etag = read_models.put(MODEL, ViewDocument("other", {}, {}))

    with pytest.raises(ReadModelConflict):
        read_models.put(MODEL, ViewDocument(DOC, {"balance": 1}, {DOC: 1}, etag))

    assert read_models.get(MODEL, DOC) is None


def test_the_versions_of_a_document_round_trip(read_models: ReadModelStore) -> None:
    versions = {DOC: 7, "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73": 1, "transfer-x": 12_345}

    read_models.put(MODEL, ViewDocument(DOC, {"nested": {"list": [1, "two", None]}}, versions))

    stored = read_models.get(MODEL, DOC)
    assert stored is not None
    assert stored.versions == versions
    assert stored.view == {"nested": {"list": [1, "two", None]}}


def test_documents_are_keyed_by_model_and_id(read_models: ReadModelStore) -> None:
    read_models.put(MODEL, ViewDocument(DOC, {"in": "summaries"}))
    read_models.put("statements", ViewDocument(DOC, {"in": "statements"}))

    summary, statement = read_models.get(MODEL, DOC), read_models.get("statements", DOC)

    assert summary is not None
    assert statement is not None
    assert (summary.view, statement.view) == ({"in": "summaries"}, {"in": "statements"})


def test_changing_a_document_that_was_got_does_not_change_the_stored_one(read_models: ReadModelStore) -> None:
    document = created(read_models)

    assert document.view is not None
    document.view["balance"] = 1_000_000
    document.versions[DOC] = 99

    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"balance": 10}, {DOC: 1}, document.etag)


def test_of_writers_racing_to_update_from_one_etag_exactly_one_wins(read_models: ReadModelStore) -> None:
    original = created(read_models)
    barrier = threading.Barrier(RACERS, timeout=10)

    def update(writer: int) -> str | None:
        barrier.wait()
        try:
            return read_models.put(MODEL, ViewDocument(DOC, {"writer": writer}, {DOC: 2}, original.etag))
        except ReadModelConflict:
            return None

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        etags = list(pool.map(update, range(RACERS)))

    winners = [(writer, etag) for writer, etag in enumerate(etags) if etag is not None]
    assert len(winners) == 1
    ((winner, etag),) = winners
    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"writer": winner}, {DOC: 2}, etag)


# --- partitions, keys and queries ---

LINES = "statement-lines"


def line(partition: str, number: int, key: str | None = None) -> ViewDocument:
    return ViewDocument(
        f"{number:04d}", {"n": number}, {partition: number}, partition=partition, key=key or f"k{number:04d}"
    )


def test_a_document_in_a_partition_is_got_with_its_partition(read_models: ReadModelStore) -> None:
    etag = read_models.put(LINES, line("alice", 1))

    assert read_models.get(LINES, "0001", "alice") == replace(line("alice", 1), etag=etag)
    assert read_models.get(LINES, "0001") is None
    assert read_models.get(LINES, "0001", "bob") is None


def test_one_id_in_two_partitions_is_two_documents(read_models: ReadModelStore) -> None:
    read_models.put(LINES, line("alice", 1))
    read_models.put(LINES, line("bob", 1))

    alice, bob = read_models.get(LINES, "0001", "alice"), read_models.get(LINES, "0001", "bob")

    assert alice is not None
    assert bob is not None
    assert (alice.versions, bob.versions) == ({"alice": 1}, {"bob": 1})


def test_a_query_gives_one_partitions_documents_in_key_order(read_models: ReadModelStore) -> None:
    for number in (3, 1, 2):
        read_models.put(LINES, line("alice", number))
    read_models.put(LINES, line("bob", 4))

    ascending = read_models.query(LINES, "alice")
    descending = read_models.query(LINES, "alice", descending=True)

    assert [d.id for d in ascending] == ["0001", "0002", "0003"]
    assert [d.id for d in descending] == ["0003", "0002", "0001"]
    assert all(d.partition == "alice" and d.etag for d in ascending)


def test_a_query_keeps_to_its_key_range_and_limit(read_models: ReadModelStore) -> None:
    for number in range(1, 8):
        read_models.put(LINES, line("alice", number))

    ranged = read_models.query(LINES, "alice", key_from="k0002", key_before="k0006")
    limited = read_models.query(LINES, "alice", key_from="k0002", descending=True, limit=2)

    assert [d.id for d in ranged] == ["0002", "0003", "0004", "0005"]
    assert [d.id for d in limited] == ["0007", "0006"]


def test_a_query_of_an_empty_partition_is_empty(read_models: ReadModelStore) -> None:
    assert read_models.query(LINES, "nobody") == []


def test_a_scan_gives_every_document_of_the_model_and_no_other(read_models: ReadModelStore) -> None:
    read_models.put(LINES, line("alice", 1))
    read_models.put(LINES, line("bob", 2))
    read_models.put(MODEL, ViewDocument(DOC, {"balance": 1}, {DOC: 1}))

    assert sorted((d.partition, d.id) for d in read_models.scan(LINES)) == [
        ("alice", "0001"),
        ("bob", "0002"),
    ]


def test_parked_and_updated_at_and_a_missing_view_round_trip(read_models: ReadModelStore) -> None:
    moment = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)
    read_models.put(MODEL, ViewDocument(DOC, None, {DOC: 4}, parked=5, updated_at=moment))

    stored = read_models.get(MODEL, DOC)

    assert stored is not None
    assert (stored.view, stored.parked, stored.updated_at) == (None, 5, moment)


def test_progress_sums_the_versions_and_finds_the_newest_update(read_models: ReadModelStore) -> None:
    start = datetime(2026, 11, 28, tzinfo=UTC)
    read_models.put(MODEL, ViewDocument("a", {}, {"a": 3}, updated_at=start))
    read_models.put(MODEL, ViewDocument("b", {}, {"b": 4}, updated_at=start + timedelta(seconds=5)))
    read_models.put("elsewhere", ViewDocument("c", {}, {"c": 100}, updated_at=start + timedelta(days=1)))

    assert read_models.progress(MODEL) == Progress(7, start + timedelta(seconds=5))
    assert read_models.progress("empty") == Progress(0, None)


def test_a_deleted_document_is_gone_and_its_neighbours_stay(read_models: ReadModelStore) -> None:
    read_models.put(LINES, line("alice", 1))
    read_models.put(LINES, line("alice", 2))
    read_models.put(MODEL, ViewDocument(DOC, {"balance": 1}, {DOC: 1}))

    read_models.delete(LINES, "0001", "alice")
    read_models.delete(MODEL, DOC)

    assert read_models.get(LINES, "0001", "alice") is None
    assert read_models.get(MODEL, DOC) is None
    assert [d.id for d in read_models.query(LINES, "alice")] == ["0002"]


def test_deleting_a_missing_document_is_a_no_op(read_models: ReadModelStore) -> None:
    read_models.delete(MODEL, DOC)

    assert read_models.get(MODEL, DOC) is None


def test_a_deleted_document_can_be_created_again(read_models: ReadModelStore) -> None:
    read_models.put(MODEL, ViewDocument(DOC, {"balance": 1}, {DOC: 1}))
    read_models.delete(MODEL, DOC)

    etag = read_models.put(MODEL, ViewDocument(DOC, {"balance": 2}, {DOC: 2}))

    assert read_models.get(MODEL, DOC) == ViewDocument(DOC, {"balance": 2}, {DOC: 2}, etag)


def test_a_days_sum_past_2_to_the_53_reads_back_exactly_as_the_daily_totals_write_it(
    read_models: ReadModelStore,
) -> None:
    from datetime import date

    from projections.daily_totals import Contribution

    past_doubles = 9_010_000_000_000_001  # 9,010 operations of 10^12 and one of 1 on one day
    row = Contribution(day=date(2026, 12, 3), currency="EUR", deposits=past_doubles)
    read_models.put(MODEL, ViewDocument(DOC, row.model_dump(mode="json"), {DOC: 1}))

    stored = read_models.get(MODEL, DOC)

    assert stored is not None
    assert Contribution.model_validate(stored.view).deposits == past_doubles
