"""The key store on Azure Cosmos DB: a `keys` container partitioned by `/id`, one document per data subject.

Cosmos DB keeps its own backups (periodic or continuous, per the account's policy): a destroyed key stays
in those until they age out. The README says so, and how Key Vault would hold the keys instead.
"""

from __future__ import annotations

import base64
import secrets

from azure.cosmos.exceptions import CosmosResourceExistsError, CosmosResourceNotFoundError

from infra.adapters.cosmos.container import CosmosContainer, transient_errors_as_unavailable
from infra.ports.keys import KEY_BYTES

KEYS_PARTITION_KEY_PATH = "/id"


class CosmosKeyStore:
    def __init__(self, container: CosmosContainer) -> None:
        self._container = container

    def get(self, subject: str) -> bytes | None:
        with transient_errors_as_unavailable():
            try:
                document = self._container.read_item(subject, partition_key=subject)
            except CosmosResourceNotFoundError:
                return None
        return base64.b64decode(document["key"])

    def get_or_create(self, subject: str) -> bytes:
        key = secrets.token_bytes(KEY_BYTES)
        with transient_errors_as_unavailable():
            try:
                self._container.create_item(body={"id": subject, "key": base64.b64encode(key).decode()})
            except CosmosResourceExistsError:
                existing = self.get(subject)
                if existing is None:  # created and destroyed in between: a new key, as for a new subject
                    return self.get_or_create(subject)
                return existing
        return key

    def destroy(self, subject: str) -> bool:
        with transient_errors_as_unavailable():
            try:
                self._container.delete_item(subject, partition_key=subject)
            except CosmosResourceNotFoundError:
                return False
        return True
