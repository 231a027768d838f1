"""Every bad request gets a 4xx problem+json naming what is wrong, and writes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import azure.functions as func
import pytest

from infra.entry.http import MAX_BODY_BYTES, handles_problems
from infra.ports.eventstore import StoreUnavailable
from tests.entry.functions.conftest import (
    account_command,
    assert_problem,
    embedded_events,
    json_of,
    open_account,
    opened_account_id,
    request,
)
from tests.worker import functions


@pytest.fixture
def account_id() -> str:
    return opened_account_id()


def event_count() -> int:
    return len(embedded_events().read_all(0, 1_000_000))


def assert_refused(call: Callable[[], func.HttpResponse], status: int) -> dict[str, object]:
    """Sends the request and checks it is refused with `status`, as problem+json, writing nothing."""
    before = event_count()
    response = call()
    assert event_count() == before
    return assert_problem(response, status)


def raw_deposit(account_id: str, raw: bytes, content_type: str = "application/json") -> func.HttpResponse:
    return account_command("deposits", account_id, raw=raw, headers={"content-type": content_type})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": 5',
        b"not json",
        b'{"amount": 5, "amount": 6}',
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"amount": ' + b"9" * 5000 + b"}",
        b'{"reference": "\xff\xfe"}',
        b"[" * 100_00 + b"]" * 100_00,
    ],
    ids=[
        "truncated",
        "not-json",
        "duplicate-key",
        "nan",
        "infinity",
        "huge-integer",
        "invalid-utf8",
        "deep-nesting",
    ],
)
def test_malformed_json_is_a_400(account_id: str, raw: bytes) -> None:
    assert_refused(lambda: raw_deposit(account_id, raw), 400)


def test_a_body_that_is_not_json_by_content_type_is_a_415(account_id: str) -> None:
    assert_refused(lambda: raw_deposit(account_id, b'{"amount": 5}', content_type="text/plain"), 415)


def test_a_missing_content_type_is_a_415(account_id: str) -> None:
    req = request(
        "POST", f"/api/accounts/{account_id}/deposits", raw=b'{"amount": 5}', route_params={"id": account_id}
    )

    assert_refused(lambda: functions.deposit(req), 415)


def test_json_with_a_charset_and_json_suffix_types_are_accepted(account_id: str) -> None:
    assert raw_deposit(account_id, b'{"amount": 5}', "application/json; charset=utf-8").status_code == 200
    assert raw_deposit(account_id, b'{"amount": 5}', "application/vnd.eventbank+json").status_code == 200


def test_a_body_over_64_kib_is_a_413_before_it_is_parsed(account_id: str) -> None:
    # not even JSON: the size check comes first
    assert_refused(lambda: raw_deposit(account_id, b"x" * (MAX_BODY_BYTES + 1)), 413)


def test_a_body_of_exactly_64_kib_is_parsed(account_id: str) -> None:
    padding = MAX_BODY_BYTES - len(b'{"amount": 5, "reference": ""}')
    raw = b'{"amount": 5, "reference": "' + b" " * padding + b'"}'
    assert len(raw) == MAX_BODY_BYTES
    assert_refused(lambda: raw_deposit(account_id, raw), 422)  # a blank reference is invalid, not too large


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10**12 + 1}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": True}, "amount"),
        ({}, "amount"),
        ({"amount": 5, "reference": "x" * 141}, "reference"),
        ({"amount": 5, "reference": " " + "x" * 140}, "reference"),
        ({"amount": 5, "balance": 1_000_000}, "balance"),
        ({"amount": 5, "reference": "rent\u202efdp.exe"}, "reference"),
        ({"amount": 5, "reference": "rent\nPAID"}, "reference"),
        ({"amount": 5, "reference": "rent\u2066x\u2069"}, "reference"),
        ({"amount": 5, "reference": "rent\u200b"}, "reference"),
        ({"amount": 5, "reference": "\u200d\u200c"}, "reference"),
    ],
    ids=[
        "zero",
        "negative",
        "too-large",
        "fraction",
        "string",
        "boolean",
        "missing",
        "long-reference",
        "long-reference-counting-the-spaces-around-it",
        "unknown",
        "bidi-override-in-reference",
        "control-in-reference",
        "bidi-isolate-in-reference",
        "zero-width-space-in-reference",
        "only-joiners-in-reference",
    ],
)
def test_an_invalid_or_unknown_field_is_a_422_naming_the_field(
    account_id: str, body: object, field: str
) -> None:
    problem = assert_refused(lambda: account_command("deposits", account_id, body), 422)

    assert field in str(problem["detail"])
    assert any(error["field"] == field for error in problem["errors"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("written", ["2500.0", "2.5e3", "2500"])
def test_an_amount_written_as_a_whole_number_with_a_fraction_or_exponent_is_that_amount(
    account_id: str, written: str
) -> None:
    # JSON Schema's integer, which the contract says: any number whose fraction is zero
    response = raw_deposit(account_id, f'{{"amount": {written}}}'.encode())

    assert response.status_code == 200
    assert json_of(response)["balance"] == 2500


def test_a_body_that_is_not_an_object_is_a_422(account_id: str) -> None:
    assert_refused(lambda: raw_deposit(account_id, b"[1, 2]"), 422)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"owner_email": "not-an-email"}, "owner_email"),
        ({"owner_name": "   "}, "owner_name"),
        ({"owner_name": "Ada\u202eecalevoL"}, "owner_name"),
        ({"owner_name": "Ada\x00"}, "owner_name"),
        ({"owner_name": "Ada\u2028Lovelace"}, "owner_name"),
    ],
)
def test_opening_with_invalid_fields_is_a_422_and_opens_nothing(fields: dict[str, str], field: str) -> None:
    problem = assert_refused(lambda: open_account(fields), 422)

    assert field in str(problem["detail"])


def test_opening_with_a_client_chosen_id_is_refused() -> None:
    problem = assert_refused(lambda: open_account({"id": str(uuid.uuid4())}), 422)

    assert "id" in str(problem["detail"])


def test_a_command_on_an_unknown_account_is_a_404() -> None:
    assert_refused(lambda: account_command("deposits", str(uuid.uuid4()), {"amount": 5}), 404)


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "../../etc", "a/b", "a\\b", "x?y", "x#y", "\uff41\uff42\uff43", "1" * 5000]
)
def test_an_account_id_that_is_not_a_uuid_is_a_404(bad_id: str) -> None:
    assert_refused(lambda: account_command("deposits", bad_id, {"amount": 5}), 404)


def test_withdrawing_more_than_the_balance_is_a_409(account_id: str) -> None:
    problem = assert_refused(lambda: account_command("withdrawals", account_id, {"amount": 1}), 409)

    assert problem["type"] == "urn:eventbank:problem:insufficient-funds"


@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
def test_money_commands_on_a_closed_account_are_a_409(kind: str) -> None:
    account_id = opened_account_id()
    account_command("close", account_id)

    assert_refused(lambda: account_command(kind, account_id, {"amount": 1}), 409)


def test_closing_an_account_with_funds_is_a_409() -> None:
    account_id = opened_account_id()
    account_command("deposits", account_id, {"amount": 1})

    problem = assert_refused(lambda: account_command("close", account_id), 409)

    assert problem["type"] == "urn:eventbank:problem:account-has-funds"


def test_a_stale_if_match_is_a_412_with_the_current_version(account_id: str) -> None:
    problem = assert_refused(
        lambda: account_command("deposits", account_id, {"amount": 5}, headers={"If-Match": '"7"'}), 412
    )

    assert problem["current_version"] == 1


@pytest.mark.parametrize("header", ["7", '"seven"', "*", '"-1"'])
def test_a_malformed_if_match_is_a_400(account_id: str, header: str) -> None:
    assert_refused(
        lambda: account_command("deposits", account_id, {"amount": 5}, headers={"If-Match": header}), 400
    )


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_idempotency_key_is_a_400(account_id: str, key: str) -> None:
    assert_refused(
        lambda: account_command("deposits", account_id, {"amount": 5}, headers={"Idempotency-Key": key}), 400
    )


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        (functions.account_history, {"limit": "0"}),
        (functions.account_history, {"limit": "1001"}),
        (functions.account_history, {"from_version": "zero"}),
        (functions.get_account, {"min_version": "0"}),
        (functions.get_account, {"min_version": "soon"}),
        (functions.account_state, {"version": "0"}),
        (functions.account_state, {"version": str(2**53)}),
        (functions.account_state, {"at": "yesterday"}),
        (functions.account_state, {"at": "2026-01-01T00:00:00"}),
        (functions.account_state, {"version": "1", "at": "2026-01-01T00:00:00Z"}),
    ],
    ids=[
        "limit-zero",
        "limit-large",
        "from-text",
        "min-version-zero",
        "min-version-text",
        "version-zero",
        "version-huge",
        "at-text",
        "at-naive",
        "both",
    ],
)
def test_invalid_query_parameters_are_a_422(
    account_id: str, endpoint: Callable[[func.HttpRequest], func.HttpResponse], params: dict[str, str]
) -> None:
    path = f"/api/accounts/{account_id}/x"

    assert_refused(
        lambda: endpoint(request("GET", path, route_params={"id": account_id}, params=params)), 422
    )


@pytest.mark.parametrize(
    "endpoint", [functions.get_account, functions.account_history, functions.account_state]
)
def test_queries_for_an_unknown_account_are_404s(
    endpoint: Callable[[func.HttpRequest], func.HttpResponse],
) -> None:
    unknown = str(uuid.uuid4())

    assert_refused(
        lambda: endpoint(request("GET", f"/api/accounts/{unknown}", route_params={"id": unknown})), 404
    )


def test_an_unavailable_store_is_a_503_with_retry_after() -> None:
    @handles_problems
    def busy(req: func.HttpRequest) -> func.HttpResponse:
        raise StoreUnavailable("throttled", retry_after_seconds=3)

    response = busy(request("POST", "/api/accounts", {}))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert json.loads(response.get_body())["retry_after"] == 3


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
def test_a_time_that_overflows_once_in_utc_is_a_422(account_id: str, at: str) -> None:
    path = f"/api/accounts/{account_id}/state"

    assert_refused(
        lambda: functions.account_state(
            request("GET", path, route_params={"id": account_id}, params={"at": at})
        ),
        422,
    )


@pytest.mark.parametrize(
    "name", ["Mehr\u200cdad", "\U0001f469\u200d\U0001f4bb Ada", "Zo\u00eb", "\u5c71\u7530"]
)
def test_names_in_any_script_with_the_joiners_they_need_are_accepted(name: str) -> None:
    response = open_account({"owner_name": name})

    assert response.status_code == 201, response.get_body()
