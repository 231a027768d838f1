"""Who may do what, route by route: the holder of an account, a stranger, an operator and a caller nobody
signed in, each against every route of the app, through the real worker. Anyone but the holder (or an
operator, for reads) is told the account or transfer does not exist; the platform without authentication
in front of the app serves nobody."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest

from infra.entry import bootstrap
from infra.entry.identity import Principal
from tests.entry.functions.conftest import (
    ADA,
    OPERATOR,
    STRANGER,
    conforms,
    json_of,
    request,
    settle,
)
from tests.entry.functions.test_openapi import UNDOCUMENTED
from tests.worker import functions

ANONYMOUS = None
CALLERS = {"holder": ADA, "stranger": STRANGER, "operator": OPERATOR, "anonymous": ANONYMOUS}


@dataclass(frozen=True)
class World:
    """Ada's funded account, another of hers to move money to, and a transfer she requested."""

    account: str
    other: str
    transfer: str


@pytest.fixture
def world() -> World:
    account, other = (_open(ADA) for _ in range(2))
    deposited = functions.deposit(
        request("POST", f"/api/accounts/{account}/deposits", {"amount": 1_000}, route_params={"id": account})
    )
    assert deposited.status_code == 200
    moved = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": account, "to_account": other, "amount": 100})
    )
    assert moved.status_code == 202
    settle()
    return World(account, other, json_of(moved)["id"])


def _open(caller: Principal | None) -> str:
    body = {"owner_name": "Ada Lovelace", "owner_email": "ada@example.com", "currency": "EUR"}
    response = functions.open_account(request("POST", "/api/accounts", body, caller=caller))
    assert response.status_code == 201, response.get_body()
    return str(json_of(response)["id"])


@dataclass(frozen=True)
class Call:
    """One route called on `world` by a caller: the function, its path (`{id}` is the world's `key`)."""

    function: str
    method: str
    path: str
    key: str | None = None
    body: Any = None  # or a function of the world
    params: dict[str, str] = field(default_factory=dict)
    route: dict[str, str] = field(default_factory=dict)  # other route values

    def __call__(self, world: World, caller: Principal | None) -> func.HttpResponse:
        route = self.route | ({} if self.key is None else {"id": getattr(world, self.key)})
        content = self.body(world) if callable(self.body) else self.body
        url = self.path.format(**route)
        response: func.HttpResponse = getattr(functions, self.function)(
            request(self.method, url, content, route_params=route, params=self.params, caller=caller)
        )
        return response


def _get(function: str, path: str, key: str | None = None, **params: str) -> Call:
    return Call(function, "GET", path, key, params=params)


def _post(function: str, path: str, body: Any, key: str | None = None) -> Call:
    return Call(function, "POST", path, key, body)


OPEN_BODY = {"owner_name": "Grace Hopper", "owner_email": "grace@example.com", "currency": "EUR"}
TODAY = {"from": "2026-01-01", "to": "2026-01-31"}

