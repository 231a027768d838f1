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

import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import rfc8785

from infra.formats.documents import format_time
from infra.ports.eventstore import Metadata, NewEvent, StoredEvent, stored_events


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of `value`. For JSON with no floats and ASCII keys only (every event we store),
    Python's own sorted, compact json.dumps writes exactly these bytes, several times faster than the
    reference implementation (tests/formats/test_chain.py holds the two equal); anything else goes to
    the reference, rfc8785."""
    return canonical_text(value).encode()


def canonical_text(value: Any) -> str:
    """`canonical_json` as text: what a store may keep as the JSON of an event's data, and hash as is."""
    if _plain(value):
        return _SORTED_COMPACT.encode(value)
    return rfc8785.dumps(value).decode()


_SORTED_COMPACT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    # a loop over the members rather than a recursion into each: this runs for every event appended
    if type(value) is dict:
        return all(type(k) is str and k.isascii() for k in value) and all(
            _plain_scalar(member) or _plain(member) for member in value.values()
        )
    if type(value) is list:
        return all(_plain_scalar(item) or _plain(item) for item in value)
    return _plain_scalar(value)


def _plain_scalar(value: Any) -> bool:
    if type(value) is str:
        return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)
    if type(value) is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    return value is None or value is True or value is False


def canonical_metadata(metadata: Metadata) -> str:
    """The canonical JSON text of an event's metadata (every member, absent ones as null)."""
    members = (f'"{name}":{_optional_string(getattr(metadata, name))}' for name in _METADATA_MEMBERS)
    return "{" + ",".join(members) + "}"


_METADATA_MEMBERS = sorted(Metadata.model_fields)  # every one a text or None


def canonical_form(event: StoredEvent, previous: str | None) -> bytes:
    """The bytes an event's hash is taken of (see the module's docstring)."""
    return _form(
        _string(event.stream_id),
        event.version,
        str(event.event_id),
        _string(event.type),
        event.schema_version,
        canonical_text(event.data),
        canonical_metadata(event.metadata),
        format_time(event.recorded_at),
        previous,
    )


def _form(
    stream: str,
    version: int,
    event_id: str,
    type_: str,
    schema_version: int,
    data: str,
    metadata: str,
    recorded_at: str,
    previous: str | None,
) -> bytes:
    # the members in RFC 8785's order (sorted by name), each value in its canonical form (`stream` and
    # `type_` as JSON strings already: the same for many events)
    return (
        f'{{"data":{data},"eventId":"{event_id}","metadata":{metadata},'
        f'"previous":{_optional_string(previous)},"recordedAt":"{recorded_at}",'
        f'"schemaVersion":{_integer(schema_version)},"streamId":{stream},'
        f'"type":{type_},"version":{_integer(version)}}}'
    ).encode()


def _optional_string(text: str | None) -> str:
    return "null" if text is None else _string(text)


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape
    return canonical_text(text)


def _integer(number: int) -> str:
    return str(number) if -_SAFE_INTEGER <= number <= _SAFE_INTEGER else canonical_text(number)


def event_hash(event: StoredEvent, previous: str | None) -> str:
    """The hash of `event` linked to `previous`, the hash of the event before it in its stream."""
    return hashlib.sha256(canonical_form(event, previous)).hexdigest()


def links(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    event_ids: Sequence[str],
    data: Sequence[str],
    metadata: str,
    recorded_at: str,
    previous: str | None,
) -> list[str]:
    """The hashes of `events` appended at `expected_version`, each linked to the one before, the first to
    `previous` (the hash of the stream's last event): `event_hash` of each as stored, computed from the
    texts a store keeps anyway (each event's id as text and `data` by `canonical_text`, the shared
    `canonical_metadata` and `format_time`), as this runs inside every append's write transaction."""
    hashes = []
    stream = _string(stream_id)
    for version, event_id, event, text in zip(
        range(expected_version + 1, expected_version + 1 + len(events)), event_ids, events, data, strict=True
    ):
        form = _form(
            stream,
            version,
            event_id,
            _type_string(event.type),
            event.schema_version,
            text,
            metadata,
            recorded_at,
            previous,
        )
        previous = hashlib.sha256(form).hexdigest()
        hashes.append(previous)
    return hashes


@functools.lru_cache(maxsize=1_024)
def _type_string(type_: str) -> str:
    """`_string` of an event type, kept: a store appends the same few types over and over."""
    return _string(type_)


def hashed_events(
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
    metadata: Metadata,
    recorded_at: datetime,
    previous: str | None,
) -> list[StoredEvent]:
    """`events` as one append at `expected_version` stores them, each linked to the one before it, the
    first to `previous`."""
    hashes = links(
        stream_id,
        expected_version,
        events,
        [str(event.event_id) for event in events],
        [canonical_text(event.data) for event in events],
        canonical_metadata(metadata),
        format_time(recorded_at),
        previous,
    )
    stored = stored_events(stream_id, expected_version, events, metadata, recorded_at)
    links_from = [previous, *hashes]
    return [
        event.model_copy(update={"event_hash": hashes[index], "previous_hash": links_from[index]})
        for index, event in enumerate(stored)
    ]
