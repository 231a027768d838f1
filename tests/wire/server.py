"""The Cosmos-protocol server of the wire suites: npm @vercel/cosmosdb-server with our patches
(tests/wire/cosmos_server.js), run by node on a free local port, reached through the real azure-cosmos SDK.

`make test` installs the package into tests/wire/node_modules when node is on the machine; without node or
without that folder, `unavailable()` says why and the wire suites skip with that reason.

Known divergences from Cosmos DB, each closed by a patch in cosmos_server.js (see its comments):
  1. a transactional batch that is not atomic;
  2. no partition key header on batch operations (a read or replace in a batch answers 500);
  3. a 500 on reading a missing item (Cosmos DB: 404);
  4. queries that ignore the partition-key header (and refuse a query not naming the partition key);
  5. no change feed (a plain read of every document, a fixed ETag).
Left as they are, and never relied on: its ETags are bare UUIDs (Cosmos DB quotes them), it checks no
authorization signature, it has one partition key range, and it keeps everything in memory.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "cosmos_server.js"
PACKAGE = HERE / "node_modules" / "@vercel" / "cosmosdb-server" / "package.json"
# The server checks no signature; the SDK still signs every request with a key, so give it a well-formed one.
KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
READY = "Ready to accept HTTPS connections at "


def unavailable() -> str | None:
    """Why the wire server cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return (
            "node is not on PATH: install Node.js (20+) so make test can install the Cosmos-protocol server"
        )
    if not PACKAGE.is_file():
        return (
            f"{PACKAGE.parent} is missing: run make test (it runs npm ci in tests/wire when node is present)"
        )
    return None


@contextmanager
def running(log: Path, *, patched: bool = True) -> Iterator[str]:
    """Start the server on a free port, its output in `log`; yield its endpoint (https://127.0.0.1:PORT/);
    stop it afterwards. Unpatched, it serves the package as published (to show what each patch closes)."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    with log.open("w") as output:
        process = subprocess.Popen(
            ["node", str(SCRIPT), "--port", "0", *([] if patched else ["--unpatched"])],
            cwd=HERE,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"https://{_address(process, log)}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _address(process: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith(READY):
                return line.removeprefix(READY).strip()
        if process.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"the Cosmos-protocol server did not start:\n{log.read_text()}")
