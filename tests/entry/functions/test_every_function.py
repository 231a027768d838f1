"""Every function of function_app.py runs through the real Python worker, as the host would invoke it: a
function added to the app without a line here fails this test."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func

from infra.entry import bootstrap
from infra.entry.services import SERVICES
from infra.formats.documents import to_document
from tests.entry.functions.conftest import (
    OPERATOR,
    account_command,
    json_of,
    opened_account_id,
    request,
    settle,
)
from tests.worker import app_worker, functions


def test_every_function_answers_through_the_worker(embedded_backend: bootstrap.EmbeddedBackend) -> None:
    account = opened_account_id()
    assert account_command("deposits", account, {"amount": 500}).status_code == 200
    today = datetime.now(UTC).date().isoformat()
    route = {"id": account}
    calls: dict[str, func.HttpRequest] = {
        "withdraw": request(
            "POST", f"/api/accounts/{account}/withdrawals", {"amount": 100}, route_params=route
        ),
        "close_account": request("POST", f"/api/accounts/{account}/close", route_params=route),
        "get_account": request("GET", f"/api/accounts/{account}", route_params=route),
        "account_history": request("GET", f"/api/accounts/{account}/events", route_params=route),
        "account_state": request("GET", f"/api/accounts/{account}/state", route_params=route),
        "account_statement": request("GET", f"/api/accounts/{account}/statement", route_params=route),
        "list_accounts": request(
            "GET", "/api/accounts", params={"owner_email": "ada@example.com"}, caller=OPERATOR
        ),
        "daily_report": request(
            "GET", "/api/reports/daily", params={"from": today, "to": today}, caller=OPERATOR
        ),
        "status": request("GET", "/api/status", caller=OPERATOR),
        "dead_letters": request("GET", "/api/ops/deadletters", caller=OPERATOR),
        "replay_dead_letters": request("POST", "/api/ops/deadletters/replay", {}, caller=OPERATOR),
        "verify_event_log": request("GET", "/api/ops/verify-log", caller=OPERATOR),
        "forget": request("POST", "/api/ops/forget", {"owner_email": "nobody@example.com"}, caller=OPERATOR),
        "health": request("GET", "/api/health"),
        "deep_health": request("GET", "/api/health/deep"),
        "unknown_route": request("DELETE", "/api/accounts", route_params={"path": "accounts"}),
        "openapi": request("GET", "/api/openapi.json"),
        "docs": request("GET", "/api/docs"),
        "docs_asset": request("GET", "/api/docs/swagger-ui.css", route_params={"asset": "swagger-ui.css"}),
    }

    other = opened_account_id()
    moved = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": account, "to_account": other, "amount": 100})
    )
    transfer = {"id": json_of(moved)["id"]}
    calls |= {
        "get_transfer": request("GET", f"/api/transfers/{transfer['id']}", route_params=transfer),
        "transfer_history": request("GET", f"/api/transfers/{transfer['id']}/events", route_params=transfer),
        "transfer_state": request("GET", f"/api/transfers/{transfer['id']}/state", route_params=transfer),
        "account_transfers": request("GET", f"/api/accounts/{account}/transfers", route_params=route),
    }

    functions.relay_account_events(
        [to_document(event) for _, event in embedded_backend.events.read_all(0, 99)]
    )
    received = [
        message
        for partition in range(embedded_backend.hub.partition_count)
        for message in embedded_backend.hub.read(partition, -1, 1_000)
    ]
    functions.project_read_models(received)
    handed = settle()  # the transfers service's relay and projector, and both services' reactions
    functions.expire_transfers(False)  # nothing is past its deadline: the sweep changes nothing
    answers = {name: getattr(functions, name)(req) for name, req in calls.items()}

    invoked = {
        "open_account",
        "deposit",
        "request_transfer",
        "expire_transfers",
        "relay_account_events",
        "project_read_models",
        *(d.relay_function for d in SERVICES),
        *(d.projector_function for d in SERVICES),
        *(s.function for d in SERVICES for s in d.subscriptions),
        *answers,
    }
    assert handed > 0
    assert json_of(answers["get_transfer"])["status"] == "completed"
    assert invoked == {function.name for function in app_worker().functions}
    failed = {name: answer.status_code for name, answer in answers.items() if answer.status_code >= 300}
    # a balance is left: the refusal, as problem+json; and a method no route takes
    assert failed == {"close_account": 409, "unknown_route": 404}
    assert json_of(answers["get_account"])["version"] == 3  # the relays, reactions and projectors ran
    pages = {"docs", "docs_asset"}  # the docs page and its files: HTML, CSS
    assert all(isinstance(json_of(answer), dict) for name, answer in answers.items() if name not in pages)
