"""The whole pipeline through the dev host in a subprocess: HTTP -> SQLite -> relay -> hub -> read model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.adapters.sqlite.eventstore import SqliteEventStore
from infra.adapters.sqlite.hub import EmbeddedHub

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_host(
    data_dir: Path, *extra_args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    """The dev host in a subprocess on a free port, logging to data_dir/devhost.log, in a process group
    of its own (with its trigger processes), so a test can kill them all at once."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "devhost.log").open("a") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.tools.devhost",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *extra_args,
            ],
            cwd=REPO,
            env=None if env is None else {**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api", timeout=10)
    try:
        wait_until(lambda: _healthy(client), what="the dev host to answer /api/health")
        yield client, process
    finally:
        client.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[str], data_dir: Path) -> str:
    """Stops the host as Ctrl+C does; it must exit cleanly. Returns its log."""
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)
    output = (data_dir / "devhost.log").read_text()
    assert process.returncode == 0, output
    return output


def balance_is(client: httpx.Client, account_id: str, balance: int) -> bool:
    response = client.get(f"/accounts/{account_id}")
    return response.status_code == 200 and response.json()["balance"] == balance


def test_commands_flow_through_relay_and_projector_to_the_read_model(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, process):
        opened = client.post(
            "/accounts",
            json={"owner_name": "Ada Lovelace", "owner_email": "ada@example.com", "currency": "EUR"},
        )
        account_id = opened.json()["id"]
        deposit = client.post(f"/accounts/{account_id}/deposits", json={"amount": 10_000})
        withdrawal = client.post(f"/accounts/{account_id}/withdrawals", json={"amount": 2_500})
        refused = client.post(f"/accounts/{account_id}/withdrawals", json={"amount": 1_000_000})

        assert opened.status_code == 201
        assert opened.headers["location"] == f"/api/accounts/{account_id}"
        assert (deposit.status_code, withdrawal.status_code) == (200, 200)
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        wait_until(lambda: balance_is(client, account_id, 7_500), what="the read model to show 7500")
        summary = client.get(f"/accounts/{account_id}").json()
        assert (summary["version"], summary["status"], summary["currency"]) == (3, "open", "EUR")
        history = client.get(f"/accounts/{account_id}/events").json()
        assert [event["type"] for event in history["events"]] == [
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
        ]
        past = client.get(f"/accounts/{account_id}/state", params={"version": 2}).json()
        assert past["balance"] == 10_000
        output = stop(process, tmp_path)

    assert "Executed 'Functions.relay_account_events' (Succeeded" in output
    assert "Executed 'Functions.project_read_models' (Succeeded" in output


def test_a_restarted_host_resumes_from_its_checkpoints_without_relaying_again(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, process):
        account_id = client.post(
            "/accounts", json={"owner_name": "Bob", "owner_email": "bob@example.com", "currency": "USD"}
        ).json()["id"]
        client.post(f"/accounts/{account_id}/deposits", json={"amount": 300})
        wait_until(lambda: balance_is(client, account_id, 300), what="the first deposit to be projected")
        stop(process, tmp_path)

    with dev_host(tmp_path) as (client, process):
        client.post(f"/accounts/{account_id}/deposits", json={"amount": 200})
        wait_until(lambda: balance_is(client, account_id, 500), what="the deposit after the restart")
        stop(process, tmp_path)

    store = SqliteEventStore(tmp_path / "accounts" / "events.sqlite")
    hub = EmbeddedHub(tmp_path / "accounts" / "hub.sqlite")
    partition = hub.partition_for(f"account-{account_id}")
    published = hub.read(partition, -1, 1_000)
    assert [message.sequence_number for message in published] == [0, 1, 2]  # each event relayed once
    assert len(store.read(f"account-{account_id}")) == 3
    store.close()
    hub.close()


def _children(pid: int) -> list[int]:
    """A process's children, from /proc (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _functions_of(pid: int) -> set[str]:
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    (listed,) = [argument for argument in arguments if argument.startswith("--functions=")]
    return set(listed.removeprefix("--functions=").split(","))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the dev host's processes from /proc")
def test_each_hub_gets_a_trigger_process_of_its_own_and_the_host_stops_when_one_dies(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (_, process):
        children = wait_until(lambda: len(_children(process.pid)) == 2 and _children(process.pid), "two")
        groups = sorted((_functions_of(child) - {"expire_transfers"} for child in children), key=sorted)
        assert groups == [  # each hub's relay and its readers; the timer runs in one of them
            {"advance_transfers", "project_read_models", "relay_account_events"},
            {"move_money_for_transfers", "project_transfer_read_models", "relay_transfer_events"},
        ]

        os.kill(children[0], signal.SIGKILL)
        process.wait(timeout=30)

    output = (tmp_path / "devhost.log").read_text()
    assert "a trigger process exited (code -9): stopping the dev host" in output
    assert all(not Path(f"/proc/{child}").exists() or _is_zombie(child) for child in children[1:])


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
