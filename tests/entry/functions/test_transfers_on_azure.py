"""Transfers on the Azure backend, over the fakes of Cosmos DB containers and Event Hubs clients: both
services' functions through the real worker, each relay reading its own events container's change feed
(the pull model), each hub read by its projector and by the other service's reaction through their own
consumer groups (the Event Hubs receiver), as the dev host's Azure mode runs them."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.adapters.cosmos.changefeed import CosmosChangeFeed
from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH
from infra.adapters.eventhubs.receiver import EventHubsPartition, EventHubsPartitionReceiver
from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.entry import bootstrap
from infra.entry.services import SERVICES
from infra.entry.settings import KEYS_CONTAINER, READMODELS_CONTAINER, SNAPSHOTS_CONTAINER, Settings
from tests.entry.functions.conftest import account_command, json_of, open_account, request
from tests.fakes.cosmos import FakeContainer
from tests.fakes.eventhubs import FakeHub, FakeProducerClient
from tests.worker import functions


class AzureServices:
    def __init__(self, tmp_path: Path) -> None:
        self.containers = {
            **{service.events_container: FakeContainer("/streamId") for service in SERVICES},
            SNAPSHOTS_CONTAINER: FakeContainer("/streamId"),
            READMODELS_CONTAINER: FakeContainer(READMODELS_PARTITION_KEY_PATH),
            KEYS_CONTAINER: FakeContainer(KEYS_PARTITION_KEY_PATH),
        }
        self.producers = {service.hub: FakeProducerClient() for service in SERVICES}
        self.hubs = {service.hub: FakeHub(partition_count=4) for service in SERVICES}
        self.forwarded = dict.fromkeys(self.hubs, 0)
        checkpoints = SqliteCheckpoints(tmp_path / "devhost" / "checkpoints.sqlite")
        self.feeds = [
            (
                service.relay_function,
                CosmosChangeFeed(self.containers[service.events_container], checkpoints, service.name),
            )
            for service in SERVICES
        ]
        readers = [(s.hub, s.read_models_consumer_group, s.projector_function) for s in SERVICES] + [
            (b.hub, b.consumer_group, b.function) for s in SERVICES for b in s.subscriptions
        ]
        self.readers = [
            (
                function,
                [
                    EventHubsPartition(
                        EventHubsPartitionReceiver(
                            self.hubs[hub].consumer(group), group, checkpoints, hub=hub
                        ),
                        partition,
                        wait_seconds=0.01,
                    )
                    for partition in self.hubs[hub].partitions
                ],
            )
            for hub, group, function in readers
        ]
        bootstrap.install(
            bootstrap.Root(
                Settings(backend="azure", data_dir=tmp_path),
                bootstrap.AzureBackend(self.containers, self.producers),
            )
        )

    def settle(self) -> None:
        """Every relay and every hub reader until nothing moves."""
        for _ in range(50):
            moved = 0
            for function, feed in self.feeds:
                while (page := feed.next_page(100)) is not None:
                    getattr(functions, function)(page.documents)
                    feed.commit(page)
                    moved += len(page.documents)
            for hub, producer in self.producers.items():  # the service routes partition keys by a hash
                for batch in producer.sent[self.forwarded[hub] :]:
                    for event in batch.events:
                        partition = str(zlib.crc32(batch.partition_key.encode()) % 4)
                        self.hubs[hub].append(partition, event.body, batch.partition_key)
                self.forwarded[hub] = len(producer.sent)
            for function, partitions in self.readers:
                for source in partitions:
                    while received := source.receive(100):
                        getattr(functions, function)(received)
                        source.checkpoint(received[-1].sequence_number)
                        moved += len(received)
            if not moved:
                return
        raise AssertionError("still moving")


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[AzureServices]:
    yield AzureServices(tmp_path)
    bootstrap.reset()


def account(balance: int) -> str:
    account_id = str(json_of(open_account())["id"])
    if balance:
        assert account_command("deposits", account_id, {"amount": balance}).status_code == 200
    return account_id


def transfer(source: str, target: str, amount: int) -> str:
    body = {"from_account": source, "to_account": target, "amount": amount}
    response = functions.request_transfer(request("POST", "/api/transfers", body))
    assert response.status_code == 202, response.get_body()
    return str(json_of(response)["id"])


def status(transfer_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json_of(
        functions.get_transfer(
            request("GET", f"/api/transfers/{transfer_id}", route_params={"id": transfer_id})
        )
    )
    return found


def balance(account_id: str) -> int:
    state = functions.account_state(
        request("GET", f"/api/accounts/{account_id}/state", route_params={"id": account_id})
    )
    return int(json_of(state)["balance"])


def test_transfers_complete_fail_and_compensate_through_cosmos_db_and_event_hubs(
    azure: AzureServices,
) -> None:
    rich, poor, closed = account(1_000), account(0), account(0)
    assert account_command("close", closed).status_code == 200

    done = transfer(rich, poor, 300)
    refused = transfer(poor, rich, 5_000)
    reversed_ = transfer(rich, closed, 100)
    azure.settle()

    assert [(status(t)["status"], status(t)["reason"]) for t in (done, refused, reversed_)] == [
        ("completed", None),
        ("failed", "insufficient funds"),
        ("compensated", "account closed"),
    ]
    assert [balance(a) for a in (rich, poor, closed)] == [700, 300, 0]
    documents = azure.containers["transfers-events"].query_items(
        "SELECT * FROM c", partition_key=f"transfer-{done}"
    )
    # three events, and the idempotency record of each of the two answers, each in the same batch as its event
    assert sorted(d["kind"] for d in documents) == ["event", "event", "event", "idempotency", "idempotency"]
