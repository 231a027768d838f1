"""The one command pipeline for every aggregate: load (fold), decide, append at the loaded version."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.decider import Decider
from domain.errors import DomainError
from infra.app.cache import BoundedCache
from infra.formats.codec import EventCodec, Seals
from infra.ports.eventstore import (
    ConcurrencyError,
    EventStore,
    IdempotencyRecord,
    Metadata,
    StreamHead,
    utc_now,
)
from infra.ports.snapshots import Snapshot, SnapshotStore

log = logging.getLogger("eventbank.commands")
# Identifies idempotency-keyed stream ids: the same actor and key always name the same new stream.
IDEMPOTENT_STREAM_NAMESPACE = uuid.UUID("6f1c1f7e-52a4-4f43-9a4b-0d8c1c3f3e21")


class CommandRejected(Exception):
    """A command the pipeline refuses for a reason outside the domain rules."""


class VersionMismatch(CommandRejected):
    def __init__(self, expected: int, actual: int | None) -> None:
        super().__init__(
            f"the stream is at version {actual}, not {expected}"
            if actual is not None
            else f"the stream moved past version {expected}"
        )
        self.expected = expected
        self.actual = actual


class ConcurrencyExhausted(CommandRejected):
    pass


class IdempotencyKeyReused(CommandRejected):
    pass


class NotPermitted(Exception):
    """The caller may not act on this stream (`handle`'s `permits` said no): refused before anything is
    decided or replayed, so nothing of the stream's answers is given away."""


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str

    @staticmethod
    def fingerprint_of(*parts: str | bytes) -> str:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part.encode() if isinstance(part, str) else part)
            digest.update(b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class Outcome[S: BaseModel]:
    stream_id: str
    version: int
    state: S
    appended: int
    replayed: bool = False


class CommandHandler[S: BaseModel, C: BaseModel, E: BaseModel]:
    """Handles commands for one aggregate type over an event store.

    It decides on the stream's current state and appends at the version it was decided on. The state
    comes from a bounded in-process cache when it is warm (a command then costs one write), else from
    the latest snapshot and the events after it; a command that expects a new stream (version 0) reads
    nothing first. Anything that may come from a stale cache (a refusal,
    a conflict) is checked again on a fresh load. On a ConcurrencyError it reloads and decides again, up
    to `max_attempts` times; with an expected version pinned by the caller it does not retry.

    With an idempotency key, the key is recorded with the events in one transaction; a repeat of a
    recorded command (seen when the store refuses the key again, or when the repeat would be refused)
    returns the recorded outcome and writes nothing.
    """

    def __init__(
        self,
        store: EventStore,
        decider: Decider[S, C, E],
        max_attempts: int = 5,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = 100,
        cache_size: int = 10_000,
        seals: Seals | None = None,
    ) -> None:
        self.store = store
        self.decider = decider
        # personal fields are stored sealed: in events, and in the states of snapshots and idempotency records
        self.codec: EventCodec[E] = EventCodec(decider.event_types, decider.upcasters, seals)
        self.max_attempts = max_attempts
        self.snapshots = snapshots
        self.snapshot_every = snapshot_every
        # each stream's version, state and last event (the hash chain's link for the next append); with
        # sealing, kept no longer than a key is (a state holds personal data opened)
        self._cache: BoundedCache[str, tuple[int, S, StreamHead | None]] = BoundedCache(
            cache_size, None if seals is None else seals.cache_seconds
        )

    def forget_cached_states(self) -> None:
        """Drop every state this process keeps (after a subject is forgotten: they hold its data opened)."""
        self._cache.clear()

    def new_stream_id(self, idempotency_scope: str | None = None) -> str:
        """A fresh stream id; for an idempotent create, the same one for the same actor and key."""
        if idempotency_scope is None:
            return self.decider.stream_id(uuid.uuid4())
        return self.decider.stream_id(uuid.uuid5(IDEMPOTENT_STREAM_NAMESPACE, idempotency_scope))

    def load(
        self, stream_id: str, to_version: int | None = None, until: datetime | None = None
    ) -> tuple[S, int]:
        """The stream's state and version: now, or as it was at `to_version` or at `until` (time travel)."""
        if to_version is None and until is None:
            state, version, _, _ = self._current(stream_id, use_cache=False)
            return state, version
        stored = self.store.read(stream_id, to_version=to_version, until=until)
        state = self.decider.fold(self.decider.initial, [self.codec.decode(event) for event in stored])
        return state, (stored[-1].version if stored else 0)

    def handle(
        self,
        stream_id: str,
        command: C,
        metadata: Metadata,
        expected_version: int | None = None,
        idempotency: Idempotency | None = None,
        permits: Callable[[S], bool] | None = None,
    ) -> Outcome[S]:
        """Decide `command` on the stream's state and append what it decides. `permits`, if given, is asked
        of the state first (the state it loads anyway, so asking costs no read); NotPermitted if it says no.
        It must hold on any state of the stream alike, as a holder fixed by its first event does."""
        use_cache = True
        for attempt in range(self.max_attempts):
            if attempt == 0 and expected_version == 0:
                # The caller says the stream is new (an account being opened): decide on the initial state
                # without reading. If it is not new the append conflicts, and that is checked on a real load.
                state, version, cached, head = self.decider.initial, 0, True, None
            else:
                state, version, cached, head = self._current(stream_id, use_cache)
            use_cache = False
            if permits is not None and not permits(state):
                raise NotPermitted(stream_id)
            try:
                if expected_version is not None and version != expected_version:
                    raise VersionMismatch(expected_version, version)
                events = self.decider.decide(state, command)
            except (DomainError, VersionMismatch):
                if cached:
                    continue  # perhaps only the cache was behind: decide again on a fresh load
                if idempotency is not None and (recorded := self._recorded(stream_id, idempotency)):
                    return recorded
                raise
            new_state = self.decider.fold(state, events)
            outcome = Outcome(stream_id, version + len(events), new_state, len(events))
            if not events and idempotency is None:
                return outcome
            record = None if idempotency is None else self._record(idempotency, outcome)
            try:
                new_head = self.store.append(
                    stream_id, version, [self.codec.encode(event) for event in events], metadata, record, head
                )
            except ConcurrencyError:
                self._forget(stream_id)
                if idempotency is not None and (recorded := self._recorded(stream_id, idempotency)):
                    return recorded
                if expected_version is not None:
                    raise VersionMismatch(expected_version, None) from None
                continue
            self._remember(stream_id, outcome.version, new_state, new_head)
            self._snapshot_if_due(stream_id, version, outcome.version, new_state)
            return outcome
        raise ConcurrencyExhausted(f"{stream_id} kept changing; gave up after {self.max_attempts} attempts")

    # --- loading state ---

    def _current(self, stream_id: str, use_cache: bool) -> tuple[S, int, bool, StreamHead | None]:
        """The stream's state and version, whether they came from the cache, and its last event's link if
        known (not after a snapshot with nothing after it: the store then reads it, if it must)."""
        if use_cache:
            hit = self._cache.get(stream_id)
            if hit is not None:
                return hit[1], hit[0], True, hit[2]
        state, version = self.decider.initial, 0
        snapshot = None if self.snapshots is None else self.snapshots.get(stream_id)
        if snapshot is not None and snapshot.state_version == self.decider.state_version:
            state, version = self._state_of(snapshot.state), snapshot.version
        tail = self.store.read(stream_id, from_version=version + 1)
        state = self.decider.fold(state, [self.codec.decode(event) for event in tail])
        version = tail[-1].version if tail else version
        head = StreamHead(tail[-1].version, tail[-1].event_hash) if tail else None
        if version:
            self._remember(stream_id, version, state, head)
        return state, version, False, head

    def _remember(self, stream_id: str, version: int, state: S, head: StreamHead | None) -> None:
        self._cache.put(stream_id, (version, state, head))

    def _forget(self, stream_id: str) -> None:
        self._cache.forget(stream_id)

    def _snapshot_if_due(self, stream_id: str, old_version: int, new_version: int, state: S) -> None:
        if self.snapshots is None or new_version // self.snapshot_every == old_version // self.snapshot_every:
            return
        snapshot = Snapshot(
            stream_id=stream_id,
            version=new_version,
            state_version=self.decider.state_version,
            state=self.codec.stored(state),
        )
        try:
            self.snapshots.put(snapshot)
        except Exception:  # the events are committed; a missing snapshot only costs a longer replay
            log.warning(
                "could not write the snapshot of %s at version %d", stream_id, new_version, exc_info=True
            )

    def _stored_fingerprint(self, idempotency: Idempotency) -> str:
        """The fingerprint as stored: a hash of the command, keyed with sealing on (a command may hold
        personal data, and a plain hash of it confirms a guess of them)."""
        seals = self.codec.seals
        return idempotency.fingerprint if seals is None else seals.keyed(idempotency.fingerprint)

    def _state_of(self, stored: dict[str, Any]) -> S:
        return self.decider.state_type.model_validate(self.codec.opened(stored))

    # --- idempotency ---

    def _record(self, idempotency: Idempotency, outcome: Outcome[S]) -> IdempotencyRecord:
        result: dict[str, Any] = {
            "version": outcome.version,
            "appended": outcome.appended,
            "state": self.codec.stored(outcome.state),
        }
        return IdempotencyRecord(
            key=idempotency.key,
            fingerprint=self._stored_fingerprint(idempotency),
            result=result,
            recorded_at=utc_now(),
        )

    def _recorded(self, stream_id: str, idempotency: Idempotency) -> Outcome[S] | None:
        record = self.store.find_idempotency(stream_id, idempotency.key)
        if record is None:
            return None
        if record.fingerprint not in (idempotency.fingerprint, self._stored_fingerprint(idempotency)):
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request; use a new key"
            )
        return Outcome(
            stream_id=stream_id,
            version=int(record.result["version"]),
            state=self._state_of(record.result["state"]),
            appended=int(record.result["appended"]),
            replayed=True,
        )


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
