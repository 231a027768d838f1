"""The whole pipeline on the Azure backend, over fakes of the Cosmos DB container and the Event Hubs clients:
HTTP functions -> Cosmos events container -> change feed -> relay -> hub -> projector -> Cosmos read model."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import pytest

from infra.adapters.cosmos.changefeed import CosmosChangeFeed
from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH
from infra.adapters.eventhubs.receiver import EventHubsPartition, EventHubsPartitionReceiver
from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.app import rebuild
from infra.entry import bootstrap
from infra.entry.services import ACCOUNTS
from infra.entry.settings import KEYS_CONTAINER, READMODELS_CONTAINER, SNAPSHOTS_CONTAINER, Settings
from tests.entry.functions.conftest import OPERATOR, account_command, json_of, opened_account_id, request
from tests.fakes.cosmos import FakeContainer
from tests.fakes.eventhubs import FakeHub, FakeProducerClient
from tests.worker import functions


class AzurePipeline:
    def __init__(self, tmp_path: Path) -> None:
        self.containers = {
            ACCOUNTS.events_container: FakeContainer("/streamId"),
            SNAPSHOTS_CONTAINER: FakeContainer("/streamId"),
            READMODELS_CONTAINER: FakeContainer(READMODELS_PARTITION_KEY_PATH),
            KEYS_CONTAINER: FakeContainer(KEYS_PARTITION_KEY_PATH),
        }
        self.producer = FakeProducerClient()
        self.hub = FakeHub(partition_count=4)
        self.forwarded = 0
        checkpoints = SqliteCheckpoints(tmp_path / "devhost" / "checkpoints.sqlite")
        self.change_feed = CosmosChangeFeed(self.containers[ACCOUNTS.events_container], checkpoints, "relay")
        self.partitions = [
            EventHubsPartition(
                EventHubsPartitionReceiver(
                    self.hub.consumer(ACCOUNTS.read_models_consumer_group),
                    ACCOUNTS.read_models_consumer_group,
                    checkpoints,
                ),
                partition,
                wait_seconds=0.01,
            )
            for partition in self.hub.partitions
        ]
        settings = Settings(backend="azure", data_dir=tmp_path)
        bootstrap.install(
            bootstrap.Root(
                settings,
                bootstrap.AzureBackend(self.containers, {ACCOUNTS.hub: self.producer}),
                services=(ACCOUNTS,),
            )
        )

    def relay(self) -> None:
        """What the Cosmos DB trigger does: hand each page of the change feed to the relay function."""
        while (page := self.change_feed.next_page(100)) is not None:
            functions.relay_account_events(page.documents)
            self.change_feed.commit(page)
        # the service routes each partition key to a partition by a hash of its own
        for batch in self.producer.sent[self.forwarded :]:
            for event in batch.events:
                partition = str(zlib.crc32(batch.partition_key.encode()) % len(self.hub.partitions))
                self.hub.append(partition, event.body, batch.partition_key)
        self.forwarded = len(self.producer.sent)

    def project(self) -> None:
        """What the Event Hubs trigger does: hand each partition's next batch to the projector function."""
        for source in self.partitions:
            while received := source.receive(100):
                functions.project_read_models(received)
                source.checkpoint(received[-1].sequence_number)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[AzurePipeline]:
    yield AzurePipeline(tmp_path)
    bootstrap.reset()


def summary(account_id: str) -> func.HttpResponse:
    response: func.HttpResponse = functions.get_account(
        request("GET", f"/api/accounts/{account_id}", route_params={"id": account_id})
    )
    return response


def test_commands_reach_the_read_model_through_cosmos_db_and_event_hubs(pipeline: AzurePipeline) -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 10_000})
    withdrawal = account_command("withdrawals", account_id, {"amount": 2_500})

    pipeline.relay()
    pipeline.project()

    assert withdrawal.status_code == 200
    assert (json_of(summary(account_id))["balance"], json_of(summary(account_id))["version"]) == (7_500, 3)
    stream_events = [
        e for b in pipeline.producer.sent for e in b.events if b.partition_key == f"account-{account_id}"
    ]
    assert len(stream_events) == 3
    assert all(event.content_type == "application/cloudevents+json" for event in stream_events)


