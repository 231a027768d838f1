"""The read side over HTTP: statements, accounts by owner, daily reports, status and dead letters."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import pytest

from infra.entry import bootstrap
from infra.entry.accounts_api import accounts
from projections import account_statement
from projections.account_statement import StatementHeader
from tests.entry.functions.conftest import (
    ADA,
    OPERATOR,
    STRANGER,
    account_command,
    assert_problem,
    deliver_everything,
    json_of,
    open_account,
    opened_account_id,
    request,
)
from tests.worker import functions

Handler = Callable[[func.HttpRequest], func.HttpResponse]
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
READ_MODELS = {"account-summary", "account-statement", "daily-totals"}


class Clock:
    """The event store's clock: each append is recorded at `now`, which then moves on by `step`."""

    def __init__(self, now: datetime, step: timedelta) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


@pytest.fixture
def clock(embedded_backend: bootstrap.EmbeddedBackend, monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(START, timedelta(hours=1))
    monkeypatch.setattr(embedded_backend.events, "_clock", clock)
    return clock


# the operators' views: a bank-wide report, any owner's accounts, status, dead letters
OPERATOR_VIEWS = {"daily_report", "status", "dead_letters"}


def get(handler: Handler, path: str, params: dict[str, str] | None = None, **route: str) -> func.HttpResponse:
    name = getattr(handler, "__name__", "")
    by_owner = name == "list_accounts" and "owner_email" in (params or {})
    caller = OPERATOR if by_owner or name in OPERATOR_VIEWS else ADA
    return handler(request("GET", path, params=params, route_params=route, caller=caller))


def follow(handler: Handler, next_url: str, **route: str) -> func.HttpResponse:
    """Requests a `next` link the way a client would: its path and its query string."""
    link = urlsplit(next_url)
    return get(handler, link.path, dict(parse_qsl(link.query, keep_blank_values=True)), **route)


def ok(response: func.HttpResponse) -> Any:
    assert response.status_code == 200, response.get_body()
    assert response.mimetype == "application/json"
    return json_of(response)


def statement(account_id: str, **params: str) -> func.HttpResponse:
    return get(functions.account_statement, f"/api/accounts/{account_id}/statement", params, id=account_id)


def walk_statement(account_id: str, **params: str) -> list[dict[str, Any]]:
    """Every page of a statement, following `next` until there is none."""
    pages = [ok(statement(account_id, **params))]
    while pages[-1]["next"] is not None:
        assert urlsplit(pages[-1]["next"]).path == f"/api/accounts/{account_id}/statement"
        pages.append(ok(follow(functions.account_statement, pages[-1]["next"], id=account_id)))
        assert len(pages) <= 50, "the pages never end"
    return pages


def by_owner(**params: str) -> func.HttpResponse:
    return get(functions.list_accounts, "/api/accounts", params)


def daily(first: str, last: str) -> func.HttpResponse:
    return get(functions.daily_report, "/api/reports/daily", {"from": first, "to": last})


def status() -> dict[str, Any]:
    return dict(ok(get(functions.status, "/api/status")))


def read_model_lags() -> dict[str, dict[str, Any]]:
    return {projection["name"]: projection for projection in status()["projections"]}


def opened(email: str = "ada@example.com", currency: str = "EUR") -> str:
    response = open_account({"owner_email": email, "currency": currency})
    assert response.status_code == 201
    return str(json_of(response)["id"])


def command(kind: str, account_id: str, amount: int | None = None) -> None:
    response = account_command(kind, account_id, None if amount is None else {"amount": amount})
    assert response.status_code == 200, response.get_body()


# --- the statement ---


def test_a_statement_lists_deposits_and_withdrawals_newest_first_with_the_balance_after_each(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 10_000, "reference": "salary"})
    command("withdrawals", account_id, 2_500)
    command("deposits", account_id, 300)
    deliver_everything(embedded_backend)

    body = ok(statement(account_id))

    assert {key: body[key] for key in ("id", "currency", "balance", "version")} == {
        "id": account_id,
        "currency": "EUR",
        "balance": 7_800,
        "version": 4,
    }
    assert body["entries"] == [
        {
            "version": 4,
            "recorded_at": "2026-03-01T12:00:00Z",
            "entry": "deposit",
            "amount": 300,
            "balance_after": 7_800,
            "reference": None,
            "counterparty": None,
            "transfer_id": None,
        },
        {
            "version": 3,
            "recorded_at": "2026-03-01T11:00:00Z",
            "entry": "withdrawal",
            "amount": 2_500,
            "balance_after": 7_500,
            "reference": None,
            "counterparty": None,
            "transfer_id": None,
        },
        {
            "version": 2,
            "recorded_at": "2026-03-01T10:00:00Z",
            "entry": "deposit",
            "amount": 10_000,
            "balance_after": 10_000,
            "reference": "salary",
            "counterparty": None,
            "transfer_id": None,
        },
    ]
    assert body["next"] is None


