from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from domain.accounts import (
    AccountClosed,
    AccountEvent,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    Owner,
    decider,
)
from domain.decider import Upcaster
from infra.formats.codec import EventCodec, UndecodableEvent
from infra.ports.eventstore import Metadata, NewEvent, StoredEvent

STREAM = "account-00000000-0000-4000-8000-000000000001"
CODEC: EventCodec[AccountEvent] = EventCodec(decider.event_types, decider.upcasters)


def stored(event_type: str, data: dict[str, Any], schema_version: int = 1) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        stream_id=STREAM,
        version=1,
        type=event_type,
        schema_version=schema_version,
        data=data,
        metadata=Metadata(),
        recorded_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def as_stored(new: NewEvent) -> StoredEvent:
    return stored(new.type, new.data, new.schema_version)


# --- account events -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        AccountOpened(owner=Owner(name="Ada", email="ada@example.com"), currency="EUR"),
        MoneyDeposited(amount=100, balance_after=100),
        MoneyDeposited(amount=100, balance_after=250, reference="salary"),
        MoneyWithdrawn(amount=30, balance_after=70),
        MoneyWithdrawn(amount=30, balance_after=70, reference="rent"),
        AccountClosed(),
    ],
)
def test_an_encoded_account_event_decodes_to_the_same_event(event: AccountEvent) -> None:
    assert CODEC.decode(as_stored(CODEC.encode(event))) == event


def test_an_event_is_stored_under_its_type_name_and_schema_version_without_empty_fields() -> None:
    encoded = CODEC.encode(MoneyDeposited(amount=100, balance_after=100))

    assert (encoded.type, encoded.schema_version, encoded.data) == (
        "MoneyDeposited",
        1,
        {"amount": 100, "balance_after": 100},
    )


def test_an_event_of_an_unknown_type_is_undecodable() -> None:
    with pytest.raises(UndecodableEvent, match="unknown event type 'MoneyLent'"):
        CODEC.decode(stored("MoneyLent", {"amount": 1}))


def test_an_event_of_a_newer_schema_version_is_undecodable() -> None:
    with pytest.raises(UndecodableEvent, match="newer"):
        CODEC.decode(stored("MoneyDeposited", {"amount": 1, "balance_after": 1}, schema_version=2))


@pytest.mark.parametrize(
    "data",
    [
        {"amount": "lots", "balance_after": 1},
        {"amount": 1},
        {"amount": 1, "balance_after": 1, "currency": "EUR"},
    ],
)
def test_event_data_that_fails_validation_is_undecodable(data: dict[str, Any]) -> None:
    with pytest.raises(UndecodableEvent, match="MoneyDeposited"):
        CODEC.decode(stored("MoneyDeposited", data))


def test_why_an_event_is_undecodable_names_its_fields_never_their_values() -> None:
    # the message is kept in dead letters and logs, where a forgotten person's name must not stay
    data = {"owner": {"name": "Augusta Ada King", "email": "augusta.king@example.org"}, "currency": 7}

    with pytest.raises(UndecodableEvent) as raised:
        CODEC.decode(stored("AccountOpened", data, schema_version=3))

    assert "currency" in str(raised.value)
    assert "Augusta" not in str(raised.value)
    assert "augusta.king" not in str(raised.value)
    assert raised.value.__cause__ is None  # nor in the traceback of a cause


# --- upcasting ----------------------------------------------------------------------------------------


class OwnerRenamed(BaseModel):
    """A test-only event at schema version 3.

    v1 was {"name"}; v2 renamed it to {"full_name"}; v3 added {"changed_by"}.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: ClassVar[int] = 3

    full_name: str
    changed_by: str


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    rest = {key: value for key, value in data.items() if key != "name"}
    return {**rest, "full_name": data["name"]}


def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "changed_by": "unknown"}


UPCASTERS: dict[tuple[str, int], Upcaster] = {("OwnerRenamed", 1): v1_to_v2, ("OwnerRenamed", 2): v2_to_v3}


def test_a_stored_v1_event_is_upcast_through_every_version_to_the_current_model() -> None:
    codec = EventCodec([OwnerRenamed], UPCASTERS)

    decoded = codec.decode(stored("OwnerRenamed", {"name": "Ada King"}, schema_version=1))

    assert decoded == OwnerRenamed(full_name="Ada King", changed_by="unknown")


def test_a_stored_v2_event_is_upcast_only_from_its_own_version() -> None:
    codec = EventCodec([OwnerRenamed], UPCASTERS)

    decoded = codec.decode(stored("OwnerRenamed", {"full_name": "Ada King"}, schema_version=2))

    assert decoded == OwnerRenamed(full_name="Ada King", changed_by="unknown")


def test_a_stored_event_of_the_current_version_is_not_upcast() -> None:
    codec = EventCodec([OwnerRenamed], UPCASTERS)
    current = OwnerRenamed(full_name="Ada King", changed_by="Ada")

    assert codec.decode(as_stored(codec.encode(current))) == current
    assert codec.encode(current).schema_version == 3


def test_upcasting_leaves_the_stored_data_as_it_was() -> None:
    codec = EventCodec([OwnerRenamed], UPCASTERS)
    event = stored("OwnerRenamed", {"name": "Ada King"}, schema_version=1)

    codec.decode(event)

    assert event.data == {"name": "Ada King"}


def test_an_event_with_a_missing_upcaster_is_undecodable() -> None:
    codec = EventCodec([OwnerRenamed], {("OwnerRenamed", 2): v2_to_v3})

    with pytest.raises(UndecodableEvent, match="no upcaster for OwnerRenamed from schema version 1"):
        codec.decode(stored("OwnerRenamed", {"name": "Ada King"}, schema_version=1))
