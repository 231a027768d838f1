"""The Cosmos DB adapters when the service throttles, times out or races: faults raised at the SDK
boundary (pytest-mock on the container), and the batch the event store sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosClientTimeoutError, CosmosHttpResponseError
from pytest_mock import MockerFixture

from domain import accounts
from domain.accounts import DepositMoney, OpenAccount
from infra.adapters.cosmos.container import BatchOperation
from infra.adapters.cosmos.eventstore import (
    EVENTS_INDEXING_POLICY,
    EVENTS_PARTITION_KEY_PATH,
    MAX_BATCH_OPERATIONS,
    CosmosEventStore,
    check_batch_limits,
    read_changes,
)
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH, CosmosReadModelStore
from infra.adapters.cosmos.snapshots import SNAPSHOTS_PARTITION_KEY_PATH, CosmosSnapshotStore
from infra.app.commands import CommandHandler, Idempotency
from infra.ports.eventstore import (
    MAX_EVENTS_PER_APPEND,
    AppendTooLarge,
    ConcurrencyError,
    IdempotencyRecord,
    Metadata,
    NewEvent,
    StoreUnavailable,
    utc_now,
)
from infra.ports.readmodels import ViewDocument
from infra.ports.snapshots import Snapshot
from tests.fakes.cosmos import FakeContainer, batch_error, cosmos_error

STREAM = "account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"
METADATA = Metadata(correlation_id="corr-1")
OPEN = OpenAccount(owner_name="Ada Lovelace", owner_email="ada@example.com", currency="EUR")


def events(count: int, data: dict[str, Any] | None = None) -> list[NewEvent]:
    return [NewEvent("MoneyDeposited", 1, data or {"n": n}) for n in range(count)]


def record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord(key=key, fingerprint="f", result={"version": 1}, recorded_at=utc_now())


def sdk_container(mocker: MockerFixture) -> Any:
    """A ContainerProxy whose methods check their arguments against the SDK's and return nothing."""
    return mocker.create_autospec(ContainerProxy, instance=True)


def throttled(retry_after_ms: str | None = None) -> CosmosHttpResponseError:
    headers = {} if retry_after_ms is None else {"x-ms-retry-after-ms": retry_after_ms}
    return cosmos_error(CosmosHttpResponseError, 429, "Request rate is large", headers)


# --- throttled, unavailable, timed out: StoreUnavailable ---


@pytest.mark.parametrize(
    ("retry_after_ms", "seconds"), [("1500", 2), ("3000", 3), ("20", 1), ("0", 1), (None, 1), ("soon", 1)]
)
def test_a_throttled_append_is_unavailable_for_the_retry_after_the_service_asked(
    mocker: MockerFixture, retry_after_ms: str | None, seconds: int
) -> None:
    container = sdk_container(mocker)
    container.execute_item_batch.side_effect = throttled(retry_after_ms)

    with pytest.raises(StoreUnavailable) as unavailable:
        CosmosEventStore(container).append(STREAM, 0, events(1), METADATA)

    assert unavailable.value.retry_after_seconds == seconds


@pytest.mark.parametrize(
    "fault",
    [
        cosmos_error(CosmosHttpResponseError, 503, "Service unavailable"),
        cosmos_error(CosmosHttpResponseError, 408, "Request timeout"),
        cosmos_error(CosmosHttpResponseError, 449, "Retry with"),
        CosmosClientTimeoutError(),  # type: ignore[no-untyped-call]
        ServiceRequestError("connection refused"),
        ServiceResponseError("connection reset"),
        batch_error(0, 429, 2),
    ],
    ids=["503", "408", "449", "client timeout", "request failed", "response failed", "throttled batch"],
)
def test_an_append_the_service_could_not_take_is_unavailable(
    mocker: MockerFixture, fault: AzureError
) -> None:
    container = sdk_container(mocker)
    container.execute_item_batch.side_effect = fault

    with pytest.raises(StoreUnavailable):
        CosmosEventStore(container).append(STREAM, 0, events(1), METADATA)


EVERY_OTHER_CALL: dict[str, Callable[[Any], object]] = {
    "read events": lambda container: CosmosEventStore(container).read(STREAM),
    "find idempotency": lambda container: CosmosEventStore(container).find_idempotency(STREAM, "key"),
    "get view": lambda container: CosmosReadModelStore(container).get("summaries", STREAM),
    "create view": lambda container: CosmosReadModelStore(container).put(
        "summaries", ViewDocument(STREAM, {})
    ),
    "replace view": lambda container: CosmosReadModelStore(container).put(
        "summaries", ViewDocument(STREAM, {}, etag='"1"')
    ),
    "query views": lambda container: CosmosReadModelStore(container).query("lines", STREAM),
    "scan views": lambda container: list(CosmosReadModelStore(container).scan("summaries")),
    "view progress": lambda container: CosmosReadModelStore(container).progress("summaries"),
    "delete view": lambda container: CosmosReadModelStore(container).delete("summaries", STREAM),
    "list streams": lambda container: list(CosmosEventStore(container).streams()),
    "count events": lambda container: CosmosEventStore(container).totals(),
    "get snapshot": lambda container: CosmosSnapshotStore(container).get(STREAM),
    "put snapshot": lambda container: CosmosSnapshotStore(container).put(
        Snapshot(stream_id=STREAM, version=1, state_version=1, state={})
    ),
    "read changes": lambda container: read_changes(container, None, 10),
}


