"""Money is never created, lost or stuck, whatever the hubs do: a property over any sequence of opens,
deposits, withdrawals, closes, transfers and early timeouts, with each service's reaction to the other's
hub delivered at least once, in batches that repeat earlier events, arrive shuffled, stop part-way (a
crash before the checkpoint, so the batch comes again) or are lost (expired unread), which only the
transfers' timeouts recover. At quiescence every transfer has ended, the money in the accounts is what was
deposited minus what was withdrawn, and each transfer's ending matches what the accounts recorded for
it."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import hypothesis
from hypothesis import strategies as st

from domain import accounts, transfers
from domain.errors import DomainError
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.app.commands import CommandHandler
from infra.app.reactions import Reactor
from infra.ports.eventstore import IdempotencyRecord, Metadata, NewEvent, StoredEvent, StreamHead

ACCOUNTS = 4


class LoggedStore(InMemoryEventStore):
    """An in-memory event store that also keeps every appended event in commit order: its change feed,
    relayed to its hub."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[StoredEvent] = []

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: Metadata,
        idempotency: IdempotencyRecord | None = None,
        head: StreamHead | None = None,
    ) -> StreamHead:
        head = super().append(stream_id, expected_version, events, metadata, idempotency, head)
        self.log.extend(self.read(stream_id, from_version=expected_version + 1, to_version=head.version))
        return head


@dataclass
class Consumer:
    """One service's reaction to another service's hub, delivered at least once from a checkpoint."""

    hub: LoggedStore
    reactor: Reactor
    checkpoint: int = 0
    delivered: Counter[str] = field(default_factory=Counter)

    def deliver(self, chaos: random.Random) -> bool:
        """One batch: maybe repeating a few events before the checkpoint, shuffled, maybe crashing part
        way (then the checkpoint stays). False when there was nothing new."""
        if self.checkpoint >= len(self.hub.log):
            return False
        start = max(0, self.checkpoint - chaos.randint(0, 3))
        end = min(len(self.hub.log), self.checkpoint + chaos.randint(1, 5))
        batch = self.hub.log[start:end]
        if chaos.random() < 0.3:  # reordered within the batch (other streams' order is not kept)
            chaos.shuffle(batch)
        if chaos.random() < 0.05:  # lost: expired on the hub before it was read (past its retention)
            self.checkpoint = end
            return True
        crash_at = chaos.randint(0, len(batch)) if chaos.random() < 0.2 else len(batch)
        self.reactor.react(batch[:crash_at])
        self.delivered.update(event.type for event in batch[:crash_at])
        if crash_at == len(batch):
            self.checkpoint = end
        return True


@dataclass
class Bank:
    accounts_log: LoggedStore = field(default_factory=LoggedStore)
    transfers_log: LoggedStore = field(default_factory=LoggedStore)
    deposited: int = 0
    withdrawn: int = 0
    requested: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)  # accounts to close as soon as they can be

    def __post_init__(self) -> None:
        self.accounts = CommandHandler(self.accounts_log, accounts.decider, cache_size=0)
        self.transfers = CommandHandler(self.transfers_log, transfers.decider, cache_size=0)
        self.ids = [str(uuid.UUID(int=n + 1)) for n in range(ACCOUNTS)]
        self.consumers = [
            Consumer(self.transfers_log, Reactor(self.accounts, accounts.react_to_transfers)),
            Consumer(self.accounts_log, Reactor(self.transfers, transfers.react_to_accounts)),
        ]

    def account(self, index: int) -> str:
        return accounts.decider.stream_id(self.ids[index % ACCOUNTS])

    def run(self, step: tuple[str, int, int, int]) -> None:
        kind, a, b, amount = step
        command: accounts.AccountCommand
        try:
            if kind == "open":
                currency = "EUR" if a % 3 else "USD"
                command = accounts.OpenAccount(owner_name="x", owner_email="x@example.com", currency=currency)
                self.accounts.handle(self.account(a), command, Metadata())
            elif kind == "deposit":
                self.accounts.handle(self.account(a), accounts.DepositMoney(amount=amount), Metadata())
                self.deposited += amount
            elif kind == "withdraw":
                self.accounts.handle(self.account(a), accounts.WithdrawMoney(amount=amount), Metadata())
                self.withdrawn += amount
            elif kind == "close":
                self.accounts.handle(self.account(a), accounts.CloseAccount(), Metadata())
            elif kind in ("transfer", "transfer all, then close") and a % ACCOUNTS != b % ACCOUNTS:
                source, target = self.ids[a % ACCOUNTS], self.ids[b % ACCOUNTS]
                if kind != "transfer":  # all it holds, to close it as soon as the debit is made
                    amount = self.accounts.load(self.account(a))[0].balance
                    if amount == 0:
                        return
                if b >= 2 * ACCOUNTS:  # now and then, an account that does not exist
                    target = str(uuid.uuid4())
                request = transfers.RequestTransfer(from_account=source, to_account=target, amount=amount)
                stream_id = self.transfers.new_stream_id()
                self.transfers.handle(stream_id, request, Metadata(), expected_version=0)
                self.requested.append(stream_id)
                if kind != "transfer":
                    self.closing.append(self.account(a))
        except DomainError:
            pass  # refused: nothing was written

    def expire(self, stream_id: str) -> None:
        """What the timer does to a transfer past its deadline."""
        step = transfers.PENDING_STEP.get(self.transfers.load(stream_id)[0].status)
        if step is not None:
            self.transfers.handle(stream_id, transfers.ExpireTransfer(step=step), Metadata())

    def pending(self) -> list[str]:
        return [s for s in self.requested if not transfers.is_terminal(self.transfers.load(s)[0])]

    def balances(self) -> int:
        return sum(self.accounts.load(self.account(n))[0].balance for n in range(ACCOUNTS))


