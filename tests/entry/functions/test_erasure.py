"""The right to erasure in a log never rewritten: an owner's life written (accounts, deposits, a transfer, an
idempotent open, snapshots, every read model), then the owner forgotten. No stored byte anywhere (every
SQLite file of the embedded backend; every Cosmos DB document and hub message of the Azure one, over
fakes) holds their name or email; their accounts read "[erased]" with balances, audit trail, time travel
and the hash chain intact; nobody else's data is touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.entry import bootstrap
from tests.entry.functions.conftest import (
    ADA,
    OPERATOR,
    STRANGER,
    account_command,
    conforms,
    json_of,
    request,
    settle,
)
from tests.entry.functions.test_azure_pipeline import AzurePipeline
from tests.worker import functions

NAME, EMAIL = "Augusta Ada King", "augusta.king@example.org"
OTHER_NAME, OTHER_EMAIL = "Grace Brewster Hopper", "grace.hopper@example.org"
ERASED_OWNER = {"name": "[erased]", "email": "[erased]"}


@pytest.fixture(autouse=True)
def frequent_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBANK_SNAPSHOT_EVERY", "2")  # so the owner's state is snapshotted too
    bootstrap.reset()


def opened(name: str, email: str, caller: Any, key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else None
    response = functions.open_account(
        request(
            "POST",
            "/api/accounts",
            {"owner_name": name, "owner_email": email, "currency": "EUR"},
            headers=headers,
            caller=caller,
        )
    )
    assert response.status_code == 201, response.get_body()
    return str(json_of(response)["id"])


def a_life(settled: Any) -> tuple[str, str, str]:
    """The owner's two accounts (one opened idempotently) and someone else's, with money moving between."""
    first = opened(NAME, EMAIL, ADA, key="open-1")
    second = opened(NAME, EMAIL.upper(), ADA)
    other = opened(OTHER_NAME, OTHER_EMAIL, STRANGER)
    for amount in (1_000, 2_000, 3_000):
        account_command("deposits", first, {"amount": amount, "reference": "salary"})
    account_command("withdrawals", first, {"amount": 500})
    transfer = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": first, "to_account": other, "amount": 700})
    )
    assert transfer.status_code == 202
    settled()
    return first, second, other


def forgotten(email: str) -> Any:
    response = functions.forget(request("POST", "/api/ops/forget", {"owner_email": email}, caller=OPERATOR))
    conforms("forget", response)
    assert response.status_code == 200
    return json_of(response)


def get(function: str, path: str, account_id: str, caller: Any = ADA, **params: str) -> Any:
    response = getattr(functions, function)(
        request("GET", path, route_params={"id": account_id}, params=params or None, caller=caller)
    )
    assert response.status_code == 200, response.get_body()
    return json_of(response)


def assert_nowhere(stored: list[bytes]) -> None:
    for needle in (NAME, EMAIL, EMAIL.upper()):
        for form in (needle.encode(), json.dumps(needle).encode()):
            assert not any(form in blob for blob in stored), needle


def test_a_forgotten_owner_is_in_no_sqlite_file_and_their_accounts_still_add_up(tmp_path: Path) -> None:
    first, second, other = a_life(settle)
    assert get("get_account", f"/api/accounts/{first}", first)["owner"] == {"name": NAME, "email": EMAIL}

    answer = forgotten(" Augusta.King@EXAMPLE.org ")  # however the address is written
    settle()

    (accounts,) = [f for f in answer["forgotten"] if f["service"] == "accounts"]
    assert accounts["key_destroyed"] is True
    summary = get("get_account", f"/api/accounts/{first}", first)
    assert (summary["owner"], summary["balance"]) == (ERASED_OWNER, 1_000 + 2_000 + 3_000 - 500 - 700)
    assert get("get_account", f"/api/accounts/{second}", second)["owner"] == ERASED_OWNER
    opened_event = get("account_history", f"/api/accounts/{first}/events", first)["events"][0]
    assert opened_event["data"]["owner"] == ERASED_OWNER
    at_first = get("account_state", f"/api/accounts/{first}/state", first, version="1")
    assert (at_first["owner"], at_first["balance"], at_first["version"]) == (ERASED_OWNER, 0, 1)
    assert get("get_account", f"/api/accounts/{other}", other, caller=STRANGER)["owner"]["name"] == OTHER_NAME
    by_owner = get("list_accounts", "/api/accounts", first, caller=OPERATOR, owner_email=EMAIL)
    assert by_owner["accounts"] == []  # nobody finds their accounts by their address any more
    verified = json_of(functions.verify_event_log(request("GET", "/api/ops/verify-log", caller=OPERATOR)))
    assert verified["intact"] is True
    deposit = account_command("deposits", first, {"amount": 1})  # the account goes on
    assert json_of(deposit)["owner"] == ERASED_OWNER
    settle()
    assert get("list_accounts", "/api/accounts", first, caller=OPERATOR, owner_email=EMAIL)["accounts"] == []
    assert (
        get("list_accounts", "/api/accounts", first, caller=OPERATOR, owner_email="[erased]")["accounts"]
        == []
    )

    data_dir = bootstrap.settings().data_dir
    bootstrap.reset()  # every file closed and checkpointed, as after a restart
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "keys.sqlite" for path in files)
    assert_nowhere([path.read_bytes() for path in files])
    assert any(OTHER_NAME.encode() in path.read_bytes() for path in files) is False  # sealed too


def test_a_forgotten_owner_is_in_no_cosmos_document_or_hub_message(tmp_path: Path) -> None:
    pipeline = AzurePipeline(tmp_path)

    def settled() -> None:
        pipeline.relay()
        pipeline.project()

    try:
        first = opened(NAME, EMAIL, ADA, key="open-1")
        account_command("deposits", first, {"amount": 1_000})
        account_command("deposits", first, {"amount": 1_000})
        settled()
        assert get("get_account", f"/api/accounts/{first}", first)["owner"]["name"] == NAME

        forgotten(EMAIL)

        assert get("get_account", f"/api/accounts/{first}", first)["owner"] == ERASED_OWNER
        assert get("get_account", f"/api/accounts/{first}", first)["balance"] == 2_000
        documents = [
            json.dumps(document).encode()
            for container in pipeline.containers.values()
            for document in container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
        ]
        messages = [
            event.body_as_str().encode()
            for partition in pipeline.hub.partitions.values()
            for event in partition
        ]
        assert documents
        assert messages
        assert_nowhere(documents + messages)
    finally:
        bootstrap.reset()


@pytest.mark.parametrize(
    "body",
    [{}, {"owner_email": EMAIL, "account_id": "3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"}, {"owner_email": None}],
    ids=["neither", "both", "null"],
)
def test_forgetting_needs_exactly_one_of_an_email_or_an_account(body: dict[str, Any]) -> None:
    response = functions.forget(request("POST", "/api/ops/forget", body, caller=OPERATOR))

    assert response.status_code == 422
    conforms("forget", response)


def test_forgetting_by_an_account_that_does_not_exist_is_a_404() -> None:
    body = {"account_id": "3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"}
    response = functions.forget(request("POST", "/api/ops/forget", body, caller=OPERATOR))

    assert response.status_code == 404


def test_forgetting_by_account_erases_its_owner_in_every_account_of_theirs() -> None:
    first, second, other = a_life(settle)

    response = functions.forget(request("POST", "/api/ops/forget", {"account_id": second}, caller=OPERATOR))

    assert [f["key_destroyed"] for f in json_of(response)["forgotten"]] == [True]
    assert get("get_account", f"/api/accounts/{first}", first)["owner"] == ERASED_OWNER
    assert get("get_account", f"/api/accounts/{other}", other, caller=STRANGER)["owner"]["name"] == OTHER_NAME