@pytest.mark.parametrize("call", list(EVERY_OTHER_CALL.values()), ids=list(EVERY_OTHER_CALL))
def test_every_other_read_and_write_reports_throttling_as_unavailable(
    mocker: MockerFixture, call: Callable[[Any], object]
) -> None:
    container = sdk_container(mocker)
    for method in (
        "read_item",
        "create_item",
        "replace_item",
        "delete_item",
        "query_items",
        "query_items_change_feed",
    ):
        getattr(container, method).side_effect = throttled("2500")

    with pytest.raises(StoreUnavailable) as unavailable:
        call(container)

    assert unavailable.value.retry_after_seconds == 3


@pytest.mark.parametrize(
    "fault",
    [
        cosmos_error(CosmosHttpResponseError, 400, "Bad request"),
        cosmos_error(CosmosHttpResponseError, 403, "Forbidden"),
        batch_error(1, 400, 2),
    ],
    ids=["400", "403", "batch operation 400"],
)
def test_any_other_error_of_the_service_propagates_as_the_sdk_raised_it(
    mocker: MockerFixture, fault: AzureError
) -> None:
    container = sdk_container(mocker)
    container.execute_item_batch.side_effect = fault

    with pytest.raises(type(fault)) as raised:
        CosmosEventStore(container).append(STREAM, 0, events(1), METADATA)

    assert raised.value is fault


# --- a timeout after the batch committed ---


def commit_then_time_out(mocker: MockerFixture, container: FakeContainer) -> None:
    """The next batch commits, and then its answer is lost: the caller sees a client timeout."""
    execute = container.execute_item_batch
    lost = False

    def answer_lost(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        nonlocal lost
        responses = execute(*args, **kwargs)
        if lost:
            return responses
        lost = True
        raise CosmosClientTimeoutError

    mocker.patch.object(container, "execute_item_batch", side_effect=answer_lost)


def test_a_deposit_whose_answer_timed_out_after_committing_is_replayed_once_on_retry(
    mocker: MockerFixture,
) -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container)
    handler = CommandHandler(store, accounts.decider)
    handler.handle(STREAM, OPEN, METADATA)
    deposit, key = DepositMoney(amount=10_000), Idempotency("salary-2026-11", "fingerprint-1")
    commit_then_time_out(mocker, container)

    with pytest.raises(StoreUnavailable):
        handler.handle(STREAM, deposit, METADATA, idempotency=key)
    outcome = handler.handle(STREAM, deposit, METADATA, idempotency=key)

    assert outcome.replayed
    assert (outcome.version, outcome.state.balance) == (2, 10_000)
    assert [event.type for event in store.read(STREAM)] == ["AccountOpened", "MoneyDeposited"]


def test_an_account_whose_opening_timed_out_after_committing_is_opened_once(mocker: MockerFixture) -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    store = CosmosEventStore(container)
    handler = CommandHandler(store, accounts.decider)
    key = Idempotency("open-ada", "fingerprint-1")
    stream_id = handler.new_stream_id("caller:open-ada")
    commit_then_time_out(mocker, container)

    with pytest.raises(StoreUnavailable):
        handler.handle(stream_id, OPEN, METADATA, idempotency=key)
    outcome = handler.handle(stream_id, OPEN, METADATA, idempotency=key)

    assert outcome.replayed
    assert outcome.version == 1
    assert [event.type for event in store.read(stream_id)] == ["AccountOpened"]


# --- the batch an append sends ---


def test_an_append_of_more_events_than_a_batch_holds_raises_append_too_large_and_sends_nothing(
    mocker: MockerFixture,
) -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    sent = mocker.spy(container, "execute_item_batch")

    with pytest.raises(AppendTooLarge):
        CosmosEventStore(container).append(STREAM, 0, events(MAX_EVENTS_PER_APPEND + 1), METADATA)

    assert sent.call_count == 0


def test_a_batch_of_more_than_100_operations_is_too_large() -> None:
    operations: list[BatchOperation] = [
        ("create", ({"id": str(n)},), {}) for n in range(MAX_BATCH_OPERATIONS + 1)
    ]

    with pytest.raises(AppendTooLarge):
        check_batch_limits(operations)


