import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pydantic import BaseModel

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Personal:
    """Marks a field of an event or a state as personal data: `Annotated[str, Personal("email")]`. It is
    stored sealed with a key of its data subject, the person the field named `subject` identifies (by its
    value, an email address), so that destroying that one key erases it wherever it is stored, while the
    rest of the event, and the log, stay as they are."""

    subject: str


# What a Personal field reads once its subject's key is destroyed.
ERASED = "[erased]"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def person_identifier(identifier: str) -> str:
    """How identifiers of persons compare: surrounding space dropped, ASCII letters in lower case (not
    casefold(), which would make distinct addresses one: straße and strasse; nor lower(), which changes
    non-ASCII letters too)."""
    stripped = identifier.strip()
    return stripped.lower() if stripped.isascii() else stripped.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Decider[S: BaseModel, C: BaseModel, E: BaseModel]:
    """An aggregate as pure functions: what the command pipeline and the store need to know of it.

    `category` prefixes the aggregate's stream ids (`account-<uuid>`); `event_types` are the events it
    stores, each with a `schema_version`; `upcasters` turn stored data of an older schema version of a
    type into the next version's, keyed by (type name, that older version); `state_version` versions
    the state's shape for snapshots.
    """

    category: str
    initial: S
    evolve: Callable[[S, E], S]
    decide: Callable[[S, C], list[E]]
    state_type: type[S]
    event_types: Sequence[type[E]]
    upcasters: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)
    # The shape of the state: bump it whenever the state model changes, so stored snapshots of the old
    # shape are ignored (and the state is replayed from the events) instead of misread.
    state_version: int = 1

    def fold(self, state: S, events: Sequence[E]) -> S:
        return reduce(self.evolve, events, state)

    def stream_id(self, aggregate_id: object) -> str:
        """The stream of the aggregate with this id: `<category>-<id>`."""
        return f"{self.category}-{aggregate_id}"

    def aggregate_id(self, stream_id: str) -> str:
        return stream_id.removeprefix(f"{self.category}-")


@dataclass(frozen=True)
class Reaction[C: BaseModel]:
    """A command a service runs because of another service's event: `command` on `stream_id`, recorded
    with its events under `idempotency_key` (derived from the event that caused it), so a redelivered
    event changes nothing."""

    stream_id: str
    command: C
    idempotency_key: str
    # For a request that may repeat an already decided step (a timeout's): turns that step's recorded
    # events, as (type, data), into a command restating them, since their first announcement may be lost.
    restate: Callable[[Sequence[tuple[str, Mapping[str, Any]]]], C] | None = None


# How a service reacts to another service's events: (event type, its stream id, its version, its data)
# to the commands to run. A tolerant reader: it reads only the fields it needs and ignores other events.
Policy = Callable[[str, str, int, Mapping[str, Any]], Sequence[Reaction[Any]]]
