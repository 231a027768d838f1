"""The checkpoint port: how far a reader has got (a change-feed continuation, a partition's sequence number),
by name, written only after everything before it was handled and read back on a restart."""

from __future__ import annotations

from typing import Protocol


class Checkpoints(Protocol):
    def get(self, name: str) -> str | None:
        """The position saved under `name`, or None to start from the beginning."""
        ...

    def put(self, name: str, position: str) -> None:
        """Save `position` under `name`, replacing what was there."""
        ...

    def advance(self, name: str, position: int) -> None:
        """Move a numeric position forward to `position`; an older one is ignored (atomically: two
        writers cannot move it back)."""
        ...

    def close(self) -> None: ...
