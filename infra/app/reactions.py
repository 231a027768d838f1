"""A service reacting to another service's events: each delivered event through the service's policy, and
each command the policy asks for through the service's own command pipeline, idempotent by the key the
policy gives it (recorded with the command's events), so a redelivered event changes nothing."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from domain.decider import Policy, Reaction
from infra.app.commands import CommandHandler, Idempotency, Outcome
from infra.ports.eventstore import Metadata, StoredEvent

log = logging.getLogger("eventbank.reactions")
# Every key a reaction records starts with this, and no client's Idempotency-Key may (infra/entry/http.py):
# a client's key on the same stream can never take a saga step's place.
REACTION_KEY_PREFIX = "reaction:"


class Reactor:
    """Runs `policy`'s commands for each event of another service, in the order delivered (a hub keeps
    each stream's order; a step's own stream orders its causes)."""

    def __init__(self, commands: CommandHandler[Any, Any, Any], policy: Policy) -> None:
        self.commands, self.policy = commands, policy
        # A tolerant reader of the other service: events it does not react to (by type), and events it
        # could not read (a known type without a field it needs), each skipped and counted, never a crash.
        self.ignored: Counter[str] = Counter()
        self.unreadable: Counter[str] = Counter()

    def react(self, delivered: Sequence[StoredEvent]) -> int:
        """Runs the commands the delivered events call for; returns how many ran. Any failure raises, so
        the batch is delivered again: the commands that did run replay as no-ops."""
        ran = 0
        for event in delivered:
            try:
                reactions = self.policy(event.type, event.stream_id, event.version, event.data)
            except (KeyError, TypeError, ValueError) as error:
                self.unreadable[event.type] += 1
                log.error(
                    "skipped %s v%d of %s, which this service cannot read: %r (a timeout recovers what waits "
                    "on it)",
                    event.type,
                    event.version,
                    event.stream_id,
                    error,
                )
                continue
            if not reactions:
                self.ignored[event.type] += 1
            for reaction in reactions:
                key = f"{REACTION_KEY_PREFIX}{reaction.idempotency_key}"
                metadata = Metadata(
                    correlation_id=event.metadata.correlation_id or str(event.event_id),
                    causation_id=str(event.event_id),
                    idempotency_key=key,
                    actor=f"reaction:{event.stream_id}",
                )
                outcome = self.commands.handle(
                    reaction.stream_id,
                    reaction.command,
                    metadata,
                    idempotency=_first_decision_wins(key),
                )
                ran += 1
                if outcome.replayed and reaction.restate is not None and outcome.appended:
                    ran += self._restate(reaction, outcome, event, metadata)
        return ran

    def _restate(
        self, reaction: Reaction[Any], outcome: Outcome[Any], cause: StoredEvent, metadata: Metadata
    ) -> int:
        """The step was decided before: announce that decision again, once per causing event."""
        assert reaction.restate is not None
        decided = self.commands.store.read(
            reaction.stream_id,
            from_version=outcome.version - outcome.appended + 1,
            to_version=outcome.version,
        )
        key = f"{REACTION_KEY_PREFIX}restate:{cause.stream_id}:{cause.version}"
        self.commands.handle(
            reaction.stream_id,
            reaction.restate([(event.type, event.data) for event in decided]),
            metadata.model_copy(update={"idempotency_key": key}),
            idempotency=_first_decision_wins(key),
        )
        return 1


def _first_decision_wins(key: str) -> Idempotency:
    """The key names the step, and so does its fingerprint: the first decision recorded for a step is its
    only one, whatever a later command for the same step says (a cancellation after the step, or the
    reverse)."""
    return Idempotency(key, Idempotency.fingerprint_of(key))
