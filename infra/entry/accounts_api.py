"""The accounts service's HTTP API: its request models, its routes and the shape of its answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, cast

import azure.functions as func
from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field

from domain.accounts import (
    Account,
    AccountCommand,
    AccountEvent,
    AccountNotFound,
    CloseAccount,
    Currency,
    DepositMoney,
    OpenAccount,
    OwnerName,
    Status,
    WithdrawMoney,
    decider,
)
from infra.app.commands import CommandHandler, NotPermitted, Outcome
from infra.app.projector import ProjectionRunner
from infra.app.queries import Page
from infra.entry import accounts_queries as queries
from infra.entry import bootstrap, http, identity, streams_api
from projections import account_statement as statement_projection
from projections import account_summary, daily_totals
from projections.account_statement import StatementHeader

SERVICE = "accounts"
blueprint = http.new_blueprint()

ACCOUNT_COMMANDS = DepositMoney | WithdrawMoney | CloseAccount


@dataclass(frozen=True)
class Accounts:
    """The accounts service's pieces, typed as its routes use them."""

    commands: CommandHandler[Account, AccountCommand, AccountEvent]
    summaries: ProjectionRunner[AccountEvent, account_summary.AccountSummary]
    statements: ProjectionRunner[AccountEvent, statement_projection.StatementHeader]
    daily_totals: ProjectionRunner[AccountEvent, daily_totals.AccountCurrency]


def accounts(root: bootstrap.Root | None = None) -> Accounts:
    service = (root or bootstrap.root()).service(SERVICE)
    return Accounts(
        commands=cast(CommandHandler[Account, AccountCommand, AccountEvent], service.commands),
        summaries=service.projection(account_summary.projection.name),
        statements=service.projection(statement_projection.projection.name),
        daily_totals=service.projection(daily_totals.projection.name),
    )


NOT_FOUND = http.Problem(404, "Account not found", "no account has this id (or it is not projected yet)")


# --- commands ---


