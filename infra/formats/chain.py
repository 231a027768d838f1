"""Each stream's hash chain: what makes an edited, deleted or reordered stored event evident.

An event's hash is the SHA-256, in lower-case hex, of the RFC 8785 (JSON Canonicalization Scheme) form of
this object:

    {"streamId": ..., "version": ..., "eventId": "<uuid>", "type": ..., "schemaVersion": ...,
     "data": {...}, "metadata": {"correlation_id": ..., "causation_id": ..., "idempotency_key": ...,
     "actor": ...}, "recordedAt": "<UTC, microseconds, Z>", "previous": "<hash of the event before>" | null}

`previous` is the hash of the event one version before, or null for version 1 and for the first event
hashed after events written before hashing began. Anyone holding the events can recompute it with any
JCS library: nothing in it is secret. The data is hashed as stored, so fields stored encrypted are hashed
as ciphertext.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import rfc8785

from infra.formats.documents import format_time
from infra.ports.eventstore import StoredEvent


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of `value`. For JSON with no floats and ASCII keys only (every event we store),
    Python's own sorted, compact json.dumps writes exactly these bytes, several times faster than the
    reference implementation (tests/formats/test_chain.py holds the two equal); anything else goes to
    the reference, rfc8785."""
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, str):
        return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)
    return value is None or (isinstance(value, int) and abs(value) <= _SAFE_INTEGER)


_SAFE_INTEGER = 2**53 - 1


def canonical_form(event: StoredEvent, previous: str | None) -> bytes:
    """The bytes an event's hash is taken of (see the module's docstring)."""
    content: dict[str, Any] = {
        "streamId": event.stream_id,
        "version": event.version,
        "eventId": str(event.event_id),
        "type": event.type,
        "schemaVersion": event.schema_version,
        "data": event.data,
        "metadata": event.metadata.model_dump(mode="json"),
        "recordedAt": format_time(event.recorded_at),
        "previous": previous,
    }
    return canonical_json(content)


def event_hash(event: StoredEvent, previous: str | None) -> str:
    """The hash of `event` linked to `previous`, the hash of the event before it in its stream."""
    return hashlib.sha256(canonical_form(event, previous)).hexdigest()


def chained(events: Sequence[StoredEvent], previous: str | None) -> list[StoredEvent]:
    """`events` (consecutive versions of one stream) with their links, the first linked to `previous`."""
    linked = []
    for event in events:
        current = event_hash(event, previous)
        linked.append(event.model_copy(update={"event_hash": current, "previous_hash": previous}))
        previous = current
    return linked
