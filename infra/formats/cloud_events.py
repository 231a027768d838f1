"""Stored events as CloudEvents 1.0 in structured JSON mode: the format on the hub."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from infra.ports.eventstore import Metadata, StoredEvent

_FORMAT = JSONFormat()
CONTENT_TYPE = JSONFormat.CONTENT_TYPE
TYPE_PREFIX = "eventbank."
_TYPE_PATTERN = re.compile(r"eventbank\.([A-Za-z][A-Za-z0-9_]*)\.v([0-9]+)")
_REQUIRED = {"id", "source", "specversion", "type", "subject", "time", "streamversion", "schemaversion"}


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
    """The stored event a CloudEvent of ours carries. Strict: nothing missing is made up."""
    try:
        attributes = json.loads(body)
        if not isinstance(attributes, dict):
            raise InvalidCloudEvent("a structured CloudEvent is a JSON object")
        missing = sorted(_REQUIRED - attributes.keys())
        if missing:
            raise InvalidCloudEvent(f"missing attributes: {', '.join(missing)}")
        if attributes["specversion"] != "1.0":
            raise InvalidCloudEvent(f"unsupported specversion {attributes['specversion']!r}")
        type_match = _TYPE_PATTERN.fullmatch(str(attributes["type"]))
        if type_match is None:
            raise InvalidCloudEvent(f"type {attributes['type']!r} is not {TYPE_PREFIX}<Type>.v<version>")
        return StoredEvent(
            event_id=uuid.UUID(str(attributes["id"])),
            stream_id=str(attributes["subject"]),
            version=int(attributes["streamversion"]),
            type=type_match.group(1),
            schema_version=int(attributes["schemaversion"]),
            data=attributes.get("data") or {},
            metadata=Metadata(
                correlation_id=attributes.get("correlationid"),
                causation_id=attributes.get("causationid"),
                idempotency_key=attributes.get("idempotencykey"),
                actor=attributes.get("actor"),
            ),
            recorded_at=datetime.fromisoformat(str(attributes["time"]).replace("Z", "+00:00")),
        )
    except InvalidCloudEvent:
        raise
    except (ValueError, TypeError, ValidationError) as error:
        raise InvalidCloudEvent(f"not an eventbank CloudEvent: {error}") from error
