"""Events as Cosmos DB documents: the shape the events container holds and the change feed delivers.

The embedded change feed hands the relay these same documents, so the relay cannot tell the backends apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infra.ports.eventstore import Metadata, StoredEvent

EVENT_KIND = "event"


def event_document_id(version: int) -> str:
    # Unique within the stream's partition, so two writers of one version collide (409).
    return f"{version:010d}"


def to_document(event: StoredEvent) -> dict[str, Any]:
    chain = {"eventHash": event.event_hash, "previousHash": event.previous_hash} if event.event_hash else {}
    return {
        "id": event_document_id(event.version),
        "kind": EVENT_KIND,
        "streamId": event.stream_id,
        "version": event.version,
        "eventId": str(event.event_id),
        "type": event.type,
        "schemaVersion": event.schema_version,
        "data": event.data,
        "metadata": event.metadata.model_dump(mode="json", by_alias=True),
        "recordedAt": format_time(event.recorded_at),
        **chain,
    }


def format_time(moment: datetime) -> str:
    """UTC with microseconds, always the same width, so the strings sort as the times do."""
    # isoformat pads the year to four digits (strftime's %Y does not, for years before 1000)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def is_event_document(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == EVENT_KIND


def from_document(document: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.UUID(document["eventId"]),
        stream_id=document["streamId"],
        version=document["version"],
        type=document["type"],
        schema_version=document["schemaVersion"],
        data=dict(document["data"]),
        metadata=Metadata.model_validate(document["metadata"]),
        recorded_at=datetime.fromisoformat(document["recordedAt"]),
        event_hash=document.get("eventHash"),
        previous_hash=document.get("previousHash"),
    )
