"""The anonymous liveness check reads no store; the keyed readiness check reads every service's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure.cosmos.exceptions import CosmosHttpResponseError

from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH
from infra.entry import bootstrap
from infra.entry.services import ACCOUNTS
from infra.entry.settings import KEYS_CONTAINER, READMODELS_CONTAINER, SNAPSHOTS_CONTAINER, Settings
from tests.entry.functions.conftest import request
from tests.fakes.cosmos import FakeContainer, cosmos_error
from tests.fakes.eventhubs import FakeProducerClient
from tests.worker import functions


class UnreachableContainer(FakeContainer):
    """An events container whose every query fails as Cosmos DB does when it is away."""

    def query_items(self, *args: Any, **kwargs: Any) -> Any:
        raise cosmos_error(CosmosHttpResponseError, 503, "Service Unavailable")


def test_liveness_answers_without_a_store_and_readiness_says_the_store_is_away(tmp_path: Path) -> None:
    containers = {
        ACCOUNTS.events_container: UnreachableContainer("/streamId"),
        SNAPSHOTS_CONTAINER: FakeContainer("/streamId"),
        READMODELS_CONTAINER: FakeContainer(READMODELS_PARTITION_KEY_PATH),
        KEYS_CONTAINER: FakeContainer(KEYS_PARTITION_KEY_PATH),
    }
    azure = bootstrap.AzureBackend(containers, {ACCOUNTS.hub: FakeProducerClient()})
    bootstrap.install(
        bootstrap.Root(Settings(backend="azure", data_dir=tmp_path), azure, services=(ACCOUNTS,))
    )

    alive = functions.health(request("GET", "/api/health"))
    ready = functions.deep_health(request("GET", "/api/health/deep"))

    assert (alive.status_code, json.loads(alive.get_body())) == (200, {"status": "ok", "backend": "azure"})
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert json.loads(ready.get_body())["status"] == 503
