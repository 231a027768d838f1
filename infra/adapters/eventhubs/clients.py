"""Event Hubs SDK clients from the binding settings: a connection string, or a namespace and a credential."""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from azure.eventhub import EventHubConsumerClient, EventHubProducerClient


def is_connection_string(value: str) -> bool:
    return "endpoint=" in value.lower()


def producer_from_settings(
    connection_or_namespace: str, hub_name: str, credential: TokenCredential | None = None
) -> EventHubProducerClient:
    """A producer from a connection string (the emulator) or a fully qualified namespace and a credential
    (managed identity in Azure). Not buffered and without on_error, so every send failure raises."""
    if is_connection_string(connection_or_namespace):
        return EventHubProducerClient.from_connection_string(connection_or_namespace, eventhub_name=hub_name)
    return EventHubProducerClient(
        fully_qualified_namespace=connection_or_namespace,
        eventhub_name=hub_name,
        credential=_required(credential, connection_or_namespace),
    )


def consumer_from_settings(
    connection_or_namespace: str,
    hub_name: str,
    consumer_group: str,
    credential: TokenCredential | None = None,
) -> EventHubConsumerClient:
    """A consumer for `consumer_group`, from a connection string or a namespace and a credential."""
    if is_connection_string(connection_or_namespace):
        return EventHubConsumerClient.from_connection_string(
            connection_or_namespace, consumer_group, eventhub_name=hub_name
        )
    return EventHubConsumerClient(
        fully_qualified_namespace=connection_or_namespace,
        eventhub_name=hub_name,
        consumer_group=consumer_group,
        credential=_required(credential, connection_or_namespace),
    )


def _required(credential: TokenCredential | None, namespace: str) -> TokenCredential:
    if credential is None:
        raise ValueError(
            f"{namespace!r} is not a connection string; a namespace needs a credential "
            "(DefaultAzureCredential in Azure)"
        )
    return credential
