"""Snapshots of aggregate state, so loading a long stream reads a snapshot and the events after it."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_id: str
    version: int
    state_version: int
    state: dict[str, Any]


class SnapshotStore(Protocol):
    """The latest snapshot per stream. Snapshots are a cache of the events: losing one costs a replay."""

    def get(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, if any."""
        ...

    def put(self, snapshot: Snapshot) -> None:
        """Keep `snapshot` unless a snapshot of a later version is already kept."""
        ...
