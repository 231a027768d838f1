"""The database and containers the code uses, created on an emulator (in Azure, the Bicep creates them:
data-plane identities cannot)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.cosmos import PartitionKey

from infra.adapters.cosmos.container import emulator_client
from infra.adapters.cosmos.eventstore import EVENTS_INDEXING_POLICY, EVENTS_PARTITION_KEY_PATH
from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH
from infra.adapters.cosmos.readmodels import READMODELS_INDEXING_POLICY, READMODELS_PARTITION_KEY_PATH
from infra.adapters.cosmos.snapshots import SNAPSHOTS_PARTITION_KEY_PATH

LEASES_PARTITION_KEY_PATH = "/id"  # what the change-feed trigger requires of its lease container


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    partition_key: str
    indexing_policy: dict[str, Any] | None = field(default=None)


def container_specs(
    events: Sequence[str], snapshots: str, read_models: str, leases: str, keys: str
) -> list[ContainerSpec]:
    """Each container under the names given (an events container per service), with its partition key
    and indexing (the Bicep declares the same; tests/deploy checks it)."""
    return [
        *(ContainerSpec(name, EVENTS_PARTITION_KEY_PATH, EVENTS_INDEXING_POLICY) for name in events),
        ContainerSpec(snapshots, SNAPSHOTS_PARTITION_KEY_PATH),
        ContainerSpec(read_models, READMODELS_PARTITION_KEY_PATH, READMODELS_INDEXING_POLICY),
        ContainerSpec(leases, LEASES_PARTITION_KEY_PATH),
        ContainerSpec(keys, KEYS_PARTITION_KEY_PATH),
    ]


def create_containers(
    connection_string: str, database: str, specs: Sequence[ContainerSpec]
) -> Iterator[ContainerSpec]:
    """Creates the database and each container that does not exist yet; yields each once it is ready."""
    client = emulator_client(connection_string)
    try:
        created = client.create_database_if_not_exists(database)
        for spec in specs:
            options: dict[str, Any] = {}
            if spec.indexing_policy is not None:
                options["indexing_policy"] = spec.indexing_policy
            created.create_container_if_not_exists(
                spec.name, PartitionKey(path=spec.partition_key), **options
            )
            yield spec
    finally:
        client.close()
