"""`make run-azure` on a real wire: the dev host's Azure mode, through the real azure-cosmos SDK, against the
Cosmos-protocol server of tests/wire, serving the walkthrough's command and query routes. The trigger side
(change feed to Event Hubs, hub to read models) stays on fakes elsewhere: there is no Event Hubs here, so the
host runs with --no-triggers."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.cosmos import ContainerProxy

from infra.entry import bootstrap
from infra.entry.services import ACCOUNTS
from tests.e2e.test_devhost_pipeline import dev_host, stop
from tests.wire import server as wire_server
from tests.wire.fixtures import wire_client

pytestmark = pytest.mark.e2e

EMULATOR_EVENT_HUBS = (  # named by the bindings; never reached with --no-triggers
    "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
    "UseDevelopmentEmulator=true;"
)


@pytest.fixture
def settings_file(cosmos_wire_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local.settings.json naming a fresh database on the wire server, its containers created as
    `python -m infra.tools.cosmos_setup` creates them on an emulator."""
    connection = f"AccountEndpoint={cosmos_wire_endpoint};AccountKey={wire_server.KEY};"
    database = f"eventbank-e2e-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("EVENTBANK_COSMOS_DATABASE", database)
    created = [spec.name for spec in bootstrap.create_emulator_containers(connection)]
    assert ACCOUNTS.events_container in created
    values = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "COSMOS_CONNECTION": connection,
        "EVENTHUB_CONNECTION": EMULATOR_EVENT_HUBS,
        "EVENTBANK_COSMOS_DATABASE": database,
    }
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def open_account(client: httpx.Client) -> httpx.Response:
    owner = {"owner_name": "Ada", "owner_email": "ada@example.com", "currency": "EUR"}
    return client.post("/accounts", json=owner)


def azure_mode(settings: Path) -> tuple[str, ...]:
    """The dev host's arguments for `make run-azure ARGS=--no-triggers` with these settings."""
    return ("--backend", "azure", "--no-triggers", "--settings", str(settings))


@contextlib.contextmanager
def events_container(endpoint: str, settings: Path) -> Iterator[ContainerProxy]:
    """The accounts events container of the database the settings name, through a client of its own."""
    name = json.loads(settings.read_text())["Values"]["EVENTBANK_COSMOS_DATABASE"]
    with wire_client(endpoint, wire_server.KEY) as client:
        yield client.get_database_client(name).get_container_client(ACCOUNTS.events_container)


def test_the_walkthroughs_commands_and_queries_run_on_cosmos_over_the_wire(
    cosmos_wire_endpoint: str, settings_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with dev_host(data, *azure_mode(settings_file)) as (client, process):
        opened = open_account(client)
        account = opened.json()["id"]
        deposit = client.post(
            f"/accounts/{account}/deposits",
            json={"amount": 10_000, "reference": "salary"},
            headers={"If-Match": opened.headers["ETag"], "Idempotency-Key": "salary-2026-11"},
        )
        replay = client.post(
            f"/accounts/{account}/deposits",
            json={"amount": 10_000, "reference": "salary"},
            headers={"Idempotency-Key": "salary-2026-11"},
        )
        stale = client.post(
            f"/accounts/{account}/withdrawals", json={"amount": 1}, headers={"If-Match": '"1"'}
        )
        overdrawn = client.post(f"/accounts/{account}/withdrawals", json={"amount": 999_999})
        history = client.get(f"/accounts/{account}/events")
        at_version_1 = client.get(f"/accounts/{account}/state", params={"version": 1})
        now = datetime.now(UTC)
        before_opening = client.get(
            f"/accounts/{account}/state", params={"at": (now - timedelta(days=1)).isoformat()}
        )
        today = client.get(f"/accounts/{account}/state", params={"at": now.isoformat()})
        log = stop(process, data)

    assert (opened.status_code, opened.headers["ETag"]) == (201, '"1"')
    assert (deposit.status_code, deposit.json()["balance"], deposit.headers["ETag"]) == (200, 10_000, '"2"')
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (200, "true")
    assert replay.json() == deposit.json()
    assert (stale.status_code, stale.headers["Content-Type"]) == (412, "application/problem+json")
    assert (overdrawn.status_code, overdrawn.json()["type"]) == (
        409,
        "urn:eventbank:problem:insufficient-funds",
    )
    assert [event["type"] for event in history.json()["events"]] == ["AccountOpened", "MoneyDeposited"]
    assert (at_version_1.json()["balance"], at_version_1.json()["version"]) == (0, 1)
    assert before_opening.status_code == 404
    assert (today.json()["balance"], today.json()["version"]) == (10_000, 2)
    assert "triggers are off" in log
    assert not re.search(r"Traceback|ERROR", log), log
    # and the events are the server's documents, written through the SDK: two events and one idempotency
    # record in the stream's partition, nothing else
    with events_container(cosmos_wire_endpoint, settings_file) as stored:
        kinds = sorted(
            d["kind"] for d in stored.query_items("SELECT * FROM c", partition_key=f"account-{account}")
        )
    assert kinds == ["event", "event", "idempotency"]


def test_a_refused_command_on_the_wire_writes_nothing(
    cosmos_wire_endpoint: str, settings_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with dev_host(data, *azure_mode(settings_file)) as (client, process):
        account = open_account(client).json()["id"]
        refused = [
            client.post(f"/accounts/{account}/deposits", json={"amount": -5}),
            client.post(f"/accounts/{account}/deposits", json={"amount": 5, "extra": 1}),
            client.post(f"/accounts/{account}/withdrawals", json={"amount": 5}),
        ]
        stop(process, data)

    assert [(r.status_code, r.headers["Content-Type"]) for r in refused] == [
        (422, "application/problem+json"),
        (422, "application/problem+json"),
        (409, "application/problem+json"),
    ]
    with events_container(cosmos_wire_endpoint, settings_file) as stored:
        versions = [
            d["version"] for d in stored.query_items("SELECT * FROM c", partition_key=f"account-{account}")
        ]
    assert versions == [1]