# route -> the status each caller gets: holder, stranger, operator, anonymous
TABLE: dict[str, tuple[Call, tuple[int, int, int, int]]] = {
    "open an account": (_post("open_account", "/api/accounts", OPEN_BODY), (201, 201, 201, 401)),
    "deposit": (
        _post("deposit", "/api/accounts/{id}/deposits", {"amount": 5}, "account"),
        (200, 404, 404, 401),
    ),
    "withdraw": (
        _post("withdraw", "/api/accounts/{id}/withdrawals", {"amount": 5}, "account"),
        (200, 404, 404, 401),
    ),
    "close": (_post("close_account", "/api/accounts/{id}/close", None, "other"), (409, 404, 404, 401)),
    "the summary": (_get("get_account", "/api/accounts/{id}", "account"), (200, 404, 200, 401)),
    "the audit trail": (
        _get("account_history", "/api/accounts/{id}/events", "account"),
        (200, 404, 200, 401),
    ),
    "time travel": (_get("account_state", "/api/accounts/{id}/state", "account"), (200, 404, 200, 401)),
    "the statement": (
        _get("account_statement", "/api/accounts/{id}/statement", "account"),
        (200, 404, 200, 401),
    ),
    "the account's transfers": (
        _get("account_transfers", "/api/accounts/{id}/transfers", "account"),
        (200, 200, 200, 401),  # the stranger's list is empty: see the test below
    ),
    "my accounts": (_get("list_accounts", "/api/accounts"), (200, 200, 200, 401)),
    "an owner's accounts": (
        _get("list_accounts", "/api/accounts", owner_email="ada@example.com"),
        (403, 403, 200, 401),
    ),
    "the daily report": (_get("daily_report", "/api/reports/daily", **TODAY), (403, 403, 200, 401)),
    "request a transfer": (
        _post(
            "request_transfer",
            "/api/transfers",
            lambda w: {"from_account": w.account, "to_account": w.other, "amount": 1},
        ),
        (202, 202, 202, 401),  # accepted; only the holder's is debited: see the test below
    ),
    "a transfer": (_get("get_transfer", "/api/transfers/{id}", "transfer"), (200, 404, 200, 401)),
    "a transfer's audit trail": (
        _get("transfer_history", "/api/transfers/{id}/events", "transfer"),
        (200, 404, 200, 401),
    ),
    "a transfer's time travel": (
        _get("transfer_state", "/api/transfers/{id}/state", "transfer"),
        (200, 404, 200, 401),
    ),
    "status": (_get("status", "/api/status"), (403, 403, 200, 401)),
    "dead letters": (_get("dead_letters", "/api/ops/deadletters"), (403, 403, 200, 401)),
    "replay dead letters": (
        _post("replay_dead_letters", "/api/ops/deadletters/replay", {}),
        (403, 403, 200, 401),
    ),
    "verify the log": (_get("verify_event_log", "/api/ops/verify-log"), (403, 403, 200, 401)),
    "forget a person": (
        _post("forget", "/api/ops/forget", {"owner_email": "nobody@example.com"}),
        (403, 403, 200, 401),
    ),
    "health": (_get("health", "/api/health"), (200, 200, 200, 200)),
    "deep health": (_get("deep_health", "/api/health/deep"), (200, 200, 200, 200)),
    "a route that does not exist": (_get("unknown_route", "/api/nothing"), (404, 404, 404, 404)),
    "the API's contract": (_get("openapi", "/api/openapi.json"), (200, 200, 200, 200)),
    "the docs page": (_get("docs", "/api/docs"), (200, 200, 200, 200)),
    "the docs page's files": (
        Call("docs_asset", "GET", "/api/docs/swagger-ui.css", route={"asset": "swagger-ui.css"}),
        (200, 200, 200, 200),
    ),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", list(TABLE))
def test_each_route_answers_each_caller_as_the_table_says(world: World, route: str, caller: str) -> None:
    call, statuses = TABLE[route]
    expected = statuses[list(CALLERS).index(caller)]

    response = call(world, CALLERS[caller])

    assert response.status_code == expected, response.get_body()
    if expected >= 400:
        assert response.mimetype == "application/problem+json"
    if call.function not in UNDOCUMENTED:  # what no route takes, and the docs page, are in no contract
        conforms(call.function, response)  # its body is what the OpenAPI document says


def test_every_http_function_is_in_the_table() -> None:
    from tests.worker import app_worker

    http_functions = {f.name for f in app_worker().functions if f.trigger["type"] == "httpTrigger"}
    in_table = {call.function for call, _ in TABLE.values()}

    assert http_functions <= in_table, sorted(http_functions - in_table)


def test_a_stranger_sees_none_of_an_accounts_transfers_and_the_holder_sees_both_sides(world: World) -> None:
    def listed(account: str, caller: Principal) -> list[str]:
        response = _get("account_transfers", "/api/accounts/{id}/transfers", "account")(
            World(account, account, world.transfer), caller
        )
        return [row["transfer_id"] for row in json_of(response)["transfers"]]

    assert listed(world.account, STRANGER) == []
    assert listed(world.account, ADA) == [world.transfer]  # she requested it, from here
    assert listed(world.other, ADA) == [world.transfer]  # credited to her other account
    assert listed(world.account, OPERATOR) == [world.transfer]


def test_a_transfer_from_someone_elses_account_fails_as_an_unknown_account_and_moves_nothing(
    world: World,
) -> None:
    attempt = functions.request_transfer(
        request(
            "POST",
            "/api/transfers",
            {"from_account": world.account, "to_account": world.other, "amount": 500},
            caller=STRANGER,
        )
    )
    settle()
    transfer = json_of(attempt)["id"]
    seen = functions.get_transfer(
        request("GET", f"/api/transfers/{transfer}", route_params={"id": transfer}, caller=STRANGER)
    )
    balance = json_of(
        functions.get_account(
            request("GET", f"/api/accounts/{world.account}", route_params={"id": world.account})
        )
    )["balance"]

    assert (json_of(seen)["status"], json_of(seen)["reason"]) == ("failed", "unknown account")
    assert balance == 900  # the thousand, less the hundred she moved herself


def test_what_a_holder_opens_records_them_and_the_body_cannot_say_otherwise() -> None:
    smuggled = functions.open_account(
        request("POST", "/api/accounts", {**OPEN_BODY, "holder": STRANGER.id}, caller=ADA)
    )
    opened = _open(ADA)
    history = json_of(
        functions.account_history(
            request("GET", f"/api/accounts/{opened}/events", route_params={"id": opened})
        )
    )

    assert smuggled.status_code == 422
    assert history["events"][0]["data"]["holder"] == ADA.id
    assert history["events"][0]["metadata"]["actor"] == ADA.id


def test_a_principal_header_easy_auth_would_not_send_is_refused() -> None:
    garbled = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"not json").decode()}

    response = functions.list_accounts(request("GET", "/api/accounts", headers=garbled))

    assert response.status_code == 401


