"""5. Cosmos DB cost per command: round trips and request units, cold and warm, at the SDK boundary.

The command pipeline, built as the composition root builds it, runs on the Cosmos event and snapshot
stores over the tests' fake container (tests/fakes/cosmos.py), each wrapped in a CountingContainer that
records every call the adapters make on it: one call is one round trip to Cosmos DB. Request units are
estimated from the JSON sizes of what goes out and comes back, with the rule-of-thumb charges below for
the events container's restricted indexing policy; a real account's x-ms-request-charge is the check.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.sizes import Sizes
from domain import accounts
from infra.app.commands import CommandHandler, Idempotency
from infra.app.sealing import Sealer
from infra.entry.settings import Settings
from infra.ports.eventstore import Metadata

ADAPTER_MODULE = "infra.adapters.cosmos.eventstore"
FAKE_MODULE = "tests.fakes.cosmos"
NOT_MEASURED = "not measured yet: the Cosmos adapter does not exist"

# Rule-of-thumb request charges (Azure Cosmos DB docs on request units), for the restricted indexing
# policy of the events container: a write of up to 1 KB costs about 5.5 RU (5 to 6) and grows with
# the size; a point read costs 1 RU per KB; a query costs at least 2.5 RU, plus about 1 RU per KB
# returned beyond the first.
WRITE_RU_PER_KB = 5.5
POINT_READ_RU_PER_KB = 1.0
QUERY_MIN_RU = 2.5
WRITE_METHODS = {"create_item", "upsert_item", "replace_item", "patch_item", "delete_item"}
POINT_READ_METHODS = {"read_item"}
QUERY_METHODS = {"query_items", "read_all_items", "query_items_change_feed"}
BATCH_METHODS = {"execute_item_batch"}
WRITE_OPERATIONS = {"create", "upsert", "replace", "patch", "delete"}
READ_OPERATIONS = {"read"}

METHOD = (
    "Round trips: every call the adapter makes on the container, counted by a wrapper around the fake "
    "container (one SDK call = one round trip; a query is counted as one page). RU estimated from the "
    f"JSON sizes: a write {WRITE_RU_PER_KB} RU per started KB (restricted indexing policy), a point read "
    f"{POINT_READ_RU_PER_KB} RU per started KB, a query at least {QUERY_MIN_RU} RU plus 1 RU per KB "
    "returned beyond the first; a transactional batch is the sum of its operations (a read in it: a point "
    "read). The fake does not charge RU, so these are estimates to check against the x-ms-request-charge "
    "of a real account."
)


@dataclass(frozen=True)
class Call:
    """One call on a container: one round trip, with the JSON sizes that set its request charge."""

    container: str
    method: str
    sent_bytes: int
    received_bytes: int
    operations: tuple[tuple[str, int], ...] = ()  # a batch: (operation, bytes of its document)

    @property
    def estimated_ru(self) -> float:
        if self.method in BATCH_METHODS:
            return sum(_operation_ru(operation, size) for operation, size in self.operations)
        return _operation_ru(self.method, self.sent_bytes or self.received_bytes)

    def describe(self) -> str:
        if self.method in BATCH_METHODS:
            listed = " + ".join(operation for operation, _ in self.operations)
            return f"{self.container}.{self.method}({listed})"
        return f"{self.container}.{self.method}"


class CountingContainer:
    """Wraps a container client: forwards every call and records it, with its sizes."""

    def __init__(self, name: str, container: Any, calls: list[Call]) -> None:
        self._name = name
        self._container = container
        self._calls = calls

    def __getattr__(self, attribute: str) -> Any:
        target = getattr(self._container, attribute)
        if attribute.startswith("_") or not callable(target):
            return target
        return functools.partial(self._call, attribute, target)

    def _call(self, method: str, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = target(*args, **kwargs)
        except Exception:
            self._calls.append(Call(self._name, method, _sent_size(method, args, kwargs), 0))
            raise
        if method in QUERY_METHODS:  # a query answers lazily: one page, materialised to size it
            result = list(result)
        operations: tuple[tuple[str, int], ...] = ()
        if method in BATCH_METHODS:
            batch = kwargs.get("batch_operations", args[0] if args else [])
            operations = tuple((str(op[0]).lower(), _size(op[1][0] if op[1] else None)) for op in batch)
        self._calls.append(
            Call(self._name, method, _sent_size(method, args, kwargs), _size(result), operations)
        )
        return result


@dataclass(frozen=True)
class CommandCost:
    round_trips: int
    estimated_ru: float
    calls: list[str]

    @classmethod
    def of(cls, calls: Sequence[Call]) -> CommandCost:
        return cls(len(calls), sum(call.estimated_ru for call in calls), [call.describe() for call in calls])


@dataclass(frozen=True)
class CosmosResult:
    measured: bool
    note: str
    method: str = METHOD
    costs: dict[str, CommandCost] = field(default_factory=dict)  # kind of command -> its cost
    warm_mean_round_trips: float | None = None  # over a run of warm commands, snapshots included
    warm_mean_ru: float | None = None
    warm_commands: int = 0
    cold_tail_events: int = 0

    @property
    def warm_round_trips(self) -> int | None:
        return self.costs["warm"].round_trips if "warm" in self.costs else None


def run(sizes: Sizes) -> CosmosResult:
    if importlib.util.find_spec(ADAPTER_MODULE) is None:
        return CosmosResult(measured=False, note=NOT_MEASURED)
    if importlib.util.find_spec(FAKE_MODULE) is None:
        return CosmosResult(
            measured=False, note=f"not measured yet: the fake container ({FAKE_MODULE}) does not exist"
        )
    return measure(sizes)


def measure(sizes: Sizes) -> CosmosResult:
    """Deposits on one account through the pipeline on the Cosmos stores, counting every call."""
    from infra.adapters.cosmos.eventstore import EVENTS_PARTITION_KEY_PATH, CosmosEventStore
    from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH, CosmosKeyStore
    from infra.adapters.cosmos.snapshots import SNAPSHOTS_PARTITION_KEY_PATH, CosmosSnapshotStore
    from tests.fakes.cosmos import FakeContainer

    calls: list[Call] = []
    events = CosmosEventStore(CountingContainer("events", FakeContainer(EVENTS_PARTITION_KEY_PATH), calls))
    snapshots = CosmosSnapshotStore(
        CountingContainer("snapshots", FakeContainer(SNAPSHOTS_PARTITION_KEY_PATH), calls)
    )
    settings = Settings()
    # personal data sealed as the composition root does: a key per owner in the keys container
    keys = CosmosKeyStore(CountingContainer("keys", FakeContainer(KEYS_PARTITION_KEY_PATH), calls))

    def handler() -> CommandHandler[accounts.Account, accounts.AccountCommand, accounts.AccountEvent]:
        return CommandHandler(
            events,
            accounts.decider,
            snapshots=snapshots,
            snapshot_every=settings.snapshot_every,
            cache_size=settings.state_cache_size,
            seals=Sealer(keys),
        )

    def cost(run_command: Callable[[], object]) -> list[Call]:
        calls.clear()
        run_command()
        return list(calls)

    warm = handler()
    stream_id = warm.new_stream_id()
    opened = accounts.OpenAccount(owner_name="Ada", owner_email="ada@example.com", currency="EUR")
    costs = {"open account": CommandCost.of(cost(lambda: warm.handle(stream_id, opened, _metadata(), 0)))}
    deposit = accounts.DepositMoney(amount=100)
    per_command = [
        cost(lambda: warm.handle(stream_id, deposit, _metadata())) for _ in range(sizes.cosmos_warm_commands)
    ]
    typical = sorted(per_command, key=len)[len(per_command) // 2]
    costs["warm"] = CommandCost.of(typical)
    key = Idempotency(key="bench-1", fingerprint=Idempotency.fingerprint_of("bench-1"))
    costs["warm, with Idempotency-Key"] = CommandCost.of(
        cost(lambda: warm.handle(stream_id, deposit, _metadata(), idempotency=key))
    )
    version = 2 + len(per_command)
    costs["cold (fresh handler: snapshot + tail)"] = CommandCost.of(
        cost(lambda: handler().handle(stream_id, deposit, _metadata()))
    )
    everything = [call for command in per_command for call in command]
    return CosmosResult(
        measured=True,
        note=f"measured over the fake container of {FAKE_MODULE}",
        costs=costs,
        warm_mean_round_trips=len(everything) / len(per_command),
        warm_mean_ru=sum(call.estimated_ru for call in everything) / len(per_command),
        warm_commands=len(per_command),
        cold_tail_events=version % settings.snapshot_every,
    )


def _metadata() -> Metadata:
    return Metadata(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))


def _operation_ru(operation: str, size: int) -> float:
    if operation in WRITE_METHODS or operation in WRITE_OPERATIONS:
        return WRITE_RU_PER_KB * _kilobytes(size)
    if operation in POINT_READ_METHODS or operation in READ_OPERATIONS:
        return POINT_READ_RU_PER_KB * _kilobytes(size)
    if operation in QUERY_METHODS:
        return QUERY_MIN_RU + max(0, _kilobytes(size) - 1)
    return 0.0


def _sent_size(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    if method in WRITE_METHODS:
        return _size(kwargs.get("body", args[-1] if args else None))
    return 0


def _kilobytes(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _size(value: object) -> int:
    if value is None:
        return 0
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())
