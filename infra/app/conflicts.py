"""The one way to update a document that others may write at the same time: read it, change it, write it
under the etag it was read with, and on a conflict (another writer got there first) start again."""

from __future__ import annotations

from collections.abc import Callable

from infra.ports.readmodels import ReadModelConflict

UPDATE_ATTEMPTS = 10


def until_written[T](attempt: Callable[[], T], what: str, attempts: int = UPDATE_ATTEMPTS) -> T:
    """Runs `attempt` (read, change, conditional write) until it writes without a conflict; after
    `attempts` conflicts, raises ReadModelConflict naming `what`."""
    for _ in range(attempts):
        try:
            return attempt()
        except ReadModelConflict:
            continue
    raise ReadModelConflict(f"{what} kept changing")
