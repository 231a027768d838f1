"""Domain events <-> stored data: encoding on append, decoding with upcasting of older versions on read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from domain.decider import Upcaster
from infra.ports.eventstore import NewEvent, StoredEvent


class UndecodableEvent(Exception):
    """A stored event this code cannot turn into a domain event (unknown type, newer schema, bad data)."""


class Seals(Protocol):
    """What seals personal data on the way into storage and opens it on the way out (infra.app.sealing)."""

    def seal(self, model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]: ...

    def open(self, data: Any) -> Any: ...

    def seals_any(self, model: type[BaseModel]) -> bool:
        """Whether `seal` seals anything of `model`'s data (a personal field of it, or of a model in it)."""
        ...

    def subject_of(self, identifier: str) -> str: ...

    def forget(self, subject: str) -> bool: ...

    def keyed(self, text: str) -> str:
        """A keyed hash of `text` (of what may hold personal data): comparable, not guessable."""
        ...

    @property
    def cache_seconds(self) -> float:
        """How long an opened copy may be kept in a process: a key destroyed elsewhere is unusable here
        within that time."""
        ...


class EventCodec[E: BaseModel]:
    """Turns domain events into stored data and back, upcasting older schema versions on read; with
    `seals`, the events' personal fields are stored sealed and opened when read."""

    def __init__(
        self,
        event_types: Sequence[type[E]],
        upcasters: Mapping[tuple[str, int], Upcaster],
        seals: Seals | None = None,
    ) -> None:
        self._types = {event_type.__name__: event_type for event_type in event_types}
        self._upcasters = upcasters
        self.seals = seals

    def encode(self, event: E) -> NewEvent:
        return NewEvent(
            type=type(event).__name__,
            schema_version=_schema_version(type(event)),
            data=self.stored(event, exclude_none=True),
        )

    def stored(self, model: BaseModel, exclude_none: bool = False) -> dict[str, Any]:
        """`model` as stored (an event, and the states and views kept of them): its personal fields sealed."""
        data = model.model_dump(mode="json", exclude_none=exclude_none)
        return data if self.seals is None else self.seals.seal(type(model), data)

    def opened(self, data: Any) -> Any:
        """Stored data with its sealed fields opened."""
        return data if self.seals is None else self.seals.open(data)

    def reveal(self, stored: StoredEvent) -> StoredEvent:
        """The stored event with its sealed fields opened (as the audit trail shows it), not decoded."""
        return stored.model_copy(update={"data": self.opened(stored.data)})

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
        if self.seals is not None and (stored.schema_version < current or self.seals.seals_any(event_type)):
            # only what has personal fields is stored sealed: this type as it is, or an older version of it
            # (most events, deposits say, have none: they are not walked on every read)
            data = self.seals.open(data)
        try:
            return self._validated(event_type, stored, data)
        except UndecodableEvent:
            # sealed under a marker this model's version no longer has (one dropped without a new
            # schema_version): opened, it may still read
            if data is not stored.data or self.seals is None or (opened := self.seals.open(data)) is data:
                raise
            return self._validated(event_type, stored, opened)

    def _validated(self, event_type: type[E], stored: StoredEvent, data: Any) -> E:
        current = _schema_version(event_type)
        for version in range(stored.schema_version, current):
            upcast = self._upcasters.get((stored.type, version))
            if upcast is None:
                raise UndecodableEvent(f"no upcaster for {stored.type} from schema version {version}")
            data = upcast(data)
        try:
            return event_type.model_validate(data)
        except ValidationError as error:
            # where and what, never the values: they may be personal data, opened (dead letters and logs
            # keep this message, and forgetting the person would not erase it)
            problems = "; ".join(
                f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
                for detail in error.errors(include_input=False, include_url=False)
            )
            raise UndecodableEvent(
                f"{stored.type} ({stored.stream_id} v{stored.version}): {problems}"
            ) from None


def _schema_version(event_type: type[BaseModel]) -> int:
    version = getattr(event_type, "schema_version", 1)
    return int(version)
