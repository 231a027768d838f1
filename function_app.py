"""Where Azure calls in. Each function parses its input, calls the service, and maps the result."""

from __future__ import annotations

import logging
import re
import typing
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from domain.accounts import Account, CloseAccount, DepositMoney, OpenAccount, WithdrawMoney, decider
from infra.app import queries
from infra.app.commands import Outcome
from infra.app.deadletters import DeadLetterStatus
from infra.app.projector import ProjectionRunner
from infra.entry import bootstrap, http
from infra.entry.bootstrap import AccountsService
from infra.entry.settings import (
    ACCOUNTS_EVENTS_CONTAINER,
    ACCOUNTS_HUB,
    ACCOUNTS_READMODELS_CONSUMER_GROUP,
    COSMOS_CONNECTION,
    COSMOS_DATABASE,
    EVENTHUB_CONNECTION,
    LEASES_CONTAINER,
    RELAY_LEASE_PREFIX_SETTING,
)
from infra.formats import cloud_events
from infra.ports.eventstore import STREAM_ID_PATTERN

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("eventbank.functions")

ACCOUNT_COMMANDS = DepositMoney | WithdrawMoney | CloseAccount
MAX_VERSION = 2**53 - 1  # what every JSON reader holds exactly
MAX_PAGE = 200


def accounts() -> AccountsService:
    return bootstrap.root().accounts


# --- commands ---


@app.route(route="accounts", methods=["POST"])
@http.handles_problems
def open_account(req: func.HttpRequest) -> func.HttpResponse:
    command = http.parse_body(req, OpenAccount)
    idempotency = http.idempotency(req, command.model_dump(mode="json"))
    service = accounts()
    scope = None if idempotency is None else f"{http.actor(req)}\n{idempotency.key}"
    stream_id = service.commands.new_stream_id(scope)
    outcome = service.commands.handle(
        stream_id,
        command,
        http.metadata(req, idempotency),
        expected_version=0,
        idempotency=idempotency,
    )
    location = f"/api/accounts/{decider.aggregate_id(stream_id)}"
    return _command_response(outcome, status=201, extra_headers={"Location": location})


@app.route(route="accounts/{id}/deposits", methods=["POST"])
@http.handles_problems
def deposit(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, http.parse_body(req, DepositMoney))


@app.route(route="accounts/{id}/withdrawals", methods=["POST"])
@http.handles_problems
def withdraw(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, http.parse_body(req, WithdrawMoney))


@app.route(route="accounts/{id}/close", methods=["POST"])
@http.handles_problems
def close_account(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, http.parse_body(req, CloseAccount, allow_empty=True))


def _account_command(req: func.HttpRequest, command: ACCOUNT_COMMANDS) -> func.HttpResponse:
    stream_id = decider.stream_id(http.route_uuid(req))
    idempotency = http.idempotency(req, command.model_dump(mode="json"))
    outcome = accounts().commands.handle(
        stream_id,
        command,
        http.metadata(req, idempotency),
        expected_version=http.expected_version(req),
        idempotency=idempotency,
    )
    return _command_response(outcome)


def _command_response(
    outcome: Outcome[Account], status: int = 200, extra_headers: dict[str, str] | None = None
) -> func.HttpResponse:
    headers = {"ETag": f'"{outcome.version}"', **(extra_headers or {})}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(
        _account_body(outcome.stream_id, outcome.version, outcome.state), status, headers
    )


def _account_body(stream_id: str, version: int, state: Account) -> dict[str, object]:
    return {
        "id": decider.aggregate_id(stream_id),
        "version": version,
        "status": state.status.value,
        "owner": None if state.owner_name is None else {"name": state.owner_name, "email": state.owner_email},
        "currency": state.currency,
        "balance": state.balance,
    }


# --- queries ---


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    min_version: int | None = Field(default=None, ge=1, le=MAX_VERSION)


