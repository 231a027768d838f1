"""The transfers service's HTTP API: request a transfer (202: it completes asynchronously, through the
accounts service), follow it, its audit trail and time travel, and an account's transfers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from domain.accounts import Amount, Reference
from domain.transfers import (
    PENDING_STEP,
    AccountId,
    ExpireTransfer,
    RequestTransfer,
    Transfer,
    TransferCommand,
    TransferEvent,
    decider,
)
from infra.app.commands import CommandHandler, Outcome, VersionMismatch
from infra.app.projector import ProjectionRunner
from infra.app.queries import page_of
from infra.entry import bootstrap, http, identity, streams_api
from infra.ports.eventstore import Metadata
from infra.ports.readmodels import KEY_MAX
from projections import transfer_status

SERVICE = "transfers"
# The principal ids of other people a transfer carries (the target account's holder; on the receiving
# holder's list, the sender): for operators only, or every sender would learn who holds an account.
PRIVATE = frozenset({"target_holder", "requested_by"})
RETRY_AFTER_SECONDS = 1  # a transfer usually ends within milliseconds on the dev host, seconds in Azure
blueprint = http.new_blueprint()
log = logging.getLogger("eventbank.transfers")


@dataclass(frozen=True)
class Transfers:
    """The transfers service's pieces, typed as its routes use them."""

    commands: CommandHandler[Transfer, TransferCommand, TransferEvent]
    status: ProjectionRunner[TransferEvent, transfer_status.TransferView]


def transfers(root: bootstrap.Root | None = None) -> Transfers:
    service = (root or bootstrap.root()).service(SERVICE)
    return Transfers(
        commands=cast(CommandHandler[Transfer, TransferCommand, TransferEvent], service.commands),
        status=service.projection(transfer_status.projection.name),
    )


