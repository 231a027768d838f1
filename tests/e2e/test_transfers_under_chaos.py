"""200 concurrent transfers among 10 accounts on the dev host, with faults on both hubs (duplicated,
reordered, half-delivered batches), and the whole dev host killed (SIGKILL, both processes) mid-run and
started again on the same data: every transfer ends, no money is created or lost, and every read model of
both services equals a replay of its log."""

from __future__ import annotations

import os
import random
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app import rebuild
from infra.entry.bootstrap import Root
from infra.entry.settings import Settings
from tests.e2e.test_devhost_pipeline import dev_host, free_port, stop, wait_until

pytestmark = pytest.mark.e2e
CHAOS = "duplicate=0.3,reorder=0.5,crash=0.2,seed=20261203"
ACCOUNTS, FUNDED, TRANSFERS = 10, 8, 200
DEPOSIT = 10_000
TERMINAL = {"completed", "failed", "compensated"}


def open_accounts(client: httpx.Client) -> list[str]:
    ids = []
    for n in range(ACCOUNTS):
        body = {"owner_name": f"Owner {n}", "owner_email": f"owner{n}@example.com", "currency": "EUR"}
        account_id = client.post("/accounts", json=body).json()["id"]
        if n < FUNDED:
            assert (
                client.post(f"/accounts/{account_id}/deposits", json={"amount": DEPOSIT}).status_code == 200
            )
        else:  # the last ones are closed: transfers to them are compensated, from them fail
            assert client.post(f"/accounts/{account_id}/close").status_code == 200
        ids.append(account_id)
    return ids


def request_transfers(client: httpx.Client, accounts: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        source, target = rng.sample(accounts, 2)
        bodies.append({"from_account": source, "to_account": target, "amount": rng.randint(1, 4_000)})

    def send(body: dict[str, object]) -> str | None:
        try:
            response = client.post("/transfers", json=body)
        except httpx.TransportError:
            return None  # the host was killed under this request: it may or may not have been recorded
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [found for found in pool.map(send, bodies) if found is not None]


def every_transfer(client: httpx.Client, accounts: list[str]) -> dict[str, str]:
    """Every transfer any account took part in, with its status (from the accounts' transfer lists)."""
    found: dict[str, str] = {}
    for account_id in accounts:
        page = client.get(f"/accounts/{account_id}/transfers", params={"limit": 200}).json()
        while True:
            found |= {t["transfer_id"]: t["status"] for t in page["transfers"]}
            if not page["next"]:
                break
            page = client.get(page["next"].removeprefix("/api")).json()
    return found


def test_transfers_under_chaos_and_a_killed_host_all_end_and_conserve_money(tmp_path: Path) -> None:
    port = free_port()
    with dev_host(tmp_path, "--chaos", CHAOS, port=port) as (client, process):
        accounts = open_accounts(client)
        before_kill = request_transfers(client, accounts, TRANSFERS // 2, seed=1)
        os.killpg(process.pid, signal.SIGKILL)  # the whole dev host, mid-run: no clean shutdown
        process.wait()

    with dev_host(tmp_path, "--chaos", CHAOS, port=port) as (client, process):
        after_restart = request_transfers(client, accounts, TRANSFERS // 2, seed=2)
        accepted = set(before_kill) | set(after_restart)

        def all_ended() -> dict[str, str] | None:
            statuses = every_transfer(client, accounts)
            done = accepted <= set(statuses) and set(statuses.values()) <= TERMINAL
            return statuses if done else None

        statuses = wait_until(all_ended, what="every transfer to end", timeout=120)
        balances = [client.get(f"/accounts/{a}/state").json()["balance"] for a in accounts]
        stop(process, tmp_path)

    assert len(accepted) == TRANSFERS
    assert sum(balances) == FUNDED * DEPOSIT
    assert all(balance >= 0 for balance in balances)
    assert {"completed", "failed", "compensated"} <= set(statuses.values())
    root = Root(Settings(backend="embedded", data_dir=tmp_path))
    try:
        for service in root.services:
            for runner in service.projections:
                differences = rebuild.verify(runner, service.commands.store, InMemoryReadModelStore())
                assert differences == [], runner.projection.name
    finally:
        root.close()
