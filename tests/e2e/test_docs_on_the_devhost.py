"""The API's contract and docs page on the dev host: served without sign-in, from files of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_devhost_pipeline import dev_host, stop

pytestmark = pytest.mark.e2e


def test_the_docs_page_its_files_and_the_contract_are_served_to_a_browser(tmp_path: Path) -> None:
    with dev_host(tmp_path, "--auth", "test") as (client, process):  # test mode: nobody signed in
        page = client.get("/docs")
        bundle = client.get("/docs/swagger-ui-bundle.js")
        contract = client.get("/openapi.json")
        stop(process, tmp_path)

    assert page.headers["content-type"].startswith("text/html")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 1_000_000  # the whole Swagger UI bundle, nothing fetched from elsewhere
    assert contract.json()["openapi"] == "3.1.0"
