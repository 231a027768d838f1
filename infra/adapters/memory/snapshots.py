"""The snapshot store in memory."""

from __future__ import annotations

import threading

from infra.ports.snapshots import Snapshot


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}

    def get(self, stream_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(stream_id)

    def put(self, snapshot: Snapshot) -> None:
        with self._lock:
            kept = self._snapshots.get(snapshot.stream_id)
            if kept is None or kept.version < snapshot.version:
                self._snapshots[snapshot.stream_id] = snapshot.model_copy(deep=True)