def test_a_statement_shows_only_what_the_projector_has_applied(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened_account_id()
    command("deposits", account_id, 100)
    deliver_everything(embedded_backend)
    command("deposits", account_id, 50)

    before = ok(statement(account_id))
    deliver_everything(embedded_backend)
    after = ok(statement(account_id))

    assert (before["balance"], [e["amount"] for e in before["entries"]]) == (100, [100])
    assert (after["balance"], [e["amount"] for e in after["entries"]]) == (150, [50, 100])


@pytest.mark.parametrize(
    "step", [timedelta(seconds=1), timedelta(0)], ids=["distinct-times", "all-at-the-same-instant"]
)
@pytest.mark.parametrize("limit", [1, 3, 7, 8])
def test_following_next_walks_every_statement_entry_exactly_once_newest_first(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock, step: timedelta, limit: int
) -> None:
    clock.step = step
    account_id = opened_account_id()
    for amount in range(1, 8):
        command("deposits", account_id, amount)
    deliver_everything(embedded_backend)

    pages = walk_statement(account_id, limit=str(limit))

    assert [len(page["entries"]) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert len(pages) == -(-7 // limit)  # a full last page has no `next`: no empty page after it
    assert [entry["version"] for page in pages for entry in page["entries"]] == [8, 7, 6, 5, 4, 3, 2]
    assert all(page["balance"] == 28 for page in pages)


def test_the_statement_limit_defaults_to_50(embedded_backend: bootstrap.EmbeddedBackend) -> None:
    account_id = opened_account_id()
    for _ in range(51):
        command("deposits", account_id, 1)
    deliver_everything(embedded_backend)

    pages = walk_statement(account_id)

    assert [len(page["entries"]) for page in pages] == [50, 1]


def test_a_statement_from_is_inclusive_and_to_exclusive_whatever_the_offset(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    account_id = opened_account_id()  # 09:00 UTC
    for amount in (10, 11, 12, 13):  # at 10:00, 11:00, 12:00 and 13:00 UTC
        command("deposits", account_id, amount)
    deliver_everything(embedded_backend)

    def amounts(**params: str) -> list[int]:
        return [e["amount"] for page in walk_statement(account_id, **params) for e in page["entries"]]

    assert amounts(**{"from": "2026-03-01T12:00:00+01:00", "to": "2026-03-01T13:00:00Z"}) == [12, 11]
    assert amounts(**{"from": "2026-03-01T11:00:00.000001Z"}) == [13, 12]
    assert amounts(to="2026-03-01T06:00:00-05:00") == [10]
    assert amounts(to="2026-03-01T10:00:00Z") == []
    assert amounts(**{"from": "2026-03-01T13:00:00.000001Z"}) == []


def test_paging_a_statement_keeps_its_time_range(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    account_id = opened_account_id()
    for amount in range(10, 16):  # at 10:00 to 15:00 UTC
        command("deposits", account_id, amount)
    deliver_everything(embedded_backend)

    pages = walk_statement(
        account_id, limit="1", **{"from": "2026-03-01T11:00:00Z", "to": "2026-03-01T14:00Z"}
    )

    assert [e["amount"] for page in pages for e in page["entries"]] == [13, 12, 11]
    assert len(pages) == 3


def test_a_statement_range_before_the_year_1000_is_compared_as_a_time(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened_account_id()
    command("deposits", account_id, 5)
    deliver_everything(embedded_backend)

    since_antiquity = ok(statement(account_id, **{"from": "0999-01-01T00:00:00Z"}))
    until_antiquity = ok(statement(account_id, to="0999-01-01T00:00:00Z"))

    assert [e["amount"] for e in since_antiquity["entries"]] == [5]
    assert until_antiquity["entries"] == []


def test_the_statement_of_an_unknown_account_is_404(embedded_backend: bootstrap.EmbeddedBackend) -> None:
    deliver_everything(embedded_backend)

    assert_problem(statement(str(uuid.uuid4())), 404)
    assert_problem(statement("not-a-uuid"), 404)


def test_the_statement_of_an_account_not_projected_yet_is_404() -> None:
    assert_problem(statement(opened_account_id()), 404)


def test_an_empty_query_value_never_reaches_the_function_so_an_empty_continuation_is_the_first_page(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    """The Functions host leaves out a query parameter whose value is empty (the worker asks for no
    nullable values), and the dev host does the same."""
    account_id = opened_account_id()
    command("deposits", account_id, 5)
    deliver_everything(embedded_backend)

    assert ok(statement(account_id, continuation="")) == ok(statement(account_id))


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T12:00:00Z"},
        {"from": "2026-03-01T13:00:00+01:00", "to": "2026-03-01T12:00:00Z"},
        {"from": "2026-03-01T12:00:00Z", "to": "2026-03-01T11:59:59Z"},
        {"from": "2026-03-01T12:00:00"},
        {"to": "2026-03-01T12:00:00"},
        {"from": "yesterday"},
        {"to": "2026-02-30T00:00:00Z"},
        {"from": "0001-01-01T00:00:00+01:00"},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"continuation": "!!!!"},
        {"continuation": "%%%"},
        {"continuation": "abcd"},
        {"continuation": "x"},
        {"continuation": "AQ"},
        {"continuation": "A" * 600},
        {"limit": "3_0"},
        {"limit": " 30"},
        {"limit": "+30"},
        {"min_version": "1_0"},
        {"from": "1700000000"},
        {"from": "2026-03-01 09:00:00+00:00"},
        {"to": "2026-03-01"},
    ],
    ids=[
        "from-equals-to",
        "from-equals-to-in-another-offset",
        "from-after-to",
        "naive-from",
        "naive-to",
        "from-not-a-time",
        "to-not-a-day",
        "from-out-of-range-in-utc",
        "limit-0",
        "limit-201",
        "limit-negative",
        "limit-not-a-number",
        "limit-not-an-integer",
        "continuation-not-base64",
        "continuation-percent-signs",
        "continuation-not-utf8",
        "continuation-truncated",
        "continuation-control-character",
        "continuation-too-long",
        "limit-with-an-underscore",
        "limit-with-a-space",
        "limit-with-a-sign",
        "min-version-with-an-underscore",
        "from-a-bare-number",
        "from-with-a-space-for-the-t",
        "to-a-day-not-a-time",
    ],
)
def test_a_statement_query_that_makes_no_sense_is_422_problem_json(
    embedded_backend: bootstrap.EmbeddedBackend, params: dict[str, str]
) -> None:
    account_id = opened_account_id()
    command("deposits", account_id, 5)
    deliver_everything(embedded_backend)

    problem = assert_problem(statement(account_id, **params), 422)

    assert problem["type"] == "urn:eventbank:problem:invalid-query"


@pytest.mark.parametrize("limit", ["1", "200"])
def test_a_statement_accepts_limits_from_1_to_200(
    embedded_backend: bootstrap.EmbeddedBackend, limit: str
) -> None:
    account_id = opened_account_id()
    command("deposits", account_id, 5)
    deliver_everything(embedded_backend)

    assert len(ok(statement(account_id, limit=limit))["entries"]) == 1


# --- accounts by owner ---


def test_an_owners_accounts_are_listed_whatever_the_case_of_the_email(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    owned = [opened("ada@example.com"), opened("Ada@Example.COM", "USD"), opened("ADA@EXAMPLE.COM")]
    other = opened("grace@example.com")
    command("deposits", owned[0], 42)
    deliver_everything(embedded_backend)

    body = ok(by_owner(owner_email="aDa@eXample.com"))

    assert [account["id"] for account in body["accounts"]] == sorted(owned)
    assert other not in {account["id"] for account in body["accounts"]}
    assert body["owner_email"] == "aDa@eXample.com"
    assert body["next"] is None
    first = next(account for account in body["accounts"] if account["id"] == owned[0])
    assert (first["owner"], first["currency"], first["balance"], first["status"], first["version"]) == (
        {"name": "Ada Lovelace", "email": "ada@example.com"},
        "EUR",
        42,
        "open",
        2,
    )
    assert [account["id"] for account in ok(by_owner(owner_email="grace@example.com"))["accounts"]] == [other]


def test_an_owner_without_accounts_has_an_empty_list(embedded_backend: bootstrap.EmbeddedBackend) -> None:
    opened("ada@example.com")
    deliver_everything(embedded_backend)

    body = ok(by_owner(owner_email="nobody@example.com"))

    assert body["accounts"] == []
    assert body["next"] is None


def test_a_next_link_never_carries_the_function_key(embedded_backend: bootstrap.EmbeddedBackend) -> None:
    for _ in range(2):
        opened("ada@example.com")
    deliver_everything(embedded_backend)

    page = ok(by_owner(owner_email="ada@example.com", limit="1", code="secret-function-key"))

    assert page["next"] is not None
    assert "code" not in dict(parse_qsl(urlsplit(page["next"]).query))
    assert "secret-function-key" not in page["next"]


@pytest.mark.parametrize("limit", [1, 2, 5, 6])
def test_following_next_walks_every_account_of_an_owner_exactly_once_in_id_order(
    embedded_backend: bootstrap.EmbeddedBackend, limit: int
) -> None:
    owned = [opened("ada@example.com") for _ in range(5)]
    opened("grace@example.com")
    deliver_everything(embedded_backend)

    pages = [ok(by_owner(owner_email="ADA@example.com", limit=str(limit)))]
    while pages[-1]["next"] is not None:
        assert urlsplit(pages[-1]["next"]).path == "/api/accounts"
        pages.append(ok(follow(functions.list_accounts, pages[-1]["next"])))
        assert len(pages) <= 10, "the pages never end"

    assert [account["id"] for page in pages for account in page["accounts"]] == sorted(owned)
    assert [len(page["accounts"]) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    assert len(pages) == -(-5 // limit)


@pytest.mark.parametrize(
    "params",
    [
        {"owner_email": "ab"},
        {"owner_email": "ada@example.com", "limit": "0"},
        {"owner_email": "ada@example.com", "limit": "201"},
        {"owner_email": "ada@example.com", "continuation": "!!!!"},
        {"owner_email": "ada@example.com", "continuation": "abcd"},
    ],
    ids=[
        "owner-email-too-short",
        "limit-0",
        "limit-201",
        "continuation-not-base64",
        "continuation-not-utf8",
    ],
)
def test_accounts_by_owner_without_a_sensible_query_is_422_problem_json(params: dict[str, str]) -> None:
    problem = assert_problem(by_owner(**params), 422)

    assert problem["type"] == "urn:eventbank:problem:invalid-query"


def test_my_accounts_are_the_ones_i_opened_and_nobody_elses() -> None:
    mine = sorted(opened_account_id() for _ in range(2))
    theirs = functions.open_account(
        request(
            "POST",
            "/api/accounts",
            {"owner_name": "Mallory", "owner_email": "ada@example.com", "currency": "EUR"},
            caller=STRANGER,
        )
    )
    deliver_everything(bootstrap.root().embedded["accounts"])

    listed = ok(get(functions.list_accounts, "/api/accounts"))
    theirs_listed = ok(functions.list_accounts(request("GET", "/api/accounts", caller=STRANGER)))

    assert [account["id"] for account in listed["accounts"]] == mine
    assert [account["id"] for account in theirs_listed["accounts"]] == [json_of(theirs)["id"]]


def test_only_an_operator_looks_accounts_up_by_owner() -> None:
    refused = functions.list_accounts(
        request("GET", "/api/accounts", params={"owner_email": "ada@example.com"})
    )

    assert assert_problem(refused, 403)["title"] == "Forbidden"


# --- the daily report ---


def test_the_daily_report_sums_each_utc_day_per_currency_across_accounts(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    clock.step = timedelta(minutes=1)
    euros, dollars, more_euros = opened(currency="EUR"), opened(currency="USD"), opened("grace@example.com")
    command("deposits", euros, 1_000)
    command("deposits", more_euros, 500)
    command("deposits", dollars, 700)
    command("withdrawals", euros, 200)
    clock.now = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)
    command("deposits", dollars, 50)  # 23:59
    command("withdrawals", more_euros, 500)  # 00:00 on the next day
    command("close", more_euros)  # 00:01
    deliver_everything(embedded_backend)

    body = ok(daily("2026-03-01", "2026-03-03"))

    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-03")
    # sums of money are strings of digits: a day's can pass 2^53, which not every JSON reader holds
    assert body["days"] == [
        {
            "day": "2026-03-01",
            "currency": "EUR",
            "deposits": "1500",
            "withdrawals": "200",
            "accounts_opened": 2,
            "accounts_closed": 0,
        },
        {
            "day": "2026-03-01",
            "currency": "USD",
            "deposits": "700",
            "withdrawals": "0",
            "accounts_opened": 1,
            "accounts_closed": 0,
        },
        {
            "day": "2026-03-02",
            "currency": "USD",
            "deposits": "50",
            "withdrawals": "0",
            "accounts_opened": 0,
            "accounts_closed": 0,
        },
        {
            "day": "2026-03-03",
            "currency": "EUR",
            "deposits": "0",
            "withdrawals": "500",
            "accounts_opened": 0,
            "accounts_closed": 1,
        },
    ]
    assert [day["day"] for day in ok(daily("2026-03-02", "2026-03-02"))["days"]] == ["2026-03-02"]


def test_the_daily_report_of_days_without_activity_is_empty(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    command("deposits", opened(), 5)
    deliver_everything(embedded_backend)

    assert ok(daily("2026-01-01", "2026-02-28"))["days"] == []
    assert ok(daily("2026-03-02", "2026-03-02"))["days"] == []
    assert len(ok(daily("2026-03-01", "2026-03-01"))["days"]) == 1


@pytest.mark.parametrize(
    ("first", "last"),
    [("2026-01-01", "2026-04-02"), ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01")],
)
def test_the_daily_report_answers_any_range_of_at_most_92_days(first: str, last: str) -> None:
    assert ok(daily(first, last))["days"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2026-01-01", "to": "2026-04-03"},
        {"from": "2025-01-01", "to": "2026-01-01"},
        {"from": "2026-13-01", "to": "2026-12-31"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "2026-3-1", "to": "2026-03-02"},
        {"from": "March 1st", "to": "2026-03-02"},
        {"from": "0", "to": "2026-03-02"},
        {"from": "2026-03-01"},
        {"to": "2026-03-01"},
        {},
    ],
    ids=[
        "to-before-from",
        "93-days",
        "a-year",
        "month-13",
        "february-30",
        "not-zero-padded",
        "words",
        "a-number",
        "no-to",
        "no-from",
        "nothing",
    ],
)
def test_a_daily_report_query_that_makes_no_sense_is_422_problem_json(params: dict[str, str]) -> None:
    problem = assert_problem(get(functions.daily_report, "/api/reports/daily", params), 422)

    assert problem["type"] == "urn:eventbank:problem:invalid-query"


# --- status ---


def test_status_shows_every_read_model_behind_the_store_until_the_projector_runs(
    embedded_backend: bootstrap.EmbeddedBackend, clock: Clock
) -> None:
    clock.step = timedelta(seconds=30)
    account_id = opened_account_id()  # 09:00:00
    command("deposits", account_id, 5)  # 09:00:30
    deliver_everything(embedded_backend)
    caught_up = status()
    command("deposits", account_id, 5)  # 09:01:00
    command("deposits", account_id, 5)  # 09:01:30

    behind = status()
    deliver_everything(embedded_backend)
    after = status()

    assert caught_up["store"] == {"events": 2, "newest": "2026-03-01T09:00:30+00:00"}
    assert behind["store"] == {"events": 4, "newest": "2026-03-01T09:01:30+00:00"}
    for body in (caught_up, behind, after):
        assert {projection["name"] for projection in of_accounts(body)} == READ_MODELS
        assert [p["name"] for p in body["projections"] if p["service"] == "transfers"] == ["transfer-status"]
    for projection in of_accounts(behind):
        assert (projection["events_behind"], projection["seconds_behind"]) == (2, 60.0), projection
    for projection in caught_up["projections"] + after["projections"]:
        assert projection == {
            "service": projection["service"],
            "name": projection["name"],
            "generation": 1,
            "events_behind": 0,
            "seconds_behind": 0.0,
            "parked_streams": 0,
        }


def test_status_before_anything_was_projected_counts_every_event_behind() -> None:
    command("deposits", opened_account_id(), 5)

    body = status()

    assert body["store"]["events"] == 2
    assert {p["name"]: p["events_behind"] for p in of_accounts(body)} == dict.fromkeys(READ_MODELS, 2)


def test_status_of_an_empty_store_is_all_zero() -> None:
    body = status()

    assert body["store"] == {"events": 0, "newest": None}
    assert {p["name"]: p["events_behind"] for p in body["projections"]} == dict.fromkeys(
        READ_MODELS | {"transfer-status"}, 0
    )


def of_accounts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The accounts service's read models in a status answer."""
    return [projection for projection in body["projections"] if projection["service"] == "accounts"]


# --- dead letters ---


def dead_letters(**params: str) -> func.HttpResponse:
    return get(functions.dead_letters, "/api/ops/deadletters", params)


def replay(body: Any = None) -> func.HttpResponse:
    response: func.HttpResponse = functions.replay_dead_letters(
        request("POST", "/api/ops/deadletters/replay", body, caller=OPERATOR)
    )
    return response


def test_there_are_no_dead_letters_when_every_event_applies(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    command("deposits", opened_account_id(), 5)
    deliver_everything(embedded_backend)

    assert ok(dead_letters()) == {"dead_letters": []}
    assert ok(dead_letters(projection="account-statement", status="parked")) == {"dead_letters": []}
    assert ok(replay()) == {"replayed": []}
    assert ok(replay({"projection": "daily-totals"})) == {"replayed": []}


def test_dead_letters_of_an_unknown_read_model_are_404_problem_json() -> None:
    assert_problem(replay({"projection": "no-such-model"}), 404)
    assert_problem(replay({"projection": "no-such-model", "stream_id": "account-1"}), 422)  # no such id
    assert_problem(dead_letters(projection="no-such-model"), 404)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: dead_letters(status="lost"), 422),
        (lambda: replay({"projection": "account-summary", "everything": True}), 422),
        (lambda: replay({"stream_id": 7}), 422),
        (lambda: replay([]), 422),
        (
            lambda: functions.replay_dead_letters(
                request(
                    "POST",
                    "/api/ops/deadletters/replay",
                    raw=b"{",
                    headers={"content-type": "application/json"},
                    caller=OPERATOR,
                )
            ),
            400,
        ),
    ],
    ids=["unknown-status", "unknown-field", "stream-id-not-a-string", "not-an-object", "malformed-json"],
)
def test_a_bad_dead_letter_request_is_a_4xx_problem_json(
    call: Callable[[], func.HttpResponse], expected: int
) -> None:
    assert_problem(call(), expected)


def test_a_parked_stream_is_listed_counted_and_replayed_once_fixed(
    embedded_backend: bootstrap.EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = accounts().statements
    broken = dataclasses.replace(runner.projection, evolve=_refuse_deposits_of_13)
    monkeypatch.setattr(runner, "projection", broken)
    monkeypatch.setattr(runner, "poison_attempts", 1)
    account_id = opened_account_id()
    command("deposits", account_id, 13)
    command("deposits", account_id, 1)
    deliver_everything(embedded_backend)

    letters = ok(dead_letters())["dead_letters"]
    parked = read_model_lags()
    monkeypatch.setattr(runner, "projection", dataclasses.replace(broken, evolve=account_statement.evolve))
    replayed = ok(replay({"projection": "account-statement"}))["replayed"]

    assert [(x["stream_id"], x["version"], x["status"]) for x in letters] == [
        (f"account-{account_id}", 2, "parked")
    ]
    assert "unlucky" in letters[0]["error"]
    assert ok(dead_letters(status="retrying"))["dead_letters"] == []
    assert ok(dead_letters(projection="account-summary"))["dead_letters"] == []
    assert {name: lag["parked_streams"] for name, lag in parked.items()} == {
        "account-summary": 0,
        "account-statement": 1,
        "daily-totals": 0,
        "transfer-status": 0,
    }
    assert [(x["version"], x["status"]) for x in replayed] == [(2, "replayed")]
    assert [e["amount"] for e in ok(statement(account_id))["entries"]] == [1, 13]
    assert read_model_lags()["account-statement"]["parked_streams"] == 0
    assert read_model_lags()["account-statement"]["events_behind"] == 0


def _refuse_deposits_of_13(header: StatementHeader | None, fact: Any) -> StatementHeader:
    if getattr(fact.event, "amount", None) == 13:
        raise ValueError("unlucky")
    return account_statement.evolve(header, fact)


# --- read your writes on the statement ---


def statement_of(account_id: str, **params: str) -> func.HttpResponse:
    return get(functions.account_statement, f"/api/accounts/{account_id}/statement", params, id=account_id)


def test_a_statement_with_min_version_waits_for_the_line_of_that_version(
    embedded_backend: bootstrap.EmbeddedBackend,
) -> None:
    account_id = opened()
    deliver_everything(embedded_backend)
    deposited = account_command("deposits", account_id, {"amount": 5})
    projector = threading.Timer(0.05, deliver_everything, args=[embedded_backend])

    projector.start()
    response = statement_of(account_id, min_version=str(json_of(deposited)["version"]))  # waits up to 2 s
    projector.join()

    assert [entry["amount"] for entry in ok(response)["entries"]] == [5]
    assert "X-Read-Model-Stale" not in response.headers


def test_a_statement_not_reaching_min_version_in_time_answers_what_it_has_marked_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTBANK_MIN_VERSION_WAIT_SECONDS", "0.05")
    bootstrap.reset()
    account_id = opened()
    deliver_everything(bootstrap.root().embedded["accounts"])
    command("deposits", account_id, 5)

    response = statement_of(account_id, min_version="2")

    assert ok(response)["entries"] == []
    assert response.headers["X-Read-Model-Stale"] == "true"


@pytest.mark.parametrize(
    "stream_id", ["account-x/y", "account-1", "a" * 200, "account-3F2B8C1E-9D4A-4E6B-8F0C-2A1D5E7B9C40"]
)
def test_a_replay_of_something_that_is_not_a_stream_id_is_422(stream_id: str) -> None:
    response = functions.replay_dead_letters(
        request("POST", "/api/ops/deadletters/replay", {"stream_id": stream_id}, caller=OPERATOR)
    )

    assert_problem(response, 422)
