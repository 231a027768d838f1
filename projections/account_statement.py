"""Account statement: every deposit and withdrawal of an account with the balance after it, one row per
line in the account's partition, keyed by when it was recorded (then version), so a page newest first or
a time range is one query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, assert_never

from pydantic import BaseModel, ConfigDict

from domain.accounts import (
    AccountClosed,
    AccountEvent,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferCredited,
    TransferCreditRefused,
    TransferDebited,
    TransferDebitRefused,
    TransferDebitReversed,
    TransferDecisionRestated,
    decider,
)
from projections.projection import Fact, Projection, Row, Table


class Entry(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer-out"
    TRANSFER_IN = "transfer-in"
    REVERSAL = "reversal"  # a transfer out that could not be credited, given back


class StatementLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    recorded_at: datetime
    entry: Entry
    amount: int
    balance_after: int
    reference: str | None
    counterparty: str | None = None  # the other account of a transfer
    transfer_id: str | None = None


class StatementHeader(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    currency: str | None
    balance: int
    version: int
    holder: str | None = None  # the principal who opened the account: who may read its statement


LINES: Table[StatementLine] = Table("statement-lines", StatementLine)


def account_id(stream_id: str) -> str:
    return decider.aggregate_id(stream_id)


def line_key(recorded_at: datetime, version: int) -> str:
    """Sorts as the lines happened; a time alone (`time_key`) bounds a range of them."""
    return f"{time_key(recorded_at)}|{version:012d}"


def time_key(moment: datetime) -> str:
    # isoformat pads the year to four digits (strftime's %Y does not before 1000), so keys sort as times
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def evolve(header: StatementHeader | None, fact: Fact[AccountEvent]) -> StatementHeader:
    current = header or StatementHeader(id=account_id(fact.stream_id), currency=None, balance=0, version=0)
    event = fact.event
    match event:
        case AccountOpened():
            return current.model_copy(
                update={"version": fact.version, "currency": event.currency, "holder": event.holder}
            )
        case (
            MoneyDeposited()
            | MoneyWithdrawn()
            | TransferDebited()
            | TransferCredited()
            | TransferDebitReversed()
        ):
            return current.model_copy(update={"version": fact.version, "balance": event.balance_after})
        case AccountClosed() | TransferDebitRefused() | TransferCreditRefused() | TransferDecisionRestated():
            return current.model_copy(update={"version": fact.version})
        case _:
            assert_never(event)


def line_of(fact: Fact[AccountEvent]) -> StatementLine | None:
    """The statement line an event makes, if it moved money."""
    event = fact.event
    match event:
        case MoneyDeposited() | MoneyWithdrawn():
            entry = Entry.DEPOSIT if isinstance(event, MoneyDeposited) else Entry.WITHDRAWAL
            return StatementLine(
                version=fact.version,
                recorded_at=fact.recorded_at,
                entry=entry,
                amount=event.amount,
                balance_after=event.balance_after,
                reference=event.reference,
            )
        case TransferDebited() | TransferCredited() | TransferDebitReversed():
            return StatementLine(
                version=fact.version,
                recorded_at=fact.recorded_at,
                entry=TRANSFER_ENTRIES[type(event)],
                amount=event.amount,
                balance_after=event.balance_after,
                reference=None,
                counterparty=event.counterparty,
                transfer_id=event.transfer_id,
            )
        case (
            AccountOpened()
            | AccountClosed()
            | TransferDebitRefused()
            | TransferCreditRefused()
            | TransferDecisionRestated()
        ):
            return None
        case _:
            assert_never(event)


TRANSFER_ENTRIES = {
    TransferDebited: Entry.TRANSFER_OUT,
    TransferCredited: Entry.TRANSFER_IN,
    TransferDebitReversed: Entry.REVERSAL,
}


def rows(header: StatementHeader, fact: Fact[AccountEvent]) -> Sequence[Row[Any]]:
    line = line_of(fact)
    if line is None:
        return ()
    key = line_key(fact.recorded_at, fact.version)
    return (Row(LINES, header.id, f"{fact.version:012d}", key, lambda _: line),)


projection: Projection[AccountEvent, StatementHeader] = Projection(
    name="account-statement",
    category=decider.category,
    document_id=account_id,
    view_type=StatementHeader,
    evolve=evolve,
    rows=rows,
    tables=(LINES,),
)
