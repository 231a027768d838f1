"""The transfer decider and each account's side of a transfer, given-when-then, and the reactions that
carry a transfer between the two services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from domain import accounts, transfers
from domain.accounts import (
    AccountClosed,
    AccountOpened,
    CreditForTransfer,
    DebitForTransfer,
    MoneyDeposited,
    Owner,
    RefusalReason,
    ReverseTransferDebit,
    TransferCredited,
    TransferCreditRefused,
    TransferDebited,
    TransferDebitRefused,
    TransferDebitReversed,
)
from domain.transfers import (
    CompensationStarted,
    ExpireTransfer,
    RecordCredit,
    RecordCreditRefused,
    RecordDebit,
    RecordDebitRefused,
    RecordDebitReversed,
    RequestTransfer,
    SourceDebited,
    Status,
    TransferCompensated,
    TransferCompleted,
    TransferFailed,
    TransferRequested,
    TransferTimedOut,
)

SOURCE, TARGET = str(uuid.uuid4()), str(uuid.uuid4())
TRANSFER = str(uuid.uuid4())
REQUESTED = TransferRequested(from_account=SOURCE, to_account=TARGET, amount=500, reference="rent")
DEBITED = SourceDebited(from_account=SOURCE, to_account=TARGET, amount=500, currency="EUR", reference="rent")
OPENED = AccountOpened(owner=Owner(name="Ada", email="ada@example.com"), currency="EUR")


def transfer_after(*events: transfers.TransferEvent) -> transfers.Transfer:
    return transfers.decider.fold(transfers.initial, events)


def account_after(*events: accounts.AccountEvent) -> accounts.Account:
    return accounts.decider.fold(accounts.initial, events)


def then(state: transfers.Transfer, command: transfers.TransferCommand) -> Sequence[transfers.TransferEvent]:
    return transfers.decide(state, command)


# --- the transfer ---


def test_a_request_names_two_different_accounts_and_a_positive_amount() -> None:
    for bad in (
        {"from_account": SOURCE, "to_account": SOURCE, "amount": 1},
        {"from_account": SOURCE, "to_account": TARGET, "amount": 0},
        {"from_account": SOURCE, "to_account": "not-an-id", "amount": 1},
        {"from_account": SOURCE, "to_account": TARGET, "amount": 1, "currency": "EUR"},
    ):
        with pytest.raises(ValidationError):
            RequestTransfer.model_validate(bad)


def test_a_transfer_goes_from_requested_through_debited_to_completed() -> None:
    request = RequestTransfer(from_account=SOURCE, to_account=TARGET, amount=500, reference="rent")

    assert then(transfers.initial, request) == [REQUESTED]
    assert then(transfer_after(REQUESTED), RecordDebit(currency="EUR")) == [DEBITED]
    assert then(transfer_after(REQUESTED, DEBITED), RecordCredit()) == [TransferCompleted()]
    assert transfer_after(REQUESTED, DEBITED, TransferCompleted()).status is Status.COMPLETED


def test_a_refused_debit_fails_the_transfer_with_the_reason() -> None:
    events = then(transfer_after(REQUESTED), RecordDebitRefused(reason="insufficient funds"))

    assert events == [TransferFailed(reason="insufficient funds")]
    assert transfers.is_terminal(transfer_after(REQUESTED, *events))


def test_a_refused_credit_is_compensated_by_reversing_the_debit() -> None:
    started = then(transfer_after(REQUESTED, DEBITED), RecordCreditRefused(reason="account closed"))
    done = then(transfer_after(REQUESTED, DEBITED, *started), RecordDebitReversed())

    assert started == [
        CompensationStarted(from_account=SOURCE, to_account=TARGET, amount=500, reason="account closed")
    ]
    assert done == [TransferCompensated(reason="account closed")]
    assert transfer_after(REQUESTED, DEBITED, *started, *done).status is Status.COMPENSATED


@pytest.mark.parametrize(
    ("history", "command"),
    [
        ((REQUESTED,), RequestTransfer(from_account=SOURCE, to_account=TARGET, amount=500)),
        ((REQUESTED, DEBITED), RecordDebit(currency="EUR")),
        ((REQUESTED, DEBITED, TransferCompleted()), RecordCredit()),
        ((REQUESTED, DEBITED, TransferCompleted()), RecordCreditRefused(reason="x")),
        ((REQUESTED, DEBITED), RecordDebitReversed()),
        ((), RecordCredit()),
    ],
    ids=[
        "a second request",
        "a second debit",
        "a second credit",
        "a refusal after completion",
        "a reversal never asked for",
        "a credit of an unknown transfer",
    ],
)
def test_a_step_repeated_or_out_of_place_decides_nothing(
    history: tuple[transfers.TransferEvent, ...], command: transfers.TransferCommand
) -> None:
    assert then(transfer_after(*history), command) == []


# --- each account's side ---


def test_the_source_is_debited_in_its_own_currency() -> None:
    source = account_after(OPENED, MoneyDeposited(amount=800, balance_after=800))

    events = accounts.decide(source, DebitForTransfer(transfer_id=TRANSFER, amount=500, counterparty=TARGET))

    assert events == [
        TransferDebited(
            transfer_id=TRANSFER, amount=500, currency="EUR", balance_after=300, counterparty=TARGET
        )
    ]
    assert account_after(OPENED, MoneyDeposited(amount=800, balance_after=800), *events).balance == 300


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        ((), RefusalReason.UNKNOWN_ACCOUNT),
        ((OPENED, AccountClosed()), RefusalReason.ACCOUNT_CLOSED),
        ((OPENED, MoneyDeposited(amount=499, balance_after=499)), RefusalReason.INSUFFICIENT_FUNDS),
    ],
    ids=["unknown", "closed", "short of funds"],
)
def test_a_debit_the_source_cannot_make_is_refused_with_its_reason(
    history: tuple[accounts.AccountEvent, ...], reason: RefusalReason
) -> None:
    command = DebitForTransfer(transfer_id=TRANSFER, amount=500, counterparty=TARGET)

    assert accounts.decide(account_after(*history), command) == [
        TransferDebitRefused(transfer_id=TRANSFER, reason=reason)
    ]


@pytest.mark.parametrize(
    ("history", "currency", "reason"),
    [
        ((), "EUR", RefusalReason.UNKNOWN_ACCOUNT),
        ((OPENED, AccountClosed()), "EUR", RefusalReason.ACCOUNT_CLOSED),
        ((OPENED,), "USD", RefusalReason.CURRENCY_MISMATCH),
        (
            (OPENED, MoneyDeposited(amount=accounts.MAX_BALANCE, balance_after=accounts.MAX_BALANCE)),
            "EUR",
            RefusalReason.BALANCE_LIMIT,
        ),
    ],
    ids=["unknown", "closed", "another currency", "over the balance limit"],
)
def test_a_credit_the_target_cannot_take_is_refused_with_its_reason(
    history: tuple[accounts.AccountEvent, ...], currency: str, reason: RefusalReason
) -> None:
    command = CreditForTransfer(transfer_id=TRANSFER, amount=500, currency=currency, counterparty=SOURCE)

    assert accounts.decide(account_after(*history), command) == [
        TransferCreditRefused(transfer_id=TRANSFER, reason=reason)
    ]


HOLDER, STRANGER = "principal-ada", "principal-mallory"
HELD = AccountOpened(owner=Owner(name="Ada", email="ada@example.com"), currency="EUR", holder=HOLDER)


@pytest.mark.parametrize(
    "history",
    [(HELD, MoneyDeposited(amount=800, balance_after=800)), (HELD, AccountClosed()), (HELD,)],
    ids=["funded", "closed", "empty"],
)
def test_a_debit_requested_by_anyone_but_the_holder_is_refused_as_an_unknown_account(
    history: tuple[accounts.AccountEvent, ...],
) -> None:
    command = DebitForTransfer(transfer_id=TRANSFER, amount=500, counterparty=TARGET, requested_by=STRANGER)

    # the same answer as for an id that names no account: the requester learns nothing of it
    assert accounts.decide(account_after(*history), command) == [
        TransferDebitRefused(transfer_id=TRANSFER, reason=RefusalReason.UNKNOWN_ACCOUNT)
    ]


def test_a_debit_requested_by_the_holder_is_made() -> None:
    source = account_after(HELD, MoneyDeposited(amount=800, balance_after=800))
    command = DebitForTransfer(transfer_id=TRANSFER, amount=500, counterparty=TARGET, requested_by=HOLDER)

    assert [type(event) for event in accounts.decide(source, command)] == [TransferDebited]


def test_the_accounts_service_debits_for_whoever_the_transfer_says_requested_it() -> None:
    stream = transfers.decider.stream_id(TRANSFER)
    requested = REQUESTED.model_copy(update={"requested_by": STRANGER})

    (reaction,) = accounts.react_to_transfers("TransferRequested", stream, 1, requested.model_dump())

    assert isinstance(reaction.command, DebitForTransfer)
    assert reaction.command.requested_by == STRANGER


def test_a_credit_in_the_targets_currency_adds_the_amount() -> None:
    command = CreditForTransfer(transfer_id=TRANSFER, amount=500, currency="EUR", counterparty=SOURCE)

    assert accounts.decide(account_after(OPENED), command) == [
        TransferCredited(transfer_id=TRANSFER, amount=500, balance_after=500, counterparty=SOURCE)
    ]


def test_a_reversal_gives_the_money_back_even_to_a_closed_account() -> None:
    closed = account_after(OPENED, AccountClosed())
    command = ReverseTransferDebit(transfer_id=TRANSFER, amount=500, counterparty=TARGET)

    assert accounts.decide(closed, command) == [
        TransferDebitReversed(transfer_id=TRANSFER, amount=500, balance_after=500, counterparty=TARGET)
    ]


# --- the reactions between the two services ---


def test_the_accounts_service_answers_each_transfer_step_on_the_right_account_under_one_key_per_step() -> (
    None
):
    stream = transfers.decider.stream_id(TRANSFER)
    requested = accounts.react_to_transfers("TransferRequested", stream, 1, REQUESTED.model_dump())
    debited = accounts.react_to_transfers("SourceDebited", stream, 2, DEBITED.model_dump())
    compensating = CompensationStarted(from_account=SOURCE, to_account=TARGET, amount=500, reason="x")
    reversal = accounts.react_to_transfers("CompensationStarted", stream, 3, compensating.model_dump())

    assert [(r.stream_id, type(r.command), r.idempotency_key) for r in requested + debited + reversal] == [
        (f"account-{SOURCE}", DebitForTransfer, f"transfer:{TRANSFER}:debit"),
        (f"account-{TARGET}", CreditForTransfer, f"transfer:{TRANSFER}:credit"),
        (f"account-{SOURCE}", ReverseTransferDebit, f"transfer:{TRANSFER}:reversal"),
    ]
    assert accounts.react_to_transfers("TransferCompleted", stream, 4, {}) == []


def test_the_transfers_service_records_each_answer_once_per_account_event_and_ignores_the_rest() -> None:
    answer = TransferDebited(
        transfer_id=TRANSFER, amount=500, currency="EUR", balance_after=0, counterparty=TARGET
    )
    source = f"account-{SOURCE}"

    reactions = transfers.react_to_accounts("TransferDebited", source, 7, answer.model_dump() | {"new": 1})

    assert [(r.stream_id, r.command, r.idempotency_key) for r in reactions] == [
        (f"transfer-{TRANSFER}", RecordDebit(currency="EUR"), f"{source}:7")
    ]
    assert transfers.react_to_accounts("MoneyDeposited", source, 8, {"amount": 1, "balance_after": 1}) == []
    assert transfers.react_to_accounts("SomethingNew", source, 9, {"transfer_id": TRANSFER}) == []


# --- timeouts ---


@pytest.mark.parametrize(
    ("history", "step"),
    [((REQUESTED,), "debit"), ((REQUESTED, DEBITED), "credit")],
    ids=["waiting for the debit", "waiting for the credit"],
)
def test_an_expired_transfer_asks_the_accounts_service_to_settle_its_pending_step(
    history: tuple[transfers.TransferEvent, ...], step: str
) -> None:
    [timed_out] = then(transfer_after(*history), ExpireTransfer(step=step))

    assert isinstance(timed_out, TransferTimedOut)
    assert (timed_out.step, timed_out.from_account, timed_out.to_account, timed_out.amount) == (
        step,
        SOURCE,
        TARGET,
        500,
    )
    again = then(transfer_after(*history, timed_out), ExpireTransfer(step=step))
    assert [e.step for e in again if isinstance(e, TransferTimedOut)] == [step]  # asked again: may be lost


def test_a_debit_recorded_after_the_transfer_failed_is_given_back() -> None:
    # The step's key lets the accounts service record only one decision, so this cannot happen; if it
    # did, the money would still go back rather than sit on no one's books.
    events = then(transfer_after(REQUESTED, TransferFailed(reason="timed out")), RecordDebit(currency="EUR"))

    assert events == [
        CompensationStarted(
            from_account=SOURCE, to_account=TARGET, amount=500, reason="debited after the transfer failed"
        )
    ]


def test_an_ended_transfer_never_expires() -> None:
    for ending in (TransferCompleted(), TransferFailed(reason="x")):
        assert then(transfer_after(REQUESTED, DEBITED, ending), ExpireTransfer(step="credit")) == []


def test_a_timeout_for_a_step_the_transfer_has_moved_past_decides_nothing() -> None:
    # the timer read a view still waiting for the debit; the transfer has been debited since
    assert then(transfer_after(REQUESTED, DEBITED), ExpireTransfer(step="debit")) == []


def test_the_accounts_service_turns_a_timeout_into_a_cancellation_under_the_steps_own_key() -> None:
    stream = transfers.decider.stream_id(TRANSFER)
    debit = TransferTimedOut(step="debit", from_account=SOURCE, to_account=TARGET, amount=500)
    credit = TransferTimedOut(
        step="credit", from_account=SOURCE, to_account=TARGET, amount=500, currency="EUR"
    )

    [cancel_debit] = accounts.react_to_transfers("TransferTimedOut", stream, 2, debit.model_dump())
    [cancel_credit] = accounts.react_to_transfers("TransferTimedOut", stream, 3, credit.model_dump())

    assert (cancel_debit.idempotency_key, cancel_credit.idempotency_key) == (
        f"transfer:{TRANSFER}:debit",
        f"transfer:{TRANSFER}:credit",
    )
    assert accounts.decide(
        account_after(OPENED, MoneyDeposited(amount=900, balance_after=900)), cancel_debit.command
    ) == [TransferDebitRefused(transfer_id=TRANSFER, reason=RefusalReason.TIMED_OUT)]
    assert accounts.decide(account_after(OPENED), cancel_credit.command) == [
        TransferCreditRefused(transfer_id=TRANSFER, reason=RefusalReason.TIMED_OUT)
    ]


def test_money_a_reversal_gives_back_to_a_closed_account_can_still_be_withdrawn() -> None:
    closed_with_refund = account_after(
        OPENED,
        TransferDebited(
            transfer_id=TRANSFER, amount=500, currency="EUR", balance_after=0, counterparty=TARGET
        ),
        AccountClosed(),
        TransferDebitReversed(transfer_id=TRANSFER, amount=500, balance_after=500, counterparty=TARGET),
    )

    assert accounts.decide(closed_with_refund, accounts.WithdrawMoney(amount=500)) == [
        accounts.MoneyWithdrawn(amount=500, balance_after=0)
    ]
    with pytest.raises(accounts.AccountNotOpen):
        accounts.decide(closed_with_refund, accounts.DepositMoney(amount=1))
    with pytest.raises(accounts.AccountNotOpen):
        accounts.decide(account_after(OPENED, AccountClosed()), accounts.WithdrawMoney(amount=1))