@pytest.mark.parametrize(
    "data",
    [{"memo": "x" * 700_000}, {"memo": "€" * 240_000}],
    ids=["ascii", "non-ascii"],
)
def test_an_append_over_2_mb_raises_append_too_large_and_sends_nothing(
    mocker: MockerFixture, data: dict[str, Any]
) -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    sent = mocker.spy(container, "execute_item_batch")

    with pytest.raises(AppendTooLarge):
        CosmosEventStore(container).append(STREAM, 0, events(3, data), METADATA)

    assert sent.call_count == 0
    assert CosmosEventStore(container).read(STREAM) == []


def test_an_append_just_under_2_mb_is_sent_and_stored() -> None:
    store = CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH))

    assert store.append(STREAM, 0, events(2, {"memo": "x" * 1_000_000}), METADATA).version == 2
    assert len(store.read(STREAM)) == 2


def test_an_append_sends_only_creates_led_by_a_read_of_the_expected_version(mocker: MockerFixture) -> None:
    container = FakeContainer(EVENTS_PARTITION_KEY_PATH)
    sent = mocker.spy(container, "execute_item_batch")
    store = CosmosEventStore(container)

    store.append(STREAM, 0, events(2), METADATA, record("key-1"))
    store.append(STREAM, 2, events(1), METADATA, record("key-2"))

    first, second = (call.kwargs["batch_operations"] for call in sent.call_args_list)
    assert [operation for operation, _, _ in first] == ["create", "create", "create"]
    assert [operation for operation, _, _ in second] == ["read", "create", "create"]
    assert second[0][1] == ("0000000002",)
    assert {call.kwargs["partition_key"] for call in sent.call_args_list} == {STREAM}


def test_a_full_batch_checks_the_expected_version_before_sending_and_still_refuses_a_gap() -> None:
    store = CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH))
    store.append(STREAM, 0, events(1), METADATA)

    with pytest.raises(ConcurrencyError):
        store.append(STREAM, 5, events(MAX_EVENTS_PER_APPEND), METADATA, record("key-1"))
    assert store.append(STREAM, 1, events(MAX_EVENTS_PER_APPEND), METADATA, record("key-1")).version == 100

    assert [event.version for event in store.read(STREAM)] == list(range(1, 101))


@pytest.mark.parametrize("expected_version", [0, 1, 3])
def test_an_append_of_no_events_at_a_wrong_version_is_a_conflict_that_writes_nothing(
    expected_version: int,
) -> None:
    store = CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH))
    store.append(STREAM, 0, events(2), METADATA)

    with pytest.raises(ConcurrencyError):
        store.append(STREAM, expected_version, [], METADATA, record("key-1"))
    with pytest.raises(ConcurrencyError):
        store.append(STREAM, expected_version, [], METADATA)

    assert store.find_idempotency(STREAM, "key-1") is None


def test_an_idempotency_key_with_characters_cosmos_ids_forbid_is_recorded_and_found() -> None:
    store = CosmosEventStore(FakeContainer(EVENTS_PARTITION_KEY_PATH))
    key = "a/b\\c?d#e " + "k" * 240

    store.append(STREAM, 0, events(1), METADATA, record(key))

    found = store.find_idempotency(STREAM, key)
    assert found is not None
    assert found.key == key


def test_the_events_container_indexes_only_the_paths_the_queries_use_and_not_the_payload() -> None:
    included = {path["path"] for path in EVENTS_INDEXING_POLICY["includedPaths"]}
    excluded = {path["path"] for path in EVENTS_INDEXING_POLICY["excludedPaths"]}

    assert EVENTS_INDEXING_POLICY["indexingMode"] == "consistent"
    assert included == {"/kind/?", "/version/?", "/recordedAt/?"}
    assert "/*" in excluded


# --- read models and snapshots ---


def test_a_read_model_id_cosmos_db_would_refuse_is_rejected_before_sending() -> None:
    views = CosmosReadModelStore(FakeContainer(READMODELS_PARTITION_KEY_PATH))

    with pytest.raises(ValueError, match="not a Cosmos DB id"):
        views.put("summaries", ViewDocument("a/b", {}))


def snapshot(version: int) -> Snapshot:
    return Snapshot(stream_id=STREAM, version=version, state_version=1, state={"balance": version})


@pytest.mark.parametrize(("rival", "kept"), [(30, 30), (10, 20)])
def test_a_snapshot_that_loses_a_race_keeps_the_later_version(
    mocker: MockerFixture, rival: int, kept: int
) -> None:
    container = FakeContainer(SNAPSHOTS_PARTITION_KEY_PATH)
    snapshots = CosmosSnapshotStore(container)
    create = container.create_item

    def rival_first(body: dict[str, Any]) -> dict[str, Any]:
        create({**body, "version": rival, "state": {"balance": rival}})
        return create(body)  # 409: the rival's is there

    mocker.patch.object(container, "create_item", side_effect=rival_first)

    snapshots.put(snapshot(20))

    assert snapshots.get(STREAM) == snapshot(kept)
