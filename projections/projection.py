from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.decider import person_identifier


@dataclass(frozen=True)
class Fact[E: BaseModel]:
    """A domain event with where and when it happened: what a projection folds."""

    stream_id: str
    version: int
    recorded_at: datetime
    event: E


@dataclass(frozen=True)
class Table[R: BaseModel]:
    """Documents a projection writes besides each stream's own, queried by partition and key range."""

    name: str
    row_type: type[R]


@dataclass(frozen=True)
class PersonKey:
    """A partition named after a person (by their email address, say): the read-model writer files the
    rows under that person's subject id (a keyed hash), so the identifier itself is never stored."""

    identifier: str

    def plain(self) -> str:
        """The partition where no keyed subject ids are made (read models without sealing)."""
        return person_identifier(self.identifier)


@dataclass(frozen=True)
class Row[R: BaseModel]:
    """One fact's change to one document of a table: `update` folds it into the current row (None: new).

    Rows are keyed by (table, partition, id); `key` orders a partition's rows and is what queries range
    over. A row must depend only on the facts of the streams that write it, so replays agree.
    """

    table: Table[R]
    partition: str | PersonKey
    id: str
    key: str
    update: Callable[[R | None], R]


def no_rows(view: Any, fact: Fact[Any]) -> Sequence[Row[Any]]:
    return ()


@dataclass(frozen=True)
class Projection[E: BaseModel, V: BaseModel]:
    """A read model as a pure fold: one view document per stream (`document_id(stream_id)`), which also
    holds the stream's checkpoint, plus the rows each fact adds to the projection's tables.

    `category` names the streams it follows. `evolve` and `rows` are pure; if they raise for an event, the
    event is poison: retried, then parked with the stream behind it.
    """

    name: str
    category: str
    document_id: Callable[[str], str]
    view_type: type[V]
    evolve: Callable[[V | None, Fact[E]], V]
    rows: Callable[[V, Fact[E]], Sequence[Row[Any]]] = no_rows
    tables: tuple[Table[Any], ...] = field(default=())
