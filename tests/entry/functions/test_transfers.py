"""Transfers through the real worker: the transfers service records a request (202), the accounts service
moves the money or refuses, each service reacting only to the other's hub; every function runs as the
host would run it, and `settle` plays the relays and hub consumers until nothing moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from domain.transfers import ExpireTransfer
from domain.transfers import decider as transfer_decider
from infra.entry import bootstrap, transfers_api
from infra.ports.eventstore import Metadata
from infra.ports.readmodels import KEY_MAX
from projections import transfer_status
from tests.entry.functions.conftest import (
    account_command,
    assert_problem,
    deliver_again,
    json_of,
    lose_pending,
    open_account,
    request,
    settle,
)
from tests.worker import functions


def funded_account(balance: int, currency: str = "EUR") -> str:
    response = open_account({"currency": currency})
    assert response.status_code == 201
    account_id = str(json_of(response)["id"])
    if balance:
        assert account_command("deposits", account_id, {"amount": balance}).status_code == 200
    return account_id


def transfer(body: dict[str, Any], headers: dict[str, str] | None = None) -> func.HttpResponse:
    response: func.HttpResponse = functions.request_transfer(
        request("POST", "/api/transfers", body, headers=headers)
    )
    return response


def requested(source: str, target: str, amount: int, **extra: Any) -> str:
    response = transfer({"from_account": source, "to_account": target, "amount": amount, **extra})
    assert response.status_code == 202, response.get_body()
    return str(json_of(response)["id"])


def status_of(transfer_id: str) -> dict[str, Any]:
    response = functions.get_transfer(
        request("GET", f"/api/transfers/{transfer_id}", route_params={"id": transfer_id})
    )
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = json_of(response)
    return body


def balance(account_id: str) -> int:
    response = functions.account_state(
        request("GET", f"/api/accounts/{account_id}/state", route_params={"id": account_id})
    )
    return int(json_of(response)["balance"])


def statement(account_id: str) -> list[dict[str, Any]]:
    response = functions.account_statement(
        request("GET", f"/api/accounts/{account_id}/statement", route_params={"id": account_id})
    )
    entries: list[dict[str, Any]] = json_of(response)["entries"]
    return entries


def transfers_of(account_id: str, **params: str) -> dict[str, Any]:
    response = functions.account_transfers(
        request(
            "GET", f"/api/accounts/{account_id}/transfers", route_params={"id": account_id}, params=params
        )
    )
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = json_of(response)
    return body


def all_events() -> int:
    root = bootstrap.root()
    return sum(root.embedded[d.name].events.totals().events for d in root.definitions)


# --- the three endings ---


def test_a_transfer_is_accepted_then_debited_credited_and_completed() -> None:
    source, target = funded_account(1_000), funded_account(0)

    accepted = transfer({"from_account": source, "to_account": target, "amount": 300, "reference": "rent"})
    transfer_id = json_of(accepted)["id"]
    settle()

    assert accepted.status_code == 202
    assert accepted.headers["Location"] == f"/api/transfers/{transfer_id}"
    assert accepted.headers["Retry-After"] == "1"
    assert json_of(accepted)["status"] == "requested"
    done = status_of(transfer_id)
    assert (done["status"], done["currency"], done["reason"]) == ("completed", "EUR", None)
    assert [step["status"] for step in done["steps"]] == ["requested", "debited", "completed"]
    assert (balance(source), balance(target)) == (700, 300)
    newest = statement(source)[0]
    assert (newest["entry"], newest["amount"], newest["counterparty"], newest["transfer_id"]) == (
        "transfer-out",
        300,
        target,
        transfer_id,
    )
    assert [(e["entry"], e["counterparty"]) for e in statement(target)] == [("transfer-in", source)]


def test_a_transfer_the_source_cannot_pay_fails_with_the_reason_and_moves_nothing() -> None:
    source, target = funded_account(100), funded_account(0)

    transfer_id = requested(source, target, 300)
    settle()

    failed = status_of(transfer_id)
    assert (failed["status"], failed["reason"]) == ("failed", "insufficient funds")
    assert (balance(source), balance(target)) == (100, 0)


def test_a_transfer_the_target_cannot_take_is_compensated_and_the_source_gets_its_money_back() -> None:
    source, target = funded_account(1_000), funded_account(0)
    assert account_command("close", target).status_code == 200

    transfer_id = requested(source, target, 300)
    settle()

    compensated = status_of(transfer_id)
    assert (compensated["status"], compensated["reason"]) == ("compensated", "account closed")
    assert [step["status"] for step in compensated["steps"]] == [
        "requested",
        "debited",
        "compensating",
        "compensated",
    ]
    assert (balance(source), balance(target)) == (1_000, 0)
    assert [(e["entry"], e["amount"], e["balance_after"]) for e in statement(source)][:2] == [
        ("reversal", 300, 1_000),
        ("transfer-out", 300, 700),
    ]


@pytest.mark.parametrize(
    ("source_kind", "target_kind", "status", "reason"),
    [
        ("unknown", "open EUR", "failed", "unknown account"),
        ("closed", "open EUR", "failed", "account closed"),
        ("open EUR", "unknown", "compensated", "unknown account"),
        ("open EUR", "open USD", "compensated", "currency mismatch"),
    ],
)
def test_each_refusal_ends_the_transfer_with_its_reason_and_conserves_money(
    source_kind: str, target_kind: str, status: str, reason: str
) -> None:
    def account(kind: str) -> str:
        if kind == "unknown":
            return str(uuid.uuid4())
        if kind == "closed":
            closed = funded_account(0)
            assert account_command("close", closed).status_code == 200
            return closed
        return funded_account(500 if kind == "open EUR" else 0, kind.split()[1])

    source, target = account(source_kind), account(target_kind)

    transfer_id = requested(source, target, 200)
    settle()

    ended = status_of(transfer_id)
    assert (ended["status"], ended["reason"]) == (status, reason)
    known = [a for a, kind in ((source, source_kind), (target, target_kind)) if kind.startswith("open")]
    assert sum(balance(a) for a in known) == 500


# --- idempotency and redelivery ---


def test_a_redelivered_hub_moves_no_money_twice() -> None:
    source, target = funded_account(1_000), funded_account(0)
    requested(source, target, 300)
    settle()
    events_before = all_events()

    root = bootstrap.root()
    for definition in root.definitions:  # every message of every hub, to every reaction, once more
        for subscription in definition.subscriptions:
            deliver_again(subscription.function)
    settle()

    assert (balance(source), balance(target)) == (700, 300)
    assert all_events() == events_before


def test_a_repeated_request_with_its_idempotency_key_is_the_same_transfer() -> None:
    source, target = funded_account(1_000), funded_account(0)
    body = {"from_account": source, "to_account": target, "amount": 300}

    first = transfer(body, headers={"Idempotency-Key": "rent-2026-12"})
    again = transfer(body, headers={"Idempotency-Key": "rent-2026-12"})
    settle()

    assert json_of(again)["id"] == json_of(first)["id"]
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (202, "true")
    assert (balance(source), balance(target)) == (700, 300)
    reused = transfer({**body, "amount": 1}, headers={"Idempotency-Key": "rent-2026-12"})
    assert_problem(reused, 422)


@pytest.mark.parametrize(
    "change",
    [
        {"to_account": "same"},
        {"amount": 0},
        {"amount": -5},
        {"amount": "300"},
        {"currency": "EUR"},
        {"from_account": "not-an-id"},
        {"reference": "rent\u202efdp.exe"},
        {"requested_by": "someone-else"},
    ],
    ids=[
        "same account",
        "zero",
        "negative",
        "a string amount",
        "an unknown field",
        "not an id",
        "a bidi override in the reference",
        "a requester named in the body",
    ],
)
def test_a_bad_request_is_refused_at_once_and_records_nothing(change: dict[str, Any]) -> None:
    source, target = funded_account(1_000), funded_account(0)
    body = {"from_account": source, "to_account": target, "amount": 300} | change
    if body["to_account"] == "same":
        body["to_account"] = source
    events_before = all_events()

    assert_problem(transfer(body), 422)
    assert all_events() == events_before


# --- reading transfers ---


def test_an_accounts_transfers_are_listed_newest_first_out_and_in_and_paged() -> None:
    source, target = funded_account(1_000), funded_account(0)
    first = requested(source, target, 100)
    second = requested(source, target, 200)
    settle()

    page = transfers_of(source, limit="1")
    rest = transfers_of(source, limit="1", continuation=page["next"].split("continuation=")[1])
    incoming = transfers_of(target)

    assert [(t["transfer_id"], t["direction"], t["status"]) for t in page["transfers"]] == [
        (second, "out", "completed")
    ]
    assert [t["transfer_id"] for t in rest["transfers"]] == [first]
    assert rest["next"] is None
    assert [(t["transfer_id"], t["direction"], t["counterparty"]) for t in incoming["transfers"]] == [
        (second, "in", source),
        (first, "in", source),
    ]
    assert transfers_of(str(uuid.uuid4()))["transfers"] == []


def test_a_transfers_audit_trail_and_its_state_at_each_version() -> None:
    source, target = funded_account(1_000), funded_account(0)
    transfer_id = requested(source, target, 300)
    settle()
    route = {"id": transfer_id}

    history = json_of(
        functions.transfer_history(request("GET", f"/api/transfers/{transfer_id}/events", route_params=route))
    )
    at_1 = json_of(
        functions.transfer_state(
            request("GET", f"/api/transfers/{transfer_id}/state", route_params=route, params={"version": "1"})
        )
    )
    missing = functions.get_transfer(
        request("GET", f"/api/transfers/{uuid.uuid4()}", route_params={"id": str(uuid.uuid4())})
    )

    assert [e["type"] for e in history["events"]] == [
        "TransferRequested",
        "SourceDebited",
        "TransferCompleted",
    ]
    assert history["events"][1]["metadata"]["causation_id"] is not None
    assert (at_1["status"], at_1["version"], at_1["as_of"]) == ("requested", 1, {"version": 1})
    assert_problem(missing, 404)


# --- timeouts ---

MOVE_MONEY = "move_money_for_transfers"  # the accounts service's reaction to the transfers hub


def expire_everything_pending() -> int:
    return transfers_api.sweep(transfers_api.transfers(), 0, datetime.now(UTC) + timedelta(seconds=1))


def test_a_transfer_whose_request_was_lost_times_out_fails_and_a_late_request_moves_nothing() -> None:
    source, target = funded_account(1_000), funded_account(0)
    transfer_id = requested(source, target, 300)
    settle(skip=frozenset({MOVE_MONEY}))
    assert lose_pending(MOVE_MONEY) == 1  # the request expired on the hub before the accounts read it

    assert expire_everything_pending() == 1
    settle()
    failed = status_of(transfer_id)
    late = deliver_again(MOVE_MONEY)  # the lost request turns up after all
    settle()

    assert (failed["status"], failed["reason"], failed["timed_out"]) == ("failed", "timed out", "debit")
    assert late > 0
    assert status_of(transfer_id)["status"] == "failed"
    assert (balance(source), balance(target)) == (1_000, 0)


def test_a_transfer_whose_credit_was_lost_times_out_and_is_compensated_and_a_late_credit_moves_nothing() -> (
    None
):
    source, target = funded_account(1_000), funded_account(0)
    transfer_id = requested(source, target, 300)
    settle(skip=frozenset({MOVE_MONEY}))
    settle(skip=frozenset({"advance_transfers"}))  # the debit is made, its answer not yet read
    settle(skip=frozenset({MOVE_MONEY}))  # the transfer records the debit and asks for the credit
    assert status_of(transfer_id)["status"] == "debited"
    assert lose_pending(MOVE_MONEY) == 1  # the credit request expired unread

    assert expire_everything_pending() == 1
    settle()
    deliver_again(MOVE_MONEY)
    settle()

    ended = status_of(transfer_id)
    assert (ended["status"], ended["reason"]) == ("compensated", "timed out")
    assert (balance(source), balance(target)) == (1_000, 0)


def test_a_lost_answer_is_announced_again_on_timeout_and_the_transfer_goes_on_to_complete() -> None:
    source, target = funded_account(1_000), funded_account(0)
    transfer_id = requested(source, target, 300)
    settle(skip=frozenset({"advance_transfers"}))  # the source is debited...
    assert lose_pending("advance_transfers") >= 1  # ...but that answer expires before the transfer reads it

    assert expire_everything_pending() == 1  # the transfer asks again; the debit stands, and is restated
    settle()

    assert status_of(transfer_id)["status"] == "completed"
    assert (balance(source), balance(target)) == (700, 300)
    restated = [e for e in account_events(source) if e["type"] == "TransferDecisionRestated"]
    assert [(e["data"]["decision"], e["data"]["transfer_id"]) for e in restated] == [
        ("TransferDebited", transfer_id)
    ]


def account_events(account_id: str) -> list[dict[str, Any]]:
    response = functions.account_history(
        request("GET", f"/api/accounts/{account_id}/events", route_params={"id": account_id})
    )
    events: list[dict[str, Any]] = json_of(response)["events"]
    return events


def test_a_step_made_before_the_timeout_counts_and_the_transfer_completes() -> None:
    source, target = funded_account(1_000), funded_account(0)
    transfer_id = requested(source, target, 300)
    settle(skip=frozenset({MOVE_MONEY}))

    assert expire_everything_pending() == 1  # too early: the request is still on its way, and goes first
    settle()

    assert status_of(transfer_id)["status"] == "completed"
    assert (balance(source), balance(target)) == (700, 300)
    assert expire_everything_pending() == 0  # an ended transfer is never expired


def open_transfers(key_before: str) -> list[str]:
    runner = transfers_api.transfers().status
    return [
        row.transfer_id
        for partition in transfer_status.OPEN_PARTITION_NAMES
        for _, row in runner.read_side.rows(transfer_status.OPEN, partition, key_before=key_before)
    ]


def test_only_transfers_waiting_past_the_deadline_lie_in_the_range_the_sweep_reads() -> None:
    source, target = funded_account(1_000), funded_account(0)
    ended = [requested(source, target, 1) for _ in range(3)]
    settle()
    waiting = requested(source, target, 2)
    settle(skip=frozenset({MOVE_MONEY}))
    requested_at = datetime.fromisoformat(status_of(waiting)["requested_at"])

    overdue = open_transfers(transfer_status.overdue_before(requested_at))
    not_yet = open_transfers(transfer_status.overdue_before(requested_at - timedelta(microseconds=1)))
    everything = open_transfers(KEY_MAX)

    assert overdue == [waiting]
    assert not_yet == []
    assert sorted(everything) == sorted([*ended, waiting])  # an ended one keeps its row, past every deadline


def timed_out(transfer_id: str) -> int:
    route = {"id": transfer_id}
    history = json_of(
        functions.transfer_history(request("GET", f"/api/transfers/{transfer_id}/events", route_params=route))
    )
    return [event["type"] for event in history["events"]].count("TransferTimedOut")


def stuck_transfers(count: int) -> list[str]:
    """`count` transfers requested one after another (oldest first), each waiting for its debit."""
    source, target = funded_account(1_000), funded_account(0)
    stuck = [requested(source, target, 1) for _ in range(count)]
    settle(skip=frozenset({MOVE_MONEY}))  # every request waits on the hub, unread by the accounts
    return stuck


def test_a_sweep_expires_at_most_its_limit_per_partition_oldest_first_and_the_next_sweeps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transfers_api, "SWEEP_LIMIT", 1)
    stuck = stuck_transfers(transfer_status.OPEN_PARTITIONS + 1)  # so two at least share a partition
    partitions = {transfer_status.open_partition(transfer) for transfer in stuck}
    oldest = {next(t for t in stuck if transfer_status.open_partition(t) == p) for p in partitions}
    deadline = datetime.now(UTC)  # every one waits past it; once expired, its last move is after it

    sweeps = [transfers_api.sweep(transfers_api.transfers(), 0, deadline)]
    first = {transfer for transfer in stuck if timed_out(transfer)}
    while sum(sweeps) < len(stuck) and len(sweeps) < 20:
        settle(skip=frozenset({MOVE_MONEY}))  # the expired ones move on, out of the sweep's range
        sweeps.append(transfers_api.sweep(transfers_api.transfers(), 0, deadline))

    assert len(partitions) < len(stuck)
    assert (sweeps[0], first) == (len(partitions), oldest)
    assert all(0 < count <= len(partitions) for count in sweeps)
    assert sum(sweeps) == len(stuck)
    assert [timed_out(transfer) for transfer in stuck] == [1] * len(stuck)  # each once, none twice


def test_a_row_behind_its_transfer_does_not_count_against_the_limit_and_the_next_one_is_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transfers_api, "SWEEP_LIMIT", 1)
    stuck = stuck_transfers(transfer_status.OPEN_PARTITIONS + 1)
    by_partition: dict[str, list[str]] = {}
    for transfer in stuck:
        by_partition.setdefault(transfer_status.open_partition(transfer), []).append(transfer)
    behind, next_one = next(group for group in by_partition.values() if len(group) > 1)[:2]
    service = transfers_api.transfers()
    stream = transfer_decider.stream_id(behind)
    service.commands.handle(stream, ExpireTransfer(step="debit"), Metadata(), expected_version=1)
    # not settled: the read model still shows `behind` at version 1, the oldest of its partition

    transfers_api.sweep(service, 0, datetime.now(UTC))

    assert timed_out(behind) == 1  # only the expiry above: the sweep's own attempt met a newer version
    assert timed_out(next_one) == 1


def test_a_client_cannot_use_a_key_the_saga_records_its_steps_under() -> None:
    source = funded_account(1_000)

    refused = account_command(
        "deposits", source, {"amount": 1}, headers={"Idempotency-Key": "Reaction:transfer:x:debit"}
    )

    assert_problem(refused, 400)
    assert balance(source) == 1_000
