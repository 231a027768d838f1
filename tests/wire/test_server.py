"""Each patch of tests/wire/cosmos_server.js closes a divergence the published package really has: on the
server as published (--unpatched), each one shows; on the patched server, it does not. So no patch is dead
weight, and none hides a difference we have not named."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from azure.cosmos import ContainerProxy, DatabaseProxy, PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from infra.adapters.cosmos.container import BatchOperation
from tests.wire import server as wire_server
from tests.wire.fixtures import wire_database


def item(item_id: str, pk: str = "p") -> dict[str, object]:
    return {"id": item_id, "pk": pk}


def status_of(call: Callable[[], object]) -> int | None:
    try:
        call()
    except CosmosHttpResponseError as error:
        return error.status_code
    return 200


def batch_is_atomic(container: ContainerProxy) -> bool:
    container.create_item(item("existing"))
    operations: list[BatchOperation] = [("create", (item(name),), {}) for name in ("a", "existing")]
    with pytest.raises(CosmosBatchOperationError):
        container.execute_item_batch(operations, partition_key="p")
    return status_of(lambda: container.read_item("a", partition_key="p")) == 404


def batch_reads_take_the_batchs_partition_key(container: ContainerProxy) -> bool:
    container.create_item(item("a"))
    try:
        container.execute_item_batch([("read", ("a",), {})], partition_key="p")
    except CosmosHttpResponseError:
        return False
    return True


def a_missing_item_reads_as_404(container: ContainerProxy) -> bool:
    return status_of(lambda: container.read_item("missing", partition_key="p")) == 404


def a_query_keeps_to_its_partition(container: ContainerProxy) -> bool:
    container.create_item(item("a", "p"))
    container.create_item(item("b", "q"))
    try:
        found = [document["id"] for document in container.query_items("SELECT * FROM c", partition_key="q")]
    except CosmosHttpResponseError:
        return False
    return found == ["b"]


def the_change_feed_resumes_after_what_it_gave(container: ContainerProxy) -> bool:
    container.create_item(item("a"))
    headers: dict[str, object] = {}
    feed = container.query_items_change_feed(
        start_time="Beginning", response_hook=lambda response, _: headers.update(response)
    )
    first = [document["id"] for document in next(feed.by_page(), [])]
    container.create_item(item("b"))
    feed = container.query_items_change_feed(continuation=str(headers["etag"]))
    later = [document["id"] for document in next(feed.by_page(), [])]
    return (first, later) == (["a"], ["b"])


DIVERGENCES = [
    batch_is_atomic,
    batch_reads_take_the_batchs_partition_key,
    a_missing_item_reads_as_404,
    a_query_keeps_to_its_partition,
    the_change_feed_resumes_after_what_it_gave,
]


@dataclass(frozen=True)
class Server:
    patched: bool
    database: DatabaseProxy


@pytest.fixture(scope="module", params=[False, True], ids=["as published", "patched"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = wire_server.unavailable()
    if reason is not None:
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("cosmos-wire") / "server.log"
    with (
        wire_server.running(log, patched=request.param) as endpoint,
        wire_database(endpoint, wire_server.KEY) as database,
    ):
        yield Server(request.param, database)


@pytest.fixture
def container(server: Server) -> Iterator[ContainerProxy]:
    name = f"probe-{uuid.uuid4().hex[:12]}"
    yield server.database.create_container(name, PartitionKey(path="/pk"))
    server.database.delete_container(name)


@pytest.mark.parametrize("holds", DIVERGENCES, ids=lambda check: check.__name__.replace("_", " "))
def test_each_patch_closes_a_divergence_the_published_server_has(
    holds: Callable[[ContainerProxy], bool], server: Server, container: ContainerProxy
) -> None:
    assert holds(container) is server.patched
