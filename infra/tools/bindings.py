"""Each trigger's input as the Functions host encodes it for the worker, and an HTTP function's answer as
the host turns it back into a response: the host's side of the bindings, for the dev host."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.formats.documents import format_time
from infra.ports.sources import HubMessage
from infra.tools import function_rpc_pb2 as rpc


@dataclass(frozen=True)
class HttpResult:
    """What the host answers for an HTTP function's invocation."""

    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values, one header each


def http_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    route_params: Mapping[str, str],
    body: bytes,
) -> rpc.TypedData:
    """An HTTP trigger's request as the host encodes it: RpcHttp with the body as raw bytes (the worker asks
    for RawHttpBodyBytes; no body when it is empty), the route's values as `params`, a repeated header or
    query parameter as one value joined with commas (as ASP.NET Core's StringValues), and a query parameter
    with an empty value left out (the worker does not ask for nullable values)."""
    http = rpc.RpcHttp(
        method=method,
        url=url,
        headers=_joined(headers),
        query={key: value for key, value in _joined(query).items() if value},
        params=route_params,
    )
    if body:
        http.body.bytes = body
    return rpc.TypedData(http=http)


def _joined(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in items:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


_SAME_SITE = {
    rpc.RpcHttpCookie.Lax: "Lax",
    rpc.RpcHttpCookie.Strict: "Strict",
    rpc.RpcHttpCookie.ExplicitNone: "None",
}
# What the host answers for an HTTP function that returned a value other than an HTTP response.
_PLAIN_RESULTS = {
    "string": "text/plain; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "bytes": "application/octet-stream",
}


def http_result(response: rpc.InvocationResponse) -> HttpResult:
    """What the host answers for an HTTP function's invocation: the RpcHttp it returned ($return), with its
    cookies as Set-Cookie headers; a plain value as a 200 with that body; 500 with no body if it failed."""
    if response.result.status != rpc.StatusResult.Success:
        return HttpResult(status=500, headers={}, body=b"")
    value = response.return_value
    kind = value.WhichOneof("data")
    if kind in _PLAIN_RESULTS:
        return HttpResult(200, {"content-type": _PLAIN_RESULTS[kind]}, _bytes_of(value))
    http = value.http
    return HttpResult(
        status=int(http.status_code or 200),
        headers=dict(http.headers),
        body=_bytes_of(http.body),
        cookies=[_set_cookie(cookie) for cookie in http.cookies],
    )


def _bytes_of(data: rpc.TypedData) -> bytes:
    kind = data.WhichOneof("data")
    if kind == "bytes":
        return bytes(data.bytes)
    if kind in ("string", "json"):
        return str(getattr(data, kind)).encode()
    return b""


def _set_cookie(cookie: rpc.RpcHttpCookie) -> str:
    parts = [f"{cookie.name}={cookie.value}"]
    if cookie.domain.value:
        parts.append(f"Domain={cookie.domain.value}")
    if cookie.path.value:
        parts.append(f"Path={cookie.path.value}")
    if cookie.HasField("expires"):
        expires = cookie.expires.value.ToDatetime(tzinfo=dt.UTC)
        parts.append(f"Expires={expires.strftime('%a, %d %b %Y %H:%M:%S GMT')}")
    if cookie.HasField("max_age"):
        parts.append(f"Max-Age={int(cookie.max_age.value)}")
    if cookie.HasField("secure") and cookie.secure.value:
        parts.append("Secure")
    if cookie.HasField("http_only") and cookie.http_only.value:
        parts.append("HttpOnly")
    if cookie.same_site in _SAME_SITE:
        parts.append(f"SameSite={_SAME_SITE[cookie.same_site]}")
    return "; ".join(parts)


def document_list(documents: Sequence[Mapping[str, Any]]) -> rpc.TypedData:
    """A Cosmos DB trigger's batch: the changed documents as one JSON array."""
    return _json(list(documents))


def event_batch(
    events: Sequence[HubMessage], partition: PartitionContext
) -> tuple[rpc.TypedData, dict[str, rpc.TypedData]]:
    """An Event Hubs trigger's batch (cardinality many): the bodies as collection bytes, and the trigger
    metadata the host adds, each event's system properties in `SystemPropertiesArray` among it."""
    system = [_system_properties(event) for event in events]
    metadata = {
        "SystemPropertiesArray": _json(system),
        "PropertiesArray": _json([{} for _ in events]),
        "SequenceNumberArray": _json([event.sequence_number for event in events]),
        "OffsetArray": _json([properties["Offset"] for properties in system]),
        "PartitionKeyArray": _json([event.partition_key for event in events]),
        "EnqueuedTimeUtcArray": _json([properties["EnqueuedTimeUtc"] for properties in system]),
        "PartitionContext": _json(partition.as_json()),
    }
    data = rpc.TypedData(collection_bytes=rpc.CollectionBytes(bytes=[event.body for event in events]))
    return data, metadata


def single_event(
    event: HubMessage, partition: PartitionContext
) -> tuple[rpc.TypedData, dict[str, rpc.TypedData]]:
    """An Event Hubs trigger's event (cardinality one): the body as bytes, its system properties."""
    system = _system_properties(event)
    metadata = {
        "SystemProperties": _json(system),
        "Properties": _json({}),
        "SequenceNumber": _json(event.sequence_number),
        "Offset": _json(system["Offset"]),
        "PartitionKey": _json(event.partition_key),
        "EnqueuedTimeUtc": _json(system["EnqueuedTimeUtc"]),
        "PartitionContext": _json(partition.as_json()),
    }
    return rpc.TypedData(bytes=event.body), metadata


@dataclass(frozen=True)
class PartitionContext:
    """Which hub, consumer group and partition a batch came from."""

    hub: str
    consumer_group: str
    partition_id: str

    def as_json(self) -> dict[str, str]:
        return {
            "EventHubName": self.hub,
            "ConsumerGroup": self.consumer_group,
            "PartitionId": self.partition_id,
        }


def _system_properties(event: HubMessage) -> dict[str, Any]:
    offset, enqueued = str(event.sequence_number), format_time(event.enqueued_time)
    return {
        "x-opt-sequence-number": event.sequence_number,
        "x-opt-offset": offset,
        "x-opt-enqueued-time": enqueued,
        "x-opt-partition-key": event.partition_key,
        "SequenceNumber": event.sequence_number,
        "Offset": offset,
        "PartitionKey": event.partition_key,
        "EnqueuedTimeUtc": enqueued,
    }


def timer_info(last: dt.datetime | None, next_run: dt.datetime, past_due: bool) -> rpc.TypedData:
    """A timer trigger's input as the host sends it (TimerInfo as JSON): the schedule's status, and whether
    this run is late (the host was not running when it was due)."""
    return _json(
        {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": (last or dt.datetime.min.replace(tzinfo=dt.UTC)).isoformat(),
                "Next": next_run.isoformat(),
                "LastUpdated": (last or next_run).isoformat(),
            },
            "IsPastDue": past_due,
        }
    )


def _json(value: object) -> rpc.TypedData:
    return rpc.TypedData(json=json.dumps(value, separators=(",", ":")))
