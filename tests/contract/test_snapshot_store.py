from __future__ import annotations

from infra.ports.snapshots import Snapshot, SnapshotStore

STREAM = "account-00000000-0000-4000-8000-000000000009"


def snapshot(version: int, stream_id: str = STREAM) -> Snapshot:
    return Snapshot(
        stream_id=stream_id, version=version, state_version=1, state={"balance": version, "n": [1]}
    )


def test_a_stream_without_a_snapshot_has_none(snapshots: SnapshotStore) -> None:
    assert snapshots.get(STREAM) is None


def test_a_snapshot_round_trips(snapshots: SnapshotStore) -> None:
    snapshots.put(snapshot(10))

    assert snapshots.get(STREAM) == snapshot(10)


def test_a_later_snapshot_replaces_an_earlier_one(snapshots: SnapshotStore) -> None:
    snapshots.put(snapshot(10))
    snapshots.put(snapshot(20))

    assert snapshots.get(STREAM) == snapshot(20)


def test_an_earlier_snapshot_never_replaces_a_later_one(snapshots: SnapshotStore) -> None:
    snapshots.put(snapshot(20))
    snapshots.put(snapshot(10))

    assert snapshots.get(STREAM) == snapshot(20)


def test_snapshots_are_kept_per_stream(snapshots: SnapshotStore) -> None:
    other = "account-00000000-0000-4000-8000-00000000000a"
    snapshots.put(snapshot(5))
    snapshots.put(snapshot(7, other))

    assert snapshots.get(STREAM) == snapshot(5)
    assert snapshots.get(other) == snapshot(7, other)
