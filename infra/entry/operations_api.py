"""The operators' HTTP API, over every service: read-model lag, dead letters and their replay, the log's
hash chains, health."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from infra.app import erasure, queries, verify_log
from infra.app.deadletters import DeadLetterStatus
from infra.app.projector import ProjectionRunner
from infra.entry import bootstrap, http, identity
from infra.entry.settings import SettingsError
from infra.ports.eventstore import STREAM_ID_PATTERN

log = logging.getLogger("eventbank.functions")

blueprint = http.new_blueprint()


@blueprint.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def status(req: func.HttpRequest) -> func.HttpResponse:
    """How far each read model is behind its service's event store, in events and seconds, and what is
    parked. For operators (the Operator role, and the master key): on Cosmos DB it sums over every
    document, a cost that grows with the data."""
    identity.operator(req)
    events, newest, projections = 0, None, list[dict[str, object]]()
    for service in bootstrap.root().services:
        totals, lags = queries.lags([r.read_side for r in service.projections], service.commands.store)
        events += totals.events
        if totals.newest is not None and (newest is None or totals.newest > newest):
            newest = totals.newest
        projections.extend(
            {
                "service": service.name,
                "name": lag.projection,
                "generation": lag.generation,
                "events_behind": lag.events,
                "seconds_behind": round(lag.seconds, 3),
                "parked_streams": lag.parked_streams,
            }
            for lag in lags
        )
    body = {
        "store": {"events": events, "newest": None if newest is None else newest.isoformat()},
        "projections": projections,
    }
    return http.json_response(body)


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    projection: str | None = Field(default=None, max_length=100)
    status: DeadLetterStatus | None = None


@blueprint.route(route="ops/deadletters", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """Events a read model could not apply: retrying, parked (their stream waits), or replayed."""
    identity.operator(req)
    query = http.parse_query(req, DeadLetterQuery)
    letters = [
        letter
        for runner in _projections(query.projection)
        for letter in runner.letters()
        if query.status is None or letter.status is query.status
    ]
    return http.json_response({"dead_letters": [letter.model_dump(mode="json") for letter in letters]})


class ReplayCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projection: str | None = Field(default=None, max_length=100)
    stream_id: str | None = Field(default=None, pattern=STREAM_ID_PATTERN.pattern)


@blueprint.route(route="ops/deadletters/replay", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def replay_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """Unpark the parked streams (of one read model, or one stream) and apply what waited behind them,
    once the cause is fixed; a stream that fails again is parked again."""
    identity.operator(req)
    command = http.parse_body(req, ReplayCommand, allow_empty=True)
    results = [
        letter for runner in _projections(command.projection) for letter in runner.replay(command.stream_id)
    ]
    return http.json_response({"replayed": [letter.model_dump(mode="json") for letter in results]})


class VerifyLogQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    service: str | None = Field(default=None, max_length=100, description="one service (default: every one)")
    stream_id: str | None = Field(
        default=None, pattern=STREAM_ID_PATTERN.pattern, description="one stream (default: every stream)"
    )


@blueprint.route(route="ops/verify-log", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def verify_event_log(req: func.HttpRequest) -> func.HttpResponse:
    """Each stream's hash chain checked link by link, and its length against what the read models applied:
    the first broken link of each stream (200 either way: `intact` says). Over the whole store it reads every
    event; for a large store, `cli verify-log` has no HTTP time limit."""
    identity.operator(req)
    query = http.parse_query(req, VerifyLogQuery)
    root = bootstrap.root()
    try:
        services = root.services if query.service is None else [root.service(query.service)]
    except LookupError:
        raise http.Problem(404, "Service not found", f"no service is called {query.service!r}") from None
    if query.stream_id is not None:
        services = [s for s in services if query.stream_id.startswith(f"{s.commands.decider.category}-")]
        if not services:
            raise http.Problem(404, "Stream not found", "no service keeps streams of this kind")
    reports = []
    for service in services:
        verdict = verify_log.verify_service(service, query.stream_id)
        reports.append(
            {
                "service": service.name,
                "streams": verdict.streams,
                "events": verdict.events,
                "intact": verdict.intact,
                "hashing_began": None if verdict.hashing_began is None else verdict.hashing_began.isoformat(),
                "broken": [
                    {
                        "stream_id": found.stream_id,
                        "version": found.broken.version,
                        "kind": found.broken.kind.value,
                        "detail": found.broken.detail,
                    }
                    for found in verdict.broken
                    if found.broken is not None
                ],
                "partly_covered": [
                    {"stream_id": found.stream_id, "chained_from": found.chained_from}
                    for found in verdict.partly_covered
                ],
            }
        )
    return http.json_response({"intact": all(report["intact"] for report in reports), "services": reports})


def _one_of_them(schema: dict[str, Any]) -> None:
    """The schema says what the validator holds: one of the two fields, not null (so no null default)."""
    schema["oneOf"] = [{"required": ["owner_email"]}, {"required": ["account_id"]}]
    for field in schema["properties"].values():
        field.pop("default", None)


class ForgetCommand(BaseModel):
    """Exactly one of the two: the person's email address, or one of their accounts."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _one_of_them(schema))

    owner_email: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "minLength": 3, "maxLength": 320, "description": "the person"}),
    ] = Field(default=None, min_length=3, max_length=320)
    account_id: Annotated[
        uuid.UUID | None,
        WithJsonSchema({"type": "string", "format": "uuid", "description": "or an account of theirs"}),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _one_of_them(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [name for name in ("owner_email", "account_id") if name in data]
            if len(given) != 1 or data[given[0]] is None:
                raise ValueError("give owner_email or account_id, one of them")
        return data


@blueprint.route(route="ops/forget", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@http.handles_problems
def forget(req: func.HttpRequest) -> func.HttpResponse:
    """Erase a person (the right to erasure): the key their personal data is sealed with is destroyed, so
    their name and email read "[erased]" everywhere from then on (in this worker at once, in others within
    a minute); the accounts, their balances, audit trail and hash chain stay. Name them by email or by one
    of their accounts. Final: nothing brings the data back."""
    operator = identity.operator(req)
    command = http.parse_body(req, ForgetCommand)
    root = bootstrap.root()
    if command.owner_email is not None:
        forgotten = erasure.forget_person(root.services, command.owner_email)
    else:
        service = root.service("accounts")
        found = erasure.forget_account(service, service.commands.decider.stream_id(command.account_id))
        if found is None:
            raise http.Problem(404, "Account not found", "no account has this id")
        forgotten = found
    log.warning("FORGOTTEN subjects %s, by %s", ", ".join(f.subject for f in forgotten), operator.holder)
    return http.json_response(
        {
            "forgotten": [
                {"service": f.service, "subject": f.subject, "key_destroyed": f.key_destroyed}
                for f in forgotten
            ]
        }
    )


def _projections(name: str | None) -> list[ProjectionRunner[Any, Any]]:
    runners = [runner for service in bootstrap.root().services for runner in service.projections]
    if name is None:
        return runners
    chosen = [runner for runner in runners if runner.projection.name == name]
    if not chosen:
        raise http.Problem(404, "Read model not found", f"no read model is called {name!r}")
    return chosen


@blueprint.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http.handles_problems
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: the app answers. It builds no client and touches no store, so anyone may call it as often
    as they like."""
    return http.json_response({"status": "ok", "backend": bootstrap.settings().backend})


@blueprint.route(route="health/deep", methods=["GET"])
@http.handles_problems
def deep_health(req: func.HttpRequest) -> func.HttpResponse:
    """Readiness (function key): the clients can be built and every service's event store answers a read."""
    try:
        root = bootstrap.root()
    except SettingsError:
        raise
    except Exception as error:  # an Azure service away while its client is built: not ready, not a bug
        log.warning("not ready: %s", error)
        raise http.Problem(503, "Not ready", "a backend could not be reached") from None
    for service in root.services:
        service.commands.store.read(service.commands.decider.stream_id(uuid.UUID(int=0)))
    return http.json_response({"status": "ok", "backend": root.settings.backend})


@blueprint.route(route="{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@http.handles_problems
def unknown_route(req: func.HttpRequest) -> func.HttpResponse:
    """Every path and method no other function takes (the host routes literal segments first, then
    parameters, then this catch-all): a problem+json 404 rather than the host's empty one."""
    raise http.Problem(404, "No such route", f"nothing answers {req.method} here: see the API's routes")
