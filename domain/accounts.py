"""The account aggregate as a decider: pure functions, no I/O.

Sections, in the order every aggregate module keeps: events, state, initial, evolve, commands and
errors, decide, queries.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, ClassVar, assert_never

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)
from pydantic_extra_types.currency_code import ISO4217

from domain.decider import Decider, Personal, Reaction, Upcaster
from domain.errors import Conflict, NotFound

MIN_AMOUNT = 1
MAX_AMOUNT = 10**12
# Balances stay below 2**53 so every JSON reader (Cosmos DB included) holds them exactly.
MAX_BALANCE = 10**15


def _whole_number(value: object) -> object:
    # JSON Schema counts 5.0 as an integer, and so does the API: a whole number is taken however it is
    # written; a fraction, a string or a boolean still is not an amount.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Amount = Annotated[int, Field(strict=True, ge=MIN_AMOUNT, le=MAX_AMOUNT), BeforeValidator(_whole_number)]

# Free text is shown back in statements and audit trails: no control characters, no invisible format
# characters (bidirectional overrides and isolates, which can make a line read other than it is), no line
# or paragraph separators, nothing private-use, surrogate or unassigned. The zero-width joiner and
# non-joiner stay: scripts (Persian, Indic) and emoji need them.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_JOINERS = frozenset({"\u200c", "\u200d"})
# What a JSON Schema pattern can say of it, in the regular expressions every reader shares: the named
# categories in the Basic Multilingual Plane, one escape per code unit (surrogates and unassigned code
# points are left to the description). Spaces around the text are dropped, as `str.strip` drops them (tabs
# and line breaks included); inside, the text keeps its spaces but no control character.
_PATTERN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Zl", "Zp"})


def unshown(character: str) -> bool:
    """Whether a character may not appear in free text, because it would not be shown as written."""
    return character not in _JOINERS and unicodedata.category(character) in _UNSHOWN


def _shown_as_written(text: str) -> str:
    text = text.strip()
    if not text.strip("".join(_JOINERS)):
        raise ValueError("needs at least one character that is not a space or a joiner")
    for character in text:
        if unshown(character):
            name = unicodedata.name(character, "an unnamed character")
            raise ValueError(f"{name} (U+{ord(character):04X}) cannot be shown as written: leave it out")
    return text


def _ranges(codes: Sequence[int]) -> str:
    spans: list[list[int]] = []
    for code in codes:
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return "".join(f"\\u{a:04X}" + (f"-\\u{b:04X}" if b > a else "") for a, b in spans)


@functools.cache
def _free_text_pattern() -> str:
    plane = [chr(code) for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF]
    refused = _ranges(
        [ord(c) for c in plane if c not in _JOINERS and unicodedata.category(c) in _PATTERN_CATEGORIES]
    )
    spaces = _ranges([ord(c) for c in plane if c.isspace()])
    joiners = _ranges(sorted(ord(c) for c in _JOINERS))
    kept = f"[^{refused}{spaces}]"  # neither refused nor a space: what the text begins and ends with
    visible = f"[^{refused}{spaces}{joiners}]"  # and at least one of them is not a joiner either
    return f"^[{spaces}]*(?:{kept}[^{refused}]*)?{visible}(?:[^{refused}]*{kept})?[{spaces}]*$"


def _document_free_text(schema: dict[str, Any]) -> None:
    schema["pattern"] = _free_text_pattern()
    schema["description"] = (
        "Free text, shown as written: at least one character that is neither a space nor a joiner, and "
        "no control, format (such as bidirectional overrides), line or paragraph separator, private-use, "
        "surrogate or unassigned characters (the zero-width joiner and non-joiner are allowed). White "
        "space around it is dropped (what Python's str.strip drops: spaces, tabs, line breaks, and the "
        "information separators U+001C to U+001F); the length counts it."
    )


# The length is of the text as sent, the spaces around it included, so that the schema's maxLength and
# the app agree; what is stored has them dropped.
Reference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=140),
    AfterValidator(_shown_as_written),
    Field(json_schema_extra=_document_free_text),
]
OwnerName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_shown_as_written),
    Field(json_schema_extra=_document_free_text),
]


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


class Owner(BaseModel):
    """Who an account belongs to: the personal data of an account, kept together."""

    # Both fields are stored sealed with the key of the person the email names (infra/app/sealing.py), and
    # erased together when that key is destroyed.
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Annotated[str, Personal("email")]
    email: Annotated[str, Personal("email")]


class AccountOpened(Event):
    # v2 keeps the owner's personal data in one field (v1 had owner_name and owner_email side by side):
    # one place to protect, and later to erase, it. v3 records the account's holder: the id of the signed-in
    # principal who opened it, the only one who may act on it (None: opened before identity, or in an open
    # demo). Stored older versions are upcast on read (UPCASTERS).
    schema_version: ClassVar[int] = 3
    owner: Owner
    currency: str
    holder: str | None = None


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


# A transfer's steps on the accounts it moves money between (domain/transfers.py drives them). Each names
# its transfer and the other account; a refusal is an event too, so the transfer learns of it.


class TransferDebited(Event):
    transfer_id: str
    amount: int
    currency: str
    balance_after: int
    counterparty: str


class TransferDebitRefused(Event):
    transfer_id: str
    reason: str


class TransferCredited(Event):
    # v2 names the account's holder, so the transfers service can show the transfer to them (the
    # accounts service is the one that knows who holds an account)
    schema_version: ClassVar[int] = 2
    transfer_id: str
    amount: int
    balance_after: int
    counterparty: str
    holder: str | None = None


class TransferCreditRefused(Event):
    transfer_id: str
    reason: str


class TransferDebitReversed(Event):
    transfer_id: str
    amount: int
    balance_after: int
    counterparty: str


class TransferDecisionRestated(Event):
    """A step of a transfer this account decided earlier, announced again (`decision` names the event
    that recorded it, `data` is that event's data): a timed-out transfer asked again, and the first
    announcement may have been lost. Nothing changes on the account."""

    transfer_id: str
    decision: str
    data: dict[str, Any]


AccountEvent = (
    AccountOpened
    | MoneyDeposited
    | MoneyWithdrawn
    | AccountClosed
    | TransferDebited
    | TransferDebitRefused
    | TransferCredited
    | TransferCreditRefused
    | TransferDebitReversed
    | TransferDecisionRestated
)
# An account's side of transfers: the steps it records (and its refusals), none a deposit or withdrawal.
TRANSFER_STEP_TYPES: tuple[type[AccountEvent], ...] = (
    TransferDebited,
    TransferDebitRefused,
    TransferCredited,
    TransferCreditRefused,
    TransferDebitReversed,
    TransferDecisionRestated,
)
EVENT_TYPES: tuple[type[AccountEvent], ...] = (
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    AccountClosed,
    *TRANSFER_STEP_TYPES,
)

# (event type, stored schema version) -> a function turning that version's data into the next version's.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("AccountOpened", 1): lambda data: {
        "owner": {"name": data["owner_name"], "email": data["owner_email"]},
        "currency": data["currency"],
    },
    ("AccountOpened", 2): lambda data: {**data, "holder": None},
    ("TransferCredited", 1): lambda data: {**data, "holder": None},
}


# --- state ------------------------------------------------------------------------------------------


class Status(StrEnum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    owner_name: Annotated[str | None, Personal("owner_email")] = None
    owner_email: Annotated[str | None, Personal("owner_email")] = None
    currency: str | None = None
    balance: int = 0
    holder: str | None = None  # the principal who opened it


# --- initial ----------------------------------------------------------------------------------------

initial = Account(status=Status.UNOPENED)


# --- evolve -----------------------------------------------------------------------------------------


def evolve(state: Account, event: AccountEvent) -> Account:
    match event:
        case AccountOpened():
            return Account(
                status=Status.OPEN,
                owner_name=event.owner.name,
                owner_email=event.owner.email,
                currency=event.currency,
                holder=event.holder,
            )
        case (
            MoneyDeposited()
            | MoneyWithdrawn()
            | TransferDebited()
            | TransferCredited()
            | TransferDebitReversed()
        ):
            return state.model_copy(update={"balance": event.balance_after})
        case AccountClosed():
            return state.model_copy(update={"status": Status.CLOSED})
        case TransferDebitRefused() | TransferCreditRefused() | TransferDecisionRestated():
            return state
        case _:
            assert_never(event)


# --- commands and errors ----------------------------------------------------------------------------


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenAccount(Command):
    owner_name: OwnerName
    owner_email: EmailStr
    currency: Currency
    holder: str | None = None  # the signed-in principal opening it (from the platform, never the body)


class DepositMoney(Command):
    amount: Amount
    reference: Reference | None = None


class WithdrawMoney(Command):
    amount: Amount
    reference: Reference | None = None


class CloseAccount(Command):
    pass


class DebitForTransfer(Command):
    """Take a transfer's amount from this (its source) account, or refuse, saying why; with `cancel`, the
    transfer gave up waiting: refuse it (only the first decision recorded for a step counts)."""

    transfer_id: str
    amount: Amount
    counterparty: str
    cancel: bool = False
    requested_by: str | None = None  # who asked for the transfer: only the account's holder may


class CreditForTransfer(Command):
    """Give a transfer's amount, in the source's currency, to this (its target) account, or refuse."""

    transfer_id: str
    amount: Amount
    currency: str
    counterparty: str
    cancel: bool = False


class ReverseTransferDebit(Command):
    """Give the source account back what a transfer that could not be credited took from it."""

    transfer_id: str
    amount: Amount
    counterparty: str


class RestateTransferDecision(Command):
    """Announce again a transfer step this account decided (see TransferDecisionRestated)."""

    transfer_id: str
    decision: str
    data: dict[str, Any]


AccountCommand = (
    OpenAccount
    | DepositMoney
    | WithdrawMoney
    | CloseAccount
    | DebitForTransfer
    | CreditForTransfer
    | ReverseTransferDebit
    | RestateTransferDecision
)


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
                    owner=Owner(name=command.owner_name, email=str(command.owner_email)),
                    currency=str(command.currency),
                    holder=command.holder,
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
            if not (state.status is Status.CLOSED and state.balance > 0):
                # A closed account holds money only when a reversal gave back what a transfer took after
                # it was closed: it can still pay that out, so no money is ever stuck on it.
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
        case DebitForTransfer():
            refusal = (
                RefusalReason.TIMED_OUT
                if command.cancel
                else _debit_refusal(state, command.amount, command.requested_by)
            )
            if refusal is not None:
                return [TransferDebitRefused(transfer_id=command.transfer_id, reason=refusal)]
            assert state.currency is not None
            return [
                TransferDebited(
                    transfer_id=command.transfer_id,
                    amount=command.amount,
                    currency=state.currency,
                    balance_after=state.balance - command.amount,
                    counterparty=command.counterparty,
                )
            ]
        case CreditForTransfer():
            refusal = (
                RefusalReason.TIMED_OUT
                if command.cancel
                else _credit_refusal(state, command.amount, command.currency)
            )
            if refusal is not None:
                return [TransferCreditRefused(transfer_id=command.transfer_id, reason=refusal)]
            return [
                TransferCredited(
                    transfer_id=command.transfer_id,
                    amount=command.amount,
                    balance_after=state.balance + command.amount,
                    counterparty=command.counterparty,
                    holder=state.holder,
                )
            ]
        case ReverseTransferDebit():
            # Always: the money left this account, so it comes back, even if the account closed since
            # (a closed account can still withdraw what it holds: see WithdrawMoney).
            return [
                TransferDebitReversed(
                    transfer_id=command.transfer_id,
                    amount=command.amount,
                    balance_after=state.balance + command.amount,
                    counterparty=command.counterparty,
                )
            ]
        case RestateTransferDecision():
            return [
                TransferDecisionRestated(
                    transfer_id=command.transfer_id, decision=command.decision, data=command.data
                )
            ]
        case _:
            assert_never(command)


class RefusalReason(StrEnum):
    """Why the accounts service refused a transfer's step: what the transfer then shows."""

    UNKNOWN_ACCOUNT = "unknown account"
    ACCOUNT_CLOSED = "account closed"
    INSUFFICIENT_FUNDS = "insufficient funds"
    CURRENCY_MISMATCH = "currency mismatch"
    BALANCE_LIMIT = "balance limit exceeded"
    TIMED_OUT = "timed out"  # the transfer gave up waiting before the step was made


def _debit_refusal(state: Account, amount: int, requested_by: str | None) -> RefusalReason | None:
    # someone else's account is no account to them: they learn nothing of it, not even that it is closed
    if state.status is Status.UNOPENED or requested_by != state.holder:
        return RefusalReason.UNKNOWN_ACCOUNT
    if state.status is Status.CLOSED:
        return RefusalReason.ACCOUNT_CLOSED
    if amount > state.balance:
        return RefusalReason.INSUFFICIENT_FUNDS
    return None


def _credit_refusal(state: Account, amount: int, currency: str) -> RefusalReason | None:
    if state.status is Status.UNOPENED:
        return RefusalReason.UNKNOWN_ACCOUNT
    if state.status is Status.CLOSED:
        return RefusalReason.ACCOUNT_CLOSED
    if currency != state.currency:
        return RefusalReason.CURRENCY_MISMATCH
    if state.balance + amount > MAX_BALANCE:
        return RefusalReason.BALANCE_LIMIT
    return None


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


# --- reactions --------------------------------------------------------------------------------------
# What the accounts service does with the transfers service's events: a tolerant reader of them (only the
# fields it needs; any other event is skipped). Each step is recorded on the account's stream under a key
# of the transfer and the step, so a redelivered or repeated request moves money once, and whichever of
# the step and its cancellation (the transfer timed out) is recorded first is the step's one decision.


# The transfer event that asks for each step; a TransferTimedOut names its step itself.
STEP_REQUESTED_BY = {
    "TransferRequested": "debit",
    "SourceDebited": "credit",
    "CompensationStarted": "reversal",
}


def react_to_transfers(
    event_type: str, stream_id: str, version: int, data: Mapping[str, Any]
) -> list[Reaction[AccountCommand]]:
    timed_out = event_type == "TransferTimedOut"
    step = data["step"] if timed_out else STEP_REQUESTED_BY.get(event_type)
    if step not in ("debit", "credit", "reversal"):
        return []
    transfer_id = stream_id.removeprefix("transfer-")
    source, target, amount = data["from_account"], data["to_account"], data["amount"]
    cancel = timed_out and step != "reversal"  # a timed-out debit or credit is refused if not yet made
    command: AccountCommand
    if step == "debit":
        account = source
        command = DebitForTransfer(
            transfer_id=transfer_id,
            amount=amount,
            counterparty=target,
            cancel=cancel,
            requested_by=data.get("requested_by"),
        )
    elif step == "credit":
        account = target
        currency = (data["currency"] or "") if timed_out else data["currency"]
        command = CreditForTransfer(
            transfer_id=transfer_id, amount=amount, currency=currency, counterparty=source, cancel=cancel
        )
    else:
        account = source
        command = ReverseTransferDebit(transfer_id=transfer_id, amount=amount, counterparty=target)
    return [
        Reaction(
            decider.stream_id(account),
            command,
            f"transfer:{transfer_id}:{step}",
            # asked again after a timeout, a step already decided is announced again: its answer may be lost
            restate=functools.partial(_restated, transfer_id) if timed_out else None,
        )
    ]


def _restated(transfer_id: str, decided: Sequence[tuple[str, Mapping[str, Any]]]) -> AccountCommand:
    """The command announcing again a step's one recorded decision (its first event)."""
    decision, data = decided[0]
    return RestateTransferDecision(transfer_id=transfer_id, decision=decision, data=dict(data))
