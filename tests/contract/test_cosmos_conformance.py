"""The fake container checked against the wire: the same SDK-level probes run on FakeContainer and on a real
container reached through the real azure-cosmos SDK (the Cosmos-protocol server of tests/wire; a Cosmos DB
emulator too when one is configured), and each probe must observe the same thing on both.

A probe returns an observation: plain data (statuses, error types, ids, counts), never etags or timestamps
themselves. Where the wire server and Cosmos DB's documentation disagree, the documentation wins: the probe
states the documented observation, the fake must give it, and the server's known divergence is pinned
(so the day the server changes, this test says so).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.cosmos import DatabaseProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from infra.adapters.cosmos.container import BatchOperation, CosmosContainer
from infra.adapters.cosmos.eventstore import COUNT_EVENTS_QUERY, NEWEST_EVENT_QUERY, read_changes
from infra.adapters.cosmos.readmodels import (
    APPLIED_QUERY,
    NEWEST_QUERY,
    QUERY_ASCENDING,
    QUERY_DESCENDING,
    SCAN_QUERY,
)
from tests.contract.conftest import OVER_THE_WIRE, database_for, needs_cosmos_emulator, new_container
from tests.fakes.cosmos import FakeContainer

PATH = "/pk"
SERVICE_HEADERS = ("x-ms-activity-id", "x-ms-request-charge")  # on every response of the service
Observation = object


def outcome(call: Callable[[], Any]) -> Observation:
    """What a call did, as comparable data: ("ok", value) or ("error", kind, status, headers it carries)."""
    try:
        return ("ok", call())
    except CosmosBatchOperationError as error:
        statuses = [response["statusCode"] for response in error.operation_responses]
        return ("batch error", error.status_code, error.error_index, statuses)
    except CosmosHttpResponseError as error:
        carried = sorted(
            name for name in ("x-ms-activity-id", "x-ms-request-charge") if name in error.headers
        )
        return ("error", type(error).__name__, error.status_code, carried)
    except ValueError as error:  # what the SDK refuses before sending
        return ("refused by the client", str(error))


def item(item_id: str, pk: str = "p", **fields: Any) -> dict[str, Any]:
    return {"id": item_id, "pk": pk, **fields}


def ids(documents: Any) -> list[str]:
    return [document["id"] for document in documents]


def params(**values: object) -> list[dict[str, object]]:
    return [{"name": f"@{name}", "value": value} for name, value in values.items()]


def range_query(limit: object, descending: bool = False) -> Callable[[CosmosContainer], Any]:
    return lambda container: ids(
        container.query_items(
            QUERY_DESCENDING if descending else QUERY_ASCENDING,
            parameters=params(limit=limit, pk="p", **{"from": "b", "before": "e"}),
            partition_key="p",
        )
    )


def seeded(container: CosmosContainer) -> CosmosContainer:
    for n, (key, pk) in enumerate([("a", "p"), ("b", "p"), ("c", "p"), ("d", "p"), ("e", "p"), ("c", "q")]):
        container.create_item(item(f"{pk}-{key}", pk, key=key, model="m", applied=n, updatedAt=f"t{n}"))
    return container


# --- probes ---------------------------------------------------------------------------------------------


def read_of_a_missing_item(container: CosmosContainer) -> Observation:
    return outcome(lambda: container.read_item("missing", partition_key="p"))


def create_of_an_existing_id(container: CosmosContainer) -> Observation:
    container.create_item(item("a"))
    return outcome(lambda: container.create_item(item("a", extra=1)))


def same_id_in_two_partitions(container: CosmosContainer) -> Observation:
    container.create_item(item("a", "p", n=1))
    container.create_item(item("a", "q", n=2))
    return [container.read_item("a", partition_key=pk)["n"] for pk in ("p", "q")]


def replace_with_a_stale_etag(container: CosmosContainer) -> Observation:
    stale = container.create_item(item("a"))["_etag"]
    container.replace_item("a", item("a", n=1))
    return outcome(
        lambda: container.replace_item(
            "a", item("a", n=2), etag=stale, match_condition=MatchConditions.IfNotModified
        )
    )


def etag_round_trip(container: CosmosContainer) -> Observation:
    created = container.create_item(item("a"))
    read = container.read_item("a", partition_key="p")
    replaced = container.replace_item(
        "a", item("a", n=1), etag=read["_etag"], match_condition=MatchConditions.IfNotModified
    )
    return (
        read["_etag"] == created["_etag"],
        replaced["_etag"] != created["_etag"],
        container.read_item("a", partition_key="p")["n"],
    )


def replace_of_a_missing_item(container: CosmosContainer) -> Observation:
    return outcome(lambda: container.replace_item("missing", item("missing")))


def delete_of_a_missing_item(container: CosmosContainer) -> Observation:
    return outcome(lambda: container.delete_item("missing", partition_key="p"))


def delete_then_read(container: CosmosContainer) -> Observation:
    container.create_item(item("a"))
    container.delete_item("a", partition_key="p")
    return outcome(lambda: container.read_item("a", partition_key="p"))


def ids_with_reserved_characters(container: CosmosContainer) -> Observation:
    refused = ["a/b", "a\\b", "a?b", "a#b", "a\tb", "a "]
    return [outcome(functools.partial(container.create_item, item(name))) for name in refused]


def a_reserved_character_in_a_batch(container: CosmosContainer) -> Observation:
    operations: list[BatchOperation] = [("create", (item("a/b"),), {})]  # the SDK checks no batch ids
    return outcome(
        lambda: [r["statusCode"] for r in container.execute_item_batch(operations, partition_key="p")]
    )


def an_item_without_its_partition_key(container: CosmosContainer) -> Observation:
    created = outcome(lambda: ids([container.create_item({"id": "loose", "n": 1})]))
    return created, outcome(
        lambda: ids(container.query_items("SELECT * FROM c", enable_cross_partition_query=True))
    )


def what_a_query_returns(container: CosmosContainer) -> Observation:
    seeded(container)
    result = container.query_items(
        SCAN_QUERY, parameters=params(model="m"), enable_cross_partition_query=True
    )
    return (isinstance(result, list), hasattr(result, "by_page"), sorted(ids(result)))


def a_query_with_a_partition_key_sees_only_that_partition(container: CosmosContainer) -> Observation:
    seeded(container)
    return sorted(ids(container.query_items("SELECT * FROM c", partition_key="q")))


def top_with_an_integer_parameter(container: CosmosContainer) -> Observation:
    seeded(container)
    return range_query(2)(container), range_query(2, descending=True)(container)


def a_cross_partition_query_without_the_flag(container: CosmosContainer) -> Observation:
    seeded(container)
    return outcome(lambda: list(container.query_items(SCAN_QUERY, parameters=params(model="m"))))


def aggregates_over_rows(container: CosmosContainer) -> Observation:
    seeded(container)
    scope = params(model="m")
    return [
        list(container.query_items(query, parameters=scope, enable_cross_partition_query=True))
        for query in (APPLIED_QUERY, NEWEST_QUERY)
    ]


def aggregates_over_no_rows(container: CosmosContainer) -> Observation:
    seeded(container)
    return [
        list(container.query_items(query, parameters=scope, enable_cross_partition_query=True))
        for query, scope in (
            (APPLIED_QUERY, params(model="none")),
            (NEWEST_QUERY, params(model="none")),
            (COUNT_EVENTS_QUERY, params(kind="none")),
            (NEWEST_EVENT_QUERY, params(kind="none")),
        )
    ]


def a_failed_batch(container: CosmosContainer) -> Observation:
    container.create_item(item("existing"))
    operations: list[BatchOperation] = [("create", (item(name),), {}) for name in ("a", "existing", "b")]
    failed = outcome(lambda: container.execute_item_batch(operations, partition_key="p"))
    return failed, outcome(lambda: container.read_item("a", partition_key="p"))


def a_read_inside_a_batch(container: CosmosContainer) -> Observation:
    container.create_item(item("a", n=7))
    operations: list[BatchOperation] = [("read", ("a",), {}), ("create", (item("b"),), {})]
    responses = container.execute_item_batch(operations, partition_key="p")
    return [(r["statusCode"], r["resourceBody"]["id"]) for r in responses]


def a_batch_item_of_another_partition(container: CosmosContainer) -> Observation:
    operations: list[BatchOperation] = [("create", (item("a", "q"),), {})]
    return outcome(lambda: container.execute_item_batch(operations, partition_key="p"))


def a_page_never_splits_a_transaction(container: CosmosContainer) -> Observation:
    batch: list[BatchOperation] = [("create", (item(f"t{n}"),), {}) for n in range(3)]
    container.execute_item_batch(batch, partition_key="p")
    container.create_item(item("after"))
    first, continuation = read_changes(container, None, max_items=2)
    second, _ = read_changes(container, continuation, max_items=2)
    return sorted(ids(first)), ids(second)


def the_change_feed_pages_and_resumes(container: CosmosContainer) -> Observation:
    for name, pk in [("a", "p"), ("b", "q"), ("c", "p")]:
        container.create_item(item(name, pk))
    pages: list[list[str]] = []
    continuation = None
    for _ in range(5):
        documents, continuation = read_changes(container, continuation, max_items=2)
        if not documents:
            break
        pages.append(ids(documents))
    container.replace_item("a", item("a", n=1))  # a changed item comes again, once, at its new place
    container.create_item(item("d", "q"))
    later, continuation = read_changes(container, continuation, max_items=10)
    after, _ = read_changes(container, continuation, max_items=10)
    return pages, ids(later), ids(after)


@dataclass(frozen=True)
class Documented:
    """A probe whose answer Cosmos DB's documentation fixes and the wire server does not give."""

    observation: Observation
    server_gives: Observation
    why: str


