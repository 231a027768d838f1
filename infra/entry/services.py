"""The services this app runs, as data. A service is a decider, its projections, its HTTP Blueprint and
one entry in SERVICES: the composition root, the relay and projector functions, the dev host's triggers,
the settings and the deployment's resources all follow from this list (tests/deploy checks the Bicep,
the emulator config and local.settings.example.json against it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from domain import accounts, transfers
from domain.decider import Decider, Policy
from infra.entry import accounts_api, transfers_api
from projections import account_statement, account_summary, daily_totals, transfer_status
from projections.projection import Projection


@dataclass(frozen=True)
class Subscription:
    """A service reacting to another service's events: `function` reads that service's `hub` with this
    service's own `consumer_group` and runs the commands `policy` asks for on this service's streams."""

    hub: str
    consumer_group: str
    function: str
    policy: Policy = field(compare=False)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # its data folder locally; its resources' names in Azure start with it
    decider: Decider[Any, Any, Any]
    # applied to each batch in this order: the read model read most right after a command first, the one
    # a read-your-writes wait follows last
    projections: tuple[Projection[Any, Any], ...]
    events_container: str  # its own event log (Cosmos DB container; partition key /streamId)
    hub: str  # its own event hub, partitioned by stream id
    read_models_consumer_group: str  # its projector's consumer group on its hub
    source: str  # the CloudEvents `source` of what it publishes
    relay_function: str
    projector_function: str
    # the app setting naming the relay's lease prefix, so a local run takes its own leases
    lease_prefix_setting: str
    lease_prefix: str  # its value when the setting is not set (the dev host) and in the deployment
    http: func.Blueprint | None = field(default=None, compare=False)
    subscriptions: tuple[Subscription, ...] = ()  # its reactions to other services' hubs


ACCOUNTS = ServiceDefinition(
    name=accounts_api.SERVICE,
    decider=accounts.decider,
    projections=(account_summary.projection, daily_totals.projection, account_statement.projection),
    events_container="accounts-events",
    hub="accounts",
    read_models_consumer_group="accounts-readmodels",
    source="/eventbank/accounts",
    relay_function="relay_account_events",
    projector_function="project_read_models",
    lease_prefix_setting="RELAY_LEASE_PREFIX",
    lease_prefix="accounts-relay-",
    http=accounts_api.blueprint,
    subscriptions=(
        Subscription(
            hub="transfers",
            consumer_group="accounts-transfers",
            function="move_money_for_transfers",
            policy=accounts.react_to_transfers,
        ),
    ),
)

TRANSFERS = ServiceDefinition(
    name=transfers_api.SERVICE,
    decider=transfers.decider,
    projections=(transfer_status.projection,),
    events_container="transfers-events",
    hub="transfers",
    read_models_consumer_group="transfers-readmodels",
    source="/eventbank/transfers",
    relay_function="relay_transfer_events",
    projector_function="project_transfer_read_models",
    lease_prefix_setting="TRANSFERS_RELAY_LEASE_PREFIX",
    lease_prefix="transfers-relay-",
    http=transfers_api.blueprint,
    subscriptions=(
        Subscription(
            hub="accounts",
            consumer_group="transfers-saga",
            function="advance_transfers",
            policy=transfers.react_to_accounts,
        ),
    ),
)

SERVICES: tuple[ServiceDefinition, ...] = (ACCOUNTS, TRANSFERS)


def binding_setting_defaults(services: Sequence[ServiceDefinition] = SERVICES) -> dict[str, str]:
    """Values of the %SETTING% binding expressions when the environment does not set them (the dev host
    only; the Functions host requires each to be an app setting)."""
    return {service.lease_prefix_setting: service.lease_prefix for service in services}


def check_distinct(services: Sequence[ServiceDefinition]) -> None:
    """Refuses services that would share a resource: names, read models (Azure keeps every service's
    read models in one container, by name), functions, events containers, hubs, consumer groups of one
    hub, lease settings and lease prefixes (every relay keeps its leases in the one leases container,
    under its prefix)."""
    named = {
        "service": [service.name for service in services],
        "read model": [projection.name for service in services for projection in service.projections],
        "function": [
            name
            for s in services
            for name in (s.relay_function, s.projector_function, *(sub.function for sub in s.subscriptions))
        ],
        "consumer group": [
            f"{group[0]}/{group[1]}"
            for s in services
            for group in (
                (s.hub, s.read_models_consumer_group),
                *((b.hub, b.consumer_group) for b in s.subscriptions),
            )
        ],
        "events container": [service.events_container for service in services],
        "hub": [service.hub for service in services],
        "lease prefix setting": [service.lease_prefix_setting for service in services],
        "lease prefix": [service.lease_prefix for service in services],
    }
    for what, names in named.items():
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"two services share a {what}: {', '.join(repeated)}")