@app.route(route="accounts/{id}", methods=["GET"])
@http.handles_problems
def get_account(req: func.HttpRequest) -> func.HttpResponse:
    """The account summary read model: eventually consistent with the event store. With ?min_version=N
    (the version a command answered) it waits briefly for the projection to reach N, then answers what it
    has, marked stale if it is still behind."""
    stream_id = decider.stream_id(http.route_uuid(req))
    query = http.parse_query(req, SummaryQuery)
    wait = bootstrap.root().settings.min_version_wait_seconds if query.min_version else 0.0
    summary, fresh = accounts().summaries.read(stream_id, query.min_version or 0, wait)
    if summary is None:
        raise http.Problem(404, "Account not found", "no account has this id (or it is not projected yet)")
    headers = {"ETag": f'"{summary.version}"'}
    if not fresh:
        headers["X-Read-Model-Stale"] = "true"
    return http.json_response(summary.model_dump(mode="json"), headers=headers)


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_version: int = Field(default=1, ge=1, le=MAX_VERSION)
    limit: int = Field(default=100, ge=1, le=1000)


@app.route(route="accounts/{id}/events", methods=["GET"])
@http.handles_problems
def account_history(req: func.HttpRequest) -> func.HttpResponse:
    """The audit trail: every event of the account with its metadata, oldest first, paged."""
    account_id = http.route_uuid(req)
    query = http.parse_query(req, HistoryQuery)
    stream_id = decider.stream_id(account_id)
    events = accounts().commands.store.read(
        stream_id, from_version=query.from_version, to_version=query.from_version + query.limit
    )
    if not events and query.from_version == 1:
        raise http.Problem(404, "Account not found", "no account has this id")
    page, more = events[: query.limit], len(events) > query.limit
    body = {
        "id": str(account_id),
        "events": [event.model_dump(mode="json") for event in page],
        "next": (
            f"/api/accounts/{account_id}/events?from_version={page[-1].version + 1}&limit={query.limit}"
            if more
            else None
        ),
    }
    return http.json_response(body)


class StateQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    at: AwareDatetime | None = None

    @field_validator("at")
    @classmethod
    def _representable_in_utc(cls, at: datetime | None) -> datetime | None:
        return _in_utc(at)


@app.route(route="accounts/{id}/state", methods=["GET"])
@http.handles_problems
def account_state(req: func.HttpRequest) -> func.HttpResponse:
    """Time travel: the account rebuilt from its events up to a version (?version=N) or a time (?at=...)."""
    account_id = http.route_uuid(req)
    query = http.parse_query(req, StateQuery)
    if query.version is not None and query.at is not None:
        raise http.Problem(422, "Invalid query", "give either version or at, not both")
    stream_id = decider.stream_id(account_id)
    state, version = accounts().commands.load(stream_id, to_version=query.version, until=query.at)
    if version == 0:
        raise http.Problem(404, "Account not found", "the account did not exist at that point")
    if query.version is not None and version < query.version:
        raise http.Problem(
            404, "Version not found", f"the account has {version} versions", current_version=version
        )
    body = _account_body(stream_id, version, state) | {"as_of": _as_of(query.version, query.at)}
    return http.json_response(body, headers={"ETag": f'"{version}"'})


def _as_of(version: int | None, at: datetime | None) -> dict[str, object]:
    if version is not None:
        return {"version": version}
    if at is not None:
        return {"at": at.isoformat()}
    return {"latest": True}


class StatementQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    since: AwareDatetime | None = Field(default=None, alias="from")
    until: AwareDatetime | None = Field(default=None, alias="to")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    continuation: str | None = Field(default=None, max_length=512)
    min_version: int | None = Field(default=None, ge=1, le=MAX_VERSION)

    @field_validator("since", "until")
    @classmethod
    def _representable_in_utc(cls, at: datetime | None) -> datetime | None:
        return _in_utc(at)