@pytest.mark.parametrize("auth_enabled", [None, "False"])
def test_on_the_platform_without_authentication_every_route_but_health_answers_503(
    monkeypatch: pytest.MonkeyPatch, auth_enabled: str | None
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "eventbank-func")
    if auth_enabled is not None:
        monkeypatch.setenv("WEBSITE_AUTH_ENABLED", auth_enabled)
    account = "3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"

    refused = functions.get_account(request("GET", f"/api/accounts/{account}", route_params={"id": account}))
    opened = functions.open_account(request("POST", "/api/accounts", OPEN_BODY))
    health = functions.health(request("GET", "/api/health"))

    assert (refused.status_code, opened.status_code, health.status_code) == (503, 503, 200)
    assert json_of(refused)["title"] == "Authentication not configured"


def test_on_the_platform_with_authentication_the_app_serves_its_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "eventbank-func")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")

    assert functions.open_account(request("POST", "/api/accounts", OPEN_BODY)).status_code == 201


def test_an_open_demo_lets_anyone_do_anything_even_on_the_platform_without_authentication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "eventbank-func")
    monkeypatch.setenv("EVENTBANK_AUTHORIZATION", "off")
    bootstrap.reset()
    account = _open(ANONYMOUS)

    deposited = functions.deposit(
        request(
            "POST",
            f"/api/accounts/{account}/deposits",
            {"amount": 5},
            route_params={"id": account},
            caller=STRANGER,
        )
    )
    status = functions.status(request("GET", "/api/status", caller=ANONYMOUS))

    assert (deposited.status_code, status.status_code) == (200, 200)


def _open_with_key(caller: Principal | None, key: str) -> func.HttpResponse:
    response: func.HttpResponse = functions.open_account(
        request("POST", "/api/accounts", OPEN_BODY, headers={"Idempotency-Key": key}, caller=caller)
    )
    return response


