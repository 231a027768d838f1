"""The one checkpoint store (SQLite): where each reader of a change feed or hub partition has got to."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from infra.adapters.sqlite.checkpoints import SqliteCheckpoints, adopt_legacy_positions


def legacy_files(folder: Path) -> tuple[Path, Path]:
    """An event store and a hub as an earlier version left them, each keeping its readers' positions."""
    events, hub = folder / "events.sqlite", folder / "hub.sqlite"
    with contextlib.closing(sqlite3.connect(events)) as conn, conn:
        conn.execute("CREATE TABLE leases (name TEXT PRIMARY KEY, position INTEGER NOT NULL)")
        conn.execute("INSERT INTO leases VALUES ('accounts-relay-leases', 41)")
    with contextlib.closing(sqlite3.connect(hub)) as conn, conn:
        conn.execute(
            "CREATE TABLE checkpoints (consumer_group TEXT, partition INTEGER, sequence_number INTEGER)"
        )
        conn.executemany(
            "INSERT INTO checkpoints VALUES (?, ?, ?)",
            [("accounts-readmodels", 0, 7), ("accounts-readmodels", 3, 12)],
        )
    return events, hub


def test_an_upgrade_adopts_the_positions_the_store_and_the_hub_kept(tmp_path: Path) -> None:
    events, hub = legacy_files(tmp_path)
    positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")

    adopt_legacy_positions(positions, events, hub)

    assert positions.get("accounts-relay-leases") == "41"
    assert positions.get("hub/accounts-readmodels/0") == "7"
    assert positions.get("hub/accounts-readmodels/3") == "12"
    positions.close()


def test_positions_already_kept_are_never_overwritten_by_old_ones(tmp_path: Path) -> None:
    events, hub = legacy_files(tmp_path)
    positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
    positions.advance("accounts-relay-leases", 50)

    adopt_legacy_positions(positions, events, hub)

    assert positions.get("accounts-relay-leases") == "50"
    assert positions.get("hub/accounts-readmodels/0") is None
    positions.close()


def test_fresh_files_have_nothing_to_adopt(tmp_path: Path) -> None:
    positions = SqliteCheckpoints(tmp_path / "checkpoints.sqlite")
    (tmp_path / "events.sqlite").touch()

    adopt_legacy_positions(positions, tmp_path / "events.sqlite", tmp_path / "missing.sqlite")

    assert positions.empty()
    positions.close()
