"""The transfer aggregate as a decider, and the process it drives: pure functions, no I/O.

A transfer is an event-sourced process manager: its stream records each step of moving money from one
account to another, and its reactions turn the accounts service's answers into the next step. The
accounts service does the moving (debit, credit, reversal), each step idempotent by transfer id on the
account's stream; the two services only see each other's events.

    requested --debited--> debited --credited--> completed
        |                     |
        debit refused         credit refused
        v                     v
      failed             compensating --debit reversed--> compensated

Sections, in the order every aggregate module keeps: events, state, initial, evolve, commands and
errors, decide, queries, reactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, assert_never

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.accounts import Amount, Reference
from domain.decider import Decider, Reaction, Upcaster

# --- events -----------------------------------------------------------------------------------------
# Events are the storage format and what the accounts service reacts to: each carries what the next step
# needs, so a reader needs no other event. Change a field only with a new schema_version and an upcaster.


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: ClassVar[int] = 1


class TransferRequested(Event):
    # v2 records who asked: the signed-in principal, who alone may read the transfer, and whom the
    # accounts service checks is the source account's holder before it debits (None: an open demo).
    schema_version: ClassVar[int] = 2
    from_account: str
    to_account: str
    amount: int
    reference: str | None = None
    requested_by: str | None = None


class SourceDebited(Event):
    from_account: str
    to_account: str
    amount: int
    currency: str
    reference: str | None = None


class TransferCompleted(Event):
    # v2 names the target account's holder (from the accounts service's credit), who may then see it
    schema_version: ClassVar[int] = 2
    target_holder: str | None = None


class TransferFailed(Event):
    reason: str


class CompensationStarted(Event):
    from_account: str
    to_account: str
    amount: int
    reason: str


class TransferCompensated(Event):
    reason: str


class TransferTimedOut(Event):
    """The transfer waited past its deadline for `step`: the accounts service is asked to refuse that step
    if it has not happened yet (a debit or credit) or to do it again (a reversal). Whichever the accounts
    record first for the step wins, so a late step and the give-up never both happen."""

    step: str  # "debit", "credit" or "reversal"
    from_account: str
    to_account: str
    amount: int
    currency: str | None = None


TransferEvent = (
    TransferRequested
    | SourceDebited
    | TransferCompleted
    | TransferFailed
    | CompensationStarted
    | TransferCompensated
    | TransferTimedOut
)
EVENT_TYPES: tuple[type[TransferEvent], ...] = (
    TransferRequested,
    SourceDebited,
    TransferCompleted,
    TransferFailed,
    CompensationStarted,
    TransferCompensated,
    TransferTimedOut,
)
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("TransferRequested", 1): lambda data: {**data, "requested_by": None},
    ("TransferCompleted", 1): lambda data: {**data, "target_holder": None},
}


# --- state ------------------------------------------------------------------------------------------


class Status(StrEnum):
    UNREQUESTED = "unrequested"
    REQUESTED = "requested"
    DEBITED = "debited"
    COMPLETED = "completed"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.COMPENSATED})


class Transfer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Status
    from_account: str | None = None
    to_account: str | None = None
    amount: int = 0
    currency: str | None = None
    reference: str | None = None
    reason: str | None = None
    requested_by: str | None = None


# --- initial ----------------------------------------------------------------------------------------

initial = Transfer(status=Status.UNREQUESTED)


# --- evolve -----------------------------------------------------------------------------------------


def evolve(state: Transfer, event: TransferEvent) -> Transfer:
    match event:
        case TransferRequested():
            return Transfer(
                status=Status.REQUESTED,
                from_account=event.from_account,
                to_account=event.to_account,
                amount=event.amount,
                reference=event.reference,
                requested_by=event.requested_by,
            )
        case SourceDebited():
            return state.model_copy(update={"status": Status.DEBITED, "currency": event.currency})
        case TransferTimedOut():  # asks the accounts service to settle the step: nothing changes yet
            return state
        case TransferCompleted():
            return state.model_copy(update={"status": Status.COMPLETED})
        case TransferFailed():
            return state.model_copy(update={"status": Status.FAILED, "reason": event.reason})
        case CompensationStarted():
            return state.model_copy(update={"status": Status.COMPENSATING, "reason": event.reason})
        case TransferCompensated():
            return state.model_copy(update={"status": Status.COMPENSATED})
        case _:
            assert_never(event)


# --- commands and errors ----------------------------------------------------------------------------


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


AccountId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


class RequestTransfer(Command):
    from_account: AccountId
    to_account: AccountId
    amount: Amount
    reference: Reference | None = None
    requested_by: str | None = None  # the signed-in principal (from the platform, never the body)

    @model_validator(mode="after")
    def _two_accounts(self) -> Self:
        if self.from_account == self.to_account:
            raise ValueError("from_account and to_account must be two different accounts")
        return self


class RecordDebit(Command):
    """The accounts service debited the source."""

    currency: str


class RecordDebitRefused(Command):
    reason: str


class RecordCredit(Command):
    """The accounts service credited the target (whose holder it names)."""

    holder: str | None = None


class RecordCreditRefused(Command):
    reason: str


class RecordDebitReversed(Command):
    """The accounts service gave the source its money back."""


class ExpireTransfer(Command):
    """The transfer is past its deadline waiting for `step` (the timer decides when): give up waiting for
    it. Decides nothing if the transfer has moved on since (the timer read a view that was behind)."""

    step: str


TransferCommand = (
    RequestTransfer
    | RecordDebit
    | RecordDebitRefused
    | RecordCredit
    | RecordCreditRefused
    | RecordDebitReversed
    | ExpireTransfer
)

PENDING_STEP = {Status.REQUESTED: "debit", Status.DEBITED: "credit", Status.COMPENSATING: "reversal"}


# --- decide -----------------------------------------------------------------------------------------
# A step recorded twice, or one arriving in a state it no longer applies to, decides nothing: the accounts
# service answers each step once per transfer, so a repeat can only be a redelivery.


def decide(state: Transfer, command: TransferCommand) -> list[TransferEvent]:
    match command:
        case RequestTransfer():
            if state.status is not Status.UNREQUESTED:
                return []
            return [
                TransferRequested(
                    from_account=command.from_account,
                    to_account=command.to_account,
                    amount=command.amount,
                    reference=command.reference,
                    requested_by=command.requested_by,
                )
            ]
        case RecordDebit():
            if state.status is Status.FAILED:  # debited after it failed: cannot happen while the
                return [_compensation(state, "debited after the transfer failed")]  # debit key fences it
            if state.status is not Status.REQUESTED:
                return []
            source, target = _accounts(state)
            return [
                SourceDebited(
                    from_account=source,
                    to_account=target,
                    amount=state.amount,
                    currency=command.currency,
                    reference=state.reference,
                )
            ]
        case RecordDebitRefused():
            return [TransferFailed(reason=command.reason)] if state.status is Status.REQUESTED else []
        case RecordCredit():
            if state.status is not Status.DEBITED:
                return []
            return [TransferCompleted(target_holder=command.holder)]
        case RecordCreditRefused():
            return [_compensation(state, command.reason)] if state.status is Status.DEBITED else []
        case RecordDebitReversed():
            if state.status is not Status.COMPENSATING:
                return []
            return [TransferCompensated(reason=state.reason or "compensated")]
        case ExpireTransfer():
            # Asked again on every expiry, not once: the earlier request may have been lost the same way.
            step = PENDING_STEP.get(state.status)
            if step is None or step != command.step:
                return []  # ended, or moved on to another step since the timer looked
            source, target = _accounts(state)
            return [
                TransferTimedOut(
                    step=step,
                    from_account=source,
                    to_account=target,
                    amount=state.amount,
                    currency=state.currency,
                )
            ]
        case _:
            assert_never(command)


def _compensation(state: Transfer, reason: str) -> CompensationStarted:
    source, target = _accounts(state)
    return CompensationStarted(from_account=source, to_account=target, amount=state.amount, reason=reason)


def _accounts(state: Transfer) -> tuple[str, str]:
    """The source and target of a requested transfer."""
    assert state.from_account is not None
    assert state.to_account is not None
    return state.from_account, state.to_account


# --- queries ----------------------------------------------------------------------------------------


def is_terminal(state: Transfer) -> bool:
    return state.status in TERMINAL


decider: Decider[Transfer, TransferCommand, TransferEvent] = Decider(
    category="transfer",
    initial=initial,
    evolve=evolve,
    decide=decide,
    state_type=Transfer,
    event_types=EVENT_TYPES,
    upcasters=UPCASTERS,
)


# --- reactions --------------------------------------------------------------------------------------
# What the transfers service does with the accounts service's events: a tolerant reader of them (only the
# fields it needs; any other event is none of its business). Each step is recorded under the key of the
# account event that caused it, so a redelivered event records nothing twice.

ACCOUNT_ANSWERS: dict[str, type[Command]] = {
    "TransferDebited": RecordDebit,
    "TransferDebitRefused": RecordDebitRefused,
    "TransferCredited": RecordCredit,
    "TransferCreditRefused": RecordCreditRefused,
    "TransferDebitReversed": RecordDebitReversed,
}


def react_to_accounts(
    event_type: str, stream_id: str, version: int, data: Mapping[str, Any]
) -> list[Reaction[TransferCommand]]:
    if event_type == "TransferDecisionRestated":  # an answer announced again: read as the original
        restated = data.get("data")
        if not isinstance(restated, Mapping):
            return []
        event_type, data = str(data.get("decision")), {**restated, "transfer_id": data.get("transfer_id")}
    command_type = ACCOUNT_ANSWERS.get(event_type)
    transfer_id = data.get("transfer_id")
    if command_type is None or not isinstance(transfer_id, str):
        return []
    fields = {name: data[name] for name in command_type.model_fields if name in data}
    command: TransferCommand = command_type.model_validate(fields)  # type: ignore[assignment]
    return [Reaction(decider.stream_id(transfer_id), command, f"{stream_id}:{version}")]
