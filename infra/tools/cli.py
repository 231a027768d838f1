"""eventbank's operator tool: read-model status, rebuild, verify and dead letters, on either backend.

python -m infra.tools.cli status                        # every service's; --service accounts for one
python -m infra.tools.cli rebuild account-summary      # or --all
python -m infra.tools.cli verify --all                 # exit code 1 when a read model differs from a replay
python -m infra.tools.cli verify-log                    # exit code 1 when a stream's hash chain is broken
python -m infra.tools.cli forget --email ada@example.com    # erase a person: their key destroyed, for good
python -m infra.tools.cli deadletters list
python -m infra.tools.cli deadletters replay --projection account-summary [--stream account-<uuid>]

The backend and its connections come from the same settings as the app (EVENTBANK_*, COSMOS_CONNECTION,
...); --backend azure also loads local.settings.json's Values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

from infra.app import erasure, queries, rebuild, verify_log
from infra.app.projector import ProjectionRunner
from infra.app.service import Service
from infra.entry import bootstrap
from infra.entry.settings import load_local_settings

app = typer.Typer(help="Operate eventbank's read models.", no_args_is_help=True, add_completion=False)
dead_letters_app = typer.Typer(help="Events a read model could not apply.", no_args_is_help=True)
app.add_typer(dead_letters_app, name="deadletters")
console = Console(stderr=True)
out = Console()

Backend = Annotated[
    str | None, typer.Option(help="embedded or azure (default: as the app decides from its settings)")
]
DataDir = Annotated[Path | None, typer.Option(help="the embedded backend's data folder (default .data)")]
Settings = Annotated[Path, typer.Option(help="with --backend azure: a local.settings.json to load")]
Names = Annotated[list[str] | None, typer.Argument(help="read models, e.g. account-summary")]
All = Annotated[bool, typer.Option("--all", help="every read model")]
OneService = Annotated[str | None, typer.Option("--service", help="one service (default: every service)")]


@app.command()
def status(
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """How far each read model is behind its service's event store."""
    with _services(backend, data_dir, settings, service) as services:
        for each in services:
            totals, lags = queries.lags([r.read_side for r in each.projections], each.commands.store)
            table = Table(
                Column("read model", no_wrap=True), "generation", "events behind", "seconds behind", "parked"
            )
            for lag in lags:
                table.add_row(
                    lag.projection,
                    str(lag.generation),
                    str(lag.events),
                    f"{lag.seconds:.3f}",
                    str(lag.parked_streams),
                )
            out.print(f"{each.name} event store: {totals.events} events, newest {totals.newest}")
            out.print(table)


