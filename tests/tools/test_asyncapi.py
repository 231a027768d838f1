"""The AsyncAPI 3.0 document of the hubs (docs/asyncapi.json): current with the code, complete, and valid
for the AsyncAPI project's own parser (npm @asyncapi/parser, installed by make test with the wire server)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.entry.services import SERVICES
from infra.tools import asyncapi
from tests.wire.server import HERE as NODE_TOOLS

PARSER = NODE_TOOLS / "node_modules" / "@asyncapi" / "parser" / "package.json"
needs_parser = pytest.mark.skipif(
    shutil.which("node") is None or not PARSER.is_file(),
    reason="node or npm @asyncapi/parser is missing: install Node.js 20+ and run make test (tests/wire)",
)


def parse(document: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    return subprocess.run(
        ["node", str(NODE_TOOLS / "asyncapi_check.js"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=NODE_TOOLS,
    )


def test_the_checked_in_document_is_what_the_code_says() -> None:
    assert asyncapi.DOCUMENT.read_text() == asyncapi.rendered(), "run python -m infra.tools.asyncapi"


def test_each_hub_carries_every_event_type_of_its_service_and_every_reader_is_an_operation() -> None:
    document = asyncapi.document()

    for service in SERVICES:
        messages = document["channels"][service.hub]["messages"]
        assert set(messages) == {f"{service.name}.{t.__name__}" for t in service.decider.event_types}
        readers = {service.projector_function, *(s.function for s in service.subscriptions)}
        assert {name for name, op in document["operations"].items() if op["action"] == "receive"} >= readers
        assert document["operations"][service.relay_function]["channel"] == {
            "$ref": f"#/channels/{service.hub}"
        }
    opened = document["components"]["schemas"]["AccountOpened"]
    assert opened["properties"]["owner"] == {"$ref": "#/components/schemas/Owner"}


@needs_parser
def test_the_asyncapi_parser_finds_the_document_valid(tmp_path: Path) -> None:
    result = parse(asyncapi.document(), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid: 2 channels, 17 messages" in result.stdout


@needs_parser
def test_the_asyncapi_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    broken = copy.deepcopy(asyncapi.document())
    broken["operations"]["relay_account_events"]["action"] = "publish"  # AsyncAPI 2's verb, not 3's

    result = parse(broken, tmp_path)

    assert result.returncode == 1
    assert "error" in result.stdout
