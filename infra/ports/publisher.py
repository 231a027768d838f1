"""The publisher port: messages to a hub, each with the partition key that keeps a stream in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    partition_key: str
    body: bytes
    content_type: str = "application/cloudevents+json"


class Publisher(Protocol):
    """Sends messages to the service's hub; messages with one partition key keep their order."""

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send all of `messages` or raise: a failure must never be silent, the caller retries."""
        ...
