"""The account decider, given-when-then: given these events, when this command, then these events."""

from __future__ import annotations

from collections.abc import Sequence

import hypothesis
import pytest
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.accounts import (
    MAX_AMOUNT,
    MAX_BALANCE,
    Account,
    AccountAlreadyOpened,
    AccountClosed,
    AccountCommand,
    AccountEvent,
    AccountHasFunds,
    AccountNotFound,
    AccountNotOpen,
    AccountOpened,
    BalanceLimitExceeded,
    CloseAccount,
    DepositMoney,
    InsufficientFunds,
    MoneyDeposited,
    MoneyWithdrawn,
    OpenAccount,
    Owner,
    Status,
    WithdrawMoney,
    decider,
)
from domain.errors import DomainError

OPEN = OpenAccount(owner_name="Ada Lovelace", owner_email="ada@example.com", currency="EUR")
OPENED = AccountOpened(owner=Owner(name="Ada Lovelace", email="ada@example.com"), currency="EUR")


# --- given, when, then --------------------------------------------------------------------------------

Decided = list[AccountEvent] | DomainError


def given(events: Sequence[AccountEvent]) -> Account:
    return decider.fold(decider.initial, events)


def when(state: Account, command: AccountCommand) -> Decided:
    try:
        return decider.decide(state, command)
    except DomainError as refusal:
        return refusal


def then(decided: Decided, expected: list[AccountEvent] | type[DomainError]) -> None:
    if isinstance(expected, list):
        assert decided == expected
    else:
        assert isinstance(decided, expected), f"expected {expected.__name__}, decided {decided!r}"


# --- opening ------------------------------------------------------------------------------------------


def test_opening_a_new_account_records_the_owner_and_currency() -> None:
    then(when(given([]), OPEN), [OPENED])


def test_opening_an_opened_account_is_refused() -> None:
    then(when(given([OPENED]), OPEN), AccountAlreadyOpened)


def test_opening_a_closed_account_is_refused() -> None:
    then(when(given([OPENED, AccountClosed()]), OPEN), AccountAlreadyOpened)


# --- depositing ---------------------------------------------------------------------------------------


def test_a_deposit_records_the_balance_after_it() -> None:
    state = given([OPENED, MoneyDeposited(amount=100, balance_after=100)])

    decided = when(state, DepositMoney(amount=50, reference="salary"))

    then(decided, [MoneyDeposited(amount=50, balance_after=150, reference="salary")])


def test_a_deposit_to_an_unopened_account_is_refused_as_not_found() -> None:
    then(when(given([]), DepositMoney(amount=50)), AccountNotFound)


def test_a_deposit_to_a_closed_account_is_refused() -> None:
    then(when(given([OPENED, AccountClosed()]), DepositMoney(amount=50)), AccountNotOpen)


def test_a_deposit_beyond_the_balance_limit_is_refused() -> None:
    state = given([OPENED, MoneyDeposited(amount=MAX_AMOUNT, balance_after=MAX_BALANCE)])

    then(when(state, DepositMoney(amount=1)), BalanceLimitExceeded)


def test_a_deposit_up_to_exactly_the_balance_limit_is_accepted() -> None:
    state = given([OPENED, MoneyDeposited(amount=MAX_AMOUNT, balance_after=MAX_BALANCE - 1)])

    then(when(state, DepositMoney(amount=1)), [MoneyDeposited(amount=1, balance_after=MAX_BALANCE)])


# --- withdrawing --------------------------------------------------------------------------------------


def test_a_withdrawal_records_the_balance_after_it() -> None:
    state = given([OPENED, MoneyDeposited(amount=100, balance_after=100)])

    then(when(state, WithdrawMoney(amount=30)), [MoneyWithdrawn(amount=30, balance_after=70)])


