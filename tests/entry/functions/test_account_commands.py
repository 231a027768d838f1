from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from infra.entry import bootstrap
from tests.entry.functions.conftest import (
    account_command,
    deliver_everything,
    json_of,
    open_account,
    opened_account_id,
    request,
)
from tests.worker import functions


def test_opening_an_account_answers_201_with_its_location_and_version() -> None:
    response = open_account()

    body = json_of(response)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/accounts/{body['id']}"
    assert response.headers["ETag"] == '"1"'
    assert body == {
        "id": body["id"],
        "version": 1,
        "status": "open",
        "owner": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "currency": "EUR",
        "balance": 0,
    }


def test_deposits_and_withdrawals_answer_the_new_balance_and_version() -> None:
    account_id = opened_account_id()

    deposited = account_command("deposits", account_id, {"amount": 10_000, "reference": "salary"})
    withdrawn = account_command("withdrawals", account_id, {"amount": 2_500})

    assert deposited.status_code == 200
    assert json_of(deposited)["balance"] == 10_000
    assert withdrawn.status_code == 200
    assert json_of(withdrawn)["balance"] == 7_500
    assert json_of(withdrawn)["version"] == 3
    assert withdrawn.headers["ETag"] == '"3"'


def test_closing_an_empty_account_closes_it_and_closing_again_changes_nothing() -> None:
    account_id = opened_account_id()

    first = account_command("close", account_id)
    second = account_command("close", account_id, {})

    assert (first.status_code, json_of(first)["status"], json_of(first)["version"]) == (200, "closed", 2)
    assert (second.status_code, json_of(second)["version"]) == (200, 2)


def test_a_close_whose_body_is_only_whitespace_is_malformed_json_not_an_empty_body() -> None:
    account_id = opened_account_id()

    response = account_command("close", account_id, headers={"content-type": "application/json"}, raw=b"\t\n")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert json_of(account_command("close", account_id))["version"] == 2  # nothing was written


def test_a_command_with_the_current_version_in_if_match_is_applied() -> None:
    account_id = opened_account_id()

    response = account_command("deposits", account_id, {"amount": 5}, headers={"If-Match": '"1"'})

    assert response.status_code == 200
    assert json_of(response)["version"] == 2


def test_the_account_summary_shows_what_the_projector_applied(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 700})
    deliver_everything(embedded_backend)

    response = functions.get_account(
        request("GET", f"/api/accounts/{account_id}", route_params={"id": account_id})
    )

    summary = json_of(response)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert {key: summary[key] for key in ("id", "owner", "currency", "balance", "status", "version")} == {
        "id": account_id,
        "owner": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "currency": "EUR",
        "balance": 700,
        "status": "open",
        "version": 2,
    }
    assert datetime.fromisoformat(summary["updated_at"]).tzinfo is not None


def test_an_account_not_yet_projected_is_not_found_in_the_read_model() -> None:
    account_id = opened_account_id()

    response = functions.get_account(
        request("GET", f"/api/accounts/{account_id}", route_params={"id": account_id})
    )

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_history_lists_every_event_with_its_metadata_in_pages() -> None:
    account_id = opened_account_id()
    for amount in (1, 2, 3):
        account_command(
            "deposits", account_id, {"amount": amount}, headers={"X-Correlation-ID": f"corr-{amount}"}
        )
    path = f"/api/accounts/{account_id}/events"

    first = json_of(
        functions.account_history(
            request("GET", path, route_params={"id": account_id}, params={"limit": "3"})
        )
    )
    second = json_of(
        functions.account_history(
            request("GET", path, route_params={"id": account_id}, params={"from_version": "4", "limit": "3"})
        )
    )

    assert [event["version"] for event in first["events"]] == [1, 2, 3]
    assert first["next"] == f"{path}?from_version=4&limit=3"
    assert [event["version"] for event in second["events"]] == [4]
    assert second["next"] is None
    deposit = second["events"][0]
    assert deposit["type"] == "MoneyDeposited"
    assert deposit["data"] == {"amount": 3, "balance_after": 6}
    assert deposit["metadata"]["correlation_id"] == "corr-3"
    assert deposit["metadata"]["causation_id"]


def test_time_travel_rebuilds_the_state_at_a_version() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 100})
    account_command("withdrawals", account_id, {"amount": 40})

    response = functions.account_state(
        request(
            "GET",
            f"/api/accounts/{account_id}/state",
            route_params={"id": account_id},
            params={"version": "2"},
        )
    )

    assert response.status_code == 200
    assert json_of(response)["balance"] == 100
    assert json_of(response)["version"] == 2
    assert json_of(response)["as_of"] == {"version": 2}


