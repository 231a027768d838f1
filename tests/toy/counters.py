"""The counters service: a decider, a projection, an HTTP Blueprint and a ServiceDefinition, which is all a
service is. tests/e2e/test_a_second_service.py runs it on the dev host beside nothing else."""

from __future__ import annotations

from typing import Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from domain.decider import Decider
from infra.entry import bootstrap, http, identity
from infra.entry.services import ServiceDefinition
from projections.projection import Projection

# --- events ---


class Incremented(BaseModel):
    """A counter went up. A storage format: change it only with an upcaster."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[1] = 1
    by: int


# --- state ---


class Counter(BaseModel):
    model_config = ConfigDict(frozen=True)
    total: int = 0


initial = Counter()


def evolve(state: Counter, event: Incremented) -> Counter:
    return Counter(total=state.total + event.by)


# --- decisions ---


class Increment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    by: int = Field(ge=1, le=1000)


def decide(state: Counter, command: Increment) -> list[Incremented]:
    return [Incremented(by=command.by)]


decider: Decider[Counter, Increment, Incremented] = Decider(
    category="counter",
    initial=initial,
    evolve=evolve,
    decide=decide,
    state_type=Counter,
    event_types=[Incremented],
)

# --- the read model ---


class CounterTotal(BaseModel):
    total: int


projection: Projection[Incremented, CounterTotal] = Projection(
    name="counter-total",
    category="counter",
    document_id=lambda stream_id: stream_id,
    view_type=CounterTotal,
    evolve=lambda view, fact: CounterTotal(total=(view.total if view else 0) + fact.event.by),
)

# --- HTTP ---

blueprint = http.new_blueprint()


@blueprint.route(route="counters/{id}/increments", methods=["POST"])
@http.handles_problems
def increment_counter(req: func.HttpRequest) -> func.HttpResponse:
    caller = identity.access(req)
    command = http.parse_body(req, Increment)
    stream_id = decider.stream_id(http.route_uuid(req))
    metadata = http.metadata(req, None, caller.holder)
    outcome = bootstrap.root().service(COUNTERS.name).commands.handle(stream_id, command, metadata)
    return http.json_response({"version": outcome.version, "total": outcome.state.total})


@blueprint.route(route="counters/{id}", methods=["GET"])
@http.handles_problems
def get_counter(req: func.HttpRequest) -> func.HttpResponse:
    identity.access(req)  # counters are everyone's who signed in
    stream_id = decider.stream_id(http.route_uuid(req))
    view = bootstrap.root().service(COUNTERS.name).projection(projection.name).get(stream_id)
    if view is None:
        raise http.Problem(404, "Counter not found", "no counter has this id (or it is not projected yet)")
    return http.json_response(view.model_dump(mode="json"))


# --- the definition: the one thing the core needs to run it ---

COUNTERS = ServiceDefinition(
    name="counters",
    decider=decider,
    projections=(projection,),
    events_container="counters-events",
    hub="counters",
    read_models_consumer_group="counters-readmodels",
    source="/eventbank/counters",
    relay_function="relay_counter_events",
    projector_function="project_counter_read_models",
    lease_prefix_setting="COUNTERS_RELAY_LEASE_PREFIX",
    lease_prefix="counters-relay-",
    http=blueprint,
)