def test_a_withdrawal_beyond_the_balance_is_rejected() -> None:
    state = given([OPENED, MoneyDeposited(amount=100, balance_after=100)])

    then(when(state, WithdrawMoney(amount=101)), InsufficientFunds)


def test_withdrawing_exactly_the_balance_empties_the_account() -> None:
    state = given([OPENED, MoneyDeposited(amount=100, balance_after=100)])

    then(when(state, WithdrawMoney(amount=100)), [MoneyWithdrawn(amount=100, balance_after=0)])


def test_a_withdrawal_from_an_unopened_account_is_refused_as_not_found() -> None:
    then(when(given([]), WithdrawMoney(amount=1)), AccountNotFound)


def test_a_withdrawal_from_a_closed_account_is_refused() -> None:
    then(when(given([OPENED, AccountClosed()]), WithdrawMoney(amount=1)), AccountNotOpen)


# --- closing ------------------------------------------------------------------------------------------


def test_closing_an_account_with_a_zero_balance_closes_it() -> None:
    state = given(
        [OPENED, MoneyDeposited(amount=5, balance_after=5), MoneyWithdrawn(amount=5, balance_after=0)]
    )

    then(when(state, CloseAccount()), [AccountClosed()])


def test_closing_an_account_with_funds_is_refused() -> None:
    state = given([OPENED, MoneyDeposited(amount=5, balance_after=5)])

    then(when(state, CloseAccount()), AccountHasFunds)


def test_closing_a_closed_account_decides_no_events() -> None:
    then(when(given([OPENED, AccountClosed()]), CloseAccount()), [])


def test_closing_an_unopened_account_is_refused_as_not_found() -> None:
    then(when(given([]), CloseAccount()), AccountNotFound)


# --- the state the events fold to ---------------------------------------------------------------------


def test_folding_the_events_gives_the_account_state() -> None:
    state = given(
        [OPENED, MoneyDeposited(amount=5, balance_after=5), MoneyWithdrawn(amount=2, balance_after=3)]
    )

    assert state == Account(
        status=Status.OPEN,
        owner_name="Ada Lovelace",
        owner_email="ada@example.com",
        currency="EUR",
        balance=3,
    )


# --- command validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("command_type", [DepositMoney, WithdrawMoney])
@pytest.mark.parametrize("amount", [1, 250, MAX_AMOUNT])
def test_an_amount_is_a_whole_number_of_minor_units_up_to_the_maximum(
    command_type: type[DepositMoney | WithdrawMoney], amount: int
) -> None:
    assert command_type(amount=amount).amount == amount


@pytest.mark.parametrize("command_type", [DepositMoney, WithdrawMoney])
@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 1.5, "100", True])
def test_an_amount_that_is_not_an_int_from_one_to_the_maximum_is_rejected(
    command_type: type[DepositMoney | WithdrawMoney], amount: object
) -> None:
    with pytest.raises(ValidationError):
        command_type.model_validate({"amount": amount})


def test_a_currency_is_an_upper_case_iso_4217_code() -> None:
    assert OpenAccount(owner_name="A", owner_email="a@example.com", currency="EUR").currency == "EUR"


@pytest.mark.parametrize("currency", ["eur", "Eur", "EURO", "EU", "XXY", ""])
def test_a_currency_that_is_not_an_upper_case_iso_4217_code_is_rejected(currency: str) -> None:
    with pytest.raises(ValidationError):
        OpenAccount(owner_name="A", owner_email="a@example.com", currency=currency)


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", ""])
def test_an_owner_email_that_is_not_an_email_address_is_rejected(email: str) -> None:
    with pytest.raises(ValidationError):
        OpenAccount(owner_name="A", owner_email=email, currency="EUR")


@pytest.mark.parametrize("owner_name", ["", "   ", "x" * 201])
def test_an_owner_name_that_is_blank_or_too_long_is_rejected(owner_name: str) -> None:
    with pytest.raises(ValidationError):
        OpenAccount(owner_name=owner_name, owner_email="a@example.com", currency="EUR")