class OpenAccountRequest(BaseModel):
    """What a client sends to open an account; its holder is the signed-in caller, never the body."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    owner_name: OwnerName
    # the contract says what the validator wants beyond `format: email`: a dot in the domain
    owner_email: Annotated[
        EmailStr,
        Field(
            json_schema_extra={"pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
            description="an address as email-validator takes it: a domain with a dot, and not a special-use "
            "name (.test, .localhost, .local, .invalid, .onion, .arpa)",
        ),
    ]
    currency: Currency


@blueprint.route(route="accounts", methods=["POST"])
@http.handles_problems
def open_account(req: func.HttpRequest) -> func.HttpResponse:
    caller = identity.access(req)
    request = http.parse_body(req, OpenAccountRequest)
    command = OpenAccount(**request.model_dump(), holder=caller.holder)
    outcome = streams_api.create(req, accounts().commands, command, request, caller)
    location = f"/api/accounts/{decider.aggregate_id(outcome.stream_id)}"
    return _command_response(outcome, status=201, extra_headers={"Location": location})


@blueprint.route(route="accounts/{id}/deposits", methods=["POST"])
@http.handles_problems
def deposit(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, DepositMoney)


@blueprint.route(route="accounts/{id}/withdrawals", methods=["POST"])
@http.handles_problems
def withdraw(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, WithdrawMoney)


@blueprint.route(route="accounts/{id}/close", methods=["POST"])
@http.handles_problems
def close_account(req: func.HttpRequest) -> func.HttpResponse:
    return _account_command(req, CloseAccount, allow_empty=True)


def _account_command(
    req: func.HttpRequest, command_type: type[ACCOUNT_COMMANDS], allow_empty: bool = False
) -> func.HttpResponse:
    caller = identity.access(req)  # first: nobody signed in learns nothing, not even what a body needs
    command = http.parse_body(req, command_type, allow_empty=allow_empty)
    stream_id = decider.stream_id(http.route_uuid(req))
    idempotency = http.idempotency(req, command.model_dump(mode="json"))
    try:
        outcome = accounts().commands.handle(
            stream_id,
            command,
            http.metadata(req, idempotency, caller.holder),
            expected_version=http.expected_version(req),
            idempotency=idempotency,
            # on the state the command is decided on: its first event fixes the holder for good
            permits=lambda account: caller.holds(account.holder),
        )
    except NotPermitted:  # someone else's account: the answer for an id that names none
        raise AccountNotFound("no such account") from None
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


@blueprint.route(route="accounts/{id}", methods=["GET"])
@http.handles_problems
def get_account(req: func.HttpRequest) -> func.HttpResponse:
    """The account summary read model (?min_version=N reads your writes; see streams_api.read_view)."""
    caller = identity.access(req)
    stream_id = decider.stream_id(http.route_uuid(req))
    service = accounts()
    return streams_api.read_view(
        req,
        service.summaries.read_side,
        service.commands.store,
        stream_id,
        NOT_FOUND,
        # not a stream of refusals only, and the caller's (or they are an operator)
        exists=lambda summary: summary.status is not Status.UNOPENED and caller.reads(summary.holder),
    )


@blueprint.route(route="accounts/{id}/events", methods=["GET"])
@http.handles_problems
def account_history(req: func.HttpRequest) -> func.HttpResponse:
    """The audit trail: every event of the account with its metadata, oldest first, paged."""
    caller = identity.access(req)
    not_found = http.Problem(404, "Account not found", "no account has this id")
    return streams_api.history(
        req, accounts().commands, "accounts", not_found, lambda account: caller.reads(account.holder)
    )


@blueprint.route(route="accounts/{id}/state", methods=["GET"])
@http.handles_problems
def account_state(req: func.HttpRequest) -> func.HttpResponse:
    """Time travel: the account rebuilt from its events up to a version (?version=N) or a time (?at=...)."""
    caller = identity.access(req)
    stream_id, state, version, as_of = streams_api.state_at(
        req, accounts().commands, "Account", lambda account: caller.reads(account.holder)
    )
    if state.status is Status.UNOPENED:  # a stream of refused transfers only
        raise http.Problem(404, "Account not found", "the account did not exist at that point")
    body = _account_body(stream_id, version, state) | {"as_of": as_of}
    return http.json_response(body, headers={"ETag": f'"{version}"'})


class StatementQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    since: http.UtcDatetime | None = Field(
        default=None,
        alias="from",
        description=f"lines recorded at or after this time; before `to`. {http.TIME}",
    )
    until: http.UtcDatetime | None = Field(
        default=None, alias="to", description=f"lines recorded before this time; after `from`. {http.TIME}"
    )
    limit: http.QueryInt = Field(default=50, ge=1, le=http.MAX_PAGE)
    continuation: http.Continuation | None = None
    min_version: http.QueryVersion | None = Field(default=None, description=http.READ_YOUR_WRITES)


@blueprint.route(route="accounts/{id}/statement", methods=["GET"])
@http.handles_problems
def account_statement(req: func.HttpRequest) -> func.HttpResponse:
    """Every deposit and withdrawal with the balance after it, newest first, paged; ?from= and ?to= bound
    the time recorded (from inclusive, to exclusive); ?min_version= reads your writes, as on the summary."""
    caller = identity.access(req)
    account_id = http.route_uuid(req)
    query = http.parse_query(req, StatementQuery)
    if query.since and query.until and query.since >= query.until:
        raise http.Problem(422, "Invalid query", "from must be before to")
    service, stream_id = accounts(), decider.stream_id(account_id)

    def readable(header: StatementHeader) -> bool:
        return caller.reads(header.holder)

    found = queries.statement(
        service.statements.read_side,
        stream_id,
        query.since,
        query.until,
        query.limit,
        http.continuation_key(query.continuation),
        query.min_version or 0,
        streams_api.wait_seconds(
            service.statements.read_side,
            service.commands.store,
            stream_id,
            query.min_version or 0,
            readable,
            NOT_FOUND,
        ),
    )
    # no currency: a stream of refused transfers only
    if found is None or found.header.currency is None or not caller.reads(found.header.holder):
        raise NOT_FOUND
    body = found.header.model_dump(mode="json") | {
        "entries": [line.model_dump(mode="json") for line in found.lines],
        "next": http.next_page(req, found.continuation),
    }
    return http.json_response(body, headers={} if found.fresh else {"X-Read-Model-Stale": "true"})


class AccountsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    owner_email: str | None = Field(default=None, min_length=3, max_length=320)
    limit: http.QueryInt = Field(default=50, ge=1, le=http.MAX_PAGE)
    continuation: http.Continuation | None = None


@blueprint.route(route="accounts", methods=["GET"])
@http.handles_problems
def list_accounts(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's accounts, in id order, paged; an operator may ask for one owner's instead
    (?owner_email=, compared case-insensitively)."""
    caller = identity.access(req)
    query = http.parse_query(req, AccountsQuery)
    read_side, continuation = accounts().summaries.read_side, http.continuation_key(query.continuation)
    if query.owner_email is not None:
        if not caller.is_operator:
            raise http.Problem(403, "Forbidden", "only operators look accounts up by owner")
        page = queries.accounts_of_owner(read_side, query.owner_email, query.limit, continuation)
    elif caller.holder is None:  # an open demo's anonymous caller holds nothing
        page = Page([], None)
    else:
        page = queries.accounts_of_holder(read_side, caller.holder, query.limit, continuation)
    body = {
        "owner_email": query.owner_email,
        "accounts": [summary.model_dump(mode="json") for summary in page.items],
        "next": http.next_page(req, page.continuation),
    }
    return http.json_response(body)


def _iso_day(value: object) -> object:
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


class DailyQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    first: Day = Field(alias="from", description="the first UTC day, inclusive")
    last: Day = Field(
        alias="to",
        description=f"the last UTC day, inclusive: not before `from`, and at most {queries.MAX_REPORT_DAYS} "
        "days from it, both counted",
    )


@blueprint.route(route="reports/daily", methods=["GET"])
@http.handles_problems
def daily_report(req: func.HttpRequest) -> func.HttpResponse:
    """Per UTC day and currency: money deposited and withdrawn, accounts opened and closed (?from= and
    ?to= are days, both inclusive). For operators: it spans every account."""
    if not identity.access(req).is_operator:
        raise http.Problem(403, "Forbidden", "the daily report is for operators")
    query = http.parse_query(req, DailyQuery)
    if query.last < query.first:
        raise http.Problem(422, "Invalid query", "to must not be before from")
    if (query.last - query.first).days >= queries.MAX_REPORT_DAYS:
        raise http.Problem(422, "Invalid query", f"a report spans at most {queries.MAX_REPORT_DAYS} days")
    totals = queries.daily_report(accounts().daily_totals.read_side, query.first, query.last)
    body = {
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "days": [total.model_dump(mode="json") for total in totals],
    }
    return http.json_response(body)
