"""read_changes: the events container's change feed, one page at a time, resumed from a continuation."""

from __future__ import annotations

from infra.adapters.cosmos.eventstore import EVENTS_PARTITION_KEY_PATH, CosmosEventStore, read_changes
from infra.formats.documents import is_event_document
from infra.ports.eventstore import IdempotencyRecord, Metadata, NewEvent, utc_now
from tests.fakes.cosmos import FakeContainer

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
OTHER_STREAM = "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"
METADATA = Metadata()


def deposits(count: int) -> list[NewEvent]:
    return [NewEvent("MoneyDeposited", 1, {"n": n}) for n in range(count)]


def test_pages_hold_at_most_max_items_and_follow_each_other_through_the_continuation() -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container)
    store.append(STREAM, 0, deposits(3), METADATA)
    store.append(OTHER_STREAM, 0, deposits(2), METADATA)

    first, continuation = read_changes(container, None, max_items=3)
    second, continuation = read_changes(container, continuation, max_items=3)
    third, _ = read_changes(container, continuation, max_items=3)

    assert [(d["streamId"], d["version"]) for d in first + second] == [
        (STREAM, 1),
        (STREAM, 2),
        (STREAM, 3),
        (OTHER_STREAM, 1),
        (OTHER_STREAM, 2),
    ]
    assert (len(first), len(second), third) == (3, 2, [])


def test_an_empty_page_keeps_a_continuation_that_resumes_with_the_next_change() -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container)
    store.append(STREAM, 0, deposits(1), METADATA)
    _, continuation = read_changes(container, None, max_items=10)

    empty, continuation = read_changes(container, continuation, max_items=10)
    store.append(STREAM, 1, deposits(1), METADATA)
    resumed, _ = read_changes(container, continuation, max_items=10)

    assert empty == []
    assert continuation is not None
    assert [d["version"] for d in resumed] == [2]


def test_the_feed_carries_idempotency_records_too_which_readers_leave_out() -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    record = IdempotencyRecord(key="k", fingerprint="f", result={}, recorded_at=utc_now())
    CosmosEventStore(container).append(STREAM, 0, deposits(1), METADATA, record)

    documents, _ = read_changes(container, None, max_items=10)

    assert sorted(d["kind"] for d in documents) == ["event", "idempotency"]
    assert [d["version"] for d in documents if is_event_document(d)] == [1]