@app.route(route="accounts/{id}/statement", methods=["GET"])
@http.handles_problems
def account_statement(req: func.HttpRequest) -> func.HttpResponse:
    """Every deposit and withdrawal with the balance after it, newest first, paged; ?from= and ?to= bound
    the time recorded (from inclusive, to exclusive); ?min_version= reads your writes, as on the summary."""
    account_id = http.route_uuid(req)
    query = http.parse_query(req, StatementQuery)
    if query.since and query.until and query.since >= query.until:
        raise http.Problem(422, "Invalid query", "from must be before to")
    found = queries.statement(
        accounts().statements,
        decider.stream_id(account_id),
        query.since,
        query.until,
        query.limit,
        http.continuation_key(query.continuation),
        query.min_version or 0,
        bootstrap.root().settings.min_version_wait_seconds if query.min_version else 0.0,
    )
    if found is None:
        raise http.Problem(404, "Account not found", "no account has this id (or it is not projected yet)")
    body = found.header.model_dump(mode="json") | {
        "entries": [line.model_dump(mode="json") for line in found.lines],
        "next": _next_page(req, found.continuation),
    }
    return http.json_response(body, headers={} if found.fresh else {"X-Read-Model-Stale": "true"})


class OwnerQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    owner_email: str = Field(min_length=3, max_length=320)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    continuation: str | None = Field(default=None, max_length=512)


@app.route(route="accounts", methods=["GET"])
@http.handles_problems
def accounts_by_owner(req: func.HttpRequest) -> func.HttpResponse:
    """The accounts of one owner (?owner_email=, compared case-insensitively), in id order, paged."""
    query = http.parse_query(req, OwnerQuery)
    page = queries.accounts_of_owner(
        accounts().summaries, query.owner_email, query.limit, http.continuation_key(query.continuation)
    )
    body = {
        "owner_email": query.owner_email,
        "accounts": [summary.model_dump(mode="json") for summary in page.items],
        "next": _next_page(req, page.continuation),
    }
    return http.json_response(body)


def _iso_day(value: object) -> object:
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


class DailyQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    first: Day = Field(alias="from")
    last: Day = Field(alias="to")


@app.route(route="reports/daily", methods=["GET"])
@http.handles_problems
def daily_report(req: func.HttpRequest) -> func.HttpResponse:
    """Per UTC day and currency: money deposited and withdrawn, accounts opened and closed (?from= and
    ?to= are days, both inclusive)."""
    query = http.parse_query(req, DailyQuery)
    if query.last < query.first:
        raise http.Problem(422, "Invalid query", "to must not be before from")
    if (query.last - query.first).days >= queries.MAX_REPORT_DAYS:
        raise http.Problem(422, "Invalid query", f"a report spans at most {queries.MAX_REPORT_DAYS} days")
    totals = queries.daily_report(accounts().daily_totals, query.first, query.last)
    body = {
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "days": [total.model_dump(mode="json") for total in totals],
    }
    return http.json_response(body)


def _in_utc(at: datetime | None) -> datetime | None:
    try:
        return None if at is None else at.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


def _next_page(req: func.HttpRequest, continuation: str | None) -> str | None:
    if continuation is None:
        return None
    # never the function key (`code`): links end up in logs and browser histories
    params = {k: v for k, v in req.params.items() if k not in ("continuation", "code")}
    params["continuation"] = http.continuation_token(continuation) or ""
    return f"{urlsplit(req.url).path}?{urlencode(params)}"


# --- operations: read-model health, dead letters ---


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def status(req: func.HttpRequest) -> func.HttpResponse:
    """How far each read model is behind the event store, in events and seconds, and what is parked.

    For operators (master key): on Cosmos DB it sums over every document, a cost that grows with the data."""
    service = accounts()
    totals, lags = queries.lags(service.projections, service.commands.store)
    body = {
        "store": {
            "events": totals.events,
            "newest": None if totals.newest is None else totals.newest.isoformat(),
        },
        "projections": [
            {
                "name": lag.projection,
                "generation": lag.generation,
                "events_behind": lag.events,
                "seconds_behind": round(lag.seconds, 3),
                "parked_streams": lag.parked_streams,
            }
            for lag in lags
        ],
    }
    return http.json_response(body)


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    projection: str | None = Field(default=None, max_length=100)
    status: DeadLetterStatus | None = None


