"""A rebuild of every read model with the operator tool while the dev host serves commands: after the
traffic stops, every read model is on a new generation and equals a clean replay."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from infra.adapters.memory.readmodels import InMemoryReadModelStore
from infra.app import rebuild
from infra.entry.accounts_api import accounts as accounts_of
from infra.entry.bootstrap import Root
from infra.entry.services import SERVICES
from infra.entry.settings import Settings
from tests.e2e.test_chaos import caught_up
from tests.e2e.test_devhost_pipeline import REPO, dev_host, stop, wait_until

pytestmark = pytest.mark.e2e
# the app and the tool must agree on it; short, so that the rebuild's waits are short
CACHE = {"EVENTBANK_GENERATION_CACHE_SECONDS": "0.2"}


def traffic(client: httpx.Client, accounts: list[str], stop: threading.Event, sent: list[int]) -> None:
    """Deposits until stopped; `sent` gets each answer's status."""
    rng = random.Random(3)
    while not stop.is_set():
        response = client.post(
            f"/accounts/{rng.choice(accounts)}/deposits", json={"amount": rng.randint(1, 9)}
        )
        sent.append(response.status_code)


def test_a_rebuild_under_live_traffic_switches_every_read_model_and_loses_no_event(tmp_path: Path) -> None:
    with dev_host(tmp_path, env=CACHE) as (client, process):
        accounts = [
            client.post(
                "/accounts",
                json={"owner_name": f"Owner {n}", "owner_email": "o@example.com", "currency": "EUR"},
            ).json()["id"]
            for n in range(5)
        ]
        halt, sent = threading.Event(), list[int]()
        load = threading.Thread(target=traffic, args=(client, accounts, halt, sent))
        load.start()
        try:
            wait_until(lambda: len(sent) > 20, what="traffic to flow")
            rebuilt = subprocess.run(
                [sys.executable, "-m", "infra.tools.cli", "rebuild", "--all", "--data-dir", str(tmp_path)],
                cwd=REPO,
                env={**os.environ, **CACHE, "EVENTBANK_BACKEND": "embedded"},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            wait_until(lambda: len(sent) > 60, what="traffic to go on after the rebuild")
        finally:
            halt.set()
            load.join()
        wait_until(
            lambda: caught_up(client, len(accounts) + len(sent)),
            what="every read model to catch up",
            timeout=60,
        )
        stop(process, tmp_path)

    assert set(sent) == {200}
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    # every read model of every service: the accounts service's three and the transfers service's one
    assert rebuilt.stdout.count("generation 1 -> 2") == sum(len(d.projections) for d in SERVICES) == 4
    root = Root(Settings(backend="embedded", data_dir=tmp_path))
    try:
        for runner in root.service("accounts").projections:
            assert runner.generation_state().active == 2
            assert rebuild.verify(runner, accounts_of(root).commands.store, InMemoryReadModelStore()) == [], (
                runner.projection.name
            )
    finally:
        root.close()
