"""How big each measurement is, in the quick and the full run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    mode: str
    # 1. command throughput in process: accounts x deposits for every contender, in a few trials
    accounts: int
    deposits_per_account: int
    trials: int
    # 2. rehydration: stream lengths, and commands timed per length (cold and warm each)
    stream_lengths: tuple[int, ...]
    rehydration_repeats: int
    full_replay_repeats: int
    # 3. through HTTP on the dev host: an open-loop rate for a while, over this many accounts
    http_rate: float
    http_seconds: float
    http_accounts: int
    freshness_every: int  # follow every n-th command until the read model shows it
    # 4. projection rebuild: events in the store, and how many each append writes per account
    projection_events: int
    projection_events_per_append: int
    projection_batch: int
    # 5. Cosmos DB: warm deposits counted on one account (snapshot writes amortised over them)
    cosmos_warm_commands: int
    # 6. calls per function, direct and through the Python worker
    worker_calls: int
    # 7. transfers on the dev host: requests per second, for how long
    transfer_rate: float = 50
    transfer_seconds: float = 10
    # 8. concurrent clients in process: commands per contender and count of threads, split among them
    concurrency_commands: int = 2_400
    # 3. the rate ladder on the dev host: seconds per step
    ladder_seconds: float = 4
    # 9. memory: events appended (and projected) in one process before its RSS is read
    memory_events: int = 20_000


QUICK = Sizes(
    mode="quick",
    accounts=10,
    deposits_per_account=100,
    trials=3,
    stream_lengths=(10, 1_000, 20_000),
    rehydration_repeats=15,
    full_replay_repeats=2,
    http_rate=200,
    http_seconds=10,
    http_accounts=50,
    freshness_every=20,
    projection_events=100_000,
    projection_events_per_append=5,
    projection_batch=100,
    cosmos_warm_commands=250,
    worker_calls=2_000,
)

FULL = Sizes(
    mode="full",
    accounts=20,
    deposits_per_account=200,
    trials=3,
    stream_lengths=(10, 1_000, 100_000),
    rehydration_repeats=50,
    full_replay_repeats=3,
    http_rate=200,
    http_seconds=60,
    http_accounts=200,
    freshness_every=20,
    projection_events=1_000_000,
    projection_events_per_append=5,
    projection_batch=100,
    cosmos_warm_commands=1_000,
    worker_calls=10_000,
    concurrency_commands=9_600,
    ladder_seconds=10,
    memory_events=1_000_000,
)
