"""Transfers on the dev host in a subprocess, both services running: HTTP, both relays, both hubs, the
projectors and each service's reaction to the other's hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_devhost_pipeline import dev_host, stop, wait_until

pytestmark = pytest.mark.e2e
TERMINAL = {"completed", "failed", "compensated"}


def account(client: httpx.Client, deposit: int) -> str:
    opened = client.post(
        "/accounts", json={"owner_name": "Ada", "owner_email": "ada@example.com", "currency": "EUR"}
    )
    account_id = str(opened.json()["id"])
    if deposit:
        assert client.post(f"/accounts/{account_id}/deposits", json={"amount": deposit}).status_code == 200
    return account_id


def ended(client: httpx.Client, transfer_id: str) -> dict[str, Any]:
    def terminal() -> dict[str, Any] | None:
        response = client.get(f"/transfers/{transfer_id}")
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 and body["status"] in TERMINAL else None

    found: dict[str, Any] = wait_until(terminal, what=f"transfer {transfer_id} to end")
    return found


def test_completed_refused_and_compensated_transfers_end_on_the_dev_host(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, process):
        rich, poor, closed = account(client, 1_000), account(client, 0), account(client, 0)
        assert client.post(f"/accounts/{closed}/close").status_code == 200

        accepted = [
            client.post("/transfers", json={"from_account": rich, "to_account": poor, "amount": 300}),
            client.post("/transfers", json={"from_account": poor, "to_account": rich, "amount": 5_000}),
            client.post("/transfers", json={"from_account": rich, "to_account": closed, "amount": 100}),
        ]
        endings = [ended(client, response.json()["id"]) for response in accepted]
        balances = [client.get(f"/accounts/{a}/state").json()["balance"] for a in (rich, poor, closed)]
        stop(process, tmp_path)

    assert [response.status_code for response in accepted] == [202, 202, 202]
    assert [(e["status"], e["reason"]) for e in endings] == [
        ("completed", None),
        ("failed", "insufficient funds"),
        ("compensated", "account closed"),
    ]
    assert balances == [700, 300, 0]
