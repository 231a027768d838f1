"""The API's OpenAPI document: valid OpenAPI 3.1, and the same routes as the app (every route the app
serves is in it, every route in it is served by the function it names, with the same method)."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from domain.accounts import DepositMoney
from infra.entry import openapi
from tests.entry.functions.conftest import conforms, json_of, request, settle
from tests.worker import app_worker, functions

# not operations of the API: what answers every path and method no operation takes, and the docs page
UNDOCUMENTED = {"unknown_route", "docs", "docs_asset"}


def app_routes() -> set[tuple[str, str, str]]:
    """(function, method, path) for every method of every HTTP function the worker loaded."""
    found = set()
    for function in app_worker().functions:
        trigger = function.trigger
        if trigger["type"] != "httpTrigger" or function.name in UNDOCUMENTED:
            continue
        for method in trigger["methods"]:
            found.add((function.name, method.lower(), "/api/" + trigger["route"]))
    return found


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (operation["operationId"], method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_the_app_serves_is_documented_and_every_documented_route_is_served() -> None:
    assert documented_routes(openapi.document()) == app_routes()


def test_every_operation_answers_errors_as_problems_and_signed_in_ones_say_401() -> None:
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], (method, path, status)
            if operation["security"] == [{"entraId": [], "functionKey": []}]:
                assert "401" in operation["responses"], (method, path)


def test_the_headers_of_the_protocol_are_in_the_contract() -> None:
    document = openapi.document()
    deposit = document["paths"]["/api/accounts/{id}/deposits"]["post"]
    opened = document["paths"]["/api/accounts"]["post"]["responses"]["201"]["headers"]

    assert {p["name"] for p in deposit["parameters"] if p["in"] == "header"} >= {
        "If-Match",
        "Idempotency-Key",
    }
    assert {"ETag", "Location"} <= set(opened)


def test_the_document_is_served_to_anyone() -> None:
    response = functions.openapi(request("GET", "/api/openapi.json", caller=None))

    assert response.status_code == 200
    assert json_of(response) == openapi.document()


def test_the_answers_of_accounts_and_transfers_are_what_the_contract_says() -> None:
    opened = functions.open_account(
        request(
            "POST",
            "/api/accounts",
            {"owner_name": "Ada Lovelace", "owner_email": "ada@example.com", "currency": "EUR"},
        )
    )
    account = json_of(opened)["id"]
    other = json_of(
        functions.open_account(
            request(
                "POST",
                "/api/accounts",
                {"owner_name": "Ada Lovelace", "owner_email": "ada@example.com", "currency": "EUR"},
            )
        )
    )["id"]
    route = {"id": account}
    deposited = functions.deposit(
        request("POST", f"/api/accounts/{account}/deposits", {"amount": 500}, route_params=route)
    )
    refused = functions.withdraw(
        request("POST", f"/api/accounts/{account}/withdrawals", {"amount": 5_000}, route_params=route)
    )
    moved = functions.request_transfer(
        request("POST", "/api/transfers", {"from_account": account, "to_account": other, "amount": 100})
    )
    settle()
    transfer = {"id": json_of(moved)["id"]}
    answers = {
        "open_account": opened,
        "deposit": deposited,
        "withdraw": refused,
        "get_account": functions.get_account(request("GET", f"/api/accounts/{account}", route_params=route)),
        "account_state": functions.account_state(
            request("GET", f"/api/accounts/{account}/state", route_params=route, params={"version": "1"})
        ),
        "request_transfer": moved,
        "get_transfer": functions.get_transfer(
            request("GET", f"/api/transfers/{transfer['id']}", route_params=transfer)
        ),
        "transfer_state": functions.transfer_state(
            request("GET", f"/api/transfers/{transfer['id']}/state", route_params=transfer)
        ),
    }

    for function, response in answers.items():
        conforms(function, response)
    assert refused.status_code == 409  # a problem, held to the problem's shape


def test_the_docs_page_is_swagger_ui_over_the_contract_from_files_served_here() -> None:
    page = functions.docs(request("GET", "/api/docs", caller=None))
    assets = {
        name: functions.docs_asset(
            request("GET", f"/api/docs/{name}", route_params={"asset": name}, caller=None)
        )
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "index.html")
    }
    html = page.get_body().decode()

    assert (page.status_code, page.mimetype) == (200, "text/html")
    assert 'url: "/api/openapi.json"' in html
    assert all(f'"/api/docs/{name}"' in html for name in ("swagger-ui-bundle.js", "swagger-ui.css"))
    assert "://" not in html  # nothing fetched from elsewhere: it works offline
    bundle = assets["swagger-ui-bundle.js"]
    assert (bundle.status_code, bundle.mimetype) == (200, "text/javascript")
    assert bundle.get_body() == (openapi.SWAGGER_UI / "swagger-ui-bundle.js").read_bytes()
    assert assets["swagger-ui.css"].mimetype == "text/css"
    assert assets["index.html"].status_code == 404


def test_the_schemas_use_only_json_schemas_own_words_for_their_bounds() -> None:
    # pydantic writes a bound it cannot place on an optional field as its own `ge`/`le`, which JSON
    # Schema readers ignore: the fuzzer then sent ?version=-346 as valid (it is refused, rightly)
    text = json.dumps(openapi.document())

    assert not re.findall(r'"(ge|gt|le|lt|min_length|max_length|multiple_of)":', text)
    state = openapi.document()["paths"]["/api/accounts/{id}/state"]["get"]["parameters"]
    (version,) = [p["schema"] for p in state if p["name"] == "version"]
    assert version["anyOf"][0]["minimum"] == 1


def test_the_headers_and_the_email_say_what_the_app_accepts() -> None:
    document = openapi.document()
    deposit = document["paths"]["/api/accounts/{id}/deposits"]["post"]["parameters"]
    headers = {p["name"]: p["schema"] for p in deposit if p["in"] == "header"}
    patterns = {name: schema["pattern"] for name, schema in headers.items() if "pattern" in schema}
    email = document["components"]["schemas"]["OpenAccountRequest"]["properties"]["owner_email"]

    # a malformed correlation id is replaced, never refused: a pattern would promise a refusal
    assert "pattern" not in headers["X-Correlation-ID"]

    assert re.fullmatch(patterns["If-Match"], '"3"')
    assert not re.fullmatch(patterns["If-Match"], "*")
    assert re.fullmatch(patterns["Idempotency-Key"], "k-1")
    assert not re.fullmatch(patterns["Idempotency-Key"], "Reaction:transfer:x:debit")
    assert not re.fullmatch(email["pattern"], "developer@localhost")  # email-validator wants a dot there


def free_text_pattern() -> str:
    reference = openapi.document()["components"]["schemas"]["DepositMoney"]["properties"]["reference"]
    (text,) = [branch for branch in reference["anyOf"] if branch["type"] == "string"]
    return str(text["pattern"])


def accepted_as_reference(text: str) -> bool:
    try:
        DepositMoney(amount=1, reference=text)
    except pydantic.ValidationError:
        return False
    return True


# Within the Basic Multilingual Plane and Unicode's assigned characters, the pattern says exactly what the
# app takes; surrogates and unassigned code points are refused by the app and named only in the description.
@given(
    st.text(
        alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cn")), min_size=1, max_size=60
    )
)
def test_the_free_text_pattern_takes_what_the_app_takes_and_refuses_what_it_refuses(text: str) -> None:
    assert bool(re.fullmatch(free_text_pattern(), text)) == accepted_as_reference(text)


def test_the_free_text_pattern_refuses_overrides_controls_and_blank_text_and_keeps_the_joiners() -> None:
    pattern = free_text_pattern()

    for refused in ("a\u202eb", "a\u0000", " ", "\u3000\u00a0", "line\u2028break", "\ue000", "\u200d\u200c"):
        assert not re.fullmatch(pattern, refused), refused
    for taken in (
        "Ada Lovelace",
        " padded ",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "\U0001f9d1\u200d\U0001f4bb",
    ):
        assert re.fullmatch(pattern, taken), taken
