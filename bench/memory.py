"""9. Memory: the resident set of a process running the app's composition root after many events.

A fresh process (`python -m bench.memory`) builds the same Root the dev host's processes build (embedded
backend, default settings: a state cache of 10,000 streams, each read model's cache of 20,000 documents)
and handles commands over accounts of EVENTS_PER_ACCOUNT events each, round-robin in rounds, so every
cache is full and must evict. As the dev host's trigger processes do, it projects what was appended into
every read model, a page of the log at a time. Its resident set (VmRSS, from /proc) is read at each
quarter and at the end, with the peak (VmHWM): what grows with the log, rather than with the caches'
bounds, shows as growth between the quarters.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.sizes import Sizes
from bench.stats import clock

EVENTS_PER_ACCOUNT = 20
PROJECT_EVERY = 2_000  # events appended between two projected pages


@dataclass(frozen=True)
class MemoryResult:
    events: int
    accounts: int
    seconds: float
    rss_mb_by_events: dict[int, float]  # after this many events
    peak_mb: float
    state_cache_size: int
    read_model_cache_size: int

    @property
    def final_mb(self) -> float:
        return self.rss_mb_by_events[max(self.rss_mb_by_events)]


def run(sizes: Sizes, workdir: Path) -> MemoryResult:
    folder = workdir / "memory"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.memory",
            "--events",
            str(sizes.memory_events),
            "--data-dir",
            str(folder),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryResult(
        events=found["events"],
        accounts=found["accounts"],
        seconds=found["seconds"],
        rss_mb_by_events={int(events): mb for events, mb in found["rss_mb_by_events"].items()},
        peak_mb=found["peak_mb"],
        state_cache_size=found["state_cache_size"],
        read_model_cache_size=found["read_model_cache_size"],
    )


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure(events: int, data_dir: Path) -> dict[str, object]:
    from domain.accounts import DepositMoney, OpenAccount
    from infra.app.projector import DEFAULT_CACHE_SIZE
    from infra.entry.bootstrap import Root
    from infra.entry.settings import Settings
    from infra.ports.eventstore import Metadata

    settings = Settings(data_dir=data_dir, backend="embedded")
    root = Root(settings)
    service = root.service("accounts")
    store = root.embedded["accounts"].events
    metadata = Metadata(correlation_id=str(uuid.uuid4()))
    accounts = [f"account-{uuid.uuid4()}" for _ in range(max(1, events // EVENTS_PER_ACCOUNT))]
    quarters = {events * q // 4 for q in (1, 2, 3, 4)}
    rss: dict[int, float] = {}
    appended, projected_to = 0, 0
    started = clock()

    def project() -> None:
        nonlocal projected_to
        while page := store.read_all(projected_to, PROJECT_EVERY):
            service.project([event for _, event in page])
            projected_to = page[-1][0]

    try:
        for round_ in range(EVENTS_PER_ACCOUNT):
            for index, stream_id in enumerate(accounts):
                if appended >= events:
                    break
                command = (
                    OpenAccount(
                        owner_name=f"Owner {index}", owner_email=f"o{index}@example.com", currency="EUR"
                    )
                    if round_ == 0
                    else DepositMoney(amount=1)
                )
                service.commands.handle(stream_id, command, metadata)
                appended += 1
                if appended % PROJECT_EVERY == 0:
                    project()
                if appended in quarters:
                    project()
                    rss[appended] = _status_mb("VmRSS")
        project()
        rss[appended] = _status_mb("VmRSS")
        return {
            "events": appended,
            "accounts": len(accounts),
            "seconds": clock() - started,
            "rss_mb_by_events": rss,
            "peak_mb": _status_mb("VmHWM"),
            "state_cache_size": settings.state_cache_size,
            "read_model_cache_size": DEFAULT_CACHE_SIZE,
        }
    finally:
        root.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(_measure(args.events, args.data_dir)) + "\n")


if __name__ == "__main__":
    main()