def top_with_a_string_parameter(container: CosmosContainer) -> Observation:
    seeded(container)
    return outcome(lambda: range_query("2")(container))


def a_batch_of_more_than_a_hundred_operations(container: CosmosContainer) -> Observation:
    operations: list[BatchOperation] = [("create", (item(f"i{n}"),), {}) for n in range(101)]
    return outcome(lambda: len(container.execute_item_batch(operations, partition_key="p")))


def an_id_longer_than_1023_bytes(container: CosmosContainer) -> Observation:
    return outcome(lambda: ids([container.create_item(item("x" * 1024))]))


PROBES: dict[Callable[[CosmosContainer], Observation], Documented | None] = {
    read_of_a_missing_item: None,
    create_of_an_existing_id: None,
    same_id_in_two_partitions: None,
    replace_with_a_stale_etag: None,
    etag_round_trip: None,
    replace_of_a_missing_item: None,
    delete_of_a_missing_item: None,
    delete_then_read: None,
    ids_with_reserved_characters: None,
    an_item_without_its_partition_key: None,
    what_a_query_returns: None,
    a_query_with_a_partition_key_sees_only_that_partition: None,
    top_with_an_integer_parameter: None,
    a_cross_partition_query_without_the_flag: None,
    aggregates_over_rows: None,
    aggregates_over_no_rows: Documented(
        [[None], [None], [0], [None]],
        [[0], [], [0], []],
        "Cosmos DB's gateway refuses a cross-partition aggregate (400, sub-status 1004) and the SDK computes "
        "it from the query plan: over no rows SUM and MAX are one None (azure/cosmos/_execution_context/"
        "aggregators.py); the server computes them itself",
    ),
    a_failed_batch: None,
    a_reserved_character_in_a_batch: Documented(
        ("batch error", 400, 0, [400]),
        ("ok", [201]),
        "an id may not hold / \\ ? or # (Cosmos DB's documentation of the id property); the SDK checks point "
        "writes before sending but not a batch's operations, and the server stores any id",
    ),
    a_page_never_splits_a_transaction: None,
    a_read_inside_a_batch: None,
    a_batch_item_of_another_partition: None,
    the_change_feed_pages_and_resumes: None,
    top_with_a_string_parameter: Documented(
        ("error", "CosmosHttpResponseError", 400, ["x-ms-activity-id", "x-ms-request-charge"]),
        ("ok", ["p-b", "p-c"]),
        "Cosmos DB's TOP takes an integer literal or an integer parameter (query docs, 'TOP keyword'); "
        "the server's query engine (JavaScript) takes the string '2' as a number",
    ),
    a_batch_of_more_than_a_hundred_operations: None,
    an_id_longer_than_1023_bytes: Documented(
        ("error", "CosmosHttpResponseError", 400, ["x-ms-activity-id", "x-ms-request-charge"]),
        ("ok", ["x" * 1024]),
        "an item id is at most 1,023 bytes (service quotas, 'Per-item limits'); the server stores any length",
    ),
}


