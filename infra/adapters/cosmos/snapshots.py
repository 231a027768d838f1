"""The snapshot store on Azure Cosmos DB, with the documents' own `_etag` as the condition."""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.cosmos.exceptions import (
    CosmosResourceNotFoundError,
)

from infra.adapters.cosmos.container import LOST_RACE, CosmosContainer, transient_errors_as_unavailable
from infra.ports.eventstore import StoreUnavailable
from infra.ports.snapshots import Snapshot

SNAPSHOTS_PARTITION_KEY_PATH = "/streamId"


# A put that loses a race reads again and tries once more; snapshots are only a cache of the events.
SNAPSHOT_PUT_ATTEMPTS = 2


class CosmosSnapshotStore:
    """The SnapshotStore port on a `snapshots` container partitioned by `/streamId`: one document per
    stream (id = the stream id), replaced only by a later version."""

    def __init__(self, container: CosmosContainer) -> None:
        self._container = container

    def get(self, stream_id: str) -> Snapshot | None:
        stored = self._read(stream_id)
        return None if stored is None else _snapshot(stored)

    def put(self, snapshot: Snapshot) -> None:
        stream_id = snapshot.stream_id
        body = {
            "id": stream_id,
            "streamId": stream_id,
            "version": snapshot.version,
            "stateVersion": snapshot.state_version,
            "state": snapshot.state,
        }
        for _ in range(SNAPSHOT_PUT_ATTEMPTS):
            kept = self._read(stream_id)
            if kept is not None and kept["version"] >= snapshot.version:
                return
            if self._write(body, kept):
                return
        kept = self._read(stream_id)  # the last race was lost: fine if the winner is at least as late
        if kept is None or kept["version"] < snapshot.version:
            raise StoreUnavailable(f"the snapshot of {stream_id} kept changing while it was written")

    def _write(self, body: dict[str, Any], kept: dict[str, Any] | None) -> bool:
        """Create, or replace `kept` if it is still there unchanged; False if another writer came first."""
        with transient_errors_as_unavailable():
            try:
                if kept is None:
                    self._container.create_item(body=body)
                else:
                    self._container.replace_item(
                        body["id"], body, etag=kept["_etag"], match_condition=MatchConditions.IfNotModified
                    )
            except LOST_RACE:
                return False
        return True

    def _read(self, stream_id: str) -> dict[str, Any] | None:
        with transient_errors_as_unavailable():
            try:
                return self._container.read_item(stream_id, partition_key=stream_id)
            except CosmosResourceNotFoundError:
                return None


def _snapshot(stored: dict[str, Any]) -> Snapshot:
    return Snapshot(
        stream_id=stored["streamId"],
        version=stored["version"],
        state_version=stored["stateVersion"],
        state=stored["state"],
    )