@app.route(route="admin/deadletters", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """Events a read model could not apply: retrying, parked (their stream waits), or replayed."""
    query = http.parse_query(req, DeadLetterQuery)
    letters = [
        letter
        for runner in _projections(query.projection)
        for letter in runner.letters()
        if query.status is None or letter.status is query.status
    ]
    return http.json_response({"dead_letters": [letter.model_dump(mode="json") for letter in letters]})


class ReplayCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projection: str | None = Field(default=None, max_length=100)
    stream_id: str | None = Field(default=None, pattern=STREAM_ID_PATTERN.pattern)


@app.route(route="admin/deadletters/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def replay_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """Unpark the parked streams (of one read model, or one stream) and apply what waited behind them,
    once the cause is fixed; a stream that fails again is parked again."""
    command = http.parse_body(req, ReplayCommand, allow_empty=True)
    results = [
        letter for runner in _projections(command.projection) for letter in runner.replay(command.stream_id)
    ]
    return http.json_response({"replayed": [letter.model_dump(mode="json") for letter in results]})


def _projections(name: str | None) -> list[ProjectionRunner[Any, Any]]:
    service = accounts()
    if name is None:
        return service.projections
    try:
        return [service.projection(name)]
    except LookupError:
        raise http.Problem(404, "Read model not found", f"no read model is called {name!r}") from None


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http.handles_problems
def health(req: func.HttpRequest) -> func.HttpResponse:
    service = accounts()
    service.commands.store.read(decider.stream_id(uuid.UUID(int=0)))
    return http.json_response({"status": "ok", "backend": bootstrap.root().settings.backend})


# --- the relay: Cosmos DB change feed -> Event Hubs ---


@app.function_name("relay_account_events")
@app.cosmos_db_trigger(
    arg_name="documents",
    connection=COSMOS_CONNECTION,
    database_name=COSMOS_DATABASE,
    container_name=ACCOUNTS_EVENTS_CONTAINER,
    lease_container_name=LEASES_CONTAINER,
    lease_container_prefix=f"%{RELAY_LEASE_PREFIX_SETTING}%",
    max_items_per_invocation=100,
    feed_poll_delay=1000,
    # The first start of a deployment must relay the events written before it; the SDK's v4
    # overload annotates this flag as `time`, but the binding takes a bool.
    start_from_beginning=True,  # type: ignore[arg-type]
)
@app.retry(
    strategy="exponential_backoff",
    max_retry_count="-1",
    minimum_interval="00:00:01",
    maximum_interval="00:01:00",
)
def relay_account_events(documents: func.DocumentList) -> None:
    """Publishes new events as CloudEvents; any failure raises so the whole batch is retried."""
    published = accounts().relay.relay([document.to_dict() for document in documents])
    log.info("relayed %d events", published)


# --- the projector: Event Hubs -> read models ---


@app.function_name("project_read_models")
@app.event_hub_message_trigger(
    arg_name="messages",
    connection=EVENTHUB_CONNECTION,
    event_hub_name=ACCOUNTS_HUB,
    consumer_group=ACCOUNTS_READMODELS_CONSUMER_GROUP,
    cardinality="many",
)
@app.retry(
    strategy="exponential_backoff",
    max_retry_count="-1",
    minimum_interval="00:00:01",
    maximum_interval="00:01:00",
)
# typing.List, not list[...]: the Python worker accepts a binding annotation only if it is a class or a
# typing generic, and refuses list[...] at indexing, and then Azure loads no function of the app at all.
def project_read_models(messages: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006
    """Applies a batch to every read model: duplicates are no-ops, gaps are filled from the store, poison
    events are retried then parked in the dead letters."""
    applied = accounts().project([cloud_events.decode(message.get_body()) for message in messages])
    log.info("of %d delivered events, new per read model: %s", len(messages), applied)
