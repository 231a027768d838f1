"""The report: every figure and ratio as JSON, the same as Markdown, and each target of issue 6."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import throughput as tp
from bench.concurrency import ConcurrencyResult
from bench.cosmos import CosmosResult
from bench.http_load import SUSTAINED_SHARE, HttpResult
from bench.memory import MemoryResult
from bench.projection import ProjectionResult
from bench.rehydration import RehydrationResult
from bench.sizes import Sizes
from bench.stats import ratio
from bench.throughput import ThroughputResult
from bench.transfers import TransferResult
from bench.worker_cost import WorkerCostResult

PASS, MISS, NOT_MEASURED = "PASS", "MISS", "NOT MEASURED"
FRESHNESS_TARGET_SECONDS = 0.100
# "at 200 commands/s": the host must actually have sustained the rate for the freshness to count.


@dataclass(frozen=True)
class Results:
    sizes: Sizes
    machine: dict[str, Any]
    throughput: ThroughputResult
    rehydration: RehydrationResult
    http: HttpResult
    projection: ProjectionResult
    cosmos: CosmosResult
    worker: WorkerCostResult
    transfers: TransferResult
    concurrency: ConcurrencyResult
    memory: MemoryResult
    seconds: float
    load_average_at_end: str


def build(results: Results) -> dict[str, Any]:
    rates = {name: result.per_second for name, result in results.throughput.results.items()}
    ours = rates[tp.OURS]
    ratios = {
        "ours_over_eventsourcing_default": ratio(ours, rates[tp.EVENTSOURCING_DEFAULT]),
        "ours_over_eventsourcing_fastest": ratio(ours, rates[tp.EVENTSOURCING_FASTEST]),
        "ours_over_raw": ratio(ours, rates[tp.RAW]),
        "ours_store_append_only_over_raw": ratio(rates[tp.OURS_APPEND_ONLY], rates[tp.RAW]),
        "ours_over_ours_without_chain_or_sealing": ratio(ours, rates[tp.OURS_WITHOUT_TRUST]),
    }
    streams = results.rehydration.streams
    shortest, longest = streams[0], streams[-1]
    http = results.http
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": results.sizes.mode,
        "command": f"python -m bench --{results.sizes.mode}",
        "duration_seconds": round(results.seconds, 1),
        "machine": {**results.machine, "load_average_at_end": results.load_average_at_end},
        "durability": {
            "journal_mode": "WAL for all contenders",
            "synchronous": {
                "ours": results.machine["synchronous"],
                "eventsourcing": _synchronous(results.throughput.eventsourcing_synchronous),
                "raw": _synchronous(results.throughput.raw_synchronous),
            },
        },
        "throughput": {
            "workload": {
                "accounts": results.throughput.accounts,
                "deposits_per_account": results.throughput.deposits_per_account,
                "commands_per_contender_per_trial": results.throughput.accounts
                * results.throughput.deposits_per_account,
                "trials": results.throughput.trials,
                "ours_snapshot_every": results.throughput.snapshot_every,
                "ours_state_cache_size": results.throughput.state_cache_size,
            },
            "commands_per_second": rates,
            "commands_per_second_per_trial": {
                name: result.trial_rates for name, result in results.throughput.results.items()
            },
            "ratios": ratios,
        },
        "rehydration": {
            "snapshot_every": results.rehydration.snapshot_every,
            "repeats": results.rehydration.repeats,
            "streams": [
                {
                    "events": stream.length,
                    "snapshot_version": stream.snapshot_version,
                    "cold_ms": stream.cold_seconds * 1000,
                    "warm_ms": stream.warm_seconds * 1000,
                    "full_replay_ms": stream.full_replay_seconds * 1000,
                    "cold_without_chain_or_sealing_ms": stream.cold_without_trust_seconds * 1000,
                    "full_replay_without_chain_or_sealing_ms": stream.full_replay_without_trust_seconds
                    * 1000,
                }
                for stream in streams
            ],
            "ratios": {
                "cold_longest_over_shortest": ratio(longest.cold_seconds, shortest.cold_seconds),
                "warm_longest_over_shortest": ratio(longest.warm_seconds, shortest.warm_seconds),
                "cold_longest_over_without_chain_or_sealing": ratio(
                    longest.cold_seconds, longest.cold_without_trust_seconds
                ),
                "full_replay_longest_over_without_chain_or_sealing": ratio(
                    longest.full_replay_seconds, longest.full_replay_without_trust_seconds
                ),
            },
        },
        "http": {
            "target_rate": http.target_rate,
            "seconds": http.seconds,
            "accounts": http.accounts,
            "sent": http.sent,
            "succeeded": http.succeeded,
            "failed": http.failed,
            "achieved_commands_per_second": http.achieved_rate,
            "latency_ms": {
                "p50": http.latency_p50 * 1000,
                "p99": http.latency_p99 * 1000,
                "max": http.latency_max * 1000,
            },
            "client_lag_p99_ms": http.client_lag_p99 * 1000,
            "max_rate_with_p99_under_100_ms": http.max_sustained_rate,
            "rate_ladder": [
                {
                    "rate": step.rate,
                    "achieved": step.achieved_rate,
                    "failed": step.failed,
                    "latency_p99_ms": step.latency_p99 * 1000,
                    "sustained": step.sustained,
                }
                for step in http.rate_steps
            ],
            "cpu": {
                "host_ms_per_command": http.host_cpu_ms_per_command,
                "host_cores_busy": http.host_cpu_cores,
                "client_ms_per_command": http.client_cpu_ms_per_command,
            },
            "freshness_ms": {
                "followed": http.freshness_followed,
                "seen": http.freshness_seen,
                "p50": http.freshness_p50 * 1000,
                "p99": http.freshness_p99 * 1000,
                "max": http.freshness_max * 1000,
                "client_poll_ms": http.freshness_poll_seconds * 1000,
                "devhost_poll_ms": http.devhost_poll_seconds * 1000,
            },
        },
        "projection": {
            "events": results.projection.events,
            "accounts": results.projection.accounts,
            "events_per_append": results.projection.events_per_append,
            "batch_size": results.projection.batch_size,
            "batches": results.projection.batches,
            "rebuild_seconds": results.projection.rebuild_seconds,
            "of_which_reading_the_log_seconds": results.projection.read_seconds,
            "events_per_second": results.projection.events_per_second,
            "scan_page_size": results.projection.scan_page_size,
            "scan_rebuild_seconds": results.projection.scan_rebuild_seconds,
            "scan_events_per_second": results.projection.scan_events_per_second,
            "store_build_seconds": results.projection.build_seconds,
        },
        "cosmos": {
            "measured": results.cosmos.measured,
            "note": results.cosmos.note,
            "method": results.cosmos.method,
            "per_command": {
                kind: {
                    "round_trips": cost.round_trips,
                    "estimated_ru": cost.estimated_ru,
                    "calls": cost.calls,
                }
                for kind, cost in results.cosmos.costs.items()
            },
            "warm_commands": results.cosmos.warm_commands,
            "warm_mean_round_trips": results.cosmos.warm_mean_round_trips,
            "warm_mean_estimated_ru": results.cosmos.warm_mean_ru,
            "cold_tail_events": results.cosmos.cold_tail_events,
        },
        "worker": {
            "azure_functions_runtime": results.worker.worker_version,
            "per_call_us": [
                {
                    "function": cost.function,
                    "calls": cost.calls,
                    "direct_median": cost.direct_us,
                    "through_worker_on_the_servers_loop_median": cost.on_loop_us,
                    "through_worker_from_a_thread_median": cost.from_thread_us,
                    "overhead_on_the_servers_loop": cost.overhead_us,
                }
                for cost in results.worker.costs
            ],
        },
        "targets": targets(results, rates, ratios),
        "transfers": dataclasses.asdict(results.transfers),
        "concurrency": {
            "threads": list(results.concurrency.threads),
            "commands_per_count": results.concurrency.commands_per_count,
            "commands_per_second": {
                name: {str(threads): rate for threads, rate in by_threads.items()}
                for name, by_threads in results.concurrency.rates.items()
            },
        },
        "memory": {
            "events": results.memory.events,
            "accounts": results.memory.accounts,
            "seconds": results.memory.seconds,
            "rss_mb_by_events": {str(n): mb for n, mb in results.memory.rss_mb_by_events.items()},
            "peak_mb": results.memory.peak_mb,
            "state_cache_size": results.memory.state_cache_size,
            "read_model_cache_size": results.memory.read_model_cache_size,
        },
    }


def targets(results: Results, rates: dict[str, float], ratios: dict[str, float]) -> list[dict[str, str]]:
    return [
        *_throughput_targets(results, rates, ratios),
        *_rehydration_targets(results.rehydration),
        _freshness_target(results.http, results.machine),
        _cosmos_target(results.cosmos),
        _transfer_target(results.transfers),
        *_concurrency_targets(results.concurrency),
        _rebuild_target(results.projection),
        _memory_target(results.memory),
    ]


def _memory_target(memory: MemoryResult) -> dict[str, str]:
    name = "dev host RSS < 300 MB after 1M events"
    if memory.events < 1_000_000:
        name += f" (quick run: {memory.events:,} events; 1M in the full run)"
    return _target(
        name,
        memory.final_mb < 300 and memory.peak_mb < 300,
        f"{memory.final_mb:,.0f} MB at the end, peak {memory.peak_mb:,.0f} MB",
        f"the caches are bounded (state {memory.state_cache_size:,} streams, each read model "
        f"{memory.read_model_cache_size:,} documents): what grows beyond them is in the section's quarters",
    )


def _rebuild_target(projection: ProjectionResult) -> dict[str, str]:
    name = "rebuild of the account summary >= 100,000 events/s"
    if projection.events < 1_000_000:
        name += f" (quick run: {projection.events:,} events; 1M in the full run)"
    per_event_us = 1e6 / projection.scan_events_per_second
    return _target(
        name,
        projection.scan_events_per_second >= 100_000,
        f"{projection.scan_events_per_second:,.0f} events/s ({per_event_us:.0f} µs an event; "
        f"{projection.events_per_second:,.0f}/s delivered in batches of {projection.batch_size})",
        "the scan reads the log at SQLite's pace and writes each document once per page; what is left is "
        "Python per event: the stored event parsed (pydantic, from SQLite's JSON), its data validated "
        "into the domain event, the pure fold (a new frozen view per event) and its rows: 100,000/s "
        "would leave 10 µs an event for all of it",
    )


def _concurrency_targets(concurrency: ConcurrencyResult) -> list[dict[str, str]]:
    rates = concurrency.rates
    ours, raw_alone, peer = rates[tp.OURS][8], rates[tp.RAW][1], rates[tp.EVENTSOURCING_FASTEST][8]
    gil = (
        "CPython runs one thread's Python at a time (the GIL): threads share the core that runs the pipeline "
        f"and add their hand-offs (ours {rates[tp.OURS][1]:,.0f}/s with 1 thread), so the Python work of a "
        "command, not its commit, is the limit: group commit saves commits (appends that arrive while one "
        "commits share the next), and commits in WAL mode with synchronous=NORMAL are cheap"
    )
    return [
        _target(
            "8 concurrent clients: commands >= 1x the raw single-row INSERT+COMMIT rate (1 thread)",
            ours >= raw_alone,
            f"{ratio(ours, raw_alone):.2f}x: {ours:,.0f} vs {raw_alone:,.0f} commands/s",
            gil,
        ),
        _target(
            "8 concurrent clients: commands >= 3x eventsourcing (fastest) at 8 threads",
            ours >= 3 * peer,
            f"{ratio(ours, peer):.2f}x: {ours:,.0f} vs {peer:,.0f} commands/s",
            "the library's commands are CPU-bound Python too, under the same GIL; at 8 threads both lose "
            "about as much as each other to it",
        ),
    ]


def _transfer_target(transfers: TransferResult) -> dict[str, str]:
    return _target(
        f"transfers: p99 from the 202 to a terminal status < 300 ms at {transfers.rate:.0f} transfers/s",
        transfers.ended == transfers.sent and transfers.latency_p99 < 0.3,
        f"p99 {transfers.latency_p99 * 1000:.0f} ms (p50 {transfers.latency_p50 * 1000:.0f} ms), "
        f"{transfers.ended} of {transfers.sent} ended",
        "each transfer crosses four relays and four reactions (a command each), eight hops from process "
        "to process, and both services' projectors run beside them; at this rate on this machine the dev "
        "host's trigger processes (one per hub, see infra/tools/devhost.py) are near saturation and the "
        "time is queueing: a busier machine or a higher rate shows it first",
    )


def _throughput_targets(
    results: Results, rates: dict[str, float], ratios: dict[str, float]
) -> list[dict[str, str]]:
    ours, raw, append_only = rates[tp.OURS], rates[tp.RAW], rates[tp.OURS_APPEND_ONLY]
    fastest = rates[tp.EVENTSOURCING_FASTEST]
    deposits = results.throughput.deposits_per_account
    our_transaction = (
        "each append reads the stream's last event (the version check and the hash chain's link), puts the "
        "new events' canonical form together and hashes it, and writes a row under one unique key "
        "(stream+version) whose rowid is its global position"
    )
    group_commit = (
        "commands one after another cannot share a commit (group commit shares one between concurrent "
        "commands: section 8)"
    )
    default_why = (
        "the library's default has no cache and no snapshots, so each command replays the account's whole "
        f"stream; with {deposits} deposits per account that is {deposits // 2 + 1} events on average, "
        "and the ratio grows with the streams (it is larger in the full run, with longer streams)"
    )
    fastest_why = (
        "with its cache hot the library also decides in memory and commits one transaction per command, "
        "of one row whose rowid is its global position under one unique key (stream+version), as ours, but "
        "with no hash chain, no sealing and no snapshots to write: it runs at "
        f"{fastest / raw:.2f}x raw, so 4x its rate would be {4 * fastest / raw:.1f}x the raw "
        f"single-transaction rate. With one transaction per command that cannot be reached; {group_commit}"
    )
    raw_why = (
        f"our store's append alone runs at {append_only:,.0f}/s ({append_only / raw:.2f}x raw), because "
        f"{our_transaction}; the pipeline around it (validation, decide, encoding, the state cache, a "
        f"snapshot every {results.throughput.snapshot_every} events) takes it to {ours / raw:.2f}x. Raw "
        f"is one single-row insert per transaction; {group_commit}"
    )

    def versus(name: str) -> str:
        return f"{ratio(ours, rates[name]):.2f}x: {ours:,.0f} vs {rates[name]:,.0f} commands/s"

    return [
        _target(
            "command throughput >= 10x eventsourcing (default configuration)",
            ratios["ours_over_eventsourcing_default"] >= 10,
            versus(tp.EVENTSOURCING_DEFAULT),
            default_why,
        ),
        _target(
            "sequential commands >= 1.5x eventsourcing (fastest)",
            ratios["ours_over_eventsourcing_fastest"] >= 1.5,
            versus(tp.EVENTSOURCING_FASTEST),
            "both commit one transaction per command, of one row under one unique key; ours also hashes "
            "each event into its stream's chain, keeps each stream's state cached with its head and writes "
            f"a snapshot every {results.throughput.snapshot_every} events, in about as much Python again",
        ),
        _target(
            "our store's append alone >= 0.6x raw SQLite single-row INSERT+COMMIT",
            append_only >= 0.6 * raw,
            f"{append_only / raw:.2f}x: {append_only:,.0f} vs {raw:,.0f} appends/s",
            f"{our_transaction}, in Python around the SQLite calls (about as long as SQLite's own part); raw "
            "is the INSERT and COMMIT alone",
        ),
        _target(
            "command throughput >= 4x eventsourcing (fastest: cache on, no fast-forward, no deep copy)",
            ratios["ours_over_eventsourcing_fastest"] >= 4,
            versus(tp.EVENTSOURCING_FASTEST),
            fastest_why,
        ),
        _target(
            "command throughput >= 0.5x raw SQLite single-row INSERT+COMMIT",
            ratios["ours_over_raw"] >= 0.5,
            versus(tp.RAW),
            raw_why,
        ),
        _target(
            "the hash chain and sealing cost under 10% of command throughput",
            ratios["ours_over_ours_without_chain_or_sealing"] >= 0.9,
            f"{1 - ratios['ours_over_ours_without_chain_or_sealing']:.1%} slower: "
            + versus(tp.OURS_WITHOUT_TRUST),
            "each append hashes its events (RFC 8785 JSON, SHA-256) inside the write transaction, and the "
            "owner's name and email are sealed (AES-256-GCM) when an account is opened; a deposit seals "
            "nothing, and its state comes from the cache",
        ),
    ]


def _rehydration_targets(rehydration: RehydrationResult) -> list[dict[str, str]]:
    shortest, longest = rehydration.streams[0], rehydration.streams[-1]
    label = f"{longest.length:,}-event stream"
    if longest.length < 100_000:
        label += " (quick run: 100,000 in the full run)"
    listed = []
    for kind, long_seconds, short_seconds in (
        ("cold (fresh handler: snapshot + tail)", longest.cold_seconds, shortest.cold_seconds),
        ("warm (state cache hit)", longest.warm_seconds, shortest.warm_seconds),
    ):
        factor = ratio(long_seconds, short_seconds)
        listed.append(
            _target(
                f"a command on a {label} costs <= 2x one on a {shortest.length}-event stream, {kind}",
                factor <= 2,
                f"{factor:.2f}x: {long_seconds * 1000:.2f} ms vs {short_seconds * 1000:.2f} ms",
                f"the snapshot bounds the replay to fewer than {rehydration.snapshot_every} events, so what "
                "grows with the stream is the snapshot read and the append into a larger index",
            )
        )
    for kind, with_trust, without, why in (
        (
            "cold (snapshot + tail)",
            longest.cold_seconds,
            longest.cold_without_trust_seconds,
            "the snapshot's state is stored sealed, so a cold load opens the owner's name and email "
            "(AES-256-GCM, the key from the key cache) besides reading the tail and its hashes",
        ),
        (
            "full replay",
            longest.full_replay_seconds,
            longest.full_replay_without_trust_seconds,
            "every event is read with its two hashes (128 bytes more a row), and the account's opening "
            "event is opened (AES-256-GCM); nothing is hashed on a read",
        ),
    ):
        factor = ratio(with_trust, without)
        listed.append(
            _target(
                f"the hash chain and sealing cost under 10% of a rehydration of the {label}, {kind}",
                factor <= 1.1,
                f"{factor - 1:.1%} slower: {with_trust * 1000:.2f} ms vs {without * 1000:.2f} ms",
                why,
            )
        )
    return listed


def _freshness_target(http: HttpResult, machine: dict[str, Any]) -> dict[str, str]:
    sustained = http.achieved_rate >= SUSTAINED_SHARE * http.target_rate and http.failed == 0
    fresh = not math.isnan(http.freshness_p99) and http.freshness_p99 < FRESHNESS_TARGET_SECONDS
    if not sustained:
        why = (
            f"the host did not sustain {http.target_rate:.0f} commands/s (achieved {http.achieved_rate:.0f}, "
            f"{http.failed} failed): it spent {http.host_cpu_ms_per_command:.1f} ms of CPU per command "
            "(HTTP and the commands in one Python process; each hub's relay, read models and reactions in "
            "a trigger process of its own) on "
            f"{machine.get('cores')} cores shared with the load client"
        )
    elif http.latency_p99 > FRESHNESS_TARGET_SECONDS:
        why = (
            f"the commands themselves stalled (latency p99 {http.latency_p99 * 1000:.0f} ms, max "
            f"{http.latency_max * 1000:.0f} ms) and the read model waited behind them: the dev host runs the "
            "HTTP functions in one Python process and each hub's triggers in another, with every "
            "SQLite file "
            f"taking one writer at a time, on {machine.get('cores')} cores shared with the load client and "
            "other users; the stalls come and go between runs and are not diagnosed yet"
        )
    else:
        why = (
            "an event crosses two invocations in the accounts hub's trigger process (the relay, which polls "
            f"the change feed every {http.devhost_poll_seconds * 1000:.0f} ms for what the HTTP process "
            "appended, then the projector, which the publish wakes); that process also runs the transfers "
            "saga's reaction to every batch of the accounts hub (about a quarter of its invocation time at "
            "this rate, reading deposits it ignores), and the commands, both trigger processes and the load "
            f"client share {machine.get('cores')} cores; one transaction per read model and batch (a "
            "leaner pipeline: the performance issue)"
        )
    return _target(
        f"dev host p99 freshness < 100 ms at {http.target_rate:.0f} commands/s",
        sustained and fresh,
        f"p99 {http.freshness_p99 * 1000:.1f} ms (p50 {http.freshness_p50 * 1000:.1f} ms) at "
        f"{http.achieved_rate:.0f} commands/s achieved, {http.failed} failed",
        why,
    )


def _cosmos_target(cosmos: CosmosResult) -> dict[str, str]:
    name = "Cosmos: one round trip per command on a warm stream"
    warm = cosmos.costs.get("warm")
    if not cosmos.measured or warm is None:
        return {"target": name, "measured": cosmos.note, "status": NOT_MEASURED, "why": cosmos.note}
    cold = cosmos.costs.get("cold (fresh handler: snapshot + tail)")
    return _target(
        name,
        warm.round_trips <= 1,
        f"{warm.round_trips} warm ({cosmos.warm_mean_round_trips:.2f} on average over {cosmos.warm_commands} "
        f"commands, snapshot writes included), {cold.round_trips if cold else '?'} cold",
        "a warm command makes these calls: " + ", ".join(warm.calls),
    )


def _target(name: str, passed: bool, measured: str, why: str) -> dict[str, str]:
    return {
        "target": name,
        "measured": measured,
        "status": PASS if passed else MISS,
        "why": "" if passed else why,
    }


def _synchronous(level: int) -> str:
    from bench.machine import synchronous_name

    return synchronous_name(level)


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(markdown(report))


def _json_safe(value: object) -> object:
    """The report with NaN and infinity (a figure that could not be measured) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def markdown(report: dict[str, Any]) -> str:
    sections = [
        _header,
        _machine,
        _targets,
        _throughput,
        _rehydration,
        _http,
        _projection,
        _cosmos,
        _worker,
        _transfers,
        _concurrency,
        _memory,
    ]
    return "\n\n".join(section(report) for section in sections) + "\n"


