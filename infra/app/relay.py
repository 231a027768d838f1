"""The relay: change-feed documents in, CloudEvents out to the hub, partitioned by stream id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.formats import cloud_events
from infra.formats.documents import from_document, is_event_document
from infra.ports.publisher import OutgoingMessage, Publisher


class Relay:
    def __init__(self, publisher: Publisher, source: str) -> None:
        self.publisher = publisher
        self.source = source

    def relay(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Publish the event documents among `documents`; return how many. Raises if publishing fails.

        The change feed does not order documents written in one batch, so events are sorted by
        (stream, version) first: per-stream order on the hub follows the version.
        """
        events = sorted(
            (from_document(document) for document in documents if is_event_document(document)),
            key=lambda event: (event.stream_id, event.version),
        )
        if events:
            self.publisher.publish(
                [
                    OutgoingMessage(event.stream_id, cloud_events.encode(event, self.source))
                    for event in events
                ]
            )
        return len(events)
