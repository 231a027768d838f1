"""Daily totals per currency: money deposited and withdrawn, accounts opened and closed, per UTC day.

Totals span streams, and streams arrive in no global order, so each account keeps its own contribution
to each day (a row in the day's partition, with the account's version applied); a day's totals are the
sum of its rows, added up when queried. Replays and duplicates cannot count anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date
from typing import Annotated, Any, assert_never

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from domain.accounts import (
    TRANSFER_STEP_TYPES,
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


def _whole_number(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not (value.isascii() and value.isdigit()):
        raise ValueError("a sum is written with the digits 0 to 9")
    return int(value)


# A day's sum of money: it can pass 2^53 (some 9,000 operations of 10^12 on one day), which a JSON number
# does not hold exactly in every reader (Cosmos DB, JavaScript), so it is written as a string of digits,
# stored and answered alike; reading takes the string or, from rows written before, a number.
Sum = Annotated[int, BeforeValidator(_whole_number), PlainSerializer(str, return_type=str, when_used="json")]


class Contribution(BaseModel):
    """One account's share of one day."""

    model_config = ConfigDict(frozen=True)

    day: date
    currency: str
    deposits: Sum = 0
    withdrawals: Sum = 0
    opened: int = 0
    closed: int = 0


class DailyTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: date
    currency: str
    deposits: Sum
    withdrawals: Sum
    accounts_opened: int
    accounts_closed: int


class AccountCurrency(BaseModel):
    """The stream's own document: what its later events need to know (and its checkpoint)."""

    model_config = ConfigDict(frozen=True)

    id: str
    currency: str | None


CONTRIBUTIONS: Table[Contribution] = Table("daily-contributions", Contribution)


def account_id(stream_id: str) -> str:
    return decider.aggregate_id(stream_id)


def day_partition(day: date) -> str:
    return day.isoformat()


def evolve(state: AccountCurrency | None, fact: Fact[AccountEvent]) -> AccountCurrency:
    current = state or AccountCurrency(id=account_id(fact.stream_id), currency=None)
    if isinstance(fact.event, AccountOpened):
        return current.model_copy(update={"currency": fact.event.currency})
    return current


def rows(state: AccountCurrency, fact: Fact[AccountEvent]) -> Sequence[Row[Any]]:
    if state.currency is None or isinstance(fact.event, TRANSFER_STEP_TYPES):
        return ()  # transfers move money between accounts: no deposit, no withdrawal
    day, currency, event = fact.recorded_at.astimezone(UTC).date(), state.currency, fact.event

    def add(contribution: Contribution | None) -> Contribution:
        current = contribution or Contribution(day=day, currency=currency)
        match event:
            case AccountOpened():
                return current.model_copy(update={"opened": current.opened + 1})
            case MoneyDeposited():
                return current.model_copy(update={"deposits": current.deposits + event.amount})
            case MoneyWithdrawn():
                return current.model_copy(update={"withdrawals": current.withdrawals + event.amount})
            case AccountClosed():
                return current.model_copy(update={"closed": current.closed + 1})
            case (
                TransferDebited()
                | TransferDebitRefused()
                | TransferCredited()
                | TransferCreditRefused()
                | TransferDebitReversed()
                | TransferDecisionRestated()
            ):
                return current
            case _:
                assert_never(event)

    return (Row(CONTRIBUTIONS, day_partition(day), state.id, state.id, add),)


def totals(contributions: Sequence[Contribution]) -> list[DailyTotal]:
    """A day's (or several days') contributions summed per day and currency, in day then currency order."""
    summed: dict[tuple[date, str], DailyTotal] = {}
    for c in contributions:
        before = summed.get((c.day, c.currency))
        summed[(c.day, c.currency)] = DailyTotal(
            day=c.day,
            currency=c.currency,
            deposits=c.deposits + (before.deposits if before else 0),
            withdrawals=c.withdrawals + (before.withdrawals if before else 0),
            accounts_opened=c.opened + (before.accounts_opened if before else 0),
            accounts_closed=c.closed + (before.accounts_closed if before else 0),
        )
    return [summed[k] for k in sorted(summed)]


projection: Projection[AccountEvent, AccountCurrency] = Projection(
    name="daily-totals",
    category=decider.category,
    document_id=account_id,
    view_type=AccountCurrency,
    evolve=evolve,
    rows=rows,
    tables=(CONTRIBUTIONS,),
)
