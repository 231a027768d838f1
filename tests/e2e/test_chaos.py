"""The dev host with a fault-injecting hub (duplicates, reordering, workers that die half-way through a
batch): once the traffic stops, every read model equals a clean replay of the event store."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app import rebuild
from infra.entry.accounts_api import accounts as accounts_of
from infra.entry.bootstrap import Root
from infra.entry.settings import Settings
from tests.e2e.test_devhost_pipeline import dev_host, stop, wait_until

pytestmark = pytest.mark.e2e
# every batch is first delivered in part to a worker that dies, then again whole
CHAOS = "duplicate=0.5,reorder=1,crash=1,seed=20261128"
ACCOUNTS = 4
COMMANDS = 60


def caught_up(client: httpx.Client, events: int) -> bool:
    status = client.get("/status").json()
    return status["store"]["events"] == events and all(
        projection["events_behind"] == 0 for projection in status["projections"]
    )


def test_under_duplicated_reordered_and_crashing_deliveries_every_read_model_converges_to_a_replay(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    with dev_host(tmp_path, "--chaos", CHAOS) as (client, process):
        accounts = [
            client.post(
                "/accounts",
                json={"owner_name": f"Owner {n}", "owner_email": "shared@example.com", "currency": "EUR"},
            ).json()["id"]
            for n in range(ACCOUNTS)
        ]
        appended = ACCOUNTS
        for _ in range(COMMANDS):
            account_id = rng.choice(accounts)
            kind = rng.choice(["deposits", "deposits", "withdrawals"])
            response = client.post(f"/accounts/{account_id}/{kind}", json={"amount": rng.randint(1, 500)})
            assert response.status_code in (200, 409)  # 409: a withdrawal beyond the balance
            appended += response.status_code == 200
        wait_until(lambda: caught_up(client, appended), what="every read model to catch up", timeout=60)
        owned = client.get("/accounts", params={"owner_email": "SHARED@example.com", "limit": 200}).json()
        output = stop(process, tmp_path)

    assert "chaos: 'Functions.project_read_models' crashes after" in output
    assert sorted(account["id"] for account in owned["accounts"]) == sorted(accounts)
    root = Root(Settings(backend="embedded", data_dir=tmp_path))
    try:
        for runner in root.service("accounts").projections:
            assert rebuild.verify(runner, accounts_of(root).commands.store, InMemoryReadModelStore()) == [], (
                runner.projection.name
            )
    finally:
        root.close()
