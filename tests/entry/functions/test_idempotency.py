"""Idempotency-Key: a retried command returns the original response and writes nothing more."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
import pytest

from tests.entry.functions.conftest import (
    account_command,
    embedded_events,
    json_of,
    open_account,
    opened_account_id,
    request,
)
from tests.worker import functions


def all_events() -> list[tuple[str, int, str]]:
    return [(e.stream_id, e.version, e.type) for _, e in embedded_events().read_all(0, 1_000_000)]


def signature(response: func.HttpResponse) -> tuple[int, bytes, str | None]:
    return response.status_code, response.get_body(), response.headers.get("ETag")


def test_a_retried_deposit_returns_the_original_response_and_deposits_once() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "deposit-1"}

    first = account_command("deposits", account_id, {"amount": 500}, headers=key)
    retries = [account_command("deposits", account_id, {"amount": 500}, headers=key) for _ in range(20)]

    assert {signature(retry) for retry in retries} == {signature(first)}
    assert all(retry.headers["Idempotent-Replayed"] == "true" for retry in retries)
    assert "Idempotent-Replayed" not in first.headers
    assert [event[2] for event in all_events()] == ["AccountOpened", "MoneyDeposited"]


@pytest.mark.parametrize(
    "spelling",
    [str.upper, lambda id_: id_.replace("-", ""), lambda id_: f"urn:uuid:{id_}"],
    ids=["upper-case", "no-hyphens", "urn"],
)
def test_a_retry_that_spells_the_id_or_the_path_differently_is_the_same_request(
    spelling: Callable[[str], str],
) -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "deposit-spelled"}
    first = account_command("deposits", account_id, {"amount": 500}, headers=key)

    other = spelling(account_id)
    retry = functions.deposit(
        request(
            "POST",
            f"/API/Accounts/{other}/Deposits/",
            {"amount": 500},
            headers=key,
            route_params={"id": other},
        )
    )

    assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (200, "true")
    assert retry.get_body() == first.get_body()
    assert [event[2] for event in all_events()] == ["AccountOpened", "MoneyDeposited"]


def test_the_original_response_is_returned_even_after_later_commands() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "deposit-1"}
    first = account_command("deposits", account_id, {"amount": 500}, headers=key)
    account_command("deposits", account_id, {"amount": 1})

    retry = account_command("deposits", account_id, {"amount": 500}, headers=key)

    assert signature(retry) == signature(first)
    assert json_of(retry)["balance"] == 500


def test_concurrent_repeats_of_one_deposit_deposit_once_and_all_get_the_same_response() -> None:
    account_id = opened_account_id()

    def send(_: int) -> func.HttpResponse:
        return account_command("deposits", account_id, {"amount": 500}, headers={"Idempotency-Key": "same"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))

    assert len({signature(response) for response in responses}) == 1
    assert responses[0].status_code == 200
    assert [event[2] for event in all_events()] == ["AccountOpened", "MoneyDeposited"]


def test_retrying_open_account_with_the_same_key_never_opens_two_accounts() -> None:
    key = {"Idempotency-Key": "open-ada"}

    first = open_account(headers=key)
    with ThreadPoolExecutor(max_workers=10) as pool:
        retries = list(pool.map(lambda _: open_account(headers=key), range(10)))

    assert first.status_code == 201
    assert {signature(retry) for retry in retries} == {signature(first)}
    assert {retry.headers["Location"] for retry in retries} == {first.headers["Location"]}
    assert [event[2] for event in all_events()] == ["AccountOpened"]


def test_a_lost_response_is_recovered_by_retrying_with_the_same_key() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "withdraw-lost"}
    account_command("deposits", account_id, {"amount": 100})

    account_command(
        "withdrawals", account_id, {"amount": 60}, headers=key
    )  # the client never sees this answer
    retry = account_command("withdrawals", account_id, {"amount": 60}, headers=key)

    assert retry.status_code == 200
    assert json_of(retry)["balance"] == 40
    assert [event[2] for event in all_events()].count("MoneyWithdrawn") == 1


def test_the_same_key_with_a_different_body_is_a_422_and_writes_nothing() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "k"}
    account_command("deposits", account_id, {"amount": 500}, headers=key)
    before = all_events()

    response = account_command("deposits", account_id, {"amount": 501}, headers=key)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert all_events() == before


def test_the_same_key_on_another_endpoint_is_a_422() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "k"}
    account_command("deposits", account_id, {"amount": 500}, headers=key)

    response = account_command("withdrawals", account_id, {"amount": 500}, headers=key)

    assert response.status_code == 422


def test_the_same_key_opening_a_different_account_is_a_422() -> None:
    open_account(headers={"Idempotency-Key": "open"})

    response = open_account({"owner_name": "Someone Else"}, headers={"Idempotency-Key": "open"})

    assert response.status_code == 422
    assert [event[2] for event in all_events()] == ["AccountOpened"]


def test_a_refused_command_is_not_recorded_so_its_retry_runs_again() -> None:
    account_id = opened_account_id()
    key = {"Idempotency-Key": "early-withdrawal"}

    refused = account_command("withdrawals", account_id, {"amount": 100}, headers=key)
    account_command("deposits", account_id, {"amount": 100})
    retried = account_command("withdrawals", account_id, {"amount": 100}, headers=key)

    assert refused.status_code == 409
    assert retried.status_code == 200
    assert json_of(retried)["balance"] == 0


def test_a_keyed_command_that_decides_nothing_is_still_replayed() -> None:
    account_id = opened_account_id()
    account_command("close", account_id)
    key = {"Idempotency-Key": "close-again"}

    first = account_command("close", account_id, headers=key)
    second = account_command("close", account_id, headers=key)

    assert signature(first) == signature(second)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert [event[2] for event in all_events()] == ["AccountOpened", "AccountClosed"]
