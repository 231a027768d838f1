"""The AsyncAPI 3.0 document of every service's hub: what each service publishes (its events as CloudEvents
1.0 in structured JSON mode, one message per event type with its payload schema from the pydantic model)
and who reads it (its projector, and the other services that react to it).

    python -m infra.tools.asyncapi            # writes docs/asyncapi.json
    python -m infra.tools.asyncapi --check    # exits 1 if docs/asyncapi.json is not what the code says

The document is checked in; tests/tools/test_asyncapi.py fails when it is stale and validates it with the
AsyncAPI project's own parser (npm @asyncapi/parser) when node is here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from infra.entry.services import SERVICES, ServiceDefinition
from infra.formats.cloud_events import TYPE_PREFIX

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
SCHEMA_REF = "#/components/schemas/{model}"


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in SERVICES:
        names = []
        for event_type in service.decider.event_types:
            name = f"{service.name}.{event_type.__name__}"
            schemas[event_type.__name__] = _schema(event_type, schemas)
            messages[name] = _message(service, event_type)
            names.append(name)
        channels[service.hub] = {
            "address": service.hub,
            "title": f"The {service.name} service's events",
            "description": (
                f"Every event the {service.name} service stores, relayed from its log "
                f"({service.events_container}) by its change-feed function, partitioned by stream id, so "
                "each stream's events arrive in order."
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
        channel = {"$ref": f"#/channels/{service.hub}"}
        operations[service.relay_function] = {
            "action": "send",
            "channel": channel,
            "summary": f"The {service.name} service publishes each event it stores, at least once.",
        }
        operations[service.projector_function] = {
            "action": "receive",
            "channel": channel,
            "summary": (
                f"Consumer group {service.read_models_consumer_group}: the {service.name} read models."
            ),
        }
        for subscription in service.subscriptions:
            operations[subscription.function] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{subscription.hub}"},
                "summary": (
                    f"Consumer group {subscription.consumer_group}: the {service.name} service reacts "
                    f"(a tolerant reader: unknown fields ignored, other types skipped)."
                ),
            }
    schemas["CloudEvent"] = CLOUD_EVENT
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eventbank",
            "version": "1.0.0",
            "description": (
                "Event-sourced services on Azure Functions: each service owns its log and its Event Hub, and "
                "they talk only through these events. Delivery is at least once, in order per stream."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "azure": {
                "host": "{namespace}.servicebus.windows.net",
                "protocol": "amqp",
                "protocolVersion": "1.0",
                "description": "Azure Event Hubs (Entra ID; no shared access keys)",
                "variables": {"namespace": {"description": "the Event Hubs namespace azd up created"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(service: ServiceDefinition, event_type: type[BaseModel]) -> dict[str, Any]:
    version = int(getattr(event_type, "schema_version", 1))
    cloud_event_type = f"{TYPE_PREFIX}{event_type.__name__}.v{version}"
    return {
        "name": event_type.__name__,
        "title": f"{event_type.__name__} (schema version {version})",
        "summary": (event_type.__doc__ or event_type.__name__).strip().split("\n\n")[0],
        "contentType": "application/cloudevents+json",
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF.format(model="CloudEvent")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": cloud_event_type},
                        "source": {"const": service.source},
                        "schemaversion": {"const": version},
                        "data": {"$ref": SCHEMA_REF.format(model=event_type.__name__)},
                    },
                },
            ]
        },
    }


def _schema(event_type: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """The event's JSON schema, its nested models moved to components.schemas."""
    schema = event_type.model_json_schema(ref_template=SCHEMA_REF)
    for name, nested in schema.pop("$defs", {}).items():
        schemas[name] = nested
    return schema


CLOUD_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, structured JSON mode (infra/formats/cloud_events.py)",
    "required": ["id", "source", "specversion", "type", "subject", "time", "streamversion", "schemaversion"],
    "properties": {
        "id": {"type": "string", "description": "the event's id, unique"},
        "source": {"type": "string", "description": "the publishing service"},
        "specversion": {"const": "1.0"},
        "type": {"type": "string", "description": "eventbank.<event type>.v<schema version>"},
        "subject": {"type": "string", "description": "the stream id, <category>-<uuid>; the partition key"},
        "time": {"type": "string", "format": "date-time", "description": "when it was stored"},
        "datacontenttype": {"const": "application/json"},
        "streamversion": {"type": "integer", "minimum": 1, "description": "its version in its stream"},
        "schemaversion": {"type": "integer", "minimum": 1},
        "correlationid": {"type": "string"},
        "causationid": {"type": "string"},
        "idempotencykey": {"type": "string"},
        "actor": {"type": "string"},
        "data": {"type": "object"},
    },
}


def rendered() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(
    check: Annotated[bool, typer.Option(help="exit 1 if the checked-in document is not current")] = False,
) -> None:
    """Writes (or checks) docs/asyncapi.json from the services' definitions and event models."""
    current = rendered()
    if check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != current:
            typer.echo(f"{DOCUMENT} is stale: run python -m infra.tools.asyncapi", err=True)
            raise typer.Exit(1)
        typer.echo(f"{DOCUMENT} is current")
        return
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(current)
    typer.echo(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    typer.run(main)
