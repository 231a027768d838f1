"""Easy Auth on the dev host, end to end: by default every request is the local user's whatever a client
claims; in test mode the client's principal headers are taken as sent, so one host serves several users."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.entry.identity import Principal, principal_headers
from tests.e2e.test_devhost_pipeline import dev_host, stop

pytestmark = pytest.mark.e2e

ADA = principal_headers(Principal("ada-id", "ada@example.com"))
MALLORY = principal_headers(Principal("mallory-id", "mallory@example.com"))
OPEN = {"owner_name": "Ada Lovelace", "owner_email": "ada@example.com", "currency": "EUR"}


def test_in_test_mode_each_caller_is_who_their_headers_say_and_sees_only_their_own(tmp_path: Path) -> None:
    with dev_host(tmp_path, "--auth", "test") as (client, process):
        opened = client.post("/accounts", json=OPEN, headers=ADA)
        account = opened.json()["id"]
        as_ada = client.get(f"/accounts/{account}/events", headers=ADA)
        as_mallory = client.get(f"/accounts/{account}/events", headers=MALLORY)
        as_nobody = client.get(f"/accounts/{account}/events")
        stop(process, tmp_path)

    assert opened.status_code == 201
    assert as_ada.json()["events"][0]["data"]["holder"] == "ada-id"
    assert (as_mallory.status_code, as_nobody.status_code) == (404, 401)
    assert as_nobody.headers["content-type"].startswith("application/problem+json")


def test_by_default_a_principal_a_client_claims_is_replaced_by_the_local_user(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, process):
        opened = client.post("/accounts", json=OPEN, headers=MALLORY)
        account = opened.json()["id"]
        history = client.get(f"/accounts/{account}/events", headers=ADA).json()
        stop(process, tmp_path)

    holder = history["events"][0]["data"]["holder"]
    assert holder not in ("ada-id", "mallory-id")
    assert history["events"][0]["metadata"]["actor"] == holder  # the local user, both times


def test_a_path_or_method_no_route_takes_is_a_problem_json_404(tmp_path: Path) -> None:
    with dev_host(tmp_path) as (client, process):
        answers = [
            client.get("/nothing/here"),
            client.delete("/accounts"),  # the route exists, for GET and POST only
            client.put("/transfers/3f2b8c1e-9d4a-4e6b-8f0c-2a1d5e7b9c40"),
        ]
        stop(process, tmp_path)

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert all(answer.headers["content-type"].startswith("application/problem+json") for answer in answers)
    assert answers[0].json()["title"] == "No such route"
