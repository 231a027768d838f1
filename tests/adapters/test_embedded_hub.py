from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.adapters.sqlite.checkpoints import SqliteCheckpoints
from infra.adapters.sqlite.hub import EmbeddedHub
from infra.adapters.sqlite.sources import EmbeddedPartition
from infra.ports.publisher import OutgoingMessage
from infra.ports.sources import HubMessage

PARTITIONS = 4
KEYS = [f"account-{uuid.UUID(int=n)}" for n in range(200)]
REPO_ROOT = Path(__file__).resolve().parents[2]


class Hub(EmbeddedHub):
    """The embedded hub with its consumer groups reading it as the dev host's sources do: each group's
    position per partition in a checkpoint store beside it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder / "hub.db", PARTITIONS)
        self.positions = SqliteCheckpoints(folder / "checkpoints.db")

    def receive(self, group: str, partition: int, max_count: int) -> list[HubMessage]:
        return list(EmbeddedPartition(self, self.positions, group, partition).receive(max_count))

    def checkpoint(self, group: str, partition: int, sequence_number: int) -> None:
        EmbeddedPartition(self, self.positions, group, partition).checkpoint(sequence_number)

    def close(self) -> None:
        self.positions.close()
        super().close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    hub = Hub(tmp_path)
    yield hub
    hub.close()


def message(key: str, body: str) -> OutgoingMessage:
    return OutgoingMessage(key, body.encode())


def keys_on_distinct_partitions(hub: Hub) -> tuple[str, str]:
    by_partition = {hub.partition_for(key): key for key in KEYS}
    first, second, *_ = by_partition.values()
    return first, second


def bodies(hub: Hub, group: str, partition: int, max_count: int = 1_000) -> list[str]:
    return [received.body.decode() for received in hub.receive(group, partition, max_count)]


# --- partitioning ---


def test_a_key_always_maps_to_the_same_partition(hub: Hub) -> None:
    assert [hub.partition_for(key) for key in KEYS] == [hub.partition_for(key) for key in KEYS]


def test_two_hubs_on_one_file_map_a_key_to_the_same_partition(hub: Hub, tmp_path: Path) -> None:
    other = Hub(tmp_path)
    try:
        assert [other.partition_for(key) for key in KEYS] == [hub.partition_for(key) for key in KEYS]
    finally:
        other.close()


def test_the_partition_of_a_key_does_not_depend_on_the_process(hub: Hub) -> None:
    # str hashes are salted per process; a restarted host must still put a stream on the same partition.
    script = (
        "import json, sys\n"
        "from infra.adapters.sqlite.hub import EmbeddedHub\n"
        f"hub = EmbeddedHub(':memory:', {PARTITIONS})\n"
        "print(json.dumps([hub.partition_for(key) for key in json.load(sys.stdin)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(KEYS[:20]),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)},
        timeout=30,
    )

    assert json.loads(result.stdout) == [hub.partition_for(key) for key in KEYS[:20]]


def test_every_partition_index_is_in_range_and_keys_spread_over_all_of_them(hub: Hub) -> None:
    partitions = {hub.partition_for(key) for key in KEYS}

    assert partitions == set(range(PARTITIONS))


def test_a_hub_needs_at_least_one_partition(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        EmbeddedHub(tmp_path / "hub.db", 0)


# --- order ---


def test_messages_with_one_key_keep_their_publish_order(hub: Hub) -> None:
    key, other_key = keys_on_distinct_partitions(hub)
    same_partition_key = next(k for k in KEYS if k != key and hub.partition_for(k) == hub.partition_for(key))
    hub.publish([message(key, "1"), message(other_key, "x"), message(same_partition_key, "y")])
    hub.publish([message(key, "2"), message(same_partition_key, "z"), message(key, "3")])
    hub.publish([message(key, "4")])

    received = hub.receive("g", hub.partition_for(key), 100)

    assert [m.body.decode() for m in received if m.partition_key == key] == ["1", "2", "3", "4"]
    assert [m.sequence_number for m in received] == sorted(m.sequence_number for m in received)
    assert {m.partition_id for m in received} == {str(hub.partition_for(key))}


def test_receive_returns_at_most_max_count_messages_oldest_first(hub: Hub) -> None:
    key = KEYS[0]
    hub.publish([message(key, str(n)) for n in range(5)])

    assert bodies(hub, "g", hub.partition_for(key), max_count=3) == ["0", "1", "2"]


# --- checkpoints ---


def test_receive_returns_the_messages_after_the_groups_checkpoint(hub: Hub) -> None:
    key = KEYS[0]
    partition = hub.partition_for(key)
    hub.publish([message(key, str(n)) for n in range(5)])
    received = hub.receive("g", partition, 100)

    hub.checkpoint("g", partition, received[2].sequence_number)

    assert bodies(hub, "g", partition) == ["3", "4"]
    hub.checkpoint("g", partition, received[-1].sequence_number)
    assert bodies(hub, "g", partition) == []
    hub.publish([message(key, "5")])
    assert bodies(hub, "g", partition) == ["5"]


def test_checkpoints_are_per_consumer_group(hub: Hub) -> None:
    key = KEYS[0]
    partition = hub.partition_for(key)
    hub.publish([message(key, str(n)) for n in range(3)])

    hub.checkpoint("projector", partition, hub.receive("projector", partition, 100)[-1].sequence_number)

    assert bodies(hub, "projector", partition) == []
    assert bodies(hub, "audit", partition) == ["0", "1", "2"]


def test_checkpoints_are_per_partition(hub: Hub) -> None:
    key, other_key = keys_on_distinct_partitions(hub)
    hub.publish([message(key, "a1"), message(other_key, "b1"), message(key, "a2"), message(other_key, "b2")])

    hub.checkpoint(
        "g", hub.partition_for(key), hub.receive("g", hub.partition_for(key), 100)[-1].sequence_number
    )

    assert bodies(hub, "g", hub.partition_for(key)) == []
    assert bodies(hub, "g", hub.partition_for(other_key)) == ["b1", "b2"]


def test_a_checkpoint_never_moves_backwards(hub: Hub) -> None:
    key = KEYS[0]
    partition = hub.partition_for(key)
    hub.publish([message(key, str(n)) for n in range(5)])
    received = hub.receive("g", partition, 100)

    hub.checkpoint("g", partition, received[3].sequence_number)
    hub.checkpoint("g", partition, received[1].sequence_number)

    assert bodies(hub, "g", partition) == ["4"]


# --- durability ---


def test_messages_and_checkpoints_survive_reopening_the_file(tmp_path: Path) -> None:
    key = KEYS[0]
    first = Hub(tmp_path)
    partition = first.partition_for(key)
    first.publish([message(key, str(n)) for n in range(3)])
    first.checkpoint("g", partition, first.receive("g", partition, 100)[0].sequence_number)
    first.close()

    reopened = Hub(tmp_path)
    try:
        assert bodies(reopened, "g", partition) == ["1", "2"]
        assert bodies(reopened, "other", partition) == ["0", "1", "2"]
        reopened.publish([message(key, "3")])
        received = reopened.receive("other", partition, 100)
        assert [m.body.decode() for m in received] == ["0", "1", "2", "3"]
        assert [m.sequence_number for m in received] == sorted({m.sequence_number for m in received})
    finally:
        reopened.close()
