"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis), against the app as the
dev host serves it. Requests the document calls valid must be answered as it says (status, headers,
body; errors as problem+json) and never refused; requests it calls invalid must be refused with a 4xx;
nothing is ever a 5xx. FUZZ_EXAMPLES sets the requests per operation and mode (`make fuzz` runs many)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NOT_SET
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth

from domain.accounts import unshown
from infra.entry import bootstrap
from infra.entry.openapi import HEADER_PATTERNS
from infra.tools.devhost import DevHost
from tests.worker import REPO, app_worker

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# Signing callers in is the platform's job (Easy Auth, the host's keys); here the dev host plays it and
# signs every request in as its local operator. What an unsigned, forged or other caller gets is proven
# by the authorization table (test_authorization.py), not here.
EXCLUDED_CHECKS = [ignored_auth]
CREDENTIALS = {"Authorization", "x-functions-key"}
log = logging.getLogger(__name__)


# --- what the document says in words, not in JSON Schema -----------------------------------------------
# A valid request generated from the schema alone may still break one of these rules, each stated in the
# document's descriptions and refused with a 422 that names it (tested where each rule lives). A positive
# case is brought inside them, and everything else about it stays as generated.


def _shown(text: str) -> str:
    """Free text holds only characters that are shown as written: the pattern says so of the named
    categories of the Basic Multilingual Plane, the description of the rest (surrogates, unassigned
    characters, and anything unshown beyond U+FFFF), which is all this replaces."""
    return "".join("x" if _beyond_the_pattern(character) else character for character in text)


def _beyond_the_pattern(character: str) -> bool:
    return unshown(character) and (ord(character) > 0xFFFF or unicodedata.category(character) in ("Cs", "Cn"))


SPECIAL_USE = re.compile(r"\.(test|localhost|local|invalid|onion|arpa)$", re.IGNORECASE)


