"""The operators' route over the log's hash chains: an intact log says so; an edited event and a truncated
tail (a read model applied more than the log still has) are each reported at their stream's first broken
link; one stream can be checked alone."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from infra.entry import bootstrap
from tests.entry.functions.conftest import (
    OPERATOR,
    account_command,
    conforms,
    json_of,
    opened_account_id,
    request,
    settle,
)
from tests.worker import functions


def verified(params: dict[str, str] | None = None) -> Any:
    response = functions.verify_event_log(
        request("GET", "/api/ops/verify-log", params=params, caller=OPERATOR)
    )
    conforms("verify_event_log", response)
    assert response.status_code == 200
    return json_of(response)


def accounts_report(body: Any) -> Any:
    (accounts,) = [report for report in body["services"] if report["service"] == "accounts"]
    return accounts


def tampered(sql: str, *params: object) -> None:
    """A change made to the embedded store's file behind the app's back."""
    path = bootstrap.settings().data_dir / "accounts" / "events.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute(sql, params).rowcount == 1


def test_an_intact_log_is_reported_intact_with_what_was_checked() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 500})
    settle()

    body = verified()

    assert body["intact"] is True
    assert accounts_report(body)["streams"] == 1
    assert accounts_report(body)["events"] == 2
    assert accounts_report(body)["broken"] == []


def test_an_edited_amount_is_reported_at_its_event() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 500})
    account_command("deposits", account_id, {"amount": 700})
    tampered(
        "UPDATE events SET data = replace(data, '500', '50000') WHERE version = 2 AND stream_id = ?",
        f"account-{account_id}",
    )

    body = verified()

    assert body["intact"] is False
    (broken,) = accounts_report(body)["broken"]
    assert (broken["stream_id"], broken["version"], broken["kind"]) == (f"account-{account_id}", 2, "edited")


def test_a_tail_cut_after_the_read_models_applied_it_is_reported_truncated() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 500})
    settle()  # the read models apply version 2
    tampered("DELETE FROM events WHERE version = 2 AND stream_id = ?", f"account-{account_id}")

    (broken,) = accounts_report(verified())["broken"]

    assert (broken["version"], broken["kind"]) == (2, "truncated")


def test_one_stream_is_checked_alone() -> None:
    first, second = opened_account_id(), opened_account_id()
    tampered("UPDATE events SET metadata = '{}' WHERE stream_id = ?", f"account-{second}")

    alone = verified({"stream_id": f"account-{first}"})

    assert alone["intact"] is True
    assert [report["service"] for report in alone["services"]] == ["accounts"]
    assert accounts_report(alone)["streams"] == 1
    assert verified({"stream_id": f"account-{second}"})["intact"] is False


def test_a_stream_no_service_keeps_is_a_404() -> None:
    response = functions.verify_event_log(
        request(
            "GET",
            "/api/ops/verify-log",
            params={"stream_id": "ledger-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"},
            caller=OPERATOR,
        )
    )

    assert response.status_code == 404
