"""What every service's HTTP API answers about one of its streams the same way: its audit trail (every
event with its metadata, paged) and time travel (its state at a version or a time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from infra.app.commands import CommandHandler, Outcome
from infra.app.readside import ReadModel
from infra.entry import bootstrap, http, identity
from infra.ports.eventstore import MAX_VERSION, EventStore


class FreshnessQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    min_version: http.QueryVersion | None = Field(default=None, description=http.READ_YOUR_WRITES)


def read_view[V: BaseModel](
    req: func.HttpRequest,
    read_model: ReadModel[Any, V],
    store: EventStore,
    stream_id: str,
    not_found: http.Problem,
    exists: Callable[[V], bool],
    private: frozenset[str] = frozenset(),
) -> func.HttpResponse:
    """The stream's view (less its `private` fields): eventually consistent with the event store, and
    `not_found` unless it `exists` for the caller. With ?min_version=N (the version a command answered) it
    waits briefly for the projection to reach N, then answers what it has, marked X-Read-Model-Stale if it
    is still behind."""
    query = http.parse_query(req, FreshnessQuery)
    min_version = query.min_version or 0
    waiting = wait_seconds(read_model, store, stream_id, min_version, exists, not_found)
    view, fresh = read_model.read(stream_id, min_version, waiting)
    if view is None or not exists(view):
        raise not_found
    headers = {"ETag": f'"{getattr(view, "version", 0)}"'}
    if not fresh:
        headers["X-Read-Model-Stale"] = "true"
    return http.json_response(view.model_dump(mode="json", exclude=set(private)), headers=headers)


def create[S: BaseModel](
    req: func.HttpRequest,
    commands: CommandHandler[S, Any, Any],
    command: BaseModel,
    request: BaseModel,
    caller: identity.Access,
) -> Outcome[S]:
    """A new stream for `command` (what the caller's `request` asked for). With an Idempotency-Key, the
    same stream, and so the same answer, for the same caller and key: the key is scoped to the caller, and
    recorded with the first event."""
    idempotency = http.idempotency(req, request.model_dump(mode="json"))
    scope = None if idempotency is None else f"{identity.key_scope(caller)}\n{idempotency.key}"
    return commands.handle(
        commands.new_stream_id(scope),
        command,
        http.metadata(req, idempotency, caller.holder),
        expected_version=0,
        idempotency=idempotency,
    )


def wait_seconds[V: BaseModel](
    read_model: ReadModel[Any, V],
    store: EventStore,
    stream_id: str,
    min_version: int,
    may_read: Callable[[V], bool],
    not_found: http.Problem,
) -> float:
    """How long a read with ?min_version=N may wait for the read model to reach N: not at all without it
    or once it has; not for a stream the caller may not read (`not_found` at once, as for any other); not
    for a version the stream does not have (404 at once: nothing would come, and the wait would hold a
    worker for nothing)."""
    if not min_version:
        return 0.0
    view, fresh = read_model.read(stream_id, min_version)
    if fresh:
        return 0.0
    if view is not None and not may_read(view):
        raise not_found
    if not store.read(stream_id, from_version=min_version, to_version=min_version):
        if view is None:
            raise not_found
        raise http.Problem(404, "Version not found", f"the stream has no version {min_version} yet")
    return bootstrap.root().settings.min_version_wait_seconds


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_version: http.QueryInt = Field(default=1, ge=1, le=MAX_VERSION)
    limit: http.QueryInt = Field(default=100, ge=1, le=1000)


class StateQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: http.QueryVersion | None = Field(
        default=None, description="the state after this version; not together with `at`"
    )
    at: http.UtcDatetime | None = Field(
        default=None, description=f"the state as of this time; not together with `version`. {http.TIME}"
    )


def history[S: BaseModel](
    req: func.HttpRequest,
    commands: CommandHandler[S, Any, Any],
    path: str,
    not_found: http.Problem,
    may_read: Callable[[S], bool],
    private: frozenset[str] = frozenset(),
) -> func.HttpResponse:
    """The stream of the aggregate at /api/`path`/{id}: its events oldest first (their data less its
    `private` fields), paged from ?from_version; `not_found` unless the caller `may_read` the aggregate."""
    aggregate_id = http.route_uuid(req)
    query = http.parse_query(req, HistoryQuery)
    stream_id = commands.decider.stream_id(aggregate_id)
    if not may_read(commands.load(stream_id, to_version=1)[0]):  # who may read it is fixed by event 1
        raise not_found
    events = commands.store.read(
        stream_id, from_version=query.from_version, to_version=query.from_version + query.limit
    )
    if not events and query.from_version == 1:
        raise not_found
    page, more = events[: query.limit], len(events) > query.limit
    body = {
        "id": str(aggregate_id),
        # sealed personal data opened for the reader ("[erased]" once its subject is forgotten)
        "events": [_shown(commands.codec.reveal(event).model_dump(mode="json"), private) for event in page],
        "next": (
            f"/api/{path}/{aggregate_id}/events?from_version={page[-1].version + 1}&limit={query.limit}"
            if more
            else None
        ),
    }
    return http.json_response(body)


def state_at[S: BaseModel](
    req: func.HttpRequest, commands: CommandHandler[S, Any, Any], what: str, may_read: Callable[[S], bool]
) -> tuple[str, S, int, dict[str, object]]:
    """Time travel: the stream's state rebuilt from its events up to ?version=N or ?at=<time>, with its
    version and what it is as of; 404 (naming `what`) when it did not exist then, or the caller may not
    read it (who may is the same at every version: it is fixed by the stream's first event)."""
    query = http.parse_query(req, StateQuery)
    if query.version is not None and query.at is not None:
        raise http.Problem(422, "Invalid query", "give either version or at, not both")
    stream_id = commands.decider.stream_id(http.route_uuid(req))
    state, version = commands.load(stream_id, to_version=query.version, until=query.at)
    if version == 0 or not may_read(state):
        raise http.Problem(404, f"{what} not found", f"the {what.lower()} did not exist at that point")
    if query.version is not None and version < query.version:
        raise http.Problem(
            404, "Version not found", f"the {what.lower()} has {version} versions", current_version=version
        )
    return stream_id, state, version, _as_of(query.version, query.at)


def _as_of(version: int | None, at: datetime | None) -> dict[str, object]:
    if version is not None:
        return {"version": version}
    if at is not None:
        return {"at": at.isoformat()}
    return {"latest": True}


def _shown(event: dict[str, Any], private: frozenset[str]) -> dict[str, Any]:
    if private & event["data"].keys():
        event["data"] = {name: value for name, value in event["data"].items() if name not in private}
    return event