@dataclass(frozen=True)
class Wire:
    kind: str  # "cosmos-wire" (the server of tests/wire) or "cosmos-emulator"
    container: Callable[[], CosmosContainer]


@pytest.fixture(params=OVER_THE_WIRE)
def wire(request: pytest.FixtureRequest) -> Iterator[Wire]:
    """Containers partitioned by /pk over the wire, made on demand and deleted afterwards."""
    database = database_for(request)
    assert database is not None
    with contextlib.ExitStack() as stack:
        yield Wire(request.param, lambda: stack.enter_context(new_container(database, PATH)))


@pytest.mark.parametrize("probe", list(PROBES), ids=lambda probe: probe.__name__.replace("_", " "))
def test_the_fake_observes_what_the_wire_observes(
    probe: Callable[[CosmosContainer], Observation], wire: Wire
) -> None:
    on_the_fake = probe(FakeContainer(PATH))
    on_the_wire = probe(wire.container())

    documented = PROBES[probe]
    if documented is None:
        assert on_the_fake == on_the_wire
    elif wire.kind == "cosmos-wire":
        assert on_the_fake == documented.observation, documented.why
        assert on_the_wire == documented.server_gives, f"the server changed; re-check: {documented.why}"
    else:  # a real Cosmos DB emulator gives what the documentation says
        assert on_the_fake == on_the_wire == documented.observation, documented.why


@needs_cosmos_emulator
def test_the_cosmos_db_emulator_answers(cosmos_emulator: DatabaseProxy) -> None:
    """Says, when no emulator is configured, that every suite's emulator runs are left out, and why."""
    assert cosmos_emulator.read()["id"] == cosmos_emulator.id
