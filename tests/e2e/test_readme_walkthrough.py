"""The README's curl walkthrough, run as written against the dev host (only the port differs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_devhost_pipeline import REPO, dev_host

pytestmark = pytest.mark.e2e


def walkthrough(name: str = "walkthrough") -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {name}:.*?-->\s*```bash\n(.*?)```", readme, re.DOTALL)
    assert match, f"the README has no {name} block"
    return match.group(1)


def run(script: str, base: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("http://localhost:7071", base)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, _):
        base = str(client.base_url).rstrip("/").removesuffix("/api")
        result = run(walkthrough(), base, tmp_path)

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    (
        account_id,
        deposit,
        withdrawal,
        refused,
        history,
        past,
        summary,
        statement,
        mine,
        owned,
        daily,
        status,
    ) = (
        lines[0],
        *map(json.loads, lines[1:]),
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", account_id)
    assert (deposit["balance"], deposit["version"]) == (10_000, 2)
    assert (withdrawal["balance"], withdrawal["version"]) == (7_500, 3)
    assert (refused["status"], refused["type"]) == (409, "urn:eventbank:problem:insufficient-funds")
    assert [event["type"] for event in history["events"]] == [
        "AccountOpened",
        "MoneyDeposited",
        "MoneyWithdrawn",
    ]
    assert history["events"][1]["metadata"]["idempotency_key"] == "salary-2026-11"
    assert (past["balance"], past["version"]) == (10_000, 2)
    assert (summary["id"], summary["balance"], summary["version"]) == (account_id, 7_500, 3)
    assert [(e["entry"], e["amount"], e["balance_after"]) for e in statement["entries"]] == [
        ("withdrawal", 2_500, 7_500),
        ("deposit", 10_000, 10_000),
    ]
    assert [account["id"] for account in mine["accounts"]] == [account_id]  # the local user opened it
    assert summary["holder"] == history["events"][0]["metadata"]["actor"]
    assert [account["id"] for account in owned["accounts"]] == [account_id]
    assert [
        (d["currency"], d["deposits"], d["withdrawals"], d["accounts_opened"]) for d in daily["days"]
    ] == [("EUR", "10000", "2500", 1)]
    assert {p["name"] for p in status["projections"]} == {
        "account-summary",
        "account-statement",
        "daily-totals",
        "transfer-status",
    }


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_transfers_walkthrough_works_as_written(tmp_path: Path) -> None:
    with dev_host(tmp_path / "data") as (client, _):
        base = str(client.base_url).rstrip("/").removesuffix("/api")
        result = run(walkthrough("walkthrough-transfers"), base, tmp_path)

    assert result.returncode == 0, result.stderr
    accepted, completed, failed, compensated, statement, transfers = map(
        json.loads, [line for line in result.stdout.splitlines() if line.strip()]
    )
    assert (accepted["status"], accepted["amount"], accepted["reference"]) == ("requested", 3000, "books")
    assert (completed["id"], completed["status"]) == (accepted["id"], "completed")
    assert (failed["status"], failed["reason"]) == ("failed", "insufficient funds")
    assert (compensated["status"], compensated["reason"]) == ("compensated", "account closed")
    assert [(e["entry"], e["amount"], e["balance_after"]) for e in statement["entries"]] == [
        ("reversal", 1000, 2000),
        ("transfer-out", 1000, 1000),
        ("transfer-out", 3000, 2000),
        ("deposit", 5000, 5000),
    ]
    assert [(t["direction"], t["status"]) for t in transfers["transfers"]] == [
        ("out", "compensated"),
        ("in", "failed"),
        ("out", "completed"),
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data"]  # it cleans up after itself
