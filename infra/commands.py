"""The one command pipeline for every aggregate: load (fold), decide, append at the loaded version."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from domain.decider import Decider
from infra.codec import EventCodec
from infra.eventstore import ConcurrencyError, EventStore, IdempotencyRecord, Metadata, utc_now

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
E = TypeVar("E", bound=BaseModel)

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
class Outcome(Generic[S]):
    stream_id: str
    version: int
    state: S
    appended: int
    replayed: bool = False


class CommandHandler(Generic[S, C, E]):
    """Handles commands for one aggregate type over an event store.

    On a ConcurrencyError it reloads and decides again, up to `max_attempts` times; with an expected
    version pinned by the caller it does not retry. With an idempotency key, a repeat of a command that
    was recorded returns the recorded outcome and writes nothing.
    """

    def __init__(self, store: EventStore, decider: Decider[S, C, E], max_attempts: int = 5) -> None:
        self.store = store
        self.decider = decider
        self.codec: EventCodec[E] = EventCodec(decider.event_types, decider.upcasters)
        self.max_attempts = max_attempts

    def new_stream_id(self, idempotency_scope: str | None = None) -> str:
        """A fresh stream id; for an idempotent create, the same one for the same actor and key."""
        if idempotency_scope is None:
            return f"{self.decider.category}-{uuid.uuid4()}"
        return f"{self.decider.category}-{uuid.uuid5(IDEMPOTENT_STREAM_NAMESPACE, idempotency_scope)}"

    def load(
        self, stream_id: str, to_version: int | None = None, until: datetime | None = None
    ) -> tuple[S, int]:
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
    ) -> Outcome[S]:
        if idempotency is not None and (recorded := self._recorded(stream_id, idempotency)) is not None:
            return recorded
        for _ in range(self.max_attempts):
            state, version = self.load(stream_id)
            if expected_version is not None and version != expected_version:
                raise VersionMismatch(expected_version, version)
            events = self.decider.decide(state, command)
            outcome = Outcome(stream_id, version + len(events), self.decider.fold(state, events), len(events))
            if not events and idempotency is None:
                return outcome
            record = None if idempotency is None else self._record(idempotency, outcome)
            try:
                self.store.append(
                    stream_id, version, [self.codec.encode(event) for event in events], metadata, record
                )
            except ConcurrencyError:
                if (
                    idempotency is not None
                    and (recorded := self._recorded(stream_id, idempotency)) is not None
                ):
                    return recorded
                if expected_version is not None:
                    raise VersionMismatch(expected_version, None) from None
                continue
            return outcome
        raise ConcurrencyExhausted(f"{stream_id} kept changing; gave up after {self.max_attempts} attempts")

    def _record(self, idempotency: Idempotency, outcome: Outcome[S]) -> IdempotencyRecord:
        result: dict[str, Any] = {
            "version": outcome.version,
            "appended": outcome.appended,
            "state": outcome.state.model_dump(mode="json"),
        }
        return IdempotencyRecord(
            key=idempotency.key, fingerprint=idempotency.fingerprint, result=result, recorded_at=utc_now()
        )

    def _recorded(self, stream_id: str, idempotency: Idempotency) -> Outcome[S] | None:
        record = self.store.find_idempotency(stream_id, idempotency.key)
        if record is None:
            return None
        if record.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request; use a new key"
            )
        return Outcome(
            stream_id=stream_id,
            version=int(record.result["version"]),
            state=self.decider.state_type.model_validate(record.result["state"]),
            appended=int(record.result["appended"]),
            replayed=True,
        )


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
