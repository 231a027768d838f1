"""A Cosmos DB container's change feed as a trigger source, through the pull model, its continuation kept
in a checkpoint store: what the dev host's Azure mode feeds the relay from, instead of the Functions
host's change feed processor."""

from __future__ import annotations

import time

from infra.adapters.cosmos.container import CosmosContainer
from infra.adapters.cosmos.eventstore import read_changes
from infra.ports.checkpoints import Checkpoints
from infra.ports.sources import FeedPage


class CosmosChangeFeed:
    """The container's change feed through the pull model; the continuation is saved under `name`."""

    def __init__(self, container: CosmosContainer, checkpoints: Checkpoints, name: str) -> None:
        self.container, self.checkpoints, self.name = container, checkpoints, name
        self.description = f"Cosmos DB change feed (continuation {name!r})"

    def next_page(self, max_items: int) -> FeedPage | None:
        documents, continuation = read_changes(self.container, self.checkpoints.get(self.name), max_items)
        if not documents:
            return None
        return FeedPage(documents, continuation)

    def wait(self, timeout: float) -> None:
        time.sleep(timeout)

    def commit(self, page: FeedPage) -> None:
        if page.position is None:
            return
        self.checkpoints.put(self.name, str(page.position))