def test_the_same_idempotency_key_from_two_callers_opens_two_accounts() -> None:
    first, again, theirs = (
        _open_with_key(ADA, "k-1"),
        _open_with_key(ADA, "k-1"),
        _open_with_key(STRANGER, "k-1"),
    )

    assert json_of(again)["id"] == json_of(first)["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert json_of(theirs)["id"] != json_of(first)["id"]
    assert theirs.headers.get("Idempotent-Replayed") is None


@pytest.mark.parametrize("named", ["None", "anonymous"])
def test_an_open_demos_anonymous_callers_keys_are_apart_from_any_principals(
    monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    monkeypatch.setenv("EVENTBANK_AUTHORIZATION", "off")
    bootstrap.reset()

    anonymous, principal = _open_with_key(ANONYMOUS, "k-2"), _open_with_key(Principal(named), "k-2")

    assert (anonymous.status_code, principal.status_code) == (201, 201)
    assert json_of(principal)["id"] != json_of(anonymous)["id"]


BOB = Principal("7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b", "bob@example.com")


def test_an_incoming_transfer_is_listed_to_the_target_holder_and_not_to_the_sender_under_that_account(
    world: World,
) -> None:
    bobs = _open(BOB)
    sent = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": world.account, "to_account": bobs, "amount": 7})
    )
    settle()
    transfer = json_of(sent)["id"]

    def listed(account: str, caller: Principal) -> list[dict[str, Any]]:
        page = Call("account_transfers", "GET", "/api/accounts/{id}/transfers", "account")(
            World(account, account, transfer), caller
        )
        rows: list[dict[str, Any]] = json_of(page)["transfers"]
        return rows

    to_bob = [row for row in listed(bobs, BOB) if row["transfer_id"] == transfer]
    assert [(row["direction"], row["counterparty"]) for row in to_bob] == [("in", world.account)]
    assert "requested_by" not in to_bob[0]  # who sent it is no principal id of Bob's business
    assert listed(bobs, ADA) == []
    assert transfer in [row["transfer_id"] for row in listed(world.account, ADA)]


def test_a_sender_never_learns_the_principal_who_holds_the_account_they_paid(world: World) -> None:
    bobs = _open(BOB)
    sent = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": world.account, "to_account": bobs, "amount": 7})
    )
    settle()
    transfer = {"id": json_of(sent)["id"]}

    def seen(caller: Principal, function: str, path: str) -> str:
        response: func.HttpResponse = getattr(functions, function)(
            request("GET", path.format(**transfer), route_params=transfer, caller=caller)
        )
        return response.get_body().decode()

    for function, path in (
        ("get_transfer", "/api/transfers/{id}"),
        ("transfer_history", "/api/transfers/{id}/events"),
    ):
        assert BOB.id not in seen(ADA, function, path)
        assert BOB.id in seen(OPERATOR, function, path)  # operators read everything


def test_a_stranger_asking_for_a_version_learns_nothing_of_the_account(world: World) -> None:
    route = {"id": world.account}

    answers = [
        functions.account_state(
            request(
                "GET",
                f"/api/accounts/{world.account}/state",
                route_params=route,
                params=params,
                caller=STRANGER,
            )
        )
        for params in ({"version": "99"}, {"version": "1"})
    ]

    assert [(a.status_code, json_of(a)["title"]) for a in answers] == [(404, "Account not found")] * 2
    assert all("current_version" not in json_of(a) for a in answers)


def test_off_azure_nothing_in_front_to_sign_callers_in_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBANK_IDENTITY_HEADERS", "platform")
    bootstrap.reset()

    refused = functions.open_account(request("POST", "/api/accounts", OPEN_BODY))
    health = functions.health(request("GET", "/api/health"))

    assert (refused.status_code, health.status_code) == (503, 200)
