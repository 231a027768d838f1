"""Verifying the log: each stream's hash chain checked link by link, and its length against what the read
models saw of it.

A stream is broken at the first version where one of these holds (infra.formats.chain for the chain):
- `missing`: the versions are not dense from 1 (an event was deleted);
- `edited`: an event's content no longer gives its hash (its data, metadata, type, time or id was
  changed, or it was moved to another version);
- `unlinked`: an event's link is not the hash of the event before it (that one was replaced, or
  re-hashed after an edit, after this one was written);
- `unhashed`: an event without a hash after the chain began (its hash was removed);
- `truncated`: a read model applied a version the log no longer has (its tail, or all of it, was cut).

Events written before hashing began carry no hash: a chain then starts at the first hashed event, and the
verdict says from which version a stream is covered. An unhashed event recorded after the first hashed
event anywhere in the store is `unhashed` too: hashing had begun.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from infra.app.projector import ProjectionRunner
from infra.app.service import Service
from infra.formats.chain import event_hash
from infra.ports.eventstore import EventStore, StoredEvent


class BreakKind(StrEnum):
    MISSING = "missing"
    EDITED = "edited"
    UNLINKED = "unlinked"
    UNHASHED = "unhashed"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Break:
    """The first broken link of a stream: at which version, of which kind, and what was found."""

    version: int
    kind: BreakKind
    detail: str


@dataclass(frozen=True)
class StreamVerdict:
    stream_id: str
    events: int
    # the first version the chain covers (None: no event is hashed); versions before it are unverified
    chained_from: int | None
    broken: Break | None
    # when its first hashed event was recorded, and its last event without a hash (the store-wide check)
    chain_began_at: datetime | None = None
    last_unhashed: tuple[int, datetime] | None = None


@dataclass(frozen=True)
class LogVerdict:
    streams: int
    events: int
    broken: list[StreamVerdict] = field(default_factory=list)
    # streams with events before their chain starts (written before hashing began)
    partly_covered: list[StreamVerdict] = field(default_factory=list)
    # when the earliest hashed event in the store was recorded: when hashing began, as far as the log says
    hashing_began: datetime | None = None

    @property
    def intact(self) -> bool:
        return not self.broken


def verify_stream(stream_id: str, events: Sequence[StoredEvent], seen_version: int = 0) -> StreamVerdict:
    """The verdict on one stream's events (as read, in version order); `seen_version`: the highest version
    any read model applied of it (0: none)."""
    before: StoredEvent | None = None
    chained_from: int | None = None
    last_unhashed: tuple[int, datetime] | None = None

    def verdict(broken: Break | None) -> StreamVerdict:
        began = None if chained_from is None else events[chained_from - 1].recorded_at
        return StreamVerdict(stream_id, len(events), chained_from, broken, began, last_unhashed)

    for version, event in enumerate(events, start=1):
        if event.version != version:
            gap = (
                f"version {version}"
                if event.version == version + 1
                else f"versions {version}-{event.version - 1}"
            )
            return verdict(
                Break(version, BreakKind.MISSING, f"{gap} missing: the log skips to {event.version}")
            )
        if event.event_hash is None:
            if chained_from is not None:
                return verdict(
                    Break(version, BreakKind.UNHASHED, f"no hash, though the chain began at {chained_from}")
                )
            last_unhashed = (version, event.recorded_at)
            continue
        if chained_from is None:
            chained_from = version
        if event_hash(event, event.previous_hash) != event.event_hash:
            return verdict(
                Break(version, BreakKind.EDITED, "its content does not give its hash: edited, or moved here")
            )
        if event.previous_hash != (None if before is None else before.event_hash):
            return verdict(
                Break(
                    version,
                    BreakKind.UNLINKED,
                    f"its link is not the hash of version {version - 1}: that event changed after this one "
                    "was written",
                )
            )
        before = event
    if seen_version > len(events):
        return verdict(
            Break(
                len(events) + 1,
                BreakKind.TRUNCATED,
                f"a read model applied version {seen_version}; the log ends at {len(events)}",
            )
        )
    return verdict(None)


def verify_log(
    store: EventStore, seen: Mapping[str, int] | None = None, stream_ids: Iterable[str] | None = None
) -> LogVerdict:
    """Verify `stream_ids` (default: every stream the store lists, and every stream a read model saw),
    reading each once. `seen`: per stream, the highest version the read models applied."""
    seen = seen or {}
    chosen = sorted(set(store.streams()) | set(seen)) if stream_ids is None else list(stream_ids)
    verdicts = [
        verify_stream(stream_id, store.read(stream_id), seen.get(stream_id, 0)) for stream_id in chosen
    ]
    began = min((v.chain_began_at for v in verdicts if v.chain_began_at is not None), default=None)
    broken: list[StreamVerdict] = []
    for verdict in verdicts:
        if verdict.broken is None and began is not None and verdict.last_unhashed is not None:
            version, recorded_at = verdict.last_unhashed
            if recorded_at > began:
                detail = f"no hash, though recorded after hashing began ({began.isoformat()})"
                verdict = replace(verdict, broken=Break(version, BreakKind.UNHASHED, detail))
        if verdict.broken is not None:
            broken.append(verdict)
    return LogVerdict(
        streams=len(verdicts),
        events=sum(verdict.events for verdict in verdicts),
        broken=broken,
        partly_covered=[v for v in verdicts if v.broken is None and v.chained_from != 1 and v.events],
        hashing_began=began,
    )


def seen_versions(runners: Iterable[ProjectionRunner[Any, Any]], category: str) -> dict[str, int]:
    """Per stream of `category` (its stream ids' prefix), the highest version any of these read models
    has applied: how long the log was, at least, when they read it."""
    seen: dict[str, int] = {}
    for runner in runners:
        model = runner.model(runner.generation_state().active)
        for document in runner.store.scan(model):
            for stream_id, version in document.versions.items():
                if stream_id.startswith(f"{category}-") and version > seen.get(stream_id, 0):
                    seen[stream_id] = version
    return seen


def seen_version(runners: Iterable[ProjectionRunner[Any, Any]], stream_id: str) -> int:
    """The highest version of one stream any of these read models has applied (0: none)."""
    versions = [0]
    for runner in runners:
        model = runner.model(runner.generation_state().active)
        document = runner.store.get(model, runner.projection.document_id(stream_id))
        versions.append(0 if document is None else document.versions.get(stream_id, 0))
    return max(versions)


def verify_service(service: Service, stream_id: str | None = None) -> LogVerdict:
    """Verify a service's log (or one stream of it) against its own read models."""
    store = service.commands.store
    if stream_id is not None:
        seen = {stream_id: seen_version(service.projections, stream_id)}
        return verify_log(store, seen, [stream_id])
    return verify_log(store, seen_versions(service.projections, service.commands.decider.category))
