"""PNG charts of the report's throughput and latency figures (matplotlib, Agg backend).

matplotlib is a bench-only dependency (requirements-bench.txt): it is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.http_load import HttpResult


def draw(report: dict[str, Any], http: HttpResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    return [
        _throughput(report, out / "throughput.png"),
        _rehydration(report, out / "rehydration.png"),
        _http_latency(report, http, out / "http_latency.png"),
    ]


def _throughput(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    rates: dict[str, float] = report["throughput"]["commands_per_second"]
    names = list(rates)
    figure, axes = plt.subplots(figsize=(9, 4.2))
    colours = ["#1f77b4" if name.startswith("ours") else "#999999" for name in names]
    bars = axes.barh(names, [rates[name] for name in names], color=colours)
    axes.bar_label(bars, labels=[f"{rates[name]:,.0f}/s" for name in names], padding=4)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("commands per second (log scale)")
    workload = report["throughput"]["workload"]
    axes.set_title(
        f"Commands/s in process: {workload['accounts']} accounts x {workload['deposits_per_account']} "
        f"deposits, median of {workload['trials']} trials\nSQLite WAL, synchronous=NORMAL for all"
    )
    axes.set_xlim(right=max(rates.values()) * 4)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _rehydration(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    streams = report["rehydration"]["streams"]
    lengths = [stream["events"] for stream in streams]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for key, label, style in (
        ("cold_ms", "cold: fresh handler, snapshot + tail", "o-"),
        ("warm_ms", "warm: state cache hit", "s-"),
        ("full_replay_ms", "full replay, no snapshot (context)", "x--"),
    ):
        axes.plot(lengths, [stream[key] for stream in streams], style, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(lengths, [f"{length:,}" for length in lengths])
    axes.set_xlabel("events in the stream")
    axes.set_ylabel("ms per command (median, includes the append)")
    axes.set_title("One deposit vs stream length")
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _http_latency(report: dict[str, Any], http: HttpResult, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for values, label in (
        (http.latencies, f"command latency (n={len(http.latencies)})"),
        (http.freshness, f"freshness: response to read model (n={len(http.freshness)})"),
    ):
        if not values:
            continue
        ordered = sorted(value * 1000 for value in values)
        axes.plot(ordered, [(index + 1) / len(ordered) for index in range(len(ordered))], label=label)
    axes.axvline(100, color="red", linestyle=":", label="freshness target: p99 < 100 ms")
    axes.axhline(0.99, color="grey", linestyle=":", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("ms (log scale)")
    axes.set_ylabel("fraction of commands")
    achieved = report["http"]["achieved_commands_per_second"]
    axes.set_title(f"Dev host over HTTP: {achieved:.0f} commands/s achieved of {http.target_rate:.0f}")
    axes.legend(loc="lower right")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
