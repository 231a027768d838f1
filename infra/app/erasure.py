"""Forgetting a person (GDPR art. 17) in a log that is never rewritten: their key is destroyed, so every
field sealed with it, in the events, their copies on the hubs, snapshots, idempotency records and read
models, opens as "[erased]" from then on; balances, the audit trail, time travel and the hash chain (over
the ciphertext) are untouched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from infra.app.generations import model_name
from infra.app.sealing import sealed_subjects
from infra.app.service import Service


@dataclass(frozen=True)
class Forgotten:
    service: str
    subject: str
    # whether a key was there to destroy (False: nothing of theirs was sealed, or forgotten before)
    key_destroyed: bool


def forget_person(services: Iterable[Service], identifier: str) -> list[Forgotten]:
    """Forget the person `identifier` (an email address) names, in every service that seals personal data."""
    forgotten = []
    for service in services:
        seals = service.commands.codec.seals
        if seals is None:
            continue
        subject = seals.subject_of(identifier)
        forgotten.append(Forgotten(service.name, subject, _forget(service, subject)))
    return forgotten


def forget_account(service: Service, stream_id: str) -> list[Forgotten] | None:
    """Forget the people whose data the stream holds sealed (an account's owner); None if there is no such
    stream."""
    events = service.commands.store.read(stream_id)
    if not events:
        return None
    subjects = set().union(*(sealed_subjects(event.data) for event in events))
    return [Forgotten(service.name, subject, _forget(service, subject)) for subject in sorted(subjects)]


def _forget(service: Service, subject: str) -> bool:
    seals = service.commands.codec.seals
    assert seals is not None
    destroyed = seals.forget(subject)
    service.commands.forget_cached_states()  # they hold the person's data opened
    for runner in service.projections:  # the rows filed under the person (PersonKey): looked up no more
        for generation in runner.generation_state().targets():
            for table in runner.projection.tables:
                model = model_name(table.name, generation)
                while rows := runner.store.query(model, subject, limit=100):
                    for row in rows:
                        runner.store.delete(model, row.id, subject)
    return destroyed
