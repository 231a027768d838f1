from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

E = TypeVar("E", bound=BaseModel)
V = TypeVar("V", bound=BaseModel)


@dataclass(frozen=True)
class Fact(Generic[E]):
    """A domain event with where and when it happened: what a projection folds."""

    stream_id: str
    version: int
    recorded_at: datetime
    event: E


@dataclass(frozen=True)
class Projection(Generic[E, V]):
    """A read model as a pure fold: one view document per `document_id(stream_id)`.

    `category` names the streams it follows; `evolve` must not raise for any event of theirs.
    """

    name: str
    category: str
    document_id: Callable[[str], str]
    view_type: type[V]
    evolve: Callable[[V | None, Fact[E]], V]
