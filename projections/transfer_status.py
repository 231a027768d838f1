"""Transfer status: each transfer with its status, reason and every step with its time; and each account's
transfers (out and in), one row per transfer in the account's partition, keyed by when it was requested,
so a page newest first is one query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, assert_never

from pydantic import BaseModel, ConfigDict

from domain.transfers import (
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


BY_ACCOUNT: Table[AccountTransfer] = Table("account-transfers", AccountTransfer)


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
            changes |= {"status": Status.COMPLETED}
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
    return (
        Row(BY_ACCOUNT, view.from_account, view.id, key, lambda _: sent),
        Row(BY_ACCOUNT, view.to_account, view.id, key, lambda _: received),
    )


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
    )


projection: Projection[TransferEvent, TransferView] = Projection(
    name="transfer-status",
    category=decider.category,
    document_id=transfer_id,
    view_type=TransferView,
    evolve=evolve,
    rows=rows,
    tables=(BY_ACCOUNT,),
)