def test_time_travel_rebuilds_the_state_at_a_moment() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 100})
    between = datetime.now(UTC)
    account_command("withdrawals", account_id, {"amount": 40})
    path = f"/api/accounts/{account_id}/state"

    then = json_of(
        functions.account_state(
            request("GET", path, route_params={"id": account_id}, params={"at": between.isoformat()})
        )
    )
    before_opening = functions.account_state(
        request(
            "GET",
            path,
            route_params={"id": account_id},
            params={"at": (between - timedelta(days=1)).isoformat()},
        )
    )

    assert (then["balance"], then["version"]) == (100, 2)
    assert before_opening.status_code == 404


def test_time_travel_to_a_version_that_does_not_exist_is_not_found() -> None:
    account_id = opened_account_id()

    response = functions.account_state(
        request(
            "GET",
            f"/api/accounts/{account_id}/state",
            route_params={"id": account_id},
            params={"version": "9"},
        )
    )

    assert response.status_code == 404
    assert json_of(response)["current_version"] == 1


def test_health_reports_the_backend() -> None:
    response = functions.health(request("GET", "/api/health"))

    assert response.status_code == 200
    assert json_of(response) == {"status": "ok", "backend": "embedded"}


def get_summary(account_id: str, **params: str) -> func.HttpResponse:
    response: func.HttpResponse = functions.get_account(
        request("GET", f"/api/accounts/{account_id}", route_params={"id": account_id}, params=params)
    )
    return response


def test_a_query_for_a_version_already_projected_answers_at_once_and_fresh(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened_account_id()
    deposited = account_command("deposits", account_id, {"amount": 5})
    deliver_everything(embedded_backend)

    response = get_summary(account_id, min_version=str(json_of(deposited)["version"]))

    assert response.status_code == 200
    assert json_of(response)["balance"] == 5
    assert "X-Read-Model-Stale" not in response.headers


def test_a_query_for_a_newer_version_waits_for_the_projection_to_reach_it(
    embedded_backend: bootstrap.EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = opened_account_id()
    deliver_everything(embedded_backend)
    deposited = account_command("deposits", account_id, {"amount": 5})
    projector = threading.Timer(0.05, deliver_everything, args=[embedded_backend])

    projector.start()
    response = get_summary(account_id, min_version=str(json_of(deposited)["version"]))  # waits up to 2 s
    projector.join()

    assert json_of(response)["version"] == 2
    assert "X-Read-Model-Stale" not in response.headers


def test_a_query_for_a_version_not_reached_in_time_answers_what_it_has_marked_stale(
    embedded_backend: bootstrap.EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBANK_MIN_VERSION_WAIT_SECONDS", "0.05")
    bootstrap.reset()
    account_id = opened_account_id()
    deliver_everything(bootstrap.root().embedded["accounts"])
    account_command("deposits", account_id, {"amount": 5})

    response = get_summary(account_id, min_version="2")

    assert response.status_code == 200
    assert json_of(response)["version"] == 1
    assert response.headers["X-Read-Model-Stale"] == "true"


def test_without_min_version_a_query_never_waits_or_says_stale(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened_account_id()
    deliver_everything(embedded_backend)
    account_command("deposits", account_id, {"amount": 5})

    response = get_summary(account_id)

    assert json_of(response)["version"] == 1
    assert "X-Read-Model-Stale" not in response.headers


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """How long each read-model read was allowed to wait (the read side's own record of it)."""
    from infra.app.readside import ReadModel

    allowed: list[float] = []
    read = ReadModel.read

    def recorded(self: ReadModel, stream_id: str, min_version: int = 0, wait_seconds: float = 0.0):  # type: ignore[no-untyped-def,type-arg]
        allowed.append(wait_seconds)
        return read(self, stream_id, min_version, wait_seconds)

    monkeypatch.setattr(ReadModel, "read", recorded)
    return allowed


def test_a_min_version_the_stream_does_not_have_is_404_at_once_instead_of_a_wait(waits: list[float]) -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 5})

    beyond = get_summary(account_id, min_version="99")
    statement = functions.account_statement(
        request(
            "GET",
            f"/api/accounts/{account_id}/statement",
            params={"min_version": "99"},
            route_params={"id": account_id},
        )
    )
    nowhere = get_summary("3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40", min_version="5")

    assert beyond.status_code == 404
    assert statement.status_code == 404
    assert nowhere.status_code == 404
    assert waits
    assert set(waits) == {0.0}  # no read was allowed to wait: nothing would have come
