"""The HTTP API's contract: an OpenAPI 3.1 document built from the request and query models the routes
parse with (pydantic's JSON schemas), each route with every status it answers and the problem+json it
answers errors with, and the headers of the protocol (If-Match, Idempotency-Key, ETag, Location,
Retry-After); served at /api/openapi.json.

One table, OPERATIONS, says what each route takes and answers; tests/entry/functions/test_openapi.py
holds it to the app (every route documented, every documented route served) and to the OpenAPI
specification (openapi-spec-validator)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from domain import accounts, transfers
from domain.accounts import CloseAccount, DepositMoney, WithdrawMoney
from infra.app.deadletters import DeadLetter
from infra.app.verify_log import BreakKind
from infra.entry import accounts_api, http, operations_api, streams_api, transfers_api
from infra.ports.eventstore import StoredEvent
from projections.account_statement import StatementHeader, StatementLine
from projections.account_summary import AccountSummary
from projections.daily_totals import DailyTotal
from projections.transfer_status import AccountTransfer, TransferView

blueprint = http.new_blueprint()

PROBLEM = {"$ref": "#/components/schemas/Problem"}

# What each status means wherever it is answered (a route adds its own words where they differ).
STATUS = {
    200: "OK",
    201: "Created",
    202: "Accepted: it ends asynchronously",
    400: "Malformed JSON, If-Match or Idempotency-Key",
    401: "Nobody signed in",
    403: "Only for callers with the Operator role",
    404: "Nothing with this id, or not the caller's (the same answer)",
    409: "Refused by the rules (funds, a closed account), or concurrent changes retried out",
    412: "If-Match does not match the current version",
    413: "A body over 64 KiB",
    415: "A body that is not application/json",
    422: "Invalid or unknown fields (named in detail and errors), or an Idempotency-Key reused",
    503: "No sign-in in front of the app (fail closed), or a store busy or away",
}

# Every route that serves signed-in callers answers these besides its own.
SIGNED_IN = (401, 503)


# --- the answers' shapes (the routes build them; test_openapi.py holds real answers to these) ---


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: str


class AccountState(BaseModel):
    """An account as a command answers it, and as time travel rebuilds it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    version: int
    status: accounts.Status
    owner: Owner | None
    currency: str | None
    balance: int


class AccountStateAt(AccountState):
    as_of: dict[str, Any]  # {"version": N}, {"at": time} or {"latest": true}


class TransferAccepted(BaseModel):
    """A transfer as its request answers it (202), and as time travel rebuilds it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    version: int
    status: transfers.Status
    from_account: str | None
    to_account: str | None
    amount: int
    reference: str | None


class TransferStateAt(TransferAccepted):
    as_of: dict[str, Any]


class History(BaseModel):
    """A page of a stream's audit trail (someone else's principal ids left out of a transfer's)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    events: list[StoredEvent]
    next: str | None


class Statement(StatementHeader):
    model_config = ConfigDict(extra="forbid")
    entries: list[StatementLine]
    next: str | None


class AccountList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_email: str | None
    accounts: list[AccountSummary]
    next: str | None


