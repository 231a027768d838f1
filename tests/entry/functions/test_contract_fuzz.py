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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth

from domain.accounts import unshown
from infra.entry import bootstrap
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
    """Free text holds only characters that are shown as written (the pattern says so for the Basic
    Multilingual Plane; the description adds unassigned and private-use characters beyond it)."""
    return "".join("x" if unshown(character) else character for character in text)


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
        # at most 92 days, both counted
        query["from"], query["to"] = (
            first,
            min(last, (date.fromisoformat(first) + timedelta(days=91)).isoformat()),
        )
    return query


def _in_range(time: Any) -> Any:
    """A time that is still a time once in UTC (0001-01-01T00:00:00+01:00 is not): the same, at UTC."""
    try:
        datetime.fromisoformat(time).astimezone(UTC)
    except OverflowError:
        return datetime.fromisoformat(time).replace(tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        pass
    return time


def within_the_documented_rules(case: Any) -> Any:
    operation = case.operation.definition.raw.get("operationId")
    case.query = _query(case.query, operation)
    case.body = _free_text(case.body)
    body = case.body
    if (
        operation == "request_transfer"
        and isinstance(body, dict)
        and body["from_account"] == body["to_account"]
    ):
        body["to_account"] = str(uuid.uuid4())  # two different accounts
    if case.headers and "Idempotency-Key" in case.headers:
        # a key names one request: sent again with another body it is refused (422), as it should be
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    return case


def _seen_by_the_app(mutation: Any, case: Any) -> bool:
    if mutation.parameter_location == ParameterLocation.HEADER:
        # a missing or malformed token or function key: Easy Auth and the host answer it before the app
        # sees the request (the dev host checks neither, as the README says)
        return mutation.parameter not in CREDENTIALS and not set(mutation.original_value or ()) <= CREDENTIALS
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
# Ids drawn from the schema alone name nothing, and every answer would be a 404: half the valid cases are
# aimed at two accounts and a transfer made before the run, so commands and reads meet real streams.


@dataclass(frozen=True)
class Known:
    accounts: tuple[str, str]
    transfer: str

    def aim(self, case: Any) -> Any:
        if case.path_parameters and "id" in case.path_parameters:
            transfer = case.operation.path.startswith("/api/transfers")
            case.path_parameters["id"] = self.transfer if transfer else self.accounts[0]
        if case.operation.definition.raw.get("operationId") == "request_transfer" and isinstance(
            case.body, dict
        ):
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


def positive(strategy: Any, known: Known) -> Any:
    return st.tuples(strategy, st.booleans()).map(
        lambda drawn: within_the_documented_rules(known.aim(drawn[0]) if drawn[1] else drawn[0])
    )


def negative(strategy: Any, known: Known) -> Any:
    return strategy.filter(refused_by_the_app)


MODES: dict[GenerationMode, Callable[[Any, Known], Any]] = {
    GenerationMode.POSITIVE: positive,
    GenerationMode.NEGATIVE: negative,
}
# A valid request may still meet a state that refuses it: nothing there (404), a rule of the domain
# (409), a stale If-Match (412). Never a 400 or 422, and never a 5xx (checked on its own).
ANSWERS_TO_VALID_REQUESTS = ["2xx", "3xx", "404", "409", "412"]
# An invalid request is refused, by whichever rule the app reaches first: what it cannot parse (400, 413,
# 415, 422), or the state it meets before its fields are read (nothing there, a stale If-Match).
REFUSALS_OF_INVALID_REQUESTS = ["400", "404", "405", "409", "412", "413", "415", "422"]


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
    config = SchemathesisConfig.from_dict(
        {
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ANSWERS_TO_VALID_REQUESTS},
                "negative_data_rejection": {"expected-statuses": REFUSALS_OF_INVALID_REQUESTS},
            }
        }
    )
    yield Target(
        schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config), made_before_the_run(app)
    )
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