def _table(header: tuple[str, ...], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; `align` has an l or r per column (default: all left)."""
    rule = ["---:" if side == "r" else "---" for side in align.ljust(len(header), "l")]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _header(report: dict[str, Any]) -> str:
    return (
        f"# eventbank benchmarks ({report['mode']} run)\n\n"
        f"`{report['command']}` on {report['generated_at']}, {report['duration_seconds']} s. The machine "
        "is shared and noisy: the ratios, measured side by side in this run, count more than the absolute "
        "figures."
    )


def _machine(report: dict[str, Any]) -> str:
    machine, sync = report["machine"], report["durability"]["synchronous"]
    libraries = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items())
    rows = [
        ("CPU", f"{machine['cpu']}, {machine['cores']} cores"),
        ("memory", f"{machine['memory_gib']} GiB"),
        ("OS", machine["os"]),
        ("Python / SQLite", f"{machine['python']} / {machine['sqlite']}"),
        ("libraries", libraries),
        ("journal mode", "WAL, for every contender"),
        ("synchronous", f"ours {sync['ours']}, eventsourcing {sync['eventsourcing']}, raw {sync['raw']}"),
        (
            "load average",
            f"{machine['load_average_at_start']} at start, {machine['load_average_at_end']} at end",
        ),
    ]
    return "## Machine\n\n" + _table(("", ""), rows)


def _targets(report: dict[str, Any]) -> str:
    rows = [(t["target"], t["measured"], f"**{t['status']}**", t["why"]) for t in report["targets"]]
    return "## Targets (issues 6, 14 and 15)\n\n" + _table(("target", "measured", "status", "why"), rows)


def _throughput(report: dict[str, Any]) -> str:
    section = report["throughput"]
    workload, version = section["workload"], report["machine"]["libraries"]["eventsourcing"]
    text = (
        f"{workload['accounts']} accounts x {workload['deposits_per_account']} deposits "
        f"({workload['commands_per_contender_per_trial']:,} commands per contender, after opening the "
        "accounts); each round makes one deposit on every account, contender after contender, so noise hits "
        "them alike, and starts with the next contender, so none always runs after the same one (code like "
        f"its own would have left the CPU's caches warm for it). {workload['trials']} trials on fresh "
        "files; a contender's figure is its median trial, and the ratios are ratios of those medians.\n\n"
        "- **ours**: the composition root's CommandHandler on SqliteEventStore, snapshots every "
        f"{workload['ours_snapshot_every']} events, a state cache of {workload['ours_state_cache_size']:,} "
        "streams; **ours_store_append_only**: the same events appended straight to the store; "
        "**ours_without_chain_or_sealing**: the same pipeline without the hash chain and sealing.\n"
        f"- **eventsourcing {version}** with PERSISTENCE_MODULE=eventsourcing.sqlite and SQLITE_DBNAME. The "
        "library sets WAL itself and has no setting for synchronous (SQLite leaves it at FULL), so the bench "
        "gives its factory a connection pool that also sets synchronous=NORMAL, and checks it. *default*: no "
        "aggregate cache and no snapshots, so each command replays the account's stream; *fastest*: "
        "AGGREGATE_CACHE_MAXSIZE=100000, AGGREGATE_CACHE_FASTFORWARD=n, DEEPCOPY_FROM_AGGREGATE_CACHE=n.\n"
        "- **raw**: BEGIN IMMEDIATE, one single-row INSERT, COMMIT per command, with sqlite3."
    )
    rates = [
        (
            name,
            f"{rate:,.0f}",
            ", ".join(f"{trial:,.0f}" for trial in section["commands_per_second_per_trial"][name]),
        )
        for name, rate in section["commands_per_second"].items()
    ]
    ratios = [(name, f"{value:.2f}") for name, value in section["ratios"].items()]
    return (
        f"## 1. Command throughput in process\n\n{text}\n\n"
        + _table(("contender", "commands/s (median)", "trials"), rates, "lrr")
        + "\n\n"
        + _table(("ratio", "value"), ratios, "lr")
        + "\n\n![throughput](throughput.png)"
    )


def _rehydration(report: dict[str, Any]) -> str:
    section = report["rehydration"]
    text = (
        f"Median of {section['repeats']} deposits per stream, each with its append. *cold*: a fresh "
        "CommandHandler (empty cache) reads the snapshot and the events after it; *warm*: the next command "
        f"on the same handler, a cache hit. Snapshots every {section['snapshot_every']} events, written as "
        "the pipeline writes them; every stream in the same store, the lengths measured in turn; each timed "
        "command adds an event. *full replay* (no snapshot, no cache) is context only. *without*: the same "
        "streams in stores without the hash chain and sealing, timed alongside."
    )
    rows = [
        (
            f"{s['events']:,}",
            f"{s['snapshot_version']:,}",
            f"{s['cold_ms']:.2f}",
            f"{s['warm_ms']:.2f}",
            f"{s['full_replay_ms']:.1f}",
            f"{s['cold_without_chain_or_sealing_ms']:.2f}",
            f"{s['full_replay_without_chain_or_sealing_ms']:.1f}",
        )
        for s in section["streams"]
    ]
    ratios = section["ratios"]
    return (
        f"## 2. Rehydration vs stream length\n\n{text}\n\n"
        + _table(
            (
                "events at start",
                "snapshot at",
                "cold ms",
                "warm ms",
                "full replay ms",
                "cold ms without",
                "full replay ms without",
            ),
            rows,
            "rrrrrrr",
        )
        + f"\n\nLongest over shortest: cold {ratios['cold_longest_over_shortest']:.2f}x, warm "
        f"{ratios['warm_longest_over_shortest']:.2f}x.\n\n![rehydration](rehydration.png)"
    )


def _http(report: dict[str, Any]) -> str:
    http = report["http"]
    latency, fresh, cpu = http["latency_ms"], http["freshness_ms"], http["cpu"]
    text = (
        "`python -m infra.tools.devhost` in a subprocess with its default settings. An aiohttp client sends "
        f"deposits open-loop at {http['target_rate']:.0f}/s for {http['seconds']:.0f} s, round-robin over "
        f"{http['accounts']} accounts; latency counts from each command's scheduled send time. One command "
        f"in {http['sent'] // max(1, fresh['followed'])} is followed: GET /api/accounts/{{id}} every "
        f"{fresh['client_poll_ms']:.0f} ms until the read model shows the command's version; freshness is "
        "the time from the command's response to that answer."
    )
    rows = [
        (
            "commands sent / succeeded / failed",
            f"{http['sent']:,} / {http['succeeded']:,} / {http['failed']:,}",
        ),
        ("achieved commands/s", f"{http['achieved_commands_per_second']:.1f}"),
        ("latency p50 / p99 / max ms", f"{latency['p50']:.1f} / {latency['p99']:.1f} / {latency['max']:.1f}"),
        ("client send lag p99 ms", f"{http['client_lag_p99_ms']:.1f}"),
        ("freshness followed / seen", f"{fresh['followed']} / {fresh['seen']}"),
        ("freshness p50 / p99 / max ms", f"{fresh['p50']:.1f} / {fresh['p99']:.1f} / {fresh['max']:.1f}"),
        (
            "dev host change-feed poll ms (a publish wakes the hub's readers)",
            f"{fresh['devhost_poll_ms']:.0f}",
        ),
        (
            "dev host CPU ms per command (cores busy)",
            f"{cpu['host_ms_per_command']:.2f} ({cpu['host_cores_busy']:.2f})",
        ),
        ("load client CPU ms per command", f"{cpu['client_ms_per_command']:.2f}"),
    ]
    ladder = [
        (
            f"{step['rate']:,.0f}",
            f"{step['achieved']:,.0f}",
            str(step["failed"]),
            f"{step['latency_p99_ms']:,.1f}",
            "yes" if step["sustained"] else "no",
        )
        for step in http["rate_ladder"]
    ]
    steps = (
        "\n\nThe highest rate the dev host sustains with p99 latency under 100 ms: the same client, no "
        "freshness polls, steps of rising rate after a pause for the host to drain, until a step is not "
        f"sustained ({SUSTAINED_SHARE:.0%} of the rate achieved, nothing failed, p99 < 100 ms). The client "
        "shares the machine's cores with the host. **Highest sustained: "
        f"{http['max_rate_with_p99_under_100_ms']:,.0f} commands/s.**\n\n"
        + _table(("commands/s sent", "achieved", "failed", "latency p99 ms", "sustained"), ladder, "rrrrl")
    )
    return (
        f"## 3. Through HTTP on the dev host\n\n{text}\n\n"
        + _table(("", "value"), rows, "lr")
        + "\n\n![http latency](http_latency.png)"
        + steps
    )


def _projection(report: dict[str, Any]) -> str:
    proj = report["projection"]
    text = (
        "Rebuilding the account summary read model (ProjectionRunner over a fresh SqliteReadModelStore) "
        f"from a store of {proj['events']:,} events: {proj['accounts']:,} accounts, appended "
        f"{proj['events_per_append']} events per account at a time, round-robin, so a batch touches about "
        f"{proj['batch_size'] // proj['events_per_append']} accounts. The log is read in position order and "
        f"applied in batches of {proj['batch_size']}, as the hub would deliver it. Then the operator's "
        "rebuild (`cli rebuild`) replays the same log into a new generation of another fresh store: the log "
        "scanned in pages, each page one transaction, each document written once per page."
    )
    rows = [
        ("events/s", f"{proj['events_per_second']:,.0f}"),
        ("rebuild s", f"{proj['rebuild_seconds']:.1f}"),
        ("of which reading the log s", f"{proj['of_which_reading_the_log_seconds']:.1f}"),
        ("building the store s (not counted)", f"{proj['store_build_seconds']:.1f}"),
        (
            f"the operator's rebuild (log scanned in pages of {proj['scan_page_size']:,}) events/s",
            f"{proj['scan_events_per_second']:,.0f}",
        ),
        ("the operator's rebuild s", f"{proj['scan_rebuild_seconds']:.1f}"),
    ]
    return f"## 4. Projection throughput\n\n{text}\n\n" + _table(("", "value"), rows, "lr")


def _worker(report: dict[str, Any]) -> str:
    worker = report["worker"]
    rows = [
        (
            cost["function"],
            cost["calls"],
            f"{cost['direct_median']:.0f}",
            f"{cost['through_worker_on_the_servers_loop_median']:.0f}",
            f"{cost['overhead_on_the_servers_loop']:.0f}",
            f"{cost['through_worker_from_a_thread_median']:.0f}",
        )
        for cost in worker["per_call_us"]
    ]
    return (
        "## 6. A call through the Python worker\n\n"
        f"Each function called directly with an azure.functions request, and through azure-functions-runtime "
        f"{worker['azure_functions_runtime']} as the dev host and Azure call it (invocation request with the "
        "host's encoding, decoded by the library, the function run on the worker's thread pool, the answer "
        "encoded back): on the server's event loop, as the dev host's HTTP endpoints await it, and from "
        "another thread, as its trigger pumps call it (one more hop, to the worker's loop). Median per call, "
        "alternating rounds, one process, embedded backend.\n\n"
        + _table(
            (
                "function",
                "calls",
                "direct µs",
                "through the worker, HTTP path µs",
                "overhead µs",
                "through the worker from a trigger thread µs",
            ),
            rows,
            "lrrrrr",
        )
    )


def _cosmos(report: dict[str, Any]) -> str:
    cosmos = report["cosmos"]
    if not cosmos["measured"]:
        heading = "## 5. Cosmos DB cost per command"
        return f"{heading}\n\n{cosmos['note']}\n\nMethod, once it exists: {cosmos['method']}"
    rows = [
        (kind, cost["round_trips"], f"{cost['estimated_ru']:.1f}", ", ".join(cost["calls"]))
        for kind, cost in cosmos["per_command"].items()
    ]
    rows.append(
        (
            f"warm, mean over {cosmos['warm_commands']} deposits (snapshot every "
            f"{report['rehydration']['snapshot_every']} events included)",
            f"{cosmos['warm_mean_round_trips']:.2f}",
            f"{cosmos['warm_mean_estimated_ru']:.1f}",
            "",
        )
    )
    return (
        "## 5. Cosmos DB cost per command\n\n"
        f"{cosmos['note']}; the cold command reads the snapshot and a tail of {cosmos['cold_tail_events']} "
        "events.\n\n"
        + _table(("command", "round trips", "estimated RU", "calls"), rows, "lrrl")
        + f"\n\nMethod: {cosmos['method']}"
    )


def _concurrency(report: dict[str, Any]) -> str:
    section = report["concurrency"]
    rates = section["commands_per_second"]
    rows = [
        (str(threads), *(f"{rates[name][str(threads)]:,.0f}" for name in rates))
        for threads in section["threads"]
    ]
    return (
        "## 8. Concurrent clients in process\n\n"
        f"{section['commands_per_count']:,} deposits per contender and count of threads, split evenly among "
        "the threads, each on accounts of its own; fresh files for every count. *ours*: the composition "
        "root's CommandHandler shared by the threads, appends grouped into shared commits; *eventsourcing "
        "fastest*: its Application shared alike; *raw*: a connection per thread, BEGIN IMMEDIATE, one "
        "single-row INSERT, COMMIT.\n\n"
        + _table(("threads", *(f"{name} commands/s" for name in rates)), rows, "r" * (len(rates) + 1))
    )


def _memory(report: dict[str, Any]) -> str:
    section = report["memory"]
    rows = [(f"{int(n):,}", f"{mb:,.0f}") for n, mb in section["rss_mb_by_events"].items()]
    return (
        "## 9. Memory\n\n"
        "A fresh process builds the composition root the dev host's processes build (embedded backend, "
        f"default settings: a state cache of {section['state_cache_size']:,} streams, each read model's "
        f"cache of {section['read_model_cache_size']:,} documents) and handles {section['events']:,} "
        f"commands over {section['accounts']:,} accounts, round-robin, projecting what was appended into "
        "every read model a page at a time, as the dev host's HTTP and trigger processes do between them, in "
        f"{section['seconds']:,.0f} s. Its resident set (VmRSS) after each quarter, and its peak "
        f"(VmHWM) {section['peak_mb']:,.0f} MB:\n\n" + _table(("events", "RSS MB"), rows, "rr")
    )


def _transfers(report: dict[str, Any]) -> str:
    t = report["transfers"]
    return (
        "## 7. Transfers\n\n"
        f"{t['sent']} transfers at {t['rate']:.0f}/s among 20 accounts on the dev host (open loop), each "
        "followed on GET /api/transfers/{id} until it ended: "
        f"p50 {t['latency_p50'] * 1000:.0f} ms, p99 {t['latency_p99'] * 1000:.0f} ms, "
        f"max {t['latency_max'] * 1000:.0f} ms; {t['ended']} ended ({t['statuses']}).\n\n"
        f"A completed transfer writes {t['events_per_transfer']} events in the two logs and costs "
        f"{t['round_trips_per_transfer']} Cosmos DB round trips on the two services' command sides (warm "
        "caches, over the counting fake; relays, hubs and read models not counted): "
        + ", ".join(t["round_trip_calls"])
        + "."
    )
