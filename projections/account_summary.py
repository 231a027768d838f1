"""Account summary: one document per account with its owner, holder, currency, balance and status, and a
copy of it in its owner's partition of `accounts-by-owner` (a PersonKey: filed under the owner's subject
id, emails comparing ignoring ASCII case) and in its holder's partition of `accounts-by-holder` (a
signed-in caller's accounts). The owner's name and email are personal data: stored sealed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, assert_never

from pydantic import BaseModel, ConfigDict

from domain.accounts import (
    AccountClosed,
    AccountEvent,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    Status,
    TransferCredited,
    TransferCreditRefused,
    TransferDebited,
    TransferDebitRefused,
    TransferDebitReversed,
    TransferDecisionRestated,
    decider,
)
from domain.decider import ERASED, Personal
from projections.projection import Fact, PersonKey, Projection, Row, Table


class Owner(BaseModel):
    model_config = ConfigDict(frozen=True)

    # stored sealed with the owner's key, as in the events (infra/app/sealing.py)
    name: Annotated[str, Personal("email")]
    email: Annotated[str, Personal("email")]


class AccountSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    owner: Owner | None
    currency: str | None
    balance: int
    status: Status
    version: int
    updated_at: datetime
    holder: str | None = None  # the principal who opened it


def account_id(stream_id: str) -> str:
    return decider.aggregate_id(stream_id)


def evolve(summary: AccountSummary | None, fact: Fact[AccountEvent]) -> AccountSummary:
    current = summary or AccountSummary(
        id=account_id(fact.stream_id),
        owner=None,
        currency=None,
        balance=0,
        status=Status.UNOPENED,
        version=0,
        updated_at=fact.recorded_at,
    )
    moved = {"version": fact.version, "updated_at": fact.recorded_at}
    event = fact.event
    match event:
        case AccountOpened():
            return current.model_copy(
                update={
                    **moved,
                    "owner": Owner(name=event.owner.name, email=event.owner.email),
                    "currency": event.currency,
                    "status": Status.OPEN,
                    "holder": event.holder,
                }
            )
        case (
            MoneyDeposited()
            | MoneyWithdrawn()
            | TransferDebited()
            | TransferCredited()
            | TransferDebitReversed()
        ):
            return current.model_copy(update={**moved, "balance": event.balance_after})
        case AccountClosed():
            return current.model_copy(update={**moved, "status": Status.CLOSED})
        case TransferDebitRefused() | TransferCreditRefused() | TransferDecisionRestated():
            return current.model_copy(update=moved)
        case _:
            assert_never(event)


def owner_partition(email: str) -> str:
    """The partition of an owner's accounts where no keyed subject ids are made (read models without
    sealing); with sealing, the writer files them under the owner's subject id instead."""
    return PersonKey(email).plain()


class HeldAccount(BaseModel):
    """An account in its holder's list: written once, when it is opened (the summary is read for it)."""

    model_config = ConfigDict(frozen=True)

    id: str


BY_OWNER: Table[AccountSummary] = Table("accounts-by-owner", AccountSummary)
BY_HOLDER: Table[HeldAccount] = Table("accounts-by-holder", HeldAccount)


def holder_partition(holder: str) -> str:
    return f"holder-{holder}"


def rows(summary: AccountSummary, fact: Fact[AccountEvent]) -> Sequence[Row[Any]]:
    if summary.owner is None:
        return ()
    copies: list[Row[Any]] = []
    if summary.owner.email != ERASED:  # a forgotten owner is looked up no more (forget drops their rows)
        copies.append(
            Row(BY_OWNER, PersonKey(summary.owner.email), summary.id, summary.id, lambda _: summary)
        )
    if summary.holder is not None and isinstance(fact.event, AccountOpened):  # a holder never changes
        held = HeldAccount(id=summary.id)
        copies.append(
            Row(BY_HOLDER, holder_partition(summary.holder), summary.id, summary.id, lambda _: held)
        )
    return copies


projection: Projection[AccountEvent, AccountSummary] = Projection(
    name="account-summary",
    category=decider.category,
    document_id=account_id,
    view_type=AccountSummary,
    evolve=evolve,
    rows=rows,
    tables=(BY_OWNER, BY_HOLDER),
)