KINDS = [
    "open",
    "deposit",
    "withdraw",
    "close",
    "transfer",
    "transfer",
    "transfer all, then close",
    "deliver",
    "expire",
]
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 2 * ACCOUNTS),
        st.integers(0, 2 * ACCOUNTS),
        st.integers(1, 500),
    ),
    max_size=40,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(steps=steps, seed=st.integers(0, 2**32 - 1))
def test_at_quiescence_every_transfer_has_ended_and_no_money_was_created_or_lost(
    steps: list[tuple[str, int, int, int]], seed: int
) -> None:
    bank, chaos = Bank(), random.Random(seed)
    for n in range(ACCOUNTS):
        bank.run(("open", n, 0, 0))

    for step in steps:
        for stream_id in bank.closing:  # closes as soon as the balance is 0, mid-transfer
            bank.run(("close", bank.ids.index(accounts.decider.aggregate_id(stream_id)), 0, 0))
        if step[0] == "deliver":
            chaos.choice(bank.consumers).deliver(chaos)
        elif step[0] == "expire" and bank.requested:  # a timer firing early, at any point
            bank.expire(chaos.choice(bank.requested))
        else:
            bank.run(step)
    for _ in range(100):  # quiescence: deliver everything; what still waits, the timer expires
        while True:  # every consumer gets its turn each round: no short circuit
            moved = [consumer.deliver(chaos) for consumer in bank.consumers]
            if not any(moved):
                break
        if not bank.pending():
            break
        for stream_id in bank.pending():
            bank.expire(stream_id)

    assert bank.balances() == bank.deposited - bank.withdrawn
    for n in range(ACCOUNTS):  # no money stuck: whatever an account holds, even closed, can be withdrawn
        account = bank.accounts.load(bank.account(n))[0]
        if account.balance:
            accounts.decide(account, accounts.WithdrawMoney(amount=account.balance))
    endings = {stream: bank.transfers.load(stream)[0] for stream in bank.requested}
    assert all(transfers.is_terminal(state) for state in endings.values()), endings
    for stream, state in endings.items():
        assert moves_of(bank, transfers.decider.aggregate_id(stream)) == EXPECTED_MOVES[state.status]


EXPECTED_MOVES = {  # sorted, as moves_of gives them
    transfers.Status.COMPLETED: ["TransferCredited", "TransferDebited"],
    transfers.Status.FAILED: ["TransferDebitRefused"],
    transfers.Status.COMPENSATED: ["TransferCreditRefused", "TransferDebitReversed", "TransferDebited"],
}


def moves_of(bank: Bank, transfer_id: str) -> list[str]:
    """What the accounts recorded for one transfer, sorted: each step exactly once (a restatement of a
    step, after a timeout, moves nothing and is left out)."""
    return sorted(
        e.type
        for e in bank.accounts_log.log
        if e.data.get("transfer_id") == transfer_id and e.type != "TransferDecisionRestated"
    )
