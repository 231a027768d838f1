"""The operator tool over the embedded backend (and Cosmos DB, over the fake): status, rebuild, verify and
dead letters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from domain.accounts import AccountEvent, DepositMoney, OpenAccount
from infra.adapters.cosmos.eventstore import EVENTS_PARTITION_KEY_PATH
from infra.adapters.cosmos.keys import KEYS_PARTITION_KEY_PATH
from infra.adapters.cosmos.readmodels import READMODELS_PARTITION_KEY_PATH
from infra.adapters.cosmos.snapshots import SNAPSHOTS_PARTITION_KEY_PATH
from infra.app.projector import ProjectionRunner
from infra.entry import bootstrap
from infra.entry.accounts_api import accounts
from infra.entry.services import ACCOUNTS
from infra.entry.settings import KEYS_CONTAINER, READMODELS_CONTAINER, SNAPSHOTS_CONTAINER, Settings
from infra.ports.eventstore import Metadata, NewEvent
from infra.ports.readmodels import ReadModelStore
from infra.tools.cli import app
from projections import account_summary
from projections.account_summary import AccountSummary
from projections.projection import Fact
from tests.fakes.cosmos import FakeContainer
from tests.fakes.eventhubs import FakeProducerClient
from tests.toy.counters import COUNTERS

METADATA = Metadata(correlation_id="test")
READ_MODELS = ["account-summary", "daily-totals", "account-statement"]  # in the order they apply a batch
TRANSFERS_MODEL = "transfer-status"  # the transfers service's, listed after the accounts service's


@pytest.fixture(autouse=True)
def embedded_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EVENTBANK_BACKEND", "embedded")
    monkeypatch.setenv("EVENTBANK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EVENTBANK_GENERATION_CACHE_SECONDS", "0")  # a rebuild need not wait for caches
    monkeypatch.setenv("EVENTBANK_POISON_ATTEMPTS", "1")
    monkeypatch.setenv("COLUMNS", "300")  # tables wide enough not to cut the stream ids
    bootstrap.reset()
    yield
    bootstrap.reset()


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def open_accounts(count: int = 2) -> list[str]:
    """Accounts opened with 100 deposited, none of it projected yet."""
    commands = accounts().commands
    streams = []
    for n in range(count):
        stream_id = commands.new_stream_id()
        opening = OpenAccount(owner_name=f"Owner {n}", owner_email=f"owner{n}@example.com", currency="EUR")
        commands.handle(stream_id, opening, METADATA)
        commands.handle(stream_id, DepositMoney(amount=100), METADATA)
        streams.append(stream_id)
    return streams


def project(*streams: str) -> None:
    root = bootstrap.root()
    for stream_id in streams:
        root.service("accounts").project(accounts(root).commands.store.read(stream_id))


def read_models() -> ReadModelStore:
    embedded = bootstrap.root().embedded["accounts"]
    assert embedded is not None
    return embedded.read_models


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of the tables in `output`."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if "│" in line
    ]


def corrupt_summary(stream_id: str) -> str:
    account_id = account_summary.account_id(stream_id)
    model = accounts().summaries.model(1)
    document = read_models().get(model, account_id)
    assert document is not None
    assert document.view is not None
    read_models().put(model, replace(document, view={**document.view, "balance": 999_999}))
    return account_id


def park_behind_an_unknown_event(stream_id: str) -> None:
    """Append an event no release can decode after the stream's events, and deliver it to every read
    model: with one attempt allowed, each parks the stream at once."""
    root = bootstrap.root()
    accounts(root).commands.store.append(stream_id, 2, [NewEvent("MoneyGifted", 1, {"amount": 1})], METADATA)
    root.service("accounts").project(accounts(root).commands.store.read(stream_id))


# --- verify-log ---------------------------------------------------------------------------------------


def test_verify_log_exits_0_on_an_untouched_log_and_says_what_it_checked() -> None:
    project(*open_accounts())

    result = cli("verify-log")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "accounts: 2 streams, 4 events: intact",
        "transfers: 0 streams, 0 events: intact",
    ]


def test_verify_log_exits_1_and_names_the_first_broken_link_of_a_tampered_stream() -> None:
    first, second = open_accounts()
    project(first, second)
    path = bootstrap.settings().data_dir / "accounts" / "events.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM events WHERE stream_id = ? AND version = 2", (second,))

    result = cli("verify-log", "--service", "accounts")

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "accounts: 2 streams, 3 events: 1 broken"
    assert result.stdout.splitlines()[1].startswith(f"  {second} at version 2: truncated, ")
    assert cli("verify-log", "--stream", first).exit_code == 0


# --- forget -------------------------------------------------------------------------------------------


def test_forget_by_email_or_account_erases_the_owner_and_keeps_the_balance() -> None:
    first, second = open_accounts()
    project(first, second)

    by_email = cli("forget", "--email", "OWNER0@example.com")
    by_account = cli("forget", "--account", second.removeprefix("account-"))

    assert by_email.exit_code == 0, by_email.output
    assert by_email.stdout.splitlines()[0].endswith(": key destroyed")
    assert by_account.exit_code == 0, by_account.output
    assert by_account.stdout.splitlines() == [by_account.stdout.splitlines()[0]]
    assert by_account.stdout.splitlines()[0].endswith(": key destroyed")
    for stream_id in (first, second):
        state, _ = accounts().commands.load(stream_id)
        assert (state.owner_name, state.owner_email, state.balance) == ("[erased]", "[erased]", 100)


def test_forget_needs_an_email_or_an_account() -> None:
    assert cli("forget").exit_code == 2
    assert cli("forget", "--email", "a@example.com", "--account", "x").exit_code == 2


# --- verify -------------------------------------------------------------------------------------------


def test_verify_all_exits_0_when_every_read_model_equals_a_replay() -> None:
    project(*open_accounts())

    result = cli("verify", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{name}: 0 differences" for name in [*READ_MODELS, TRANSFERS_MODEL]
    ]


def test_verify_exits_1_and_shows_a_corrupted_document() -> None:
    streams = open_accounts()
    project(*streams)
    account_id = corrupt_summary(streams[0])

    result = cli("verify", "--all")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "account-summary: 1 differences" in lines
    assert f"  different account-summary {account_id}/{account_id}" in lines
    assert "account-statement: 0 differences" in lines
    assert "999999" in result.stdout


def test_verify_of_named_read_models_checks_only_those() -> None:
    streams = open_accounts()
    project(*streams)
    corrupt_summary(streams[0])

    result = cli("verify", "account-statement", "daily-totals")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["account-statement: 0 differences", "daily-totals: 0 differences"]


# --- rebuild ------------------------------------------------------------------------------------------


def test_rebuild_switches_the_read_model_to_a_new_generation_and_prints_it() -> None:
    streams = open_accounts()
    project(*streams)
    corrupt_summary(streams[0])

    result = cli("rebuild", "account-summary")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        # two summaries and their two by-owner copies
        "account-summary: generation 1 -> 2, 2 streams replayed, 0 parked, "
        "4 documents of generation 1 deleted"
    ]
    service = bootstrap.root().service("accounts")
    assert [runner.generation_state().active for runner in service.projections] == [2, 1, 1]
    summary = accounts().summaries.get(streams[0])
    assert summary is not None
    assert summary.balance == 100
    assert cli("verify", "--all").exit_code == 0


def test_rebuild_all_rebuilds_every_read_model() -> None:
    project(*open_accounts())

    result = cli("rebuild", "--all")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(", 0 parked, ")[0] for line in lines] == [
        *(f"{name}: generation 1 -> 2, 2 streams replayed" for name in READ_MODELS),
        f"{TRANSFERS_MODEL}: generation 1 -> 2, 0 streams replayed",
    ]
    assert all(line.endswith("documents of generation 1 deleted") for line in lines)
    assert [
        runner.generation_state().active for runner in bootstrap.root().service("accounts").projections
    ] == [2, 2, 2]


# --- status -------------------------------------------------------------------------------------------


def test_status_prints_how_far_each_read_model_is_behind() -> None:
    streams = open_accounts(3)
    project(streams[0])
    park_behind_an_unknown_event(streams[1])

    result = cli("status")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("accounts event store: 7 events, newest ")
    rows = table_rows(result.stdout)
    # behind: streams[1]'s unknown event and streams[2]'s two events; streams[1] is parked
    assert [(name, generation, events, parked) for name, generation, events, _, parked in rows] == [
        *((name, "1", "3", "1") for name in READ_MODELS),
        (TRANSFERS_MODEL, "1", "0", "0"),
    ]
    assert all(float(seconds) >= 0 for _, _, _, seconds, _ in rows)


# --- dead letters -------------------------------------------------------------------------------------


def test_deadletters_list_shows_each_read_models_parked_events() -> None:
    stream_id = open_accounts(1)[0]
    project(stream_id)
    park_behind_an_unknown_event(stream_id)

    result = cli("deadletters", "list")

    assert result.exit_code == 0, result.output
    error = f"UndecodableEvent: unknown event type 'MoneyGifted' ({stream_id} v3)"
    assert table_rows(result.stdout) == [
        [name, stream_id, "3", "MoneyGifted", "1", "parked", error] for name in READ_MODELS
    ]
    one = cli("deadletters", "list", "--projection", "daily-totals")
    assert [row[0] for row in table_rows(one.stdout)] == ["daily-totals"]


def test_deadletters_replay_exits_1_while_the_event_still_cannot_be_applied() -> None:
    stream_id = open_accounts(1)[0]
    park_behind_an_unknown_event(stream_id)

    result = cli("deadletters", "replay")

    assert result.exit_code == 1
    assert [line.split(" (")[0] for line in result.stdout.splitlines()] == [
        f"{name} {stream_id}: parked" for name in READ_MODELS
    ]
    letters = [
        runner.dead_letters.get(runner.model(1), stream_id)
        for runner in bootstrap.root().service("accounts").projections
    ]
    assert [letter.attempts if letter else None for letter in letters] == [2, 2, 2]


def test_deadletters_replay_catches_a_stream_up_once_the_fix_is_deployed() -> None:
    streams = open_accounts()
    project(streams[1])

    def evolve_with_a_bug(summary: AccountSummary | None, fact: Fact[AccountEvent]) -> AccountSummary:
        if fact.version == 2:
            raise ValueError("release 1.0 cannot handle deposits")
        return account_summary.evolve(summary, fact)

    root = bootstrap.root()
    release_1_0 = ProjectionRunner(
        replace(account_summary.projection, evolve=evolve_with_a_bug),
        accounts(root).commands.codec,
        read_models(),
        accounts(root).commands.store,
        poison_attempts=1,
    )
    delivered = accounts(root).commands.store.read(streams[0])
    release_1_0.apply(delivered)
    accounts(root).statements.apply(delivered)
    accounts(root).daily_totals.apply(delivered)
    assert table_rows(cli("status").stdout)[0][-1] == "1"

    result = cli("deadletters", "replay", "--projection", "account-summary", "--stream", streams[0])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"account-summary {streams[0]}: replayed (ValueError: release 1.0 cannot handle deposits)"
    ]
    summary = accounts().summaries.get(streams[0])
    assert summary is not None
    assert (summary.balance, summary.version) == (100, 2)
    assert table_rows(cli("status").stdout)[0][-1] == "0"
    assert cli("verify", "--all").exit_code == 0


# --- usage errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "no-such-model"],
        ["rebuild", "no-such-model"],
        ["deadletters", "list", "--projection", "no-such-model"],
        ["deadletters", "replay", "--projection", "no-such-model"],
    ],
    ids=" ".join,
)
def test_an_unknown_read_model_is_a_usage_error(args: list[str]) -> None:
    project(*open_accounts(1))

    result = cli(*args)

    assert result.exit_code == 2
    assert "no read model named 'no-such-model'" in result.stderr
    assert "account-summary, daily-totals, account-statement" in result.stderr
    assert [
        runner.generation_state().active for runner in bootstrap.root().service("accounts").projections
    ] == [1, 1, 1]


def test_rebuild_without_a_read_model_or_all_is_a_usage_error() -> None:
    result = cli("rebuild")

    assert result.exit_code == 2
    assert "name the read models, or give --all" in result.stderr


# --- the Azure backend (Cosmos DB over the fake container) ---


@pytest.fixture
def azure_root(tmp_path: Path) -> bootstrap.Root:
    """A root over the Cosmos DB adapters on fake containers, installed for the CLI to find."""
    containers = {
        ACCOUNTS.events_container: FakeContainer(EVENTS_PARTITION_KEY_PATH),
        SNAPSHOTS_CONTAINER: FakeContainer(SNAPSHOTS_PARTITION_KEY_PATH),
        READMODELS_CONTAINER: FakeContainer(READMODELS_PARTITION_KEY_PATH),
        KEYS_CONTAINER: FakeContainer(KEYS_PARTITION_KEY_PATH),
    }
    settings = Settings(backend="azure", data_dir=tmp_path, generation_cache_seconds=0, poison_attempts=1)
    azure = bootstrap.AzureBackend(containers, {ACCOUNTS.hub: FakeProducerClient()})
    root = bootstrap.Root(settings, azure, services=(ACCOUNTS,))
    bootstrap.install(root)
    return root


def on(root: bootstrap.Root, *args: str) -> Result:
    """The CLI on `root` (it forgets the root it used when it ends, as a process would)."""
    bootstrap.install(root)
    return cli(*args)


def test_verify_and_rebuild_work_on_cosmos_db(azure_root: bootstrap.Root) -> None:
    streams = open_accounts()
    project(*streams)
    assert azure_root.azure is not None
    store, model = azure_root.azure.read_models, accounts(azure_root).summaries.model(1)
    account_id = account_summary.account_id(streams[0])
    document = store.get(model, account_id)
    assert document is not None
    assert document.view is not None
    store.put(model, replace(document, view={**document.view, "balance": 999_999}))

    differs = on(azure_root, "verify", "account-summary")
    rebuilt = on(azure_root, "rebuild", "account-summary")
    verified = on(azure_root, "verify", "--all")

    assert differs.exit_code == 1
    assert f"different account-summary {account_id}/{account_id}" in differs.stdout
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "generation 1 -> 2" in rebuilt.stdout
    assert verified.exit_code == 0, verified.output


def test_a_rebuild_that_parks_streams_does_not_switch_and_exits_1() -> None:
    streams = open_accounts()
    project(*streams)
    park_behind_an_unknown_event(streams[0])

    result = cli("rebuild", "account-summary")

    assert result.exit_code == 1, result.output
    assert "account-summary: NOT switched to generation 2: 1 streams parked in it" in result.stdout
    assert accounts().summaries.generation_state().active == 1


def test_service_picks_one_service_and_an_unknown_one_is_a_usage_error() -> None:
    open_accounts(1)

    one = cli("status", "--service", "accounts")
    unknown = cli("verify", "--all", "--service", "nope")

    assert one.exit_code == 0, one.output
    assert one.stdout.startswith("accounts event store: 2 events")
    assert unknown.exit_code == 2
    assert "no service named 'nope'; the services are accounts" in unknown.stderr


def test_service_leaves_the_other_services_out(tmp_path: Path) -> None:
    root = bootstrap.Root(Settings(backend="embedded", data_dir=tmp_path), services=[ACCOUNTS, COUNTERS])

    result = on(root, "status", "--service", "counters")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("counters event store: 0 events")
    assert "accounts" not in result.stdout


def test_an_unknown_read_model_of_a_named_service_is_reported_as_an_unknown_read_model() -> None:
    result = cli("verify", "no-such-model", "--service", "accounts")

    assert result.exit_code == 2
    assert "no read model named 'no-such-model'" in result.stderr
    assert "no service named" not in result.stderr
