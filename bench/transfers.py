"""Transfers: latency from the 202 to a terminal status on the dev host at a steady request rate, and
what one transfer costs in events and Cosmos DB round trips (command side, over the counting fake)."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from bench.cosmos import Call, CountingContainer
from bench.http_load import dev_host
from bench.sizes import Sizes
from bench.stats import clock, percentile

TERMINAL = {"completed", "failed", "compensated"}
ACCOUNTS = 20


@dataclass(frozen=True)
class TransferResult:
    rate: float
    seconds: float
    sent: int
    ended: int
    statuses: dict[str, int]
    latency_p50: float  # seconds from the request's event to the terminal one (each step's recorded time)
    latency_p99: float
    latency_max: float
    events_per_transfer: float  # in both logs, for a completed transfer
    round_trips_per_transfer: int  # Cosmos DB calls of both services' command sides, completed transfer
    round_trip_calls: list[str] = field(repr=False)


def run(sizes: Sizes, workdir: Path) -> TransferResult:
    events, calls = cosmos_cost()
    with dev_host(workdir / "transfers") as (base_url, _):
        return _drive(base_url, sizes, events, calls)


def _drive(base_url: str, sizes: Sizes, events: int, calls: list[Call]) -> TransferResult:
    rate, seconds = sizes.transfer_rate, sizes.transfer_seconds
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    rng = random.Random(20261203)
    with httpx.Client(base_url=f"{base_url}/api", timeout=30) as client:
        accounts = []
        for n in range(ACCOUNTS):
            body = {"owner_name": f"Owner {n}", "owner_email": f"o{n}@example.com", "currency": "EUR"}
            account_id = client.post("/accounts", json=body).json()["id"]
            client.post(f"/accounts/{account_id}/deposits", json={"amount": 1_000_000})
            accounts.append(account_id)

        def transfer(body: dict[str, object]) -> str:
            return str(client.post("/transfers", json=body).json()["id"])

        # Steady state only: the trigger processes start their pumps after the HTTP process answers, so the
        # clock starts once one transfer has gone all the way through.
        warm_up = transfer({"from_account": accounts[0], "to_account": accounts[1], "amount": 1})
        warm_until = clock() + 30
        while client.get(f"/transfers/{warm_up}").json().get("status") not in TERMINAL:
            if clock() > warm_until:
                raise RuntimeError("the warm-up transfer did not end within 30 s")
            time.sleep(0.05)

        count = int(rate * seconds)
        started = clock()
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = []
            for n in range(count):  # open loop: each request at its time, whatever the others do
                time.sleep(max(0.0, started + n / rate - clock()))
                source, target = rng.sample(accounts, 2)
                amount = rng.randint(1, 2_000)
                request: dict[str, object] = {"from_account": source, "to_account": target, "amount": amount}
                futures.append(pool.submit(transfer, request))
            ids = [future.result() for future in futures]
        # Then read each transfer's steps: the time from its request to its ending is the log's own
        # (no polling load on the host while it works; GET /api/transfers/{id} shows each step's time).
        pending, deadline = set(ids), clock() + 60
        while pending and clock() < deadline:
            for transfer_id in sorted(pending):
                view = client.get(f"/transfers/{transfer_id}").json()
                if view.get("status") in TERMINAL:
                    pending.discard(transfer_id)
                    first, last = (datetime.fromisoformat(view["steps"][i]["at"]) for i in (0, -1))
                    latencies.append((last - first).total_seconds())
                    statuses[view["status"]] = statuses.get(view["status"], 0) + 1
            time.sleep(0.2)
    ordered = sorted(latencies)
    return TransferResult(
        rate=rate,
        seconds=seconds,
        sent=count,
        ended=len(ordered),
        statuses=statuses,
        latency_p50=percentile(ordered, 50),
        latency_p99=percentile(ordered, 99),
        latency_max=ordered[-1] if ordered else 0.0,
        events_per_transfer=events,
        round_trips_per_transfer=len(calls),
        round_trip_calls=[call.describe() for call in calls],
    )


def cosmos_cost() -> tuple[int, list[Call]]:
    """One completed transfer's events in both logs and Cosmos DB calls on both services' command sides
    (warm caches, as in a running worker), over the counting fake: the request, and each service's
    reaction to the other's events, run in order as the hubs would deliver them."""
    from domain import accounts, transfers
    from infra.adapters.cosmos.eventstore import EVENTS_PARTITION_KEY_PATH, CosmosEventStore, read_changes
    from infra.app.commands import CommandHandler
    from infra.app.reactions import Reactor
    from infra.formats.documents import from_document, is_event_document
    from infra.ports.eventstore import Metadata
    from tests.fakes.cosmos import FakeContainer

    calls: list[Call] = []
    containers = {name: FakeContainer(EVENTS_PARTITION_KEY_PATH) for name in ("accounts", "transfers")}
    account_side = CommandHandler(
        CosmosEventStore(CountingContainer("accounts-events", containers["accounts"], calls)),
        accounts.decider,
    )
    transfer_side = CommandHandler(
        CosmosEventStore(CountingContainer("transfers-events", containers["transfers"], calls)),
        transfers.decider,
    )
    source, target = "3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40", "0b6e4d2a-7c1f-4a3e-9b5d-8e2f6a0c1d73"
    for account_id in (source, target):
        stream_id = accounts.decider.stream_id(account_id)
        opened = accounts.OpenAccount(owner_name="x", owner_email="x@example.com", currency="EUR")
        account_side.handle(stream_id, opened, Metadata(), expected_version=0)
        account_side.handle(stream_id, accounts.DepositMoney(amount=1_000), Metadata())
    reactors = {
        "accounts": Reactor(transfer_side, transfers.react_to_accounts),  # reads the accounts log
        "transfers": Reactor(account_side, accounts.react_to_transfers),  # reads the transfers log
    }
    continuations: dict[str, str | None] = {}
    for name in containers:  # start each feed after what is there already
        _, continuations[name] = read_changes(containers[name], None, 10_000)
    calls.clear()
    request = transfers.RequestTransfer(from_account=source, to_account=target, amount=300)
    transfer_side.handle(transfer_side.new_stream_id(), request, Metadata(), expected_version=0)
    events = 0
    for _ in range(10):  # the relays and the hubs, without their own cost: only the stores' calls count
        moved = 0
        for name, container in containers.items():
            documents, continuations[name] = read_changes(container, continuations[name], 10_000)
            delivered = [from_document(d) for d in documents if is_event_document(d)]
            delivered.sort(key=lambda event: (event.stream_id, event.version))
            events += len(delivered)
            moved += len(delivered)
            reactors[name].react(delivered)
        if not moved:
            break
    return events, list(calls)
