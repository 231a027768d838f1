"""The account aggregate as a decider: pure functions, no I/O.

Sections, in the order every aggregate module keeps: events, state, initial, evolve, commands and
errors, decide, queries.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, assert_never

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints
from pydantic_extra_types.currency_code import ISO4217

from domain.decider import Decider, Upcaster
from domain.errors import Conflict, NotFound

MIN_AMOUNT = 1
MAX_AMOUNT = 10**12
# Balances stay below 2**53 so every JSON reader (Cosmos DB included) holds them exactly.
MAX_BALANCE = 10**15

Amount = Annotated[int, Field(strict=True, ge=MIN_AMOUNT, le=MAX_AMOUNT)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)]
OwnerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _upper_case_code(value: object) -> object:
    if isinstance(value, str) and not (len(value) == 3 and value.isascii() and value.isupper()):
        raise ValueError("a currency is an ISO 4217 code in upper case, such as EUR")
    return value


Currency = Annotated[ISO4217, BeforeValidator(_upper_case_code)]


# --- events -----------------------------------------------------------------------------------------
# Events are the storage format. Change a field only together with a new schema_version and an
# upcaster (see UPCASTERS below); never edit the meaning of a stored version.


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: ClassVar[int] = 1


class AccountOpened(Event):
    owner_name: str
    owner_email: str
    currency: str


class MoneyDeposited(Event):
    amount: int
    balance_after: int
    reference: str | None = None


class MoneyWithdrawn(Event):
    amount: int
    balance_after: int
    reference: str | None = None


class AccountClosed(Event):
    pass


AccountEvent = AccountOpened | MoneyDeposited | MoneyWithdrawn | AccountClosed
EVENT_TYPES: tuple[type[AccountEvent], ...] = (AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed)

# (event type, stored schema version) -> a function turning that version's data into the next version's.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


# --- state ------------------------------------------------------------------------------------------


class Status(StrEnum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    owner_name: str | None = None
    owner_email: str | None = None
    currency: str | None = None
    balance: int = 0


# --- initial ----------------------------------------------------------------------------------------

initial = Account(status=Status.UNOPENED)


# --- evolve -----------------------------------------------------------------------------------------


def evolve(state: Account, event: AccountEvent) -> Account:
    match event:
        case AccountOpened():
            return Account(
                status=Status.OPEN,
                owner_name=event.owner_name,
                owner_email=event.owner_email,
                currency=event.currency,
            )
        case MoneyDeposited() | MoneyWithdrawn():
            return state.model_copy(update={"balance": event.balance_after})
        case AccountClosed():
            return state.model_copy(update={"status": Status.CLOSED})
        case _:
            assert_never(event)


# --- commands and errors ----------------------------------------------------------------------------


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenAccount(Command):
    owner_name: OwnerName
    owner_email: EmailStr
    currency: Currency


class DepositMoney(Command):
    amount: Amount
    reference: Reference | None = None


class WithdrawMoney(Command):
    amount: Amount
    reference: Reference | None = None


class CloseAccount(Command):
    pass


AccountCommand = OpenAccount | DepositMoney | WithdrawMoney | CloseAccount


class AccountNotFound(NotFound):
    pass


class AccountAlreadyOpened(Conflict):
    pass


class AccountNotOpen(Conflict):
    pass


class InsufficientFunds(Conflict):
    pass


class AccountHasFunds(Conflict):
    pass


class BalanceLimitExceeded(Conflict):
    pass


# --- decide -----------------------------------------------------------------------------------------


def decide(state: Account, command: AccountCommand) -> list[AccountEvent]:
    match command:
        case OpenAccount():
            if state.status is not Status.UNOPENED:
                raise AccountAlreadyOpened("this account has already been opened")
            return [
                AccountOpened(
                    owner_name=command.owner_name,
                    owner_email=str(command.owner_email),
                    currency=str(command.currency),
                )
            ]
        case DepositMoney():
            _require_open(state)
            balance_after = state.balance + command.amount
            if balance_after > MAX_BALANCE:
                raise BalanceLimitExceeded(f"a balance may not exceed {MAX_BALANCE} minor units")
            return [
                MoneyDeposited(
                    amount=command.amount, balance_after=balance_after, reference=command.reference
                )
            ]
        case WithdrawMoney():
            _require_open(state)
            if command.amount > state.balance:
                raise InsufficientFunds(
                    f"cannot withdraw {command.amount}: the balance is {state.balance} {state.currency}"
                )
            return [
                MoneyWithdrawn(
                    amount=command.amount,
                    balance_after=state.balance - command.amount,
                    reference=command.reference,
                )
            ]
        case CloseAccount():
            if state.status is Status.CLOSED:
                return []
            _require_open(state)
            if state.balance != 0:
                raise AccountHasFunds(
                    f"withdraw the balance of {state.balance} {state.currency} before closing the account"
                )
            return [AccountClosed()]
        case _:
            assert_never(command)


def _require_open(state: Account) -> None:
    if state.status is Status.UNOPENED:
        raise AccountNotFound("no such account")
    if state.status is Status.CLOSED:
        raise AccountNotOpen("the account is closed")


# --- queries ----------------------------------------------------------------------------------------


def is_open(state: Account) -> bool:
    return state.status is Status.OPEN


decider: Decider[Account, AccountCommand, AccountEvent] = Decider(
    category="account",
    initial=initial,
    evolve=evolve,
    decide=decide,
    state_type=Account,
    event_types=EVENT_TYPES,
    upcasters=UPCASTERS,
)
