"""Stored events as CloudEvents 1.0 in structured JSON mode: the format on the hub."""

from __future__ import annotations

import uuid
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from infra.eventstore import Metadata, StoredEvent

_FORMAT = JSONFormat()
CONTENT_TYPE = JSONFormat.CONTENT_TYPE
TYPE_PREFIX = "eventbank."


class InvalidCloudEvent(ValueError):
    pass


def encode(event: StoredEvent, source: str) -> bytes:
    attributes: dict[str, Any] = {
        "id": str(event.event_id),
        "source": source,
        "type": f"{TYPE_PREFIX}{event.type}.v{event.schema_version}",
        "specversion": "1.0",
        "subject": event.stream_id,
        "time": event.recorded_at,
        "datacontenttype": "application/json",
        "streamversion": event.version,
        "schemaversion": event.schema_version,
    }
    extensions = {
        "correlationid": event.metadata.correlation_id,
        "causationid": event.metadata.causation_id,
        "idempotencykey": event.metadata.idempotency_key,
        "actor": event.metadata.actor,
    }
    attributes.update({name: value for name, value in extensions.items() if value is not None})
    return bytes(_FORMAT.write(CloudEvent(attributes, event.data)))


def decode(body: bytes) -> StoredEvent:
    try:
        cloud_event = _FORMAT.read(None, body)
        attributes = cloud_event.get_attributes()
        data = cloud_event.get_data()
        type_ = str(attributes["type"]).removeprefix(TYPE_PREFIX).rpartition(".v")[0]
        return StoredEvent(
            event_id=uuid.UUID(str(attributes["id"])),
            stream_id=str(attributes["subject"]),
            version=int(attributes["streamversion"]),
            type=type_,
            schema_version=int(attributes["schemaversion"]),
            data=data if isinstance(data, dict) else {},
            metadata=Metadata(
                correlation_id=attributes.get("correlationid"),
                causation_id=attributes.get("causationid"),
                idempotency_key=attributes.get("idempotencykey"),
                actor=attributes.get("actor"),
            ),
            recorded_at=attributes["time"],
        )
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidCloudEvent(f"not an eventbank CloudEvent: {error}") from error