class DailyReport(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: str = Field(alias="from")
    last: str = Field(alias="to")
    days: list[DailyTotal]


class AccountTransfers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str
    transfers: list[AccountTransfer]
    next: str | None


class StoreTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: int
    newest: str | None


class ReadModelLag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str
    name: str
    generation: int
    events_behind: int
    seconds_behind: float
    parked_streams: int


class Status(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: StoreTotals
    projections: list[ReadModelLag]


class DeadLetters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dead_letters: list[DeadLetter]


class Replayed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replayed: list[DeadLetter]


class BrokenLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream_id: str
    version: int
    kind: BreakKind
    detail: str


class PartlyCovered(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream_id: str
    chained_from: int | None = Field(description="the first version the chain covers; None: no hashed event")


class ServiceLog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str
    streams: int
    events: int
    intact: bool
    hashing_began: str | None
    broken: list[BrokenLink]
    partly_covered: list[PartlyCovered]


class LogVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intact: bool
    services: list[ServiceLog]


class ForgottenSubject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str
    subject: str
    key_destroyed: bool


class Forgotten(BaseModel):
    model_config = ConfigDict(extra="forbid")
    forgotten: list[ForgottenSubject]


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    backend: str


@dataclass(frozen=True)
class Operation:
    """One route: its function, method and path, what it parses, and what it answers."""

    function: str
    method: str
    path: str  # under the route prefix, with {id} for the route's UUID
    summary: str
    statuses: tuple[int, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    request_headers: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    answer: type[BaseModel] | None = None  # the success body's shape (None: not described yet)
    signed_in: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


COMMAND = ("If-Match", "Idempotency-Key", "X-Correlation-ID")
STREAM_READS = (200, 400, 404, 422)
WRITES = (200, 400, 404, 409, 412, 413, 415, 422)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "open_account",
        "post",
        "/accounts",
        "Open an account, held by the caller",
        (201, 400, 409, 413, 415, 422),
        body=accounts_api.OpenAccountRequest,
        request_headers=("Idempotency-Key", "X-Correlation-ID"),
        response_headers=("ETag", "Location", "Idempotent-Replayed"),
        answer=AccountState,
    ),
    Operation(
        "deposit",
        "post",
        "/accounts/{id}/deposits",
        "Deposit money",
        WRITES,
        body=DepositMoney,
        request_headers=COMMAND,
        response_headers=("ETag", "Idempotent-Replayed"),
        answer=AccountState,
    ),
    Operation(
        "withdraw",
        "post",
        "/accounts/{id}/withdrawals",
        "Withdraw money (no overdraft)",
        WRITES,
        body=WithdrawMoney,
        request_headers=COMMAND,
        response_headers=("ETag", "Idempotent-Replayed"),
        answer=AccountState,
    ),
    Operation(
        "close_account",
        "post",
        "/accounts/{id}/close",
        "Close an account whose balance is zero",
        WRITES,
        body=CloseAccount,
        request_headers=COMMAND,
        response_headers=("ETag", "Idempotent-Replayed"),
        answer=AccountState,
    ),
    Operation(
        "get_account",
        "get",
        "/accounts/{id}",
        "The account summary (read your writes with min_version)",
        STREAM_READS,
        query=streams_api.FreshnessQuery,
        response_headers=("ETag", "X-Read-Model-Stale"),
        answer=AccountSummary,
    ),
    Operation(
        "account_history",
        "get",
        "/accounts/{id}/events",
        "The account's audit trail, paged",
        STREAM_READS,
        query=streams_api.HistoryQuery,
        answer=History,
    ),
    Operation(
        "account_state",
        "get",
        "/accounts/{id}/state",
        "The account at a version or a time",
        STREAM_READS,
        query=streams_api.StateQuery,
        response_headers=("ETag",),
        answer=AccountStateAt,
    ),
    Operation(
        "account_statement",
        "get",
        "/accounts/{id}/statement",
        "Every line with the balance after it, newest first, paged",
        STREAM_READS,
        query=accounts_api.StatementQuery,
        response_headers=("X-Read-Model-Stale",),
        answer=Statement,
    ),
    Operation(
        "account_transfers",
        "get",
        "/accounts/{id}/transfers",
        "The account's transfers the caller may see, newest first, paged",
        STREAM_READS,
        query=transfers_api.AccountTransfersQuery,
        answer=AccountTransfers,
    ),
    Operation(
        "list_accounts",
        "get",
        "/accounts",
        "The caller's accounts (an operator: one owner's, with owner_email)",
        (200, 400, 403, 422),
        query=accounts_api.AccountsQuery,
        answer=AccountList,
    ),
    Operation(
        "daily_report",
        "get",
        "/reports/daily",
        "Per UTC day and currency: money in and out, accounts opened and closed (operators)",
        (200, 400, 403, 422),
        query=accounts_api.DailyQuery,
        answer=DailyReport,
    ),
    Operation(
        "request_transfer",
        "post",
        "/transfers",
        "Move money from an account the caller holds",
        (202, 400, 409, 413, 415, 422),
        body=transfers_api.TransferRequest,
        request_headers=("Idempotency-Key", "X-Correlation-ID"),
        response_headers=("ETag", "Location", "Retry-After", "Idempotent-Replayed"),
        answer=TransferAccepted,
    ),
    Operation(
        "get_transfer",
        "get",
        "/transfers/{id}",
        "The transfer's status and steps (read your writes with min_version)",
        STREAM_READS,
        query=streams_api.FreshnessQuery,
        response_headers=("ETag", "X-Read-Model-Stale"),
        answer=TransferView,
    ),
    Operation(
        "transfer_history",
        "get",
        "/transfers/{id}/events",
        "The transfer's audit trail, paged",
        STREAM_READS,
        query=streams_api.HistoryQuery,
        answer=History,
    ),
    Operation(
        "transfer_state",
        "get",
        "/transfers/{id}/state",
        "The transfer at a version or a time",
        STREAM_READS,
        query=streams_api.StateQuery,
        response_headers=("ETag",),
        answer=TransferStateAt,
    ),
    Operation(
        "status",
        "get",
        "/status",
        "Read-model lag and parked streams (operators)",
        (200, 403),
        answer=Status,
    ),
    Operation(
        "dead_letters",
        "get",
        "/ops/deadletters",
        "Events a read model could not apply (operators)",
        (200, 400, 403, 404, 422),
        query=operations_api.DeadLetterQuery,
        answer=DeadLetters,
    ),
    Operation(
        "verify_event_log",
        "get",
        "/ops/verify-log",
        "The log's hash chains verified, with each stream's first broken link (operators)",
        (200, 403, 404, 422),
        query=operations_api.VerifyLogQuery,
        answer=LogVerification,
    ),
    Operation(
        "forget",
        "post",
        "/ops/forget",
        "Erase a person: their key destroyed, their name and email [erased] everywhere (operators)",
        (200, 400, 403, 404, 413, 415, 422),
        body=operations_api.ForgetCommand,
        answer=Forgotten,
    ),
    Operation(
        "replay_dead_letters",
        "post",
        "/ops/deadletters/replay",
        "Unpark and catch up parked streams (operators)",
        (200, 400, 403, 404, 413, 415, 422),
        body=operations_api.ReplayCommand,
        answer=Replayed,
    ),
    Operation("health", "get", "/health", "Liveness", (200,), answer=Health, signed_in=False),
    Operation(
        "deep_health",
        "get",
        "/health/deep",
        "Readiness: every store answers",
        (200, 503),
        answer=Health,
        signed_in=False,
    ),
    Operation("openapi", "get", "/openapi.json", "This document", (200,), signed_in=False),
)


# The request headers' rules, as infra/entry/http.py reads them: a malformed If-Match or Idempotency-Key is
# a 400. A malformed X-Correlation-ID is not refused but replaced by a new one, so its rule is in words.
HEADER_PATTERNS = {
    "If-Match": r'^(W/)?"[0-9]{1,15}"$',
    "Idempotency-Key": r"^(?![Rr][Ee][Aa][Cc][Tt][Ii][Oo][Nn]:)[!-~]{1,255}$",
}
HEADERS = {
    "If-Match": (
        "a version in quotes, as the ETag gives it: the command applies only at that version",
        '"3"',
    ),
    "Idempotency-Key": ("1 to 255 visible ASCII characters: a repeat replays the first answer", "k-1"),
    "X-Correlation-ID": (
        "stored in every event's metadata when it is 1 to 128 of A-Z, a-z, 0-9, '.', '_', ':' and '-'; "
        "any other value is replaced by a new one, never refused",
        "order-7",
    ),
    "ETag": ("the version, in quotes", '"3"'),
    "Location": ("where the new resource is", "/api/accounts/3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"),
    "Retry-After": ("seconds until it is worth asking again", "1"),
    "Idempotent-Replayed": ("true when this is the replay of an earlier request's answer", "true"),
    "X-Read-Model-Stale": ("true when the read model had not reached min_version in time", "true"),
}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route."""
    # every model's schema in one go, so two models of one name (each service's Status) get two names
    validation: JsonSchemaMode = "validation"
    serialization: JsonSchemaMode = "serialization"
    wanted = [(op.body, validation) for op in OPERATIONS if op.body is not None] + [
        (op.answer, serialization) for op in OPERATIONS if op.answer is not None
    ]
    refs, definitions = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = {"Problem": _problem_schema(), **definitions.get("$defs", {})}
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        paths.setdefault(f"/api{operation.path}", {})[operation.method] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "eventbank",
            "version": "1",
            "description": "Event-sourced accounts and transfers. Errors are application/problem+json "
            "(RFC 9457). Callers sign in with Microsoft Entra ID (App Service Authentication) and send a "
            "function key; see the README's Security section.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "entraId": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            },
        },
    }


Refs = Mapping[tuple[Any, JsonSchemaMode], Any]


def _operation(operation: Operation, refs: Refs) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    if "{id}" in operation.path:
        parameters.append(
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        )
    if operation.query is not None:
        parameters.extend(_query_parameters(operation.query))
    parameters.extend(
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": HEADERS[name][0],
            "schema": {
                "type": "string",
                **({"pattern": HEADER_PATTERNS[name]} if name in HEADER_PATTERNS else {}),
            },
            "example": HEADERS[name][1],
        }
        for name in operation.request_headers
    )
    statuses = sorted(set(operation.statuses) | (set(SIGNED_IN) if operation.signed_in else set()))
    found: dict[str, Any] = {
        "operationId": operation.function,
        "summary": operation.summary,
        "parameters": parameters,
        "responses": {str(status): _response(status, operation, refs) for status in statuses},
    }
    if operation.signed_in:
        found["security"] = [{"entraId": [], "functionKey": []}]
    else:
        found["security"] = [{}, {"functionKey": []}]
    if operation.body is not None:
        found["requestBody"] = {
            "required": operation.body is not CloseAccount,
            "content": {"application/json": {"schema": refs[(operation.body, "validation")]}},
        }
    return found


def _response(status: int, operation: Operation, refs: Refs) -> dict[str, Any]:
    if status >= 400:
        return {"description": STATUS[status], "content": {"application/problem+json": {"schema": PROBLEM}}}
    headers = {
        name: {"description": HEADERS[name][0], "schema": {"type": "string"}}
        for name in operation.response_headers
    }
    shape = {"type": "object"} if operation.answer is None else refs[(operation.answer, "serialization")]
    response: dict[str, Any] = {
        "description": STATUS[status],
        "content": {"application/json": {"schema": shape}},
    }
    if headers:
        response["headers"] = headers
    return response


def _query_parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    schema = query.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            **({"description": description} if (description := _described(prop)) else {}),
            "schema": _inline(prop, schema),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _described(prop: dict[str, Any]) -> str:
    """A query parameter's description, saying how a whole number is written in a query (the schema's
    `integer` would also take 20.0)."""
    said = str(prop.get("description", ""))
    if any(branch.get("type") == "integer" for branch in [prop, *prop.get("anyOf", [])]):
        said = f"{said} Written in digits only: 20, not 20.0, +20 or 2_0.".strip()
    return said


def _inline(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its local $defs references resolved (query parameters stand alone)."""
    text = json.dumps(prop)
    for name, definition in schema.get("$defs", {}).items():
        text = text.replace(json.dumps({"$ref": f"#/$defs/{name}"}), json.dumps(definition))
    inlined: dict[str, Any] = json.loads(text)
    return inlined


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An RFC 9457 problem; some carry more members (errors, current_version, incident)",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "current_version": {"type": "integer"},
        },
    }


@blueprint.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http.handles_problems
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The API's OpenAPI 3.1 document (no key and no sign-in: the contract is no secret, and the docs page
    fetches it from a browser)."""
    return http.json_response(document())


# --- the docs page: Swagger UI, vendored from npm's swagger-ui-dist (make swagger-ui), so it works offline

SWAGGER_UI = Path(__file__).parent / "swagger_ui"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>eventbank API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#docs"});</script>
</body>
</html>
"""


@blueprint.route(route="docs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http.handles_problems
def docs(req: func.HttpRequest) -> func.HttpResponse:
    """The API's interactive documentation (Swagger UI over /api/openapi.json), from files served here."""
    return func.HttpResponse(PAGE, mimetype="text/html", charset="utf-8")


@blueprint.route(route="docs/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http.handles_problems
def docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    """One of the docs page's two files, as vendored; anything else is a 404."""
    name = req.route_params.get("asset", "")
    if name not in ASSETS:
        raise http.Problem(
            404, "No such file", "the docs page has two files: swagger-ui-bundle.js and swagger-ui.css"
        )
    return func.HttpResponse(
        _asset(name),
        mimetype=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@cache
def _asset(name: str) -> bytes:
    return (SWAGGER_UI / name).read_bytes()
