"""The functions every service has besides its HTTP API: the relay (its events container's change feed to
its hub) and the projector (its hub to its read models), declared from the service's definition."""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Sequence
from typing import Any

import azure.functions as func

from infra.entry import bootstrap, http
from infra.entry.services import ServiceDefinition, Subscription
from infra.entry.settings import COSMOS_CONNECTION, COSMOS_DATABASE, EVENTHUB_CONNECTION, LEASES_CONTAINER
from infra.formats import cloud_events
from infra.ports.eventstore import StoredEvent

log = logging.getLogger("eventbank.functions")


# A failed batch is retried, not skipped: both triggers move their checkpoint past a batch whose function
# failed once its retries are spent, so they are never spent.
def _retried_forever(blueprint: func.Blueprint) -> Callable[[Callable[..., Any]], Any]:
    return blueprint.retry(
        strategy="exponential_backoff",
        max_retry_count="-1",
        minimum_interval="00:00:01",
        maximum_interval="00:01:00",
    )


def _reads_hub(
    blueprint: func.Blueprint, function: str, hub: str, consumer_group: str
) -> Callable[[Callable[..., Any]], Any]:
    """Declares `function` an Event Hubs trigger on `hub` in `consumer_group`, a batch per invocation,
    retried forever."""

    def declare(handler: Callable[..., Any]) -> Any:
        trigger = blueprint.event_hub_message_trigger(
            arg_name="messages",
            connection=EVENTHUB_CONNECTION,
            event_hub_name=hub,
            consumer_group=consumer_group,
            cardinality="many",
        )
        return blueprint.function_name(function)(trigger(_retried_forever(blueprint)(handler)))

    return declare


def _delivered(messages: Sequence[func.EventHubEvent]) -> list[StoredEvent]:
    return [cloud_events.decode(message.get_body()) for message in messages]


def trigger_blueprint(service: ServiceDefinition) -> func.Blueprint:
    """The relay and the projector of `service`."""
    blueprint = http.new_blueprint()

    @blueprint.function_name(service.relay_function)
    @blueprint.cosmos_db_trigger(
        arg_name="documents",
        connection=COSMOS_CONNECTION,
        database_name=COSMOS_DATABASE,
        container_name=service.events_container,
        lease_container_name=LEASES_CONTAINER,
        lease_container_prefix=f"%{service.lease_prefix_setting}%",
        max_items_per_invocation=100,
        feed_poll_delay=1000,
        # The first start of a deployment must relay the events written before it; the SDK's
        # overload annotates this flag as `time`, but the binding takes a bool.
        start_from_beginning=True,  # type: ignore[arg-type]
    )
    @_retried_forever(blueprint)
    def relay(documents: func.DocumentList) -> None:
        """Publishes new events as CloudEvents; any failure raises so the whole batch is retried."""
        published = bootstrap.root().service(service.name).relay.relay([d.to_dict() for d in documents])
        log.info("relayed %d events", published)

    @_reads_hub(blueprint, service.projector_function, service.hub, service.read_models_consumer_group)
    # typing.List, not list[...]: the Python worker accepts a binding annotation only if it is a class or
    # a typing generic, and refuses list[...] at indexing; then Azure loads no function of the app at all.
    def project(messages: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006
        """Applies a batch to every read model: duplicates are no-ops, gaps are filled from the store,
        poison events are retried then parked in the dead letters."""
        delivered = _delivered(messages)
        applied = bootstrap.root().service(service.name).project(delivered)
        log.info("of %d delivered events, new per read model: %s", len(messages), applied)

    for subscription in service.subscriptions:
        _add_reaction(blueprint, service, subscription)
    return blueprint


def _add_reaction(blueprint: func.Blueprint, service: ServiceDefinition, subscription: Subscription) -> None:
    """A function of `service` reading another service's hub with its own consumer group."""

    @_reads_hub(blueprint, subscription.function, subscription.hub, subscription.consumer_group)
    def react(messages: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006 (see project above)
        """Runs this service's commands for another service's events; each is idempotent by its cause,
        so a redelivered batch changes nothing it already changed."""
        ran = bootstrap.root().service(service.name).react(subscription.function, _delivered(messages))
        log.info("of %d delivered events from %s, commands run: %d", len(messages), subscription.hub, ran)
