"""The golden corpus: stored events of every type and every schema version of every service, written once
as JSON (tests/golden/events.json) and never regenerated. Every run decodes each one with today's code, so
an event already in a log can always be read; and each event model's JSON schema is pinned per schema
version (tests/golden/schemas.json), so a model changed without a new schema_version (and an upcaster for
the old one) fails here instead of misreading stored events.

To change an event: bump its schema_version, add an upcaster from the previous version, add an entry of
the new version to events.json (keep the old ones), and the new version's hash to schemas.json (this test
prints it)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from infra.entry.services import SERVICES, ServiceDefinition
from infra.formats.codec import EventCodec
from infra.ports.eventstore import Metadata, StoredEvent

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CORPUS: list[dict[str, Any]] = json.loads((GOLDEN / "events.json").read_text())
SCHEMAS: dict[str, dict[str, dict[str, str]]] = json.loads((GOLDEN / "schemas.json").read_text())
BY_NAME = {service.name: service for service in SERVICES}


def schema_version(event_type: type[BaseModel]) -> int:
    return int(getattr(event_type, "schema_version", 1))


def schema_hash(event_type: type[BaseModel]) -> str:
    return hashlib.sha256(json.dumps(event_type.model_json_schema(), sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize(
    "entry", CORPUS, ids=[f"{e['service']}.{e['type']}.v{e['schema_version']}" for e in CORPUS]
)
def test_every_stored_event_of_the_corpus_decodes_to_what_it_meant(entry: dict[str, Any]) -> None:
    service = BY_NAME[entry["service"]]
    stored = StoredEvent(
        event_id=uuid.uuid4(),
        stream_id=service.decider.stream_id(uuid.uuid4()),
        version=1,
        type=entry["type"],
        schema_version=entry["schema_version"],
        data=entry["data"],
        metadata=Metadata(),
        recorded_at=datetime(2026, 12, 3, tzinfo=UTC),
    )

    decoded = EventCodec(service.decider.event_types, service.decider.upcasters).decode(stored)

    assert type(decoded).__name__ == entry["type"]
    assert decoded.model_dump(mode="json") == entry["decodes_to"]


@pytest.mark.parametrize("service", SERVICES, ids=[service.name for service in SERVICES])
def test_the_corpus_holds_every_type_at_every_schema_version(service: ServiceDefinition) -> None:
    wanted = {
        (event_type.__name__, version)
        for event_type in service.decider.event_types
        for version in range(1, schema_version(event_type) + 1)
    }
    held = {(e["type"], e["schema_version"]) for e in CORPUS if e["service"] == service.name}

    assert wanted <= held, f"add to tests/golden/events.json: {sorted(wanted - held)}"


@pytest.mark.parametrize("service", SERVICES, ids=[service.name for service in SERVICES])
def test_no_event_model_changed_without_a_new_schema_version(service: ServiceDefinition) -> None:
    for event_type in service.decider.event_types:
        version, found = str(schema_version(event_type)), schema_hash(event_type)
        pinned = SCHEMAS.get(service.name, {}).get(event_type.__name__, {}).get(version)

        assert pinned is not None, (
            f"{event_type.__name__} v{version} is new: pin it in tests/golden/schemas.json as {found!r}"
        )
        assert found == pinned, (
            f"{event_type.__name__} changed but is still schema_version {version}: stored events would be "
            "misread. Bump its schema_version, add an upcaster from this version, and pin the new one."
        )
