from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.app.relay import Relay
from infra.formats import cloud_events
from infra.formats.cloud_events import InvalidCloudEvent
from infra.formats.documents import to_document
from infra.ports.eventstore import Metadata, StoredEvent
from infra.ports.publisher import OutgoingMessage

SOURCE = "/eventbank/accounts"
STREAMS = [f"account-{uuid.UUID(int=n)}" for n in (3, 1, 2)]
RECORDED_AT = datetime(2024, 5, 17, 9, 30, 0, 123456, tzinfo=UTC)


class RecordingPublisher:
    """A Publisher that keeps every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[OutgoingMessage]] = []

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        self.batches.append(list(messages))

    @property
    def messages(self) -> list[OutgoingMessage]:
        return [message for batch in self.batches for message in batch]


class HubUnavailable(Exception):
    pass


class FailingPublisher:
    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        raise HubUnavailable("the hub is down")


def stored(stream_id: str, version: int, **fields: Any) -> StoredEvent:
    return StoredEvent.model_validate(
        {
            "event_id": uuid.uuid4(),
            "stream_id": stream_id,
            "version": version,
            "type": "MoneyDeposited",
            "schema_version": 1,
            "data": {"amount": version * 10, "balance_after": version * 100},
            "metadata": Metadata(
                correlation_id=f"corr-{version}", causation_id=f"cmd-{version}", actor="ada"
            ),
            "recorded_at": RECORDED_AT + timedelta(seconds=version),
            **fields,
        }
    )


def idempotency_document(stream_id: str) -> dict[str, Any]:
    return {
        "id": "idempotency-key-1",
        "kind": "idempotency",
        "streamId": stream_id,
        "record": {"key": "key-1", "fingerprint": "f", "result": {}, "recordedAt": RECORDED_AT.isoformat()},
    }


def decoded(publisher: RecordingPublisher) -> list[StoredEvent]:
    return [cloud_events.decode(message.body) for message in publisher.messages]


# --- what is relayed ---


def test_only_event_documents_are_relayed() -> None:
    publisher = RecordingPublisher()
    first, second = stored(STREAMS[0], 1), stored(STREAMS[0], 2)
    documents = [
        to_document(first),
        idempotency_document(STREAMS[0]),
        {"id": "no-kind", "streamId": STREAMS[0]},
        to_document(second),
    ]

    relayed = Relay(publisher, SOURCE).relay(documents)

    assert relayed == 2
    assert decoded(publisher) == [first, second]


def test_a_page_without_events_publishes_nothing() -> None:
    publisher = RecordingPublisher()

    assert Relay(publisher, SOURCE).relay([idempotency_document(STREAMS[0])]) == 0
    assert Relay(publisher, SOURCE).relay([]) == 0
    assert publisher.batches == []


@pytest.mark.parametrize("seed", range(5))
def test_events_are_published_in_stream_and_version_order_however_the_page_is_shuffled(seed: int) -> None:
    """Reliability R8: the change feed does not order the documents of one transactional batch."""
    publisher = RecordingPublisher()
    events = [stored(stream_id, version) for stream_id in STREAMS for version in range(1, 6)]
    documents = [to_document(event) for event in events]
    random.Random(seed).shuffle(documents)

    Relay(publisher, SOURCE).relay(documents)

    published = decoded(publisher)
    assert [(e.stream_id, e.version) for e in published] == sorted((e.stream_id, e.version) for e in events)
    for stream_id in STREAMS:
        assert [e.version for e in published if e.stream_id == stream_id] == [1, 2, 3, 4, 5]


def test_each_message_is_partitioned_by_its_stream_id() -> None:
    publisher = RecordingPublisher()
    events = [stored(stream_id, 1) for stream_id in STREAMS]

    Relay(publisher, SOURCE).relay([to_document(event) for event in events])

    assert [(m.partition_key, cloud_events.decode(m.body).stream_id) for m in publisher.messages] == [
        (stream_id, stream_id) for stream_id in sorted(STREAMS)
    ]
    assert {m.content_type for m in publisher.messages} == {cloud_events.CONTENT_TYPE}


def test_each_body_decodes_back_to_the_stored_event() -> None:
    publisher = RecordingPublisher()
    events = [
        stored(STREAMS[0], 1),
        stored(
            STREAMS[0],
            2,
            type="MoneyWithdrawn",
            schema_version=3,
            data={"amount": 5, "memo": "Café Zürich €", "parts": [1, {"x": None}]},
            metadata=Metadata(correlation_id="c", causation_id="k", idempotency_key="idem-1", actor="bob"),
        ),
        stored(STREAMS[1], 1, metadata=Metadata()),
    ]

    Relay(publisher, SOURCE).relay([to_document(event) for event in events])

    assert sorted(decoded(publisher), key=lambda e: (e.stream_id, e.version)) == sorted(
        events, key=lambda e: (e.stream_id, e.version)
    )


def test_a_publisher_failure_makes_the_relay_fail() -> None:
    with pytest.raises(HubUnavailable):
        Relay(FailingPublisher(), SOURCE).relay([to_document(stored(STREAMS[0], 1))])


# --- the CloudEvents format ---


def test_an_event_is_encoded_as_a_structured_cloud_event() -> None:
    event = stored(STREAMS[0], 4, schema_version=2)

    encoded = json.loads(cloud_events.encode(event, SOURCE))

    assert encoded["specversion"] == "1.0"
    assert encoded["id"] == str(event.event_id)
    assert encoded["source"] == SOURCE
    assert encoded["type"] == "eventbank.MoneyDeposited.v2"
    assert encoded["subject"] == STREAMS[0]
    assert datetime.fromisoformat(encoded["time"]) == event.recorded_at
    assert encoded["datacontenttype"] == "application/json"
    assert encoded["streamversion"] == 4
    assert encoded["correlationid"] == "corr-4"
    assert encoded["causationid"] == "cmd-4"
    assert encoded["data"] == event.data


def test_metadata_that_is_absent_is_left_out_of_the_cloud_event() -> None:
    encoded = json.loads(cloud_events.encode(stored(STREAMS[0], 1, metadata=Metadata()), SOURCE))

    assert {"correlationid", "causationid", "idempotencykey", "actor"}.isdisjoint(encoded)


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"\xff\xfe\x00", b"{", b"[]", b"null", b"42", b'"a string"', b"{}"],
)
def test_decoding_something_that_is_not_a_cloud_event_is_rejected(body: bytes) -> None:
    with pytest.raises(InvalidCloudEvent):
        cloud_events.decode(body)


@pytest.mark.parametrize(
    "attribute", ["id", "source", "specversion", "type", "subject", "time", "streamversion", "schemaversion"]
)
def test_decoding_a_cloud_event_without_a_required_attribute_is_rejected(attribute: str) -> None:
    encoded = json.loads(cloud_events.encode(stored(STREAMS[0], 1), SOURCE))
    del encoded[attribute]

    with pytest.raises(InvalidCloudEvent):
        cloud_events.decode(json.dumps(encoded).encode())
