"""Domain events <-> stored data: encoding on append, decoding with upcasting of older versions on read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ValidationError

from domain.decider import Upcaster
from infra.ports.eventstore import NewEvent, StoredEvent


class UndecodableEvent(Exception):
    """A stored event this code cannot turn into a domain event (unknown type, newer schema, bad data)."""


class EventCodec[E: BaseModel]:
    """Turns domain events into stored data and back, upcasting older schema versions on read."""

    def __init__(self, event_types: Sequence[type[E]], upcasters: Mapping[tuple[str, int], Upcaster]) -> None:
        self._types = {event_type.__name__: event_type for event_type in event_types}
        self._upcasters = upcasters

    def encode(self, event: E) -> NewEvent:
        return NewEvent(
            type=type(event).__name__,
            schema_version=_schema_version(type(event)),
            data=event.model_dump(mode="json", exclude_none=True),
        )

    def decode(self, stored: StoredEvent) -> E:
        event_type = self._types.get(stored.type)
        if event_type is None:
            raise UndecodableEvent(
                f"unknown event type {stored.type!r} ({stored.stream_id} v{stored.version})"
            )
        current = _schema_version(event_type)
        if stored.schema_version > current:
            raise UndecodableEvent(
                f"{stored.type} schema version {stored.schema_version} is newer than this code's {current}"
            )
        data = stored.data
        for version in range(stored.schema_version, current):
            upcast = self._upcasters.get((stored.type, version))
            if upcast is None:
                raise UndecodableEvent(f"no upcaster for {stored.type} from schema version {version}")
            data = upcast(data)
        try:
            return event_type.model_validate(data)
        except ValidationError as error:
            raise UndecodableEvent(
                f"{stored.type} ({stored.stream_id} v{stored.version}): {error}"
            ) from error


def _schema_version(event_type: type[BaseModel]) -> int:
    version = getattr(event_type, "schema_version", 1)
    return int(version)
