"""The Cosmos DB adapters and the fake container over a real wire: the Cosmos-protocol server of tests/wire
always, a real Cosmos DB emulator too when COSMOS_EMULATOR_ENDPOINT is set (and COSMOS_EMULATOR_KEY, by
default the emulator's well-known key).

The contract suites run every test on the Cosmos adapters over both (tests/contract/conftest.py); the tests
here check the shape of a failed transactional batch against the fake, and paging the change feed.
Each run uses a database of its own and a container per test, deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from infra.adapters.cosmos.container import BatchOperation, CosmosContainer
from infra.adapters.cosmos.eventstore import (
    EVENTS_INDEXING_POLICY,
    EVENTS_PARTITION_KEY_PATH,
    CosmosEventStore,
    read_changes,
)
from infra.formats.documents import is_event_document
from infra.ports.eventstore import Metadata, NewEvent
from tests.contract.conftest import OVER_THE_WIRE, database_for, new_container
from tests.fakes.cosmos import FakeContainer

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
OTHER_STREAM = "account-0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"


@pytest.fixture(params=OVER_THE_WIRE)
def events_container(request: pytest.FixtureRequest) -> Iterator[CosmosContainer]:
    database = database_for(request)
    assert database is not None
    with new_container(database, EVENTS_PARTITION_KEY_PATH, EVENTS_INDEXING_POLICY) as container:
        yield container


def document(item_id: str, stream_id: str = STREAM) -> dict[str, Any]:
    return {"id": item_id, "streamId": stream_id, "kind": "test"}


def failed_batch(container: CosmosContainer, operations: list[BatchOperation]) -> tuple[int, int, list[int]]:
    """(status, failing index, every operation's status) of a batch that must fail."""
    container.create_item(document("existing"))
    with pytest.raises(CosmosBatchOperationError) as failure:
        container.execute_item_batch(batch_operations=operations, partition_key=STREAM)
    error = failure.value
    assert error.status_code is not None
    return error.status_code, error.error_index, [r["statusCode"] for r in error.operation_responses]


@pytest.mark.parametrize(
    "operations",
    [
        [
            ("create", (document("a"),), {}),
            ("create", (document("existing"),), {}),
            ("create", (document("b"),), {}),
        ],
        [("read", ("missing",), {}), ("create", (document("a"),), {}), ("create", (document("b"),), {})],
    ],
    ids=["a create of an existing id", "a read of a missing id"],
)
def test_a_failed_batch_is_raised_by_the_fake_as_by_the_service(
    events_container: CosmosContainer, operations: list[BatchOperation]
) -> None:
    fake = FakeContainer(EVENTS_PARTITION_KEY_PATH)

    assert failed_batch(events_container, operations) == failed_batch(fake, operations)
    for container in (events_container, fake):  # and neither kept anything of the batch
        with pytest.raises(CosmosResourceNotFoundError):
            container.read_item("a", partition_key=STREAM)


def test_the_change_feed_pages_through_every_event_once_and_resumes_from_its_continuation(
    events_container: CosmosContainer,
) -> None:
    store = CosmosEventStore(events_container)
    store.append(STREAM, 0, [NewEvent("MoneyDeposited", 1, {"n": n}) for n in range(3)], Metadata())
    store.append(OTHER_STREAM, 0, [NewEvent("MoneyDeposited", 1, {"n": 9})], Metadata())

    seen, continuation = pages_of(events_container, None)
    store.append(STREAM, 3, [NewEvent("MoneyDeposited", 1, {"n": 3})], Metadata())
    later, _ = pages_of(events_container, continuation)

    assert sorted(seen) == [(OTHER_STREAM, 1), (STREAM, 1), (STREAM, 2), (STREAM, 3)]
    assert later == [(STREAM, 4)]


def pages_of(
    container: CosmosContainer, continuation: str | None
) -> tuple[list[tuple[str, int]], str | None]:
    seen: list[tuple[str, int]] = []
    for _ in range(20):
        documents, continuation = read_changes(container, continuation, max_items=2)
        if not documents:
            break
        seen += [(d["streamId"], d["version"]) for d in documents if is_event_document(d)]
    return seen, continuation
