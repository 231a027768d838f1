"""Where non-HTTP triggers get their input: a change-feed source hands out pages of event documents and
commits a position only when told to; a partition source hands out hub messages after a checkpoint and
moves the checkpoint only when told to. The dev host pumps them into the functions, as the Functions host
does with its triggers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class HubMessage:
    """One event as a hub delivers it, from the embedded hub or from Event Hubs alike."""

    partition_id: str
    sequence_number: int
    partition_key: str | None
    body: bytes
    enqueued_time: datetime


@dataclass(frozen=True)
class FeedPage:
    documents: list[dict[str, Any]]
    position: object


class ChangeFeedSource(Protocol):
    description: str

    def next_page(self, max_items: int) -> FeedPage | None:
        """The next documents after the committed position, or None when there are none."""
        ...

    def commit(self, page: FeedPage) -> None:
        """Move the committed position past `page`."""
        ...

    def wait(self, timeout: float) -> None:
        """Wait for new changes, at most `timeout` seconds (a poll interval where nothing signals them)."""
        ...


class PartitionSource(Protocol):
    description: str
    partition_id: str

    def receive(self, max_count: int) -> Sequence[HubMessage]:
        """The next messages after the checkpoint, oldest first; may be empty."""
        ...

    def checkpoint(self, sequence_number: int) -> None: ...

    def wait(self, timeout: float) -> None:
        """Wait for new messages, at most `timeout` seconds (a poll interval where nothing signals them)."""
        ...
