"""Transfer status: each transfer with its status, reason and every step with its time; each account's
transfers (out and in), one row per transfer in the account's partition, keyed by when it was requested,
so a page newest first is one query; and the open transfers, keyed by when they last moved, so the timeout
sweep reads only those waiting past their deadline (a key range per partition, not a scan of them all)."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, assert_never

from pydantic import BaseModel, ConfigDict

from domain.transfers import (
    PENDING_STEP,
    CompensationStarted,
    SourceDebited,
    Status,
    TransferCompensated,
    TransferCompleted,
    TransferEvent,
    TransferFailed,
    TransferRequested,
    TransferTimedOut,
    decider,
)
from projections.account_statement import time_key
from projections.projection import Fact, Projection, Row, Table


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    at: datetime


class TransferView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    from_account: str
    to_account: str
    amount: int
    currency: str | None = None
    reference: str | None = None
    status: Status
    reason: str | None = None
    timed_out: str | None = None  # the step it gave up waiting for, if it did
    steps: tuple[Step, ...]
    requested_at: datetime
    updated_at: datetime
    version: int
    requested_by: str | None = None  # the principal who asked: who may read it
    target_holder: str | None = None  # the target account's holder, once it was credited


class Direction(StrEnum):
    OUT = "out"
    IN = "in"


class AccountTransfer(BaseModel):
    """One transfer as one of its accounts sees it."""

    model_config = ConfigDict(frozen=True)

    transfer_id: str
    direction: Direction
    counterparty: str
    amount: int
    currency: str | None
    status: Status
    reason: str | None
    requested_at: datetime
    updated_at: datetime
    requested_by: str | None = None


BY_ACCOUNT: Table[AccountTransfer] = Table("account-transfers", AccountTransfer)


class SeenTransfer(BaseModel):
    """A transfer in an account's list for one principal who may see it: written once (the requester's
    when it is requested, the target holder's when it is credited); the transfer's view is read for it."""

    model_config = ConfigDict(frozen=True)

    transfer_id: str
    direction: Direction


# An account's transfers for its holder: in the partition of the account and the principal who may see the
# transfer (the requester on the source side; the target's holder once it was credited), so a holder's page
# is one key range, with nothing of anyone else's in it to filter out (or to count).
SEEN_BY: Table[SeenTransfer] = Table("account-transfers-seen-by", SeenTransfer)


def seen_by_partition(account: str, principal: str) -> str:
    return f"{account}|{principal}"


class OpenTransfer(BaseModel):
    """A transfer as the timeout sweep sees it: the status it waits in, since when, at which version."""

    model_config = ConfigDict(frozen=True)

    transfer_id: str
    status: Status
    version: int
    updated_at: datetime


# Every transfer has one row here for good, keyed by when it last moved while it waits for a step and
# past every time key once it has ended, so a key range up to a deadline holds only the overdue ones.
# Spread over partitions by id: no one partition holds them all (Cosmos DB caps a logical partition).
OPEN: Table[OpenTransfer] = Table("open-transfers", OpenTransfer)
OPEN_PARTITIONS = 16
ENDED = "~"  # sorts after every time key (they start with a digit)


OPEN_PARTITION_NAMES = tuple(f"open-{n}" for n in range(OPEN_PARTITIONS))


def open_partition(transfer: str) -> str:
    return OPEN_PARTITION_NAMES[zlib.crc32(transfer.encode()) % OPEN_PARTITIONS]


def overdue_before(deadline: datetime) -> str:
    """The key before which the open transfers are those that last moved at or before `deadline`."""
    return f"{time_key(deadline)}|{ENDED}"


def transfer_id(stream_id: str) -> str:
    return decider.aggregate_id(stream_id)


def row_key(requested_at: datetime, transfer: str) -> str:
    return f"{time_key(requested_at)}|{transfer}"


def evolve(view: TransferView | None, fact: Fact[TransferEvent]) -> TransferView:
    event = fact.event
    if view is None:
        if not isinstance(event, TransferRequested):
            raise ValueError(f"{fact.stream_id} starts with {type(event).__name__}, not TransferRequested")
        return TransferView(
            id=transfer_id(fact.stream_id),
            from_account=event.from_account,
            to_account=event.to_account,
            amount=event.amount,
            reference=event.reference,
            status=Status.REQUESTED,
            steps=(Step(status=Status.REQUESTED, at=fact.recorded_at),),
            requested_at=fact.recorded_at,
            updated_at=fact.recorded_at,
            version=fact.version,
            requested_by=event.requested_by,
        )
    changes: dict[str, Any] = {"version": fact.version, "updated_at": fact.recorded_at}
    match event:
        case TransferRequested():
            return view.model_copy(update=changes)
        case TransferTimedOut():  # asked the accounts service to settle the step: no new status yet
            return view.model_copy(update=changes | {"timed_out": event.step})
        case SourceDebited():
            changes |= {"status": Status.DEBITED, "currency": event.currency}
        case TransferCompleted():
            changes |= {"status": Status.COMPLETED, "target_holder": event.target_holder}
        case TransferFailed():
            changes |= {"status": Status.FAILED, "reason": event.reason}
        case CompensationStarted():
            changes |= {"status": Status.COMPENSATING, "reason": event.reason}
        case TransferCompensated():
            changes |= {"status": Status.COMPENSATED, "reason": event.reason}
        case _:
            assert_never(event)
    changes["steps"] = (*view.steps, Step(status=changes["status"], at=fact.recorded_at))
    return view.model_copy(update=changes)


def rows(view: TransferView, fact: Fact[TransferEvent]) -> Sequence[Row[Any]]:
    key = row_key(view.requested_at, view.id)
    sent = _as_seen_by(view, Direction.OUT, view.to_account)
    received = _as_seen_by(view, Direction.IN, view.from_account)
    waiting = OpenTransfer(
        transfer_id=view.id, status=view.status, version=view.version, updated_at=view.updated_at
    )
    open_key = row_key(view.updated_at, view.id) if view.status in PENDING_STEP else f"{ENDED}|{view.id}"
    seen = [
        Row(SEEN_BY, seen_by_partition(account, principal), view.id, key, functools.partial(_same, row))
        for account, principal, row, written_at in (
            (
                view.from_account,
                view.requested_by,
                SeenTransfer(transfer_id=view.id, direction=Direction.OUT),
                TransferRequested,
            ),
            (
                view.to_account,
                view.target_holder,
                SeenTransfer(transfer_id=view.id, direction=Direction.IN),
                TransferCompleted,
            ),
        )
        if principal is not None and isinstance(fact.event, written_at)
    ]
    return (
        Row(BY_ACCOUNT, view.from_account, view.id, key, lambda _: sent),
        Row(BY_ACCOUNT, view.to_account, view.id, key, lambda _: received),
        *seen,
        Row(OPEN, open_partition(view.id), view.id, open_key, lambda _: waiting),
    )


def _same(row: SeenTransfer, _: SeenTransfer | None) -> SeenTransfer:
    return row


def as_seen_by(view: TransferView, direction: Direction) -> AccountTransfer:
    """A transfer as one of its accounts sees it, from the transfer's view."""
    if direction is Direction.OUT:
        return _as_seen_by(view, Direction.OUT, view.to_account)
    return _as_seen_by(view, Direction.IN, view.from_account)


def _as_seen_by(view: TransferView, direction: Direction, counterparty: str) -> AccountTransfer:
    return AccountTransfer(
        transfer_id=view.id,
        direction=direction,
        counterparty=counterparty,
        amount=view.amount,
        currency=view.currency,
        status=view.status,
        reason=view.reason,
        requested_at=view.requested_at,
        updated_at=view.updated_at,
        requested_by=view.requested_by,
    )


projection: Projection[TransferEvent, TransferView] = Projection(
    name="transfer-status",
    category=decider.category,
    document_id=transfer_id,
    view_type=TransferView,
    evolve=evolve,
    rows=rows,
    tables=(BY_ACCOUNT, SEEN_BY, OPEN),
)
