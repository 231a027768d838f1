"""The hash chain's format, pinned: what the README tells anyone who wants to verify a log without us."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from infra.formats.chain import canonical_form, canonical_json, event_hash, hashed_events
from infra.formats.documents import format_time
from infra.ports.eventstore import Metadata, NewEvent, StoredEvent

EVENT = StoredEvent(
    event_id=uuid.UUID("6c1f2e0a-5b4d-4c3e-8a9f-0d1e2f3a4b5c"),
    stream_id="account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40",
    version=2,
    type="MoneyDeposited",
    schema_version=1,
    data={"reference": "Miete März", "amount": 125, "balance_after": 125},
    metadata=Metadata(correlation_id="c-1", actor="ada"),
    recorded_at=datetime(2026, 12, 3, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
)
PREVIOUS = "ab" * 32


def test_the_canonical_form_is_rfc_8785_json_of_the_documented_members_with_the_time_in_utc() -> None:
    expected = (
        '{"data":{"amount":125,"balance_after":125,"reference":"Miete März"},'
        '"eventId":"6c1f2e0a-5b4d-4c3e-8a9f-0d1e2f3a4b5c",'
        '"metadata":{"actor":"ada","causation_id":null,"correlation_id":"c-1","idempotency_key":null},'
        f'"previous":"{PREVIOUS}","recordedAt":"2026-12-03T10:00:00.000005Z","schemaVersion":1,'
        '"streamId":"account-3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40","type":"MoneyDeposited","version":2}'
    ).encode()

    assert canonical_form(EVENT, PREVIOUS) == expected
    assert event_hash(EVENT, PREVIOUS) == hashlib.sha256(expected).hexdigest()


def test_a_hash_changes_with_any_member_and_with_the_link() -> None:
    changed = [
        EVENT.model_copy(update={"data": {**EVENT.data, "amount": 126}}),
        EVENT.model_copy(update={"metadata": Metadata(correlation_id="c-1", actor="eve")}),
        EVENT.model_copy(update={"version": 3}),
        EVENT.model_copy(update={"recorded_at": EVENT.recorded_at + timedelta(microseconds=1)}),
        EVENT.model_copy(update={"type": "MoneyWithdrawn"}),
    ]

    hashes = {event_hash(EVENT, PREVIOUS), event_hash(EVENT, None)}
    hashes |= {event_hash(event, PREVIOUS) for event in changed}
    assert len(hashes) == 2 + len(changed)


def test_the_same_instant_in_another_offset_hashes_alike() -> None:
    in_utc = EVENT.model_copy(update={"recorded_at": EVENT.recorded_at.astimezone(UTC)})

    assert event_hash(in_utc, PREVIOUS) == event_hash(EVENT, PREVIOUS)


def test_an_appends_events_link_each_to_the_one_before_and_the_first_to_the_given_hash() -> None:
    events = [NewEvent("MoneyDeposited", 1, {"amount": amount}) for amount in (5, 7)]

    first, second = hashed_events(
        EVENT.stream_id, 4, events, EVENT.metadata, EVENT.recorded_at, previous=PREVIOUS
    )

    assert (first.version, second.version) == (5, 6)
    assert first.previous_hash == PREVIOUS
    assert first.event_hash == event_hash(first, PREVIOUS)
    assert second.previous_hash == first.event_hash
    assert second.event_hash == event_hash(second, first.event_hash)


PLAIN_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(st.characters(codec="utf-8")),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(max_codepoint=127)), inner, max_size=4)
    ),
)


@given(PLAIN_JSON)
def test_the_fast_canonical_json_writes_exactly_what_the_rfc_8785_reference_writes(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(
    st.floats(min_value=-1e15, max_value=1e15)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), min_size=1), st.integers(-100, 100))
)
def test_floats_and_other_keys_go_to_the_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


# what JSON escapes and what it must not, among any text (a union of alphabets would drown these few)
TEXT = st.text(st.sampled_from('"\\/\n\x00\x1f\x7fé€a')) | st.text(st.characters(codec="utf-8"))


@given(
    type_=TEXT,
    actor=st.none() | TEXT,
    data=st.dictionaries(st.text(st.characters(max_codepoint=127)), PLAIN_JSON, max_size=4),
    version=st.integers(1, 2**53 - 1),
    schema_version=st.integers(1, 2**53 - 1),
    previous=st.none() | TEXT,
)
def test_the_canonical_form_is_what_the_rfc_8785_reference_writes_of_the_documented_members(
    type_: str,
    actor: str | None,
    data: dict[str, Any],
    version: int,
    schema_version: int,
    previous: str | None,
) -> None:
    event = EVENT.model_copy(
        update={
            "type": type_,
            "metadata": Metadata(correlation_id="c-1", actor=actor),
            "data": data,
            "version": version,
            "schema_version": schema_version,
        }
    )
    members: dict[str, Any] = {
        "streamId": event.stream_id,
        "version": version,
        "eventId": str(event.event_id),
        "type": type_,
        "schemaVersion": schema_version,
        "data": data,
        "metadata": event.metadata.model_dump(mode="json"),
        "recordedAt": format_time(event.recorded_at),
        "previous": previous,
    }

    assert canonical_form(event, previous) == rfc8785.dumps(members)
