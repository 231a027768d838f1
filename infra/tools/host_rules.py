"""The Functions host's start-up rules, checked by the dev host against what the worker indexed: an app the
host would put in error does not start here either.

Each rule is the host's own, from its source (Azure/azure-functions-host:
`Utility.FunctionNameValidationRegex`, and the validation in `ScriptHost`/`FunctionMetadataManager`:
`ValidateHttpFunction`, `HttpRoutesConflict`) or its documentation (host.json reference; extension
bundles). Where the host only puts one function in error and starts the others, the dev host refuses the
whole app: a function in error is a defect to fix, not to run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from infra.tools.worker import FunctionMetadata

# Utility.FunctionNameValidationRegex: a letter, then letters, digits, '_' or '-', 128 at most; not "host"
FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$(?<!^host$)", re.IGNORECASE)
# ValidateHttpFunction: the host's own routes; it compares the start of the route, not a whole segment
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")
BUILT_IN_ROUTE = "The specified route conflicts with one or more built in routes."
BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
# The Cosmos DB trigger's v4 settings (containerName, leaseContainerName) need extension 4.x, which the
# bundle carries from 4.0 on; Flex Consumption needs bundle 4.0 or later for non-C# apps anyway.
LOWEST_BUNDLE_MAJOR = 4
SETTING_EXPRESSION = re.compile(r"%([^%]+)%")
# a connection is a setting, or settings under its name (identity-based: NAME__accountEndpoint, ...)
CONNECTION_BINDINGS = ("cosmosDBTrigger", "eventHubTrigger")


@dataclass(frozen=True)
class Refusal:
    function: str  # "" for the app as a whole (host.json)
    rule: str

    def __str__(self) -> str:
        return f"{self.function}: {self.rule}" if self.function else self.rule


def check_app(
    functions: Sequence[FunctionMetadata],
    host_json: Mapping[str, Any],
    settings: Mapping[str, str],
    check_connections: bool,
    defaults: Mapping[str, str],
) -> list[Refusal]:
    """Every start-up rule the app breaks. `settings` are the app settings (the environment), `defaults`
    the values the dev host supplies for binding expressions locally; connections are checked only when
    the app runs against Azure services (the embedded backends stand in for them otherwise)."""
    refusals = [*_host_json(host_json, functions)]
    seen: dict[str, str] = {}
    http: list[tuple[str, str, frozenset[str] | None]] = []
    for function in functions:
        name = function.name
        if not FUNCTION_NAME.match(name):
            refusals.append(Refusal(name, f"'{name}' is not a valid function name."))
        if name.lower() in seen:
            refusals.append(
                Refusal(name, f"The function or proxy name '{name}' must be unique within the function app.")
            )
        seen[name.lower()] = name
        for binding in function.bindings:
            refusals.extend(_settings(name, binding, settings, defaults))
            if check_connections and binding.get("type") in CONNECTION_BINDINGS:
                refusals.extend(_connection(name, binding, settings))
        trigger = function.trigger
        if trigger.get("type") == "timerTrigger":
            refusals.extend(_schedule(name, str(trigger.get("schedule") or ""), settings, defaults))
        if trigger.get("type") == "httpTrigger":
            route = str(trigger.get("route") or name).strip("/")
            if route.lower().startswith(RESERVED_ROUTE_PREFIXES):
                refusals.append(Refusal(name, BUILT_IN_ROUTE))
            methods = trigger.get("methods")
            mine = frozenset(str(m).upper() for m in methods) if methods else None
            for other, other_route, theirs in http:
                if other_route.lower() == route.lower() and (mine is None or theirs is None or mine & theirs):
                    refusals.append(
                        Refusal(
                            name,
                            f"The route specified conflicts with the route defined by function '{other}'.",
                        )
                    )
            http.append((name, route, mine))
    return refusals


def _host_json(host_json: Mapping[str, Any], functions: Sequence[FunctionMetadata]) -> list[Refusal]:
    refusals = []
    if host_json.get("version") != "2.0":
        refusals.append(Refusal("", 'host.json: "version" must be "2.0" (Functions 2.x and later)'))
    bundle = host_json.get("extensionBundle") or {}
    triggers = {str(function.trigger.get("type")) for function in functions}
    needs_bundle = triggers - {"httpTrigger", "timerTrigger"}
    if needs_bundle:
        major = _lowest_major(str(bundle.get("version", "")))
        if bundle.get("id") != BUNDLE_ID or major is None or major < LOWEST_BUNDLE_MAJOR:
            refusals.append(
                Refusal(
                    "",
                    f"host.json: the extension bundle ({bundle.get('id')!r}, {bundle.get('version')!r}) "
                    f"must be {BUNDLE_ID} from {LOWEST_BUNDLE_MAJOR}.0 on, for "
                    f"{', '.join(sorted(needs_bundle))}",
                )
            )
    return refusals


def _lowest_major(version_range: str) -> int | None:
    """The lowest major version a bundle range admits: `[4.*, 5.0.0)` and `[4.0.0, 5.0.0)` give 4."""
    found = re.match(r"^\s*[\[(]?\s*(\d+)", version_range)
    return None if found is None else int(found.group(1))


def _settings(
    function: str, binding: Mapping[str, Any], settings: Mapping[str, str], defaults: Mapping[str, str]
) -> list[Refusal]:
    return [
        Refusal(
            function,
            f"the binding {binding.get('name')!r} names the app setting %{name}%, which is not defined",
        )
        for value in binding.values()
        for name in SETTING_EXPRESSION.findall(str(value))
        if name not in settings and name not in defaults
    ]


def _schedule(
    function: str, schedule: str, settings: Mapping[str, str], defaults: Mapping[str, str]
) -> list[Refusal]:
    """A timer's schedule must be an NCRONTAB expression of six fields, seconds first (the host's
    TimerTriggerAttribute; a TimeSpan such as 00:05:00 works only on an App Service plan, not on Flex
    Consumption, so it is refused here too). A %SETTING% is read from the settings first."""
    value = SETTING_EXPRESSION.sub(
        lambda m: settings.get(m.group(1)) or defaults.get(m.group(1), ""), schedule
    )
    if len(value.split()) == 6 and croniter.is_valid(value, second_at_beginning=True):
        return []
    return [
        Refusal(
            function,
            f"The schedule expression '{value}' was not recognized as a valid cron expression or "
            "timespan string.",
        )
    ]


def _connection(function: str, binding: Mapping[str, Any], settings: Mapping[str, str]) -> list[Refusal]:
    connection = str(binding.get("connection") or "")
    defined = connection in settings or any(key.startswith(f"{connection}__") for key in settings)
    if defined:
        return []
    return [
        Refusal(
            function,
            f"the connection {connection!r} of binding {binding.get('name')!r} is not defined "
            f"(set {connection} or {connection}__<property> settings)",
        )
    ]