class TransferRequest(BaseModel):
    """What a client sends to move money; who asks is the signed-in caller, never the body."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    from_account: AccountId
    to_account: AccountId
    amount: Amount
    reference: Reference | None = None


@blueprint.route(route="transfers", methods=["POST"])
@http.handles_problems
def request_transfer(req: func.HttpRequest) -> func.HttpResponse:
    """202 Accepted: the transfer is recorded; the accounts service debits, credits or refuses it next
    (it debits only an account the caller holds: any other source fails the transfer as an unknown
    account). With an Idempotency-Key, a repeat answers the same transfer and records nothing."""
    caller = identity.access(req)
    request = http.parse_body(req, TransferRequest)
    command = http.validate(
        RequestTransfer, request.model_dump() | {"requested_by": caller.holder}, "Invalid command"
    )
    outcome = streams_api.create(req, transfers().commands, command, request, caller)
    transfer_id = decider.aggregate_id(outcome.stream_id)
    headers = {
        "Location": f"/api/transfers/{transfer_id}",
        "Retry-After": str(RETRY_AFTER_SECONDS),
        "ETag": f'"{outcome.version}"',
    }
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(_transfer_body(outcome), 202, headers)


def _transfer_body(outcome: Outcome[Transfer]) -> dict[str, object]:
    state = outcome.state
    return {
        "id": decider.aggregate_id(outcome.stream_id),
        "version": outcome.version,
        "status": state.status.value,
        "from_account": state.from_account,
        "to_account": state.to_account,
        "amount": state.amount,
        "reference": state.reference,
    }


@blueprint.route(route="transfers/{id}", methods=["GET"])
@http.handles_problems
def get_transfer(req: func.HttpRequest) -> func.HttpResponse:
    """The transfer's status and each step with its time (?min_version=N reads your writes); for the
    caller who requested it, or an operator."""
    caller = identity.access(req)
    not_found = http.Problem(
        404, "Transfer not found", "no transfer has this id (or it is not projected yet)"
    )
    stream_id = decider.stream_id(http.route_uuid(req))
    service = transfers()
    return streams_api.read_view(
        req,
        service.status.read_side,
        service.commands.store,
        stream_id,
        not_found,
        exists=lambda view: caller.reads(view.requested_by),
        private=frozenset() if caller.is_operator else PRIVATE,
    )


@blueprint.route(route="transfers/{id}/events", methods=["GET"])
@http.handles_problems
def transfer_history(req: func.HttpRequest) -> func.HttpResponse:
    """The audit trail: every event of the transfer with its metadata, oldest first, paged."""
    caller = identity.access(req)
    not_found = http.Problem(404, "Transfer not found", "no transfer has this id")
    return streams_api.history(
        req,
        transfers().commands,
        "transfers",
        not_found,
        lambda t: caller.reads(t.requested_by),
        private=frozenset() if caller.is_operator else PRIVATE,
    )


@blueprint.route(route="transfers/{id}/state", methods=["GET"])
@http.handles_problems
def transfer_state(req: func.HttpRequest) -> func.HttpResponse:
    """Time travel: the transfer rebuilt from its events up to ?version=N or ?at=<time>."""
    caller = identity.access(req)
    stream_id, state, version, as_of = streams_api.state_at(
        req, transfers().commands, "Transfer", lambda t: caller.reads(t.requested_by)
    )
    body = _transfer_body(Outcome(stream_id, version, state, 0)) | {"as_of": as_of}
    return http.json_response(body, headers={"ETag": f'"{version}"'})


class AccountTransfersQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: http.QueryInt = Field(default=50, ge=1, le=http.MAX_PAGE)
    continuation: http.Continuation | None = None


@blueprint.route(route="accounts/{id}/transfers", methods=["GET"])
@http.handles_problems
def account_transfers(req: func.HttpRequest) -> func.HttpResponse:
    """The account's transfers, newest first, paged: for its holder, those they requested from it and
    those credited to it; for an operator, all of them. Anyone else sees none, as for an id that names no
    account (the transfers service knows accounts only through their transfers)."""
    caller = identity.access(req)
    account_id = str(http.route_uuid(req))
    query = http.parse_query(req, AccountTransfersQuery)
    before = http.continuation_key(query.continuation) or KEY_MAX
    read_side = transfers().status.read_side
    rows: list[transfer_status.AccountTransfer]
    if caller.is_operator:
        found = read_side.rows(
            transfer_status.BY_ACCOUNT, account_id, key_before=before, descending=True, limit=query.limit + 1
        )
        page = page_of(found, query.limit)
        rows = page.items
    else:  # a signed-in caller (an open demo's anonymous one is an operator): their list, each transfer read
        assert caller.holder is not None
        partition = transfer_status.seen_by_partition(account_id, caller.holder)
        seen = read_side.rows(
            transfer_status.SEEN_BY, partition, key_before=before, descending=True, limit=query.limit + 1
        )
        page = page_of(seen, query.limit)
        views = ((read_side.get(decider.stream_id(row.transfer_id)), row.direction) for row in page.items)
        rows = [transfer_status.as_seen_by(view, direction) for view, direction in views if view is not None]
    body = {
        "account_id": account_id,
        "transfers": [
            row.model_dump(mode="json", exclude=set() if caller.is_operator else set(PRIVATE)) for row in rows
        ],
        "next": http.next_page(req, page.continuation),
    }
    return http.json_response(body)


# --- timeouts ---

# NCRONTAB (seconds first): every 15 seconds. A transfer waits at most its timeout plus this.
TRANSFER_SWEEP = "*/15 * * * * *"


@blueprint.function_name("expire_transfers")
@blueprint.timer_trigger(arg_name="timer", schedule=TRANSFER_SWEEP, run_on_startup=False)
def expire_transfers(timer: func.TimerRequest) -> None:
    """Every transfer waiting past its deadline for a step gives up on it (a debit or credit: the accounts
    service refuses it if it has not happened, whichever it records first) or asks for it again (a
    reversal). The read model only nominates: each transfer decides on its own stream."""
    root = bootstrap.root()
    expired = sweep(transfers(root), root.settings.transfer_timeout_seconds, datetime.now(UTC))
    log.info("%d transfers past their deadline (timer past due: %s)", expired, timer.past_due)


# Overdue transfers each sweep expires at most, per partition of the open transfers: the rest wait for the
# next sweep (those expired have moved on, out of the range, once the read model applied their time-out).
SWEEP_LIMIT = 100


def sweep(service: Transfers, timeout_seconds: float, now: datetime) -> int:
    """Expires the transfers whose last step is older than the timeout, oldest first, up to SWEEP_LIMIT
    per partition of the open transfers; returns how many were asked to. It reads only the overdue: a key
    range per partition, whatever the number of transfers that ever were."""
    before = transfer_status.overdue_before(now - timedelta(seconds=timeout_seconds))
    return sum(
        _expire_overdue(service, partition, before) for partition in transfer_status.OPEN_PARTITION_NAMES
    )


def _expire_overdue(service: Transfers, partition: str, before: str) -> int:
    expired, key_from = 0, ""
    while expired < SWEEP_LIMIT:
        page = service.status.read_side.rows(
            transfer_status.OPEN, partition, key_from=key_from, key_before=before, limit=SWEEP_LIMIT
        )
        for _, row in page:
            command = ExpireTransfer(step=PENDING_STEP[row.status])
            try:  # at the version the row showed: if the transfer moved on since, the next sweep looks again
                service.commands.handle(
                    decider.stream_id(row.transfer_id),
                    command,
                    Metadata(actor="timer"),
                    expected_version=row.version,
                )
            except VersionMismatch:  # a row behind its transfer (the read model lags): not counted
                continue
            expired += 1
            if expired == SWEEP_LIMIT:
                break
        if len(page) < SWEEP_LIMIT:
            break
        key_from = page[-1][0] + "\0"  # the next key after the last one read
    return expired