@pytest.mark.parametrize(
    ("command_type", "fields"),
    [
        (OpenAccount, {"owner_name": "A", "owner_email": "a@example.com", "currency": "EUR", "vip": True}),
        (DepositMoney, {"amount": 1, "note": "x"}),
        (WithdrawMoney, {"amount": 1, "balance_after": 0}),
        (CloseAccount, {"reason": "moving"}),
    ],
)
def test_a_command_with_an_unknown_field_is_rejected(
    command_type: type[AccountCommand], fields: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        command_type.model_validate(fields)


def test_an_event_is_frozen() -> None:
    event = MoneyDeposited(amount=5, balance_after=5)

    with pytest.raises(ValidationError):
        event.amount = 6  # type: ignore[misc]

    assert event.amount == 5


# --- laws ---------------------------------------------------------------------------------------------

# Mostly small amounts, so that withdrawals are often accepted; now and then any up to the maximum.
amounts = st.sampled_from([20, 20, 20, MAX_AMOUNT]).flatmap(lambda largest: st.integers(1, largest))
references = st.none() | st.sampled_from(["rent", "salary", "  padded  "])
opens = st.builds(
    OpenAccount,
    owner_name=st.sampled_from(["Ada", "Grace Hopper"]),
    owner_email=st.sampled_from(["ada@example.com", "grace@example.org"]),
    currency=st.sampled_from(["EUR", "USD", "JPY"]),
)
deposits = st.builds(DepositMoney, amount=amounts, reference=references)
withdrawals = st.builds(WithdrawMoney, amount=amounts, reference=references)
# Money moves more often than accounts open and close (st.one_of would pick each kind equally often).
kinds: list[st.SearchStrategy[AccountCommand]] = [opens, deposits, deposits, withdrawals, withdrawals]
commands = st.sampled_from([*kinds, st.just(CloseAccount())]).flatmap(lambda kind: kind)
# Any sequence, and often one that starts with an open, so that more of its commands are accepted.
command_sequences: st.SearchStrategy[list[AccountCommand]] = st.lists(commands, max_size=30) | st.tuples(
    opens, st.lists(commands, max_size=30)
).map(lambda first_and_rest: [first_and_rest[0], *first_and_rest[1]])


def run(command_sequence: list[AccountCommand]) -> list[tuple[Account, list[AccountEvent]]]:
    """Each accepted command's state before it and the events it decided; refused commands are skipped."""
    history = []
    state = decider.initial
    for command in command_sequence:
        try:
            events = decider.decide(state, command)
        except DomainError:
            continue
        history.append((state, events))
        state = decider.fold(state, events)
    return history


@hypothesis.given(command_sequences)
def test_the_balance_never_goes_below_zero_or_above_the_limit(command_sequence: list[AccountCommand]) -> None:
    for state, events in run(command_sequence):
        assert 0 <= decider.fold(state, events).balance <= MAX_BALANCE


@hypothesis.given(command_sequences)
def test_folding_the_decided_events_reaches_the_balance_they_record(
    command_sequence: list[AccountCommand],
) -> None:
    for state, events in run(command_sequence):
        before = state
        for event in events:
            after = decider.evolve(before, event)
            match event:
                case MoneyDeposited():
                    assert event.balance_after == before.balance + event.amount == after.balance
                case MoneyWithdrawn():
                    assert event.balance_after == before.balance - event.amount == after.balance
                case _:
                    assert after.balance == before.balance
            before = after


@hypothesis.given(command_sequences)
def test_closing_again_after_a_close_decides_nothing(command_sequence: list[AccountCommand]) -> None:
    states = [state for state, _ in run(command_sequence)]
    for state in states:
        try:
            closing = decider.decide(state, CloseAccount())
        except DomainError:
            continue
        assert decider.decide(decider.fold(state, closing), CloseAccount()) == []
