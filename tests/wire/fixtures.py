"""Clients and databases over the wire: what the wire suites and the emulator-gated suites share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.cosmos import CosmosClient, DatabaseProxy


def wire_client(endpoint: str, key: str) -> CosmosClient:
    """The real SDK's client for a local Cosmos-protocol endpoint: its certificate is self-signed (pytest's
    configuration ignores urllib3's warning about it for local hosts only) and, like the emulator, it
    advertises no reachable regional endpoints."""
    from azure.cosmos import CosmosClient

    return CosmosClient(endpoint, credential=key, connection_verify=False, enable_endpoint_discovery=False)


@contextmanager
def wire_database(endpoint: str, key: str) -> Iterator[DatabaseProxy]:
    """A database of its own at `endpoint`, deleted afterwards."""
    client = wire_client(endpoint, key)
    name = f"eventbank-test-{uuid.uuid4().hex[:12]}"
    database = client.create_database(name)
    try:
        yield database
    finally:
        client.delete_database(name)
        client.close()
