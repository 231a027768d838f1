"""What the figures were measured on: the machine, the versions, and the SQLite settings in force."""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from infra.adapters.sqlite.database import SqliteDatabase

LIBRARIES = ("eventsourcing", "matplotlib", "pydantic", "httpx", "uvicorn", "starlette", "azure-functions")
SYNCHRONOUS_LEVELS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def describe() -> dict[str, Any]:
    journal_mode, synchronous = our_sqlite_settings()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "journal_mode": journal_mode,
        "synchronous": synchronous,
        "load_average_at_start": load_average(),
    }


def our_sqlite_settings() -> tuple[str, str]:
    """The journal mode and synchronous level our SQLite connections actually run with."""
    with tempfile.TemporaryDirectory() as folder:
        database = SqliteDatabase(Path(folder) / "probe.sqlite", "")
        try:
            conn = database.connection()
            journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        finally:
            database.close()
    return journal_mode.upper(), synchronous_name(level)


def synchronous_name(level: int) -> str:
    return f"{SYNCHRONOUS_LEVELS.get(level, '?')} ({level})"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