def _free_text(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    body = {
        key: _shown(value) if key in ("owner_name", "reference") and isinstance(value, str) else value
        for key, value in body.items()
    }
    if isinstance(body.get("owner_email"), str):  # not at a special-use domain
        body["owner_email"] = SPECIAL_USE.sub(".com", body["owner_email"])
    return body


def _query(query: dict[str, Any] | None, operation: str) -> dict[str, Any] | None:
    if query is None:
        return None
    # a continuation is a token from an earlier page, not any string of its alphabet
    query = {key: value for key, value in query.items() if key != "continuation"}
    # a query integer is written in digits: 2, not 2.0
    query = {key: int(v) if isinstance(v, float) and v.is_integer() else v for key, v in query.items()}
    if operation in ("account_state", "transfer_state") and "version" in query:
        query.pop("at", None)  # a state as of a version or of a time, not both
    if operation in ("account_state", "transfer_state", "account_statement"):
        query.update({key: _in_range(query[key]) for key in ("at", "from", "to") if key in query})
    if operation == "account_statement" and {"from", "to"} <= query.keys():
        first, last = sorted((query["from"], query["to"]), key=datetime.fromisoformat)  # from before to
        query["from"], query["to"] = first, last
        if datetime.fromisoformat(first) == datetime.fromisoformat(last):
            query.pop("to")
    if operation == "daily_report" and {"from", "to"} <= query.keys():
        first, last = sorted((query["from"], query["to"]))
        query["from"], query["to"] = first, min(last, _days_after(first, 91))  # at most 92 days, both counted
    return query


def _days_after(day: str, days: int) -> str:
    try:
        return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
    except OverflowError:
        return date.max.isoformat()


def _in_range(time: Any) -> Any:
    """A time that is still a time once in UTC (0001-01-01T00:00:00+01:00 is not): the same, at UTC."""
    try:
        datetime.fromisoformat(time).astimezone(UTC)
    except OverflowError:
        return datetime.fromisoformat(time).replace(tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        pass
    return time


def within_the_documented_rules(case: Any, used_keys: set[str]) -> Any:
    operation = case.operation.definition.raw.get("operationId")
    # set only what changes: schemathesis checks a part again once it is set, and would take a left-out
    # optional body, set again as left out, for an invalid one
    if (query := _query(case.query, operation)) is not case.query:
        case.query = query
    if (body := _free_text(case.body)) is not case.body:
        case.body = body
    if (
        operation == "request_transfer"
        and isinstance(body, dict)
        and body["from_account"] == body["to_account"]
    ):
        body["to_account"] = str(uuid.uuid4())  # two different accounts
    if case.headers and "Idempotency-Key" in case.headers:
        # a key names one request: sent again with another body it is refused (422), as it should be, so
        # a key generated before (they repeat) is replaced; a new one is sent as generated
        if case.headers["Idempotency-Key"] in used_keys:
            case.headers["Idempotency-Key"] = str(uuid.uuid4())
        used_keys.add(case.headers["Idempotency-Key"])
    return case


def _seen_by_the_app(mutation: Any, case: Any) -> bool:
    if mutation.parameter_location == ParameterLocation.HEADER:
        # a missing or malformed token or function key: Easy Auth and the host answer it before the app
        # sees the request (the dev host checks neither, as the README says). Any other header is the app's.
        if mutation.parameter is None:  # the headers' `required` list: which ones were left out
            left_out = mutation.original_value
            return not (isinstance(left_out, list) and left_out and set(left_out) <= CREDENTIALS)
        if mutation.parameter in CREDENTIALS:
            return False
        # white space around a header's value is not part of it (RFC 9110, 5.5): the app never sees it
        sent, pattern = (case.headers or {}).get(mutation.parameter), HEADER_PATTERNS.get(mutation.parameter)
        return not (isinstance(sent, str) and pattern and re.fullmatch(pattern, sent.strip(" \t")))
    if mutation.parameter_location == ParameterLocation.BODY and case.body in (NOT_SET, None, b"", ""):
        return False  # an optional body left out altogether (or sent empty): nothing invalid was sent
    if mutation.parameter_location == ParameterLocation.QUERY:
        if "additionalProperties" in mutation.keywords:
            return False  # an unknown query parameter is ignored (the function key arrives as one, `code`)
        sent = (case.query or {}).get(mutation.parameter)
        # the host leaves an empty value out; null and an object are sent as nothing of this parameter; an
        # array as the parameter repeated, which the host joins into one text with commas (for a parameter
        # that takes text, no longer a wrong type; an empty one, or of one empty text, is left out)
        if sent is None or isinstance(sent, dict) or sent in ("", [], [""]):
            return False
        return not (isinstance(sent, list) and _takes_text(case, mutation.parameter))
    return True


def _takes_text(case: Any, name: str) -> bool:
    (parameter,) = [p for p in case.operation.definition.raw["parameters"] if p["name"] == name]
    schema = parameter["schema"]
    return any(branch.get("type") == "string" for branch in [schema, *schema.get("anyOf", [])])


def refused_by_the_app(case: Any) -> bool:
    """Whether a negative case breaks a rule the app itself keeps, not only one the platform keeps first."""
    return any(_seen_by_the_app(mutation, case) for mutation in case.meta.phase.data.mutations)


# --- what exists ------------------------------------------------------------------------------------
# Ids drawn from the schema alone name nothing, and every answer would be a 404: half the cases are aimed
# at two accounts and a transfer made (and projected into the read models) before the run, so commands
# and reads meet real streams and views. An invalid case keeps its id when the id is what is invalid.


@dataclass(frozen=True)
class Known:
    accounts: tuple[str, str]
    transfer: str
    used_keys: set[str] = field(default_factory=set)

    def aim(self, case: Any, body: bool = True) -> Any:
        """`case` aimed at what exists: its id, and (unless `body` is False) a transfer's accounts."""
        if case.path_parameters and "id" in case.path_parameters and not _path_broken(case):
            transfer = case.operation.path.startswith("/api/transfers")
            case.path_parameters["id"] = self.transfer if transfer else self.accounts[0]
        operation = case.operation.definition.raw.get("operationId")
        if body and operation == "request_transfer" and isinstance(case.body, dict):
            case.body["from_account"], case.body["to_account"] = self.accounts
        return case


def made_before_the_run(app: Any) -> Known:
    async def make() -> Known:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:

            async def post(path: str, body: dict[str, Any]) -> str:
                response = await client.post(path, json=body)
                response.raise_for_status()
                return str(response.json()["id"])

            opened = [
                await post(
                    "/api/accounts",
                    {"owner_name": name, "owner_email": f"{name.lower()}@example.com", "currency": "EUR"},
                )
                for name in ("Ada", "Grace")
            ]
            await post(f"/api/accounts/{opened[0]}/deposits", {"amount": 10**9})
            transfer = {"from_account": opened[0], "to_account": opened[1], "amount": 1}
            return Known((opened[0], opened[1]), await post("/api/transfers", transfer))

    return asyncio.run(make())


def _path_broken(case: Any) -> bool:
    meta = case.meta
    mutations = meta.phase.data.mutations if meta is not None and meta.generation.mode.is_negative else ()
    return any(mutation.parameter_location == ParameterLocation.PATH for mutation in mutations)


def positive(strategy: Any, known: Known) -> Any:
    return st.tuples(strategy, st.booleans()).map(
        lambda drawn: within_the_documented_rules(
            known.aim(drawn[0]) if drawn[1] else drawn[0], known.used_keys
        )
    )


def negative(strategy: Any, known: Known) -> Any:
    return st.tuples(strategy.filter(refused_by_the_app), st.booleans()).map(
        lambda drawn: known.aim(drawn[0], body=False) if drawn[1] else drawn[0]
    )


MODES: dict[GenerationMode, Callable[[Any, Known], Any]] = {
    GenerationMode.POSITIVE: positive,
    GenerationMode.NEGATIVE: negative,
}
# A valid request may still meet a state that refuses it: nothing there (404), a rule of the domain
# (409), a stale If-Match (412). Never a 400 or 422, never a redirect, and never a 5xx (checked on its own).
ANSWERS_TO_VALID_REQUESTS = ["2xx", "404", "409", "412"]
# An invalid request is refused for what it is (400, 413, 415, 422), or, when it names nothing (an unknown
# id), with the 404 it gets before its fields are read; never decided on (409, 412).
REFUSALS_OF_INVALID_REQUESTS = ["400", "404", "413", "415", "422"]


@dataclass(frozen=True)
class Target:
    schema: Any
    known: Known


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("EVENTBANK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVENTBANK_IDENTITY_HEADERS", "local")  # the dev host plays Easy Auth
    bootstrap.reset()
    app = DevHost(app_worker(), json.loads((REPO / "host.json").read_text()), 0.05, triggers=False).asgi()
    known = made_before_the_run(app)
    for service in bootstrap.root().services:  # the read models, as the triggers would have built them
        for stream_id in service.commands.store.streams():
            service.project(service.commands.store.read(stream_id))
    config = SchemathesisConfig.from_dict(
        {
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ANSWERS_TO_VALID_REQUESTS},
                "negative_data_rejection": {"expected-statuses": REFUSALS_OF_INVALID_REQUESTS},
            }
        }
    )
    yield Target(schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config), known)
    bootstrap.reset()


@pytest.mark.parametrize("mode", list(MODES), ids=lambda mode: mode.value)
def test_every_operation_answers_generated_requests_as_the_contract_says(
    target: Target, mode: GenerationMode
) -> None:
    schema = target.schema
    failures: list[str] = []
    unbreakable: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=MODES[mode](operation.as_strategy(generation_mode=mode), target.known))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: Any) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)

        try:
            fuzz()
        except Unsatisfiable:
            # nothing of it the app itself can refuse (no parameters, no body: health, status)
            assert mode is GenerationMode.NEGATIVE, operation
            assert not operation.body, operation
            assert not operation.query, operation
            unbreakable.append(operation.label)
        # every operation is fuzzed and the failures reported together (schemathesis raises a group)
        except (Exception, BaseExceptionGroup) as error:
            failures.append(f"{operation.label}: {error}")

    log.info(
        "fuzzed %d %s requests (none for %s)", sent, mode.value, ", ".join(unbreakable) or "no operation"
    )
    assert not failures, "\n\n".join(failures)
    assert sent >= EXAMPLES * (len(schema) - len(unbreakable)) // 2  # every operation was really fuzzed
