"""The accounts service's read queries: its statement, an owner's accounts and the daily report, over its
read models' pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from domain import accounts
from infra.app.queries import Page, ascending, page_of
from infra.app.readside import ReadModel
from infra.ports.readmodels import KEY_MAX
from projections import account_statement, account_summary, daily_totals
from projections.account_statement import StatementHeader, StatementLine
from projections.account_summary import AccountSummary
from projections.daily_totals import Contribution, DailyTotal
from projections.projection import PersonKey

MAX_REPORT_DAYS = 92


REPORT_PAGE = 1000


@dataclass(frozen=True)
class Statement:
    header: StatementHeader
    lines: list[StatementLine]
    continuation: str | None
    fresh: bool = True


def statement(
    read_model: ReadModel[Any, StatementHeader],
    stream_id: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    continuation: str | None,
    min_version: int = 0,
    wait_seconds: float = 0.0,
) -> Statement | None:
    """Newest first: the lines recorded in [since, until), after the `continuation` key. With
    `min_version`, waits up to `wait_seconds` for the statement to reach it (its lines are written
    before the header that records the version), and says whether it did."""
    header, fresh = read_model.read(stream_id, min_version, wait_seconds)
    if header is None:
        return None
    before = account_statement.time_key(until) if until else KEY_MAX
    if continuation is not None:
        before = min(before, continuation)
    found = read_model.rows(
        account_statement.LINES,
        header.id,
        key_from=account_statement.time_key(since) if since else "",
        key_before=before,
        descending=True,
        limit=limit + 1,
    )
    page = page_of(found, limit)
    return Statement(header, page.items, page.continuation, fresh)


def accounts_of_owner(
    read_model: ReadModel[Any, AccountSummary], email: str, limit: int, continuation: str | None
) -> Page:
    """The owner's accounts in id order, after the `continuation` id (filed under the owner's subject id,
    a keyed hash of the address, never the address itself)."""
    partition = read_model.person_partition(PersonKey(email))
    return ascending(read_model, account_summary.BY_OWNER, partition, limit, continuation)


def accounts_of_holder(
    read_model: ReadModel[Any, AccountSummary], holder: str, limit: int, continuation: str | None
) -> Page:
    """The summaries of the accounts `holder` opened, in id order, after the `continuation` id: a page of
    their list (written once per account), then each one's summary (one point read each)."""
    held = ascending(
        read_model, account_summary.BY_HOLDER, account_summary.holder_partition(holder), limit, continuation
    )
    summaries = (read_model.get(accounts.decider.stream_id(row.id)) for row in held.items)
    return Page([summary for summary in summaries if summary is not None], held.continuation)


def daily_report(read_model: ReadModel[Any, Any], first: date, last: date) -> list[DailyTotal]:
    """Each day's totals per currency, from `first` to `last` inclusive."""
    contributions: list[Contribution] = []
    for offset in range((last - first).days + 1):  # not day += 1: the day after date.max overflows
        day = first + timedelta(days=offset)
        continuation: str | None = None
        while True:
            page = ascending(
                read_model,
                daily_totals.CONTRIBUTIONS,
                daily_totals.day_partition(day),
                REPORT_PAGE,
                continuation,
            )
            contributions.extend(page.items)
            if page.continuation is None:
                break
            continuation = page.continuation
    return daily_totals.totals(contributions)
