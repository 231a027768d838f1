"""3. Through HTTP on the dev host: latency, achieved rate and end-to-end freshness under load.

The dev host runs in a subprocess (`python -m infra.tools.devhost`) on a free port and a fresh data folder,
with its default settings. An async client (aiohttp: at about 0.7 ms of CPU per request it leaves the
cores to the host, where httpx.AsyncClient takes about 3 ms) opens the accounts, waits until the read
model shows them all, then sends deposits open-loop: command i leaves at start + i/rate whatever happened to
the ones before (round-robin over the accounts), so a slow server cannot slow the load down.
Latency is measured from each command's scheduled send time, so any backlog, the client's included,
counts. For every n-th command the client then polls GET /api/accounts/{id} until the read model
shows the command's version: freshness is the time from the command's response to that answer.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.sizes import Sizes
from bench.stats import clock, percentile

if TYPE_CHECKING:
    import aiohttp

REPO = Path(__file__).resolve().parents[1]
FRESHNESS_POLL_SECONDS = 0.005
# the rate ladder: commands/s tried in turn until one is not sustained with p99 latency under the limit
LADDER_RATES = (100, 200, 300, 400, 500, 600, 800, 1_000, 1_250, 1_500, 2_000, 2_500, 3_000)
LADDER_PAUSE_SECONDS = 2.0
LATENCY_LIMIT_SECONDS = 0.1
SUSTAINED_SHARE = 0.95
FRESHNESS_TIMEOUT_SECONDS = 10.0
DEPOSIT = {"amount": 100}


@dataclass(frozen=True)
class Sent:
    ok: bool
    latency: float  # from the scheduled send time to the response
    lag: float  # from the scheduled send time to the actual send
    responded_at: float
    freshness: float | None = None  # None: not followed, or not seen within the timeout
    followed: bool = False


@dataclass(frozen=True)
class CpuUse:
    host_seconds: float
    client_seconds: float
    wall_seconds: float


@dataclass(frozen=True)
class HttpResult:
    target_rate: float
    seconds: float
    accounts: int
    sent: int
    succeeded: int
    failed: int
    achieved_rate: float
    latency_p50: float
    latency_p99: float
    latency_max: float
    client_lag_p99: float
    freshness_followed: int
    freshness_seen: int
    freshness_p50: float
    freshness_p99: float
    freshness_max: float
    freshness_poll_seconds: float
    devhost_poll_seconds: float
    host_cpu_ms_per_command: float  # the dev host process, user + system, during the load
    host_cpu_cores: float
    client_cpu_ms_per_command: float  # this process: the load client and the freshness polls
    latencies: list[float] = field(repr=False)
    freshness: list[float] = field(repr=False)
    rate_steps: list[RateStep] = field(default_factory=list)

    @property
    def max_sustained_rate(self) -> float:
        """The highest rate of the ladder sustained with p99 latency < 100 ms; 0 if none was."""
        return max((step.rate for step in self.rate_steps if step.sustained), default=0.0)


def run(sizes: Sizes, workdir: Path) -> HttpResult:
    with dev_host(workdir / "devhost") as (base_url, host_pid):
        return asyncio.run(_drive(base_url, sizes, host_pid))


@contextmanager
def dev_host(data_dir: Path) -> Iterator[tuple[str, int]]:
    """The dev host in a subprocess on a free port, logging to data_dir/devhost.log.

    Yields its base URL and process id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = data_dir / "devhost.log"
    env = {**os.environ, "EVENTBANK_BACKEND": "embedded"}
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.tools.devhost", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process, log_path)
        yield base_url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = clock() + 30
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while clock() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the dev host exited:\n{log_path.read_text()[-3000:]}")
            try:
                if client.get("/api/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"the dev host did not answer /api/health in 30 s:\n{log_path.read_text()[-3000:]}")


async def _drive(base_url: str, sizes: Sizes, host_pid: int) -> HttpResult:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        account_ids = [await _open_account(session, index) for index in range(sizes.http_accounts)]
        for account_id in account_ids:  # the whole pipeline is warm before the clock starts
            if await _freshness(session, account_id, 1, clock()) is None:
                raise RuntimeError(f"account {account_id} never reached the read model")
        host_cpu, client_cpu = _process_cpu_seconds(host_pid), time.process_time()
        start = clock()
        sent = await _load(session, account_ids, sizes.http_rate, sizes.http_seconds, sizes.freshness_every)
        cpu = CpuUse(
            host_seconds=_process_cpu_seconds(host_pid) - host_cpu,
            client_seconds=time.process_time() - client_cpu,
            wall_seconds=clock() - start,
        )
        steps = await _ladder(session, account_ids, sizes)
    return _summarise(sizes, start, sent, cpu, steps)


async def _load(
    session: aiohttp.ClientSession, account_ids: list[str], rate: float, seconds: float, follow_every: int
) -> list[Sent]:
    """Deposits open-loop at `rate` for `seconds`, round-robin over the accounts; every `follow_every`-th
    followed until the read model shows it."""
    start = clock()
    tasks = []
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        account_id = account_ids[index % len(account_ids)]
        follow = index % follow_every == 0
        tasks.append(asyncio.create_task(_deposit(session, account_id, scheduled, follow)))
    return list(await asyncio.gather(*tasks))


@dataclass(frozen=True)
class RateStep:
    rate: float
    achieved_rate: float
    failed: int
    latency_p99: float

    @property
    def sustained(self) -> bool:
        """Kept up with (SUSTAINED_SHARE of the rate, nothing failed) with p99 latency under the limit."""
        return (
            self.failed == 0
            and self.achieved_rate >= SUSTAINED_SHARE * self.rate
            and self.latency_p99 < LATENCY_LIMIT_SECONDS
        )


async def _ladder(session: aiohttp.ClientSession, account_ids: list[str], sizes: Sizes) -> list[RateStep]:
    """Open-loop steps of rising rate, each `sizes.ladder_seconds` long after a pause for the host to
    drain, until one is not sustained: the highest sustained is the host's rate with p99 < 100 ms."""
    steps: list[RateStep] = []
    for rate in LADDER_RATES:
        await asyncio.sleep(LADDER_PAUSE_SECONDS)
        start = clock()
        sent = await _load(session, account_ids, rate, sizes.ladder_seconds, follow_every=10**9)
        last_response = max(one.responded_at for one in sent)
        step = RateStep(
            rate=rate,
            achieved_rate=sum(one.ok for one in sent) / (last_response - start),
            failed=sum(not one.ok for one in sent),
            latency_p99=percentile([one.latency for one in sent], 99),
        )
        steps.append(step)
        if not step.sustained:
            break
    return steps


async def _open_account(session: aiohttp.ClientSession, index: int) -> str:
    body = {"owner_name": f"Owner {index}", "owner_email": f"owner{index}@example.com", "currency": "EUR"}
    async with session.post("/api/accounts", json=body) as response:
        response.raise_for_status()
        return str((await response.json())["id"])


async def _deposit(session: aiohttp.ClientSession, account_id: str, scheduled: float, follow: bool) -> Sent:
    import aiohttp

    lag = clock() - scheduled
    try:
        async with session.post(f"/api/accounts/{account_id}/deposits", json=DEPOSIT) as response:
            status = response.status
            body = await response.json() if status == 200 else None
    except (aiohttp.ClientError, TimeoutError):
        return Sent(ok=False, latency=clock() - scheduled, lag=lag, responded_at=clock())
    responded_at = clock()
    latency = responded_at - scheduled
    if body is None:
        return Sent(ok=False, latency=latency, lag=lag, responded_at=responded_at)
    if not follow:
        return Sent(ok=True, latency=latency, lag=lag, responded_at=responded_at)
    freshness = await _freshness(session, account_id, int(body["version"]), responded_at)
    return Sent(
        ok=True, latency=latency, lag=lag, responded_at=responded_at, freshness=freshness, followed=True
    )


async def _freshness(
    session: aiohttp.ClientSession, account_id: str, version: int, since: float
) -> float | None:
    """Seconds from `since` until the read model shows `version` of the account; None after the timeout."""
    while clock() - since < FRESHNESS_TIMEOUT_SECONDS:
        async with session.get(f"/api/accounts/{account_id}") as response:
            shown = int((await response.json())["version"]) if response.status == 200 else 0
        if shown >= version:
            return clock() - since
        await asyncio.sleep(FRESHNESS_POLL_SECONDS)
    return None


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (the dev host runs its triggers in
    processes of their own), from /proc (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_process_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def _summarise(
    sizes: Sizes, start: float, sent: list[Sent], cpu: CpuUse, steps: list[RateStep]
) -> HttpResult:
    succeeded = [one for one in sent if one.ok]
    latencies = [one.latency for one in sent]
    freshness = [one.freshness for one in sent if one.freshness is not None]
    last_response = max(one.responded_at for one in sent)
    return HttpResult(
        target_rate=sizes.http_rate,
        seconds=sizes.http_seconds,
        accounts=sizes.http_accounts,
        sent=len(sent),
        succeeded=len(succeeded),
        failed=len(sent) - len(succeeded),
        achieved_rate=len(succeeded) / (last_response - start),
        latency_p50=percentile(latencies, 50),
        latency_p99=percentile(latencies, 99),
        latency_max=max(latencies),
        client_lag_p99=percentile([one.lag for one in sent], 99),
        freshness_followed=sum(one.followed for one in sent),
        freshness_seen=len(freshness),
        freshness_p50=percentile(freshness, 50) if freshness else float("nan"),
        freshness_p99=percentile(freshness, 99) if freshness else float("nan"),
        freshness_max=max(freshness, default=float("nan")),
        freshness_poll_seconds=FRESHNESS_POLL_SECONDS,
        devhost_poll_seconds=_devhost_poll_seconds(),
        host_cpu_ms_per_command=cpu.host_seconds / len(sent) * 1000,
        host_cpu_cores=cpu.host_seconds / cpu.wall_seconds,
        client_cpu_ms_per_command=cpu.client_seconds / len(sent) * 1000,
        latencies=latencies,
        freshness=freshness,
        rate_steps=steps,
    )


def _devhost_poll_seconds() -> float:
    """How often a trigger process polls the change feed for what the HTTP process appended (a publish
    wakes the hub's readers in the same process, so the hub is not polled)."""
    from infra.tools.devhost import FEED_POLL_SECONDS

    return FEED_POLL_SECONDS
