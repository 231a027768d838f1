"""read_changes: the events container's change feed, one page at a time, resumed from a continuation; on the
fake container and through the real SDK on the wire (tests/wire; and a Cosmos DB emulator when configured)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from infra.adapters.cosmos.container import CosmosContainer, Pages
from infra.adapters.cosmos.eventstore import (
    EVENTS_INDEXING_POLICY,
    EVENTS_PARTITION_KEY_PATH,
    CosmosEventStore,
    read_changes,
)
from infra.formats.documents import event_document_id, is_event_document
from infra.ports.eventstore import IdempotencyRecord, Metadata, NewEvent, utc_now
from tests.contract.conftest import OVER_THE_WIRE, database_for, new_container
from tests.fakes.cosmos import FakeContainer

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
OTHER_STREAM = "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"
METADATA = Metadata()


def deposits(count: int) -> list[NewEvent]:
    return [NewEvent("MoneyDeposited", 1, {"n": n}) for n in range(count)]


@pytest.fixture(params=["fake", *OVER_THE_WIRE])
def container(request: pytest.FixtureRequest) -> Iterator[CosmosContainer]:
    database = database_for(request)
    if database is None:
        yield FakeContainer(EVENTS_PARTITION_KEY_PATH)
        return
    with new_container(database, EVENTS_PARTITION_KEY_PATH, EVENTS_INDEXING_POLICY) as real:
        yield real


def test_a_page_keeps_each_append_whole_and_pages_follow_each_other_through_the_continuation(
    container: CosmosContainer,
) -> None:
    store = CosmosEventStore(container)
    store.append(STREAM, 0, deposits(3), METADATA)  # one transaction: one change-feed position
    store.append(OTHER_STREAM, 0, deposits(2), METADATA)

    first, continuation = read_changes(container, None, max_items=2)
    second, continuation = read_changes(container, continuation, max_items=2)
    third, _ = read_changes(container, continuation, max_items=2)

    # max_items is a hint a transaction exceeds; within one, the order is the service's to choose
    assert sorted((d["streamId"], d["version"]) for d in first) == [(STREAM, 1), (STREAM, 2), (STREAM, 3)]
    assert sorted((d["streamId"], d["version"]) for d in second) == [(OTHER_STREAM, 1), (OTHER_STREAM, 2)]
    assert third == []


def test_an_empty_page_keeps_a_continuation_that_resumes_with_the_next_change(
    container: CosmosContainer,
) -> None:
    store = CosmosEventStore(container)
    store.append(STREAM, 0, deposits(1), METADATA)
    _, continuation = read_changes(container, None, max_items=10)

    empty, continuation = read_changes(container, continuation, max_items=10)
    store.append(STREAM, 1, deposits(1), METADATA)
    resumed, _ = read_changes(container, continuation, max_items=10)

    assert empty == []
    assert continuation is not None
    assert [d["version"] for d in resumed] == [2]


def test_the_feed_carries_idempotency_records_too_which_readers_leave_out(container: CosmosContainer) -> None:
    record = IdempotencyRecord(key="k", fingerprint="f", result={}, recorded_at=utc_now())
    CosmosEventStore(container).append(STREAM, 0, deposits(1), METADATA, record)

    documents, _ = read_changes(container, None, max_items=10)

    assert sorted(d["kind"] for d in documents) == ["event", "idempotency"]
    assert [d["version"] for d in documents if is_event_document(d)] == [1]


class Interleaved:
    """A change feed whose every page is followed, before the caller has it, by another request on the same
    client: what happens when the dev host's Azure mode writes read models on the client the relay reads the
    change feed from."""

    def __init__(self, feed: Pages, other_request: Callable[[], object]) -> None:
        self.feed, self.other_request = feed, other_request

    def by_page(self, continuation_token: str | None = None) -> Iterator[Iterator[dict[str, Any]]]:
        for page in self.feed.by_page(continuation_token):
            documents = list(page)
            self.other_request()
            yield iter(documents)


class InterleavingContainer:
    def __init__(self, container: CosmosContainer, other_request: Callable[[], object]) -> None:
        self.container, self.other_request = container, other_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self.container, name)

    def query_items_change_feed(self, **options: Any) -> Pages:
        return Interleaved(self.container.query_items_change_feed(**options), self.other_request)


def test_a_request_landing_between_a_page_and_its_continuation_does_not_change_where_the_feed_resumes(
    container: CosmosContainer,
) -> None:
    store = CosmosEventStore(container)
    store.append(STREAM, 0, deposits(2), METADATA)
    store.append(OTHER_STREAM, 0, deposits(1), METADATA)
    busy = cast(
        "CosmosContainer",
        InterleavingContainer(container, lambda: container.read_item(event_document_id(1), OTHER_STREAM)),
    )

    first, continuation = read_changes(busy, None, max_items=10)
    store.append(STREAM, 2, deposits(1), METADATA)
    resumed, _ = read_changes(busy, continuation, max_items=10)

    assert len(first) == 3
    assert [(d["streamId"], d["version"]) for d in resumed] == [(STREAM, 3)]
