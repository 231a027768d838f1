"""The ReadModelStore port's contract: every adapter runs every test here (see the `read_models` fixture)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.readmodels import ReadModelConflict, ReadModelStore, ViewDocument

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