@app.command(name="rebuild")
def rebuild_command(
    names: Names = None,
    all_: All = False,
    keep_previous: Annotated[bool, typer.Option(help="keep the previous generation's documents")] = False,
    allow_parked: Annotated[
        bool, typer.Option(help="switch readers even if the replay parked streams (they stay parked)")
    ] = False,
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Replay the event store into a new generation of each read model, then switch readers to it and
    delete the previous generation.

    Safe while the app runs: live updates go to both generations until every worker has switched.
    Exit code 1 if a read model was not switched because its replay parked streams."""
    failed = False
    with _services(backend, data_dir, settings, service) as services:
        for owner, runner in _chosen(services, names, all_):
            with _progress(f"rebuilding {runner.projection.name}") as (on_start, on_progress):
                report = rebuild.rebuild(
                    runner,
                    owner.commands.store,
                    on_start,
                    on_progress,
                    keep_previous=keep_previous,
                    allow_parked=allow_parked,
                    pace=owner.rebuild_pace,
                )
            if not report.switched:
                out.print(
                    f"{report.projection}: NOT switched to generation {report.generation}: "
                    f"{len(report.parked)} streams parked in it; readers stay on {report.previous}. "
                    "Fix the cause and run the rebuild again (or --allow-parked)."
                )
                for letter in report.parked:
                    out.print(f"  parked {letter.stream_id} at version {letter.version}: {letter.error}")
                failed = True
                continue
            out.print(
                f"{report.projection}: generation {report.previous} -> {report.generation}, "
                f"{report.streams} streams replayed, {len(report.parked)} parked, "
                f"{report.pruned} documents of generation {report.previous} deleted"
            )
            for letter in report.parked:
                out.print(f"  parked {letter.stream_id} at version {letter.version}: {letter.error}")
    raise typer.Exit(1 if failed else 0)


@app.command(name="verify")
def verify_command(
    names: Names = None,
    all_: All = False,
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Compare each read model with a fresh replay of the store; exit code 1 if any differ."""
    differences = 0
    with _services(backend, data_dir, settings, service) as services:
        for owner, runner in _chosen(services, names, all_):
            with (
                _progress(f"replaying {runner.projection.name}") as (on_start, on_progress),
                bootstrap.scratch_read_models() as scratch,
            ):
                # the replay writes to a scratch store in this process: no budget to keep
                pace = rebuild.Pace(page_size=owner.rebuild_pace.page_size)
                found = rebuild.verify(runner, owner.commands.store, scratch, on_start, on_progress, pace)
            differences += len(found)
            out.print(f"{runner.projection.name}: {len(found)} differences")
            for difference in found:
                out.print(
                    f"  {difference.kind} {difference.model} {difference.partition}/{difference.id}\n"
                    f"    stored:   {difference.stored}\n    replayed: {difference.replayed}"
                )
    raise typer.Exit(1 if differences else 0)


@dead_letters_app.command(name="list")
def list_dead_letters(
    projection: Annotated[str | None, typer.Option(help="one read model")] = None,
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Every dead letter of the active generations."""
    with _services(backend, data_dir, settings, service) as services:
        runners = [
            runner
            for _, runner in _chosen(services, [projection] if projection else None, projection is None)
        ]
        table = Table(
            Column("read model", no_wrap=True),
            Column("stream", no_wrap=True),
            "version",
            "type",
            "attempts",
            "status",
            "error",
        )
        for runner in runners:
            for letter in runner.letters():
                table.add_row(
                    runner.projection.name,
                    letter.stream_id,
                    str(letter.version),
                    letter.event_type,
                    str(letter.attempts),
                    letter.status.value,
                    letter.error,
                )
    out.print(table)


@dead_letters_app.command(name="replay")
def replay_dead_letters(
    projection: Annotated[str | None, typer.Option(help="one read model")] = None,
    stream: Annotated[str | None, typer.Option(help="one stream id")] = None,
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Unpark parked streams and apply what waited behind them; exit code 1 if any is parked again."""
    failed = 0
    with _services(backend, data_dir, settings, service) as services:
        for _, runner in _chosen(services, [projection] if projection else None, projection is None):
            for letter in runner.replay(stream):
                failed += letter.status.value == "parked"
                out.print(
                    f"{runner.projection.name} {letter.stream_id}: {letter.status.value} ({letter.error})"
                )
    raise typer.Exit(1 if failed else 0)


@app.command(name="verify-log")
def verify_log_command(
    stream: Annotated[str | None, typer.Option(help="one stream id (default: every stream)")] = None,
    service: OneService = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Check every stream's hash chain, and its length against what the read models applied; report the
    first broken link of each stream; exit code 1 if any is broken."""
    broken = 0
    with _services(backend, data_dir, settings, service) as services:
        for each in services:
            if stream is not None and not stream.startswith(f"{each.commands.decider.category}-"):
                continue
            verdict = verify_log.verify_service(each, stream)
            broken += len(verdict.broken)
            state = "intact" if verdict.intact else f"{len(verdict.broken)} broken"
            out.print(f"{each.name}: {verdict.streams} streams, {verdict.events} events: {state}")
            for found in verdict.broken:
                assert found.broken is not None
                out.print(
                    f"  {found.stream_id} at version {found.broken.version}: {found.broken.kind.value}, "
                    f"{found.broken.detail}"
                )
            for partial in verdict.partly_covered:
                covered = (
                    "nothing" if partial.chained_from is None else f"from version {partial.chained_from}"
                )
                out.print(f"  {partial.stream_id}: written before hashing began; the chain covers {covered}")
    raise typer.Exit(1 if broken else 0)


@app.command()
def forget(
    email: Annotated[str | None, typer.Option(help="the person's email address")] = None,
    account: Annotated[str | None, typer.Option(help="or the id of one of their accounts")] = None,
    backend: Backend = None,
    data_dir: DataDir = None,
    settings: Settings = Path("local.settings.json"),
) -> None:
    """Erase a person: destroy the key their name and email are sealed with, so they read "[erased]"
    everywhere (workers that cached the key: within a minute). Final."""
    if (email is None) == (account is None):
        raise typer.BadParameter("give --email or --account, one of them")
    with _services(backend, data_dir, settings, None) as services:
        if email is not None:
            forgotten = erasure.forget_person(services, email)
        else:
            (owner,) = [each for each in services if each.name == "accounts"]
            found = erasure.forget_account(owner, owner.commands.decider.stream_id(account))
            if found is None:
                raise typer.BadParameter(f"no account {account}")
            forgotten = found
        for each in forgotten:
            state = "key destroyed" if each.key_destroyed else "no key (nothing sealed, or forgotten before)"
            out.print(f"{each.service}: subject {each.subject}: {state}")


@contextmanager
def _services(
    backend: str | None, data_dir: Path | None, settings: Path, name: str | None
) -> Iterator[list[Service]]:
    if backend is not None:
        os.environ["EVENTBANK_BACKEND"] = backend
    if data_dir is not None:
        os.environ["EVENTBANK_DATA_DIR"] = str(data_dir.resolve())
    if backend == "azure":
        load_local_settings(settings)
    try:
        root = bootstrap.root()
        try:
            chosen = root.services if name is None else [root.service(name)]
        except LookupError:
            known = ", ".join(each.name for each in root.services)
            raise typer.BadParameter(f"no service named {name!r}; the services are {known}") from None
        yield chosen
    finally:
        bootstrap.reset()


def _chosen(
    services: list[Service], names: list[str] | None, all_: bool
) -> list[tuple[Service, ProjectionRunner[Any, Any]]]:
    everything = [(service, runner) for service in services for runner in service.projections]
    if all_:
        return everything
    if not names:
        raise typer.BadParameter("name the read models, or give --all")
    by_name = {runner.projection.name: (service, runner) for service, runner in everything}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(by_name)
        raise typer.BadParameter(f"no read model named {unknown[0]!r}; the read models are {known}")
    return [by_name[name] for name in names]


@contextmanager
def _progress(description: str) -> Iterator[tuple[Any, Any]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(description, total=None)
        yield (lambda total: bar.update(task, total=total), lambda done: bar.advance(task, done))


if __name__ == "__main__":
    app()
