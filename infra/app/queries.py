"""The read side's paging over any projection's documents: by key, so a page costs one single-partition
query whatever the page number, and a continuation token is the last key returned; and the lag of read
models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.app.readside import Lag, ReadModel
from infra.ports.eventstore import EventStore, StoreTotals
from projections.projection import Table


@dataclass(frozen=True)
class Page:
    items: list[Any]
    # the key to continue after (descending: before), or None on the last page
    continuation: str | None


def lags(read_models: list[ReadModel[Any, Any]], store: EventStore) -> tuple[StoreTotals, list[Lag]]:
    totals = store.totals()
    return totals, [read_model.lag(totals) for read_model in read_models]


def ascending(
    read_model: ReadModel[Any, Any], table: Table[Any], partition: str, limit: int, after: str | None
) -> Page:
    """A page of a table's partition in key order, after the key `after` (None: from the start)."""
    # the smallest string above `after`: keys are unique within a partition
    found = read_model.rows(table, partition, key_from=after + "\x00" if after else "", limit=limit + 1)
    return page_of(found, limit)


def page_of(found: list[tuple[str, Any]], limit: int) -> Page:
    """Up to `limit` rows of `found` (one more was asked for, to know whether another page follows)."""
    items = found[:limit]
    more = len(found) > limit
    return Page([row for _, row in items], items[-1][0] if more and items else None)
