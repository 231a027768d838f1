from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.sources import EmbeddedChangeFeed, EmbeddedPartition
from infra.entry import bootstrap, openapi
from infra.entry.identity import Principal, principal_headers
from infra.entry.services import Subscription
from tests.worker import functions


@pytest.fixture(autouse=True)
def embedded_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bootstrap.EmbeddedBackend]:
    monkeypatch.setenv("EVENTBANK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EVENTBANK_IDENTITY_HEADERS", "local")  # these tests play Easy Auth themselves
    bootstrap.reset()
    embedded = bootstrap.root().embedded["accounts"]
    assert embedded is not None
    yield embedded
    bootstrap.reset()


def embedded_events() -> SqliteEventStore:
    """The embedded event store the functions write to."""
    embedded = bootstrap.root().embedded["accounts"]
    assert embedded is not None
    return embedded.events


# Who the function tests call as, unless a test says otherwise: Easy Auth's headers for a signed-in user.
ADA = Principal("a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b", "ada@example.com")
STRANGER = Principal("5d0e9c1b-2a3f-4b4c-9d5e-6f7a8b9c0d1e", "mallory@example.com")
OPERATOR = Principal("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "ops@example.com", frozenset({"Operator"}))


def request(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    raw: bytes | None = None,
    caller: Principal | None = ADA,
) -> func.HttpRequest:
    """A request as the Functions host hands it to a function, from `caller` (None: nobody signed in)."""
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    default_headers = {"content-type": "application/json"} if body is not None else {}
    signed_in = {} if caller is None else principal_headers(caller)
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071{path}",
        headers={**signed_in, **default_headers, **(headers or {})},
        params=params or {},
        route_params=route_params or {},
        body=content,
    )


def assert_problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """The response is a problem+json refusal with `status`, a title, and no stack trace."""
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.get_body().decode()
    return body


def json_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def open_account(
    fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    body = {
        "owner_name": "Ada Lovelace",
        "owner_email": "ada@example.com",
        "currency": "EUR",
        **(fields or {}),
    }
    response: func.HttpResponse = functions.open_account(
        request("POST", "/api/accounts", body, headers=headers)
    )
    return response


def opened_account_id() -> str:
    response = open_account()
    assert response.status_code == 201
    return str(json_of(response)["id"])


def account_command(
    kind: str,
    account_id: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> func.HttpResponse:
    handler = {
        "deposits": functions.deposit,
        "withdrawals": functions.withdraw,
        "close": functions.close_account,
    }[kind]
    path = f"/api/accounts/{account_id}/{kind}"
    response: func.HttpResponse = handler(
        request("POST", path, body, headers=headers, route_params={"id": account_id}, raw=raw)
    )
    return response


def deliver_everything(root: bootstrap.EmbeddedBackend) -> None:
    """Runs the relay and projector functions over everything pending through the worker, the way the dev
    host would: from the embedded change feed and hub partitions, committing after each."""
    feed = EmbeddedChangeFeed(root.events, root.checkpoints, "test")
    if (page := feed.next_page(10_000)) is not None:
        functions.relay_account_events(page.documents)
        feed.commit(page)
    for number in range(root.hub.partition_count):
        partition = EmbeddedPartition(root.hub, root.checkpoints, "test", number)
        if received := partition.receive(10_000):
            functions.project_read_models(received)
            partition.checkpoint(received[-1].sequence_number)


def settle(rounds: int = 50, skip: frozenset[str] = frozenset()) -> int:
    """Runs every service's relay and every hub's consumers (projectors and reactions to other services,
    but those named in `skip`) through the worker over everything pending, as the dev host would, until
    nothing moves. Returns how many documents and messages were handed to functions."""
    root = bootstrap.root()
    consumers = [(d.hub, d.read_models_consumer_group, d.projector_function) for d in root.definitions] + [
        (s.hub, s.consumer_group, s.function) for d in root.definitions for s in d.subscriptions
    ]
    handed = 0
    for _ in range(rounds):
        moved = 0
        for definition in root.definitions:
            embedded = root.embedded[definition.name]
            feed = EmbeddedChangeFeed(embedded.events, embedded.checkpoints, "settle")
            while (page := feed.next_page(1_000)) is not None:
                getattr(functions, definition.relay_function)(page.documents)
                feed.commit(page)
                moved += len(page.documents)
        for hub, group, function in consumers:
            if function in skip:
                continue
            owner = _hub_owner(hub)
            for number in range(owner.hub.partition_count):
                partition = EmbeddedPartition(owner.hub, owner.checkpoints, group, number)
                while received := partition.receive(1_000):
                    getattr(functions, function)(received)
                    partition.checkpoint(received[-1].sequence_number)
                    moved += len(received)
        handed += moved
        if moved == 0:
            return handed
    raise AssertionError(f"still moving after {rounds} rounds")


def lose_pending(function: str) -> int:
    """Moves the consumer group `function` reads with past everything its hub holds now, as if those
    messages had expired unread (past the hub's retention); returns how many were lost."""
    subscription, owner = _subscription(function)
    lost = 0
    for number in range(owner.hub.partition_count):
        partition = EmbeddedPartition(owner.hub, owner.checkpoints, subscription.consumer_group, number)
        if pending := partition.receive(10_000):
            partition.checkpoint(pending[-1].sequence_number)
            lost += len(pending)
    return lost


def deliver_again(function: str) -> int:
    """Hands every message of the hub `function` reads to it again (a late or repeated delivery)."""
    _, owner = _subscription(function)
    everything = [m for p in range(owner.hub.partition_count) for m in owner.hub.read(p, -1, 10_000)]
    getattr(functions, function)(everything)
    return len(everything)


def _subscription(function: str) -> tuple[Subscription, bootstrap.EmbeddedBackend]:
    """The subscription `function` serves, and the embedded backend of the service whose hub it reads."""
    root = bootstrap.root()
    [subscription] = [s for d in root.definitions for s in d.subscriptions if s.function == function]
    return subscription, _hub_owner(subscription.hub)


def _hub_owner(hub: str) -> bootstrap.EmbeddedBackend:
    root = bootstrap.root()
    return next(root.embedded[d.name] for d in root.definitions if d.hub == hub)


def conforms(function: str, response: Any) -> None:
    """Asserts `response` is one its operation documents: its status, and its body's shape."""
    document = openapi.document()
    found = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation["operationId"] == function
    ]
    (path, method, operation), *_ = found
    status = str(response.status_code)
    assert status in operation["responses"], (function, status)
    media = "application/problem+json" if response.status_code >= 400 else "application/json"
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", status, "content", media, "schema")
    )
    registry = Registry().with_resource(
        "urn:eventbank:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": f"urn:eventbank:openapi#/{pointer}"}, registry=registry)
    validator.validate(json_of(response))
