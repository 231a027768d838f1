"""One running service: its command pipeline, its read models and its relay, whatever backend they are on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.app.commands import CommandHandler
from infra.app.projector import ProjectionRunner
from infra.app.reactions import Reactor
from infra.app.rebuild import Pace
from infra.app.relay import Relay
from infra.ports.eventstore import StoredEvent


@dataclass(frozen=True)
class Service:
    name: str
    commands: CommandHandler[Any, Any, Any]
    # in the order they apply a batch: the one read most right after a command first; the one a
    # read-your-writes wait follows last, so once it shows a version the others have had that batch
    projections: list[ProjectionRunner[Any, Any]]
    relay: Relay
    # its reactions to other services' events, by the name of the function that delivers them
    reactors: dict[str, Reactor] = field(default_factory=dict)
    # how a rebuild or a verify of its read models replays the log on its backend
    rebuild_pace: Pace = field(default_factory=Pace)

    def react(self, function: str, delivered: Sequence[StoredEvent]) -> int:
        """Apply a delivered batch of another service's events through the reaction `function` runs."""
        return self.reactors[function].react(delivered)

    def projection(self, name: str) -> ProjectionRunner[Any, Any]:
        for runner in self.projections:
            if runner.projection.name == name:
                return runner
        raise LookupError(f"no read model named {name!r}")

    def project(self, delivered: Sequence[StoredEvent]) -> dict[str, int]:
        """Apply a delivered batch to every read model; a failure in one does not hold back the others,
        and is raised afterwards (as one ExceptionGroup) so the batch is delivered again. Returns how
        many new events each read model applied."""
        applied, failures = {}, []
        for runner in self.projections:
            try:
                with runner.store.unit_of_work():  # on SQLite: one transaction per read model and batch
                    applied[runner.projection.name] = runner.apply(delivered)
            except Exception as error:
                failures.append(error)
        if failures:
            raise ExceptionGroup(f"{len(failures)} read models could not apply the batch", failures)
        return applied
