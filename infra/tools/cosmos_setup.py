"""Creates the Cosmos DB database and containers on an emulator (in Azure, the Bicep creates them).

python -m infra.tools.cosmos_setup        # reads COSMOS_CONNECTION (a connection string) from the environment
                                    # or from local.settings.json
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.entry.settings import (
    ACCOUNTS_EVENTS_CONTAINER,
    COSMOS_DATABASE,
    LEASES_CONTAINER,
    READMODELS_CONTAINER,
    SNAPSHOTS_CONTAINER,
    SettingsError,
    cosmos_connection,
)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    partition_key: str
    indexing_policy: dict[str, Any] | None = field(default=None)


def containers() -> list[ContainerSpec]:
    """Every container the code uses, with its partition key (the Bicep declares the same)."""
    from infra.adapters.cosmos.eventstore import EVENTS_INDEXING_POLICY
    from infra.adapters.cosmos.readmodels import READMODELS_INDEXING_POLICY, READMODELS_PARTITION_KEY_PATH

    return [
        ContainerSpec(ACCOUNTS_EVENTS_CONTAINER, "/streamId", EVENTS_INDEXING_POLICY),
        ContainerSpec(SNAPSHOTS_CONTAINER, "/streamId"),
        ContainerSpec(READMODELS_CONTAINER, READMODELS_PARTITION_KEY_PATH, READMODELS_INDEXING_POLICY),
        ContainerSpec(LEASES_CONTAINER, "/id"),
    ]


def main() -> int:
    from azure.cosmos import CosmosClient, PartitionKey

    settings_file = Path("local.settings.json")
    if "COSMOS_CONNECTION" not in os.environ and settings_file.exists():
        os.environ.update(json.loads(settings_file.read_text()).get("Values", {}))
    try:
        connection = cosmos_connection(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if connection.connection_string is None:
        print(
            "use the Bicep (azd up) to create containers in Azure; this is for the emulator", file=sys.stderr
        )
        return 2
    client = CosmosClient.from_connection_string(
        connection.connection_string, connection_verify=False, enable_endpoint_discovery=False
    )
    database = client.create_database_if_not_exists(
        os.environ.get("EVENTBANK_COSMOS_DATABASE", COSMOS_DATABASE)
    )
    for spec in containers():
        options: dict[str, Any] = {}
        if spec.indexing_policy is not None:
            options["indexing_policy"] = spec.indexing_policy
        database.create_container_if_not_exists(spec.name, PartitionKey(path=spec.partition_key), **options)
        print(f"container {spec.name} ({spec.partition_key}) is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