def test_a_relay_that_starts_over_duplicates_events_and_the_read_model_ignores_them(
    pipeline: AzurePipeline, tmp_path: Path
) -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 40})
    pipeline.relay()
    pipeline.project()

    # the relay's continuation is lost: the whole change feed is published again
    pipeline.change_feed = CosmosChangeFeed(
        pipeline.containers[ACCOUNTS.events_container], SqliteCheckpoints(tmp_path / "other.sqlite"), "relay"
    )
    account_command("deposits", account_id, {"amount": 2})
    pipeline.relay()
    pipeline.project()

    assert len(pipeline.producer.sent_to(f"account-{account_id}")) == 5  # 2 events twice, and the new one
    assert (json_of(summary(account_id))["balance"], json_of(summary(account_id))["version"]) == (42, 3)


def test_idempotent_retries_and_bad_input_behave_the_same_on_cosmos_db(pipeline: AzurePipeline) -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "once"}

    first = account_command("deposits", account_id, {"amount": 5}, headers=key)
    again = account_command("deposits", account_id, {"amount": 5}, headers=key)
    refused = account_command("withdrawals", account_id, {"amount": 50})
    stale = account_command("deposits", account_id, {"amount": 1}, headers={"If-Match": '"1"'})

    assert (first.status_code, again.get_body()) == (200, first.get_body())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert refused.status_code == 409
    assert stale.status_code == 412
    history = functions.account_history(
        request("GET", f"/api/accounts/{account_id}/events", route_params={"id": account_id})
    )
    assert [event["type"] for event in json_of(history)["events"]] == ["AccountOpened", "MoneyDeposited"]


def test_every_read_model_and_its_queries_work_on_cosmos_db_and_equal_a_replay(
    pipeline: AzurePipeline,
) -> None:
    first, second = opened_account_id(), opened_account_id()
    for amount in (100, 250, 75):
        account_command("deposits", first, {"amount": amount})
    account_command("withdrawals", first, {"amount": 25})
    account_command("deposits", second, {"amount": 9})

    pipeline.relay()
    pipeline.project()

    statement = json_of(
        functions.account_statement(
            request(
                "GET", f"/api/accounts/{first}/statement", params={"limit": "2"}, route_params={"id": first}
            )
        )
    )
    rest = json_of(
        functions.account_statement(
            request(
                "GET",
                f"/api/accounts/{first}/statement",
                params=dict(parse_qsl(urlsplit(statement["next"]).query)),
                route_params={"id": first},
            )
        )
    )
    entries = statement["entries"] + rest["entries"]
    assert [(e["entry"], e["amount"], e["balance_after"]) for e in entries] == [
        ("withdrawal", 25, 400),
        ("deposit", 75, 425),
        ("deposit", 250, 350),
        ("deposit", 100, 100),
    ]
    assert rest["next"] is None
    owned = json_of(
        functions.list_accounts(
            request("GET", "/api/accounts", params={"owner_email": "ADA@example.com"}, caller=OPERATOR)
        )
    )
    assert sorted(account["id"] for account in owned["accounts"]) == sorted([first, second])
    today = datetime.now(UTC).date()  # a day either side, should the test run across midnight
    days = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    report = json_of(
        functions.daily_report(request("GET", "/api/reports/daily", params=days, caller=OPERATOR))
    )
    totals = [
        (d["currency"], int(d["deposits"]), int(d["withdrawals"]), d["accounts_opened"])
        for d in report["days"]
    ]
    assert [sum(t[n] for t in totals) for n in (1, 2, 3)] == [434, 25, 2]
    assert {t[0] for t in totals} == {"EUR"}
    status = json_of(functions.status(request("GET", "/api/status", caller=OPERATOR)))
    assert [p["events_behind"] for p in status["projections"]] == [0, 0, 0]
    service = bootstrap.root().service("accounts")
    for runner in service.projections:
        assert rebuild.verify(runner, service.commands.store, InMemoryReadModelStore()) == [], (
            runner.projection.name
        )
