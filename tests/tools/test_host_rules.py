"""The shipped app passes every start-up rule the Functions host applies (see infra/tools/host_rules.py)."""

import json
from pathlib import Path

from infra.entry.services import binding_setting_defaults
from infra.tools import host_rules
from tests.worker import app_worker

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_app_breaks_no_rule_the_functions_host_applies_at_start() -> None:
    functions = app_worker().functions
    host_json = json.loads((REPO / "host.json").read_text())

    refusals = host_rules.check_app(
        functions, host_json, {}, check_connections=False, defaults=binding_setting_defaults()
    )

    assert functions
    assert [str(refusal) for refusal in refusals] == []


def test_no_route_of_the_shipped_app_starts_with_a_prefix_the_host_reserves() -> None:
    routes = [
        str(binding["route"])
        for function in app_worker().functions
        for binding in function.bindings
        if binding.get("type") == "httpTrigger"
    ]

    assert "ops/deadletters" in routes
    assert not [r for r in routes if r.lower().startswith(host_rules.RESERVED_ROUTE_PREFIXES)]
