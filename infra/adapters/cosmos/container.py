"""What the Cosmos DB adapters share: the slice of a container they use, and the one translation of the
SDK's transient errors (throttling, timeouts, an unreachable endpoint) into StoreUnavailable.

Each adapter translates its own 404/409/412 where they mean something (a conflict, a missing document);
everything else the SDK raises propagates unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosClientTimeoutError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)
from urllib3.exceptions import InsecureRequestWarning

from infra.ports.eventstore import StoreUnavailable

# A conditional write that lost a race: 409 it exists, 412 it changed, 404 it is gone.
LOST_RACE = (CosmosResourceExistsError, CosmosAccessConditionFailedError, CosmosResourceNotFoundError)

# 408 request timeout, 429 throttled (after the SDK's own retries), 449 retry with, 503 unavailable.
TRANSIENT_STATUS_CODES = frozenset({408, 429, 449, 503})
RETRY_AFTER_HEADER = "x-ms-retry-after-ms"

BatchOperation = tuple[str, tuple[Any, ...], dict[str, Any]]

# What an item id may not hold: the SDK refuses these before sending a point write
# (azure/cosmos/_base.py, _VALID_COSMOS_RESOURCE), and the service refuses them in a batch.
INVALID_ID_CHARACTERS = frozenset("/\\?#\t\r\n")


def check_id(item_id: str) -> None:
    """Raises ValueError, with the SDK's words, for an id the SDK would refuse to send."""
    if INVALID_ID_CHARACTERS.intersection(item_id):
        raise ValueError("Id contains illegal chars.")
    if item_id.endswith((" ", "\n")):
        raise ValueError("Id ends with a space or newline.")


class Pages(Protocol):
    def by_page(self, continuation_token: str | None = None) -> Iterator[Iterator[dict[str, Any]]]: ...


ResponseHook = Callable[[Mapping[str, Any], Any], None]


class CosmosContainer(Protocol):
    """The part of `azure.cosmos.ContainerProxy` the adapters call: a ContainerProxy is one (mypy checks
    it where the composition root passes one in), and so is the tests' FakeContainer."""

    def read_item(self, item: str, partition_key: str) -> dict[str, Any]: ...

    def create_item(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete_item(self, item: str, partition_key: str) -> None: ...

    def replace_item(
        self,
        item: str,
        body: dict[str, Any],
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> dict[str, Any]: ...

    def execute_item_batch(
        self, batch_operations: Sequence[BatchOperation], partition_key: str
    ) -> list[dict[str, Any]]: ...

    def query_items(
        self,
        query: str,
        parameters: list[dict[str, object]] | None = None,
        partition_key: str | None = None,
        enable_cross_partition_query: bool | None = None,
    ) -> Iterable[Any]: ...

    def query_items_change_feed(
        self,
        *,
        max_item_count: int | None = None,
        start_time: Literal["Beginning"] | None = None,
        continuation: str | None = None,
        response_hook: ResponseHook | None = None,
    ) -> Pages: ...


@contextmanager
def transient_errors_as_unavailable() -> Iterator[None]:
    """Raise StoreUnavailable for a throttled, timed-out or unreachable request; let the rest through."""
    try:
        yield
    except AzureError as error:
        unavailable = as_unavailable(error)
        if unavailable is None:
            raise
        raise unavailable from error


def as_unavailable(error: AzureError) -> StoreUnavailable | None:
    if isinstance(error, ServiceRequestError | ServiceResponseError | CosmosClientTimeoutError):
        return StoreUnavailable(f"Cosmos DB did not answer: {type(error).__name__}")
    if (
        isinstance(error, CosmosHttpResponseError | CosmosBatchOperationError)
        and error.status_code in TRANSIENT_STATUS_CODES
    ):
        return StoreUnavailable(f"Cosmos DB answered {error.status_code}", retry_after_seconds(error.headers))
    return None


REQUEST_CHARGE_HEADER = "x-ms-request-charge"


def response_headers(result: object) -> Mapping[str, Any] | None:
    """The headers of the response a point operation's result came from (the SDK returns a CosmosDict
    that keeps them), or None."""
    headers = getattr(result, "get_response_headers", None)
    return headers() if callable(headers) else None


def request_charge(headers: Mapping[str, Any] | None) -> float:
    """The request units a response says it was charged; 0 without the header."""
    for name, value in (headers or {}).items():
        if name.lower() == REQUEST_CHARGE_HEADER:
            try:
                charge = float(value)
            except (TypeError, ValueError):
                return 0.0
            return charge if math.isfinite(charge) and charge > 0 else 0.0
    return 0.0


def retry_after_seconds(headers: Mapping[str, Any] | None) -> int:
    """The service's x-ms-retry-after-ms hint in whole seconds, rounded up; 1 without a usable hint."""
    for name, value in (headers or {}).items():
        if name.lower() == RETRY_AFTER_HEADER:
            try:
                milliseconds = float(value)
            except (TypeError, ValueError):
                return 1
            return max(1, math.ceil(milliseconds / 1000)) if math.isfinite(milliseconds) else 1
    return 1


def emulator_client(connection_string: str) -> CosmosClient:
    """A client for a local Cosmos DB emulator: it serves a self-signed certificate and advertises
    container addresses that are not reachable from here, so neither is used (and urllib3's warning about
    the unverified certificate is silenced for local hosts only, instead of on every request)."""
    warnings.filterwarnings(
        "ignore",
        message=r"Unverified HTTPS request is being made to host '(localhost|127\.0\.0\.1)'",
        category=InsecureRequestWarning,
    )
    return CosmosClient.from_connection_string(
        connection_string, connection_verify=False, enable_endpoint_discovery=False
    )
