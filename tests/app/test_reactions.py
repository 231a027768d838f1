"""A service reading another service's events is a tolerant reader: fields it does not know are ignored,
events it does not react to are skipped and counted, events it cannot read are skipped, counted and
logged, and none of it stops the batch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from domain import accounts
from infra.adapters.memory.eventstore import InMemoryEventStore
from infra.app.commands import CommandHandler
from infra.app.reactions import Reactor
from infra.ports.eventstore import Metadata, StoredEvent

SOURCE, TARGET = str(uuid.uuid4()), str(uuid.uuid4())


def delivered(event_type: str, data: dict[str, Any], version: int = 1) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        stream_id=f"transfer-{uuid.uuid4()}",
        version=version,
        type=event_type,
        schema_version=1,
        data=data,
        metadata=Metadata(),
        recorded_at=datetime.now(UTC),
    )


def test_unknown_fields_unknown_types_and_unreadable_events_never_stop_a_batch() -> None:
    store = InMemoryEventStore()
    commands = CommandHandler(store, accounts.decider)
    owner = accounts.OpenAccount(owner_name="Ada", owner_email="ada@example.com", currency="EUR")
    commands.handle(accounts.decider.stream_id(SOURCE), owner, Metadata())
    commands.handle(accounts.decider.stream_id(SOURCE), accounts.DepositMoney(amount=1_000), Metadata())
    reactor = Reactor(commands, accounts.react_to_transfers)
    request = {"from_account": SOURCE, "to_account": TARGET, "amount": 300}

    ran = reactor.react(
        [
            delivered("TransferWished", {"anything": 1}),  # a type this service does not know
            delivered("TransferRequested", {"from_account": SOURCE}),  # a known type it cannot read
            delivered("TransferRequested", request | {"priority": "high", "memo": {"x": 1}}),  # new fields
        ]
    )

    assert ran == 1
    assert commands.load(accounts.decider.stream_id(SOURCE))[0].balance == 700
    assert reactor.ignored == {"TransferWished": 1}
    assert reactor.unreadable == {"TransferRequested": 1}
