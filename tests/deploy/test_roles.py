"""Least privilege: every role assignment names a real role, and each identity gets only what it needs.
The event log is append-only: no role on the events container can replace, upsert or delete."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.entry.services import SERVICES
from infra.entry.settings import (
    COSMOS_DATABASE,
    KEYS_CONTAINER,
    LEASES_CONTAINER,
    READMODELS_CONTAINER,
    SNAPSHOTS_CONTAINER,
)
from tests.deploy import bicep
from tests.deploy.bicep import MAIN, BicepFile, Expr, Resource

# Azure built-in roles (Microsoft.Authorization/roleDefinitions) a template may assign.
AZURE_BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "f526a384-b230-433a-b45c-95f59c4a2dec": "Azure Event Hubs Data Owner",
    "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
    "2b629674-e913-4c01-ae53-ef4638d8f975": "Azure Event Hubs Data Sender",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
# Cosmos DB built-in data-plane roles (databaseAccounts/sqlRoleDefinitions) and their data actions.
COSMOS = "Microsoft.DocumentDB/databaseAccounts"
COSMOS_BUILT_IN_ROLES = {
    "00000000-0000-0000-0000-000000000001": (
        "Cosmos DB Built-in Data Reader",
        (
            f"{COSMOS}/readMetadata",
            f"{COSMOS}/sqlDatabases/containers/executeQuery",
            f"{COSMOS}/sqlDatabases/containers/readChangeFeed",
            f"{COSMOS}/sqlDatabases/containers/items/read",
        ),
    ),
    "00000000-0000-0000-0000-000000000002": (
        "Cosmos DB Built-in Data Contributor",
        (
            f"{COSMOS}/readMetadata",
            f"{COSMOS}/sqlDatabases/containers/*",
            f"{COSMOS}/sqlDatabases/containers/items/*",
        ),
    ),
}
APPEND_ONLY_ACTIONS = {
    f"{COSMOS}/readMetadata",
    f"{COSMOS}/sqlDatabases/containers/items/create",
    f"{COSMOS}/sqlDatabases/containers/items/read",
    f"{COSMOS}/sqlDatabases/containers/executeQuery",
    f"{COSMOS}/sqlDatabases/containers/readChangeFeed",
}
# What the app needs on the control plane, and where: the host's blobs (keys, locks, Event Hubs
# checkpoints, the deployment package) and tables (diagnostic events), sending and receiving events,
# and publishing telemetry with local auth off.
CONTROL_PLANE_GRANTS = {
    ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("Azure Event Hubs Data Sender", "Microsoft.EventHub/namespaces"),
    ("Azure Event Hubs Data Receiver", "Microsoft.EventHub/namespaces"),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/components"),
}
ACCOUNT_SCOPE = "(account)"


@dataclass(frozen=True)
class CosmosRole:
    name: str
    actions: frozenset[str]
    custom: bool


def files() -> list[BicepFile]:
    return [bicep.load(path) for path in bicep.bicep_files()]


def role_assignments() -> list[tuple[BicepFile, Resource]]:
    return [
        (file, resource)
        for file in files()
        for resource in file.resources
        if resource.type in ("Microsoft.Authorization/roleAssignments", f"{COSMOS}/sqlRoleAssignments")
        and not resource.existing
    ]


def control_plane_role(file: BicepFile, assignment: Resource) -> str:
    value = assignment.properties["roleDefinitionId"]
    assert isinstance(value, Expr), assignment.path
    if match := re.fullmatch(
        r"subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions', (.+)\)", value.text
    ):
        role_id = bicep.resolve(file, Expr(match.group(1)))
        assert role_id in AZURE_BUILT_IN_ROLES, (assignment.path, role_id)
        return AZURE_BUILT_IN_ROLES[str(role_id)]
    found = bicep.resource_property(file, value)
    assert found is not None, (assignment.path, value)
    assert found[1] == "id", (assignment.path, value)
    assert found[0].type == "Microsoft.Authorization/roleDefinitions", (assignment.path, value)
    return str(found[0].properties["roleName"])


def cosmos_role(file: BicepFile, assignment: Resource) -> CosmosRole:
    value = bicep.resolve(file, assignment.properties["roleDefinitionId"])
    assert isinstance(value, Expr), assignment.path
    found = bicep.resource_property(file, value)
    if found is not None:
        definition, member = found
        assert member == "id", (assignment.path, value)
        assert definition.type == f"{COSMOS}/sqlRoleDefinitions", (assignment.path, value)
        assert not definition.existing
        return CosmosRole(
            str(definition.properties["roleName"]), frozenset(data_actions(definition)), custom=True
        )
    match = re.fullmatch(r"'\$\{\w+\.id\}/sqlRoleDefinitions/([0-9a-f-]{36})'", value.text)
    assert match is not None, (assignment.path, value)
    assert match.group(1) in COSMOS_BUILT_IN_ROLES, (assignment.path, value)
    name, actions = COSMOS_BUILT_IN_ROLES[match.group(1)]
    return CosmosRole(name, frozenset(actions), custom=False)


def data_actions(definition: Resource) -> list[str]:
    permissions = definition.properties["permissions"]
    assert isinstance(permissions, list)
    actions = []
    for permission in permissions:
        assert isinstance(permission, dict), permission
        assert set(permission) == {"dataActions"}, permission
        assert isinstance(permission["dataActions"], list)
        actions += [str(action) for action in permission["dataActions"]]
    return actions


def cosmos_scope(file: BicepFile, value: bicep.Value) -> str:
    """ACCOUNT_SCOPE, or the name of the container the scope is (no other scope is expected)."""
    scope = bicep.resolve(file, value)
    assert isinstance(scope, Expr), scope
    if scope.text == "account.id":
        return ACCOUNT_SCOPE
    match = re.fullmatch(r"'\$\{account\.id\}/dbs/\$\{(\w+)\}/colls/\$\{(\w+)\}'", scope.text)
    assert match is not None, ("a scope neither the account nor a container", scope)
    assert bicep.name_of(file, Expr(match.group(1))) == COSMOS_DATABASE
    container = bicep.name_of(file, Expr(match.group(2)))
    assert isinstance(container, str), container
    return container


def cosmos_grants() -> list[tuple[str, CosmosRole, Resource]]:
    """(scope, role, assignment) for every Cosmos DB data-plane role assignment."""
    return [
        (cosmos_scope(file, assignment.properties["scope"]), cosmos_role(file, assignment), assignment)
        for file, assignment in role_assignments()
        if assignment.type == f"{COSMOS}/sqlRoleAssignments"
    ]


def test_every_role_assignment_names_a_role_defined_in_the_templates_or_a_known_built_in_role() -> None:
    assignments = role_assignments()

    assert len(assignments) >= 10
    for file, assignment in assignments:
        if assignment.type == "Microsoft.Authorization/roleAssignments":
            assert control_plane_role(file, assignment)
        else:
            assert cosmos_role(file, assignment).name


def test_role_assignment_names_are_stable_guids_of_scope_principal_and_role() -> None:
    assert role_assignments()
    for _, assignment in role_assignments():
        name = assignment.name
        assert isinstance(name, Expr), assignment.path
        assert name.text.startswith("guid("), assignment.path
        assert "principal" in name.text.lower(), assignment.path


def test_each_services_event_log_role_can_create_and_read_but_not_replace_upsert_or_delete() -> None:
    assert SERVICES
    for service in SERVICES:
        on_events = [role for scope, role, _ in cosmos_grants() if scope == service.events_container]

        assert on_events, f"no data role on {service.events_container}"
        for role in on_events:
            assert role.custom, f"{role.name} is not the append-only role"
            assert role.actions == APPEND_ONLY_ACTIONS
            for action in role.actions:
                assert not re.search(r"(replace|upsert|delete|\*)$", action, re.IGNORECASE), action


def test_no_custom_cosmos_role_allows_replace_upsert_or_delete_on_the_events_container() -> None:
    cosmos_rbac = bicep.by_relative("app/cosmos-rbac.bicep")
    events_containers = {service.events_container for service in SERVICES}
    checked = []
    for definition in cosmos_rbac.of_type(f"{COSMOS}/sqlRoleDefinitions"):
        scopes = definition.properties["assignableScopes"]
        assert isinstance(scopes, list)
        if events_containers & {cosmos_scope(cosmos_rbac, scope) for scope in scopes}:
            forbidden = [a for a in data_actions(definition) if re.search(r"(replace|upsert|delete|\*)$", a)]
            assert not forbidden, (definition.path, forbidden)
            checked.append(definition.path)

    assert checked, "no custom role is scoped to an events container: the check above checked nothing"


def test_the_account_scope_gets_metadata_reads_only() -> None:
    at_account = [role for scope, role, _ in cosmos_grants() if scope == ACCOUNT_SCOPE]

    assert at_account, "the change-feed trigger needs readMetadata above container scope"
    for role in at_account:
        assert role.actions == {f"{COSMOS}/readMetadata"}, role.name


def test_data_contributor_only_on_the_containers_that_are_rewritten_or_deleted_from() -> None:
    grants = cosmos_grants()
    contributor = {scope for scope, role, _ in grants if not role.custom}

    assert contributor == {SNAPSHOTS_CONTAINER, READMODELS_CONTAINER, LEASES_CONTAINER, KEYS_CONTAINER}
    assert {role.name for _, role, _ in grants if not role.custom} == {"Cosmos DB Built-in Data Contributor"}
    events_containers = {service.events_container for service in SERVICES}
    assert {scope for scope, _, _ in grants} == contributor | events_containers | {ACCOUNT_SCOPE}


def test_custom_roles_are_assignable_only_where_they_are_assigned() -> None:
    cosmos_rbac = bicep.by_relative("app/cosmos-rbac.bicep")
    assert cosmos_rbac.of_type(f"{COSMOS}/sqlRoleDefinitions")
    for definition in cosmos_rbac.of_type(f"{COSMOS}/sqlRoleDefinitions"):
        assert definition.properties["type"] == "CustomRole"
        scopes = definition.properties["assignableScopes"]
        assert isinstance(scopes, list)
        assigned = {
            scope for scope, role, _ in cosmos_grants() if role.name == definition.properties["roleName"]
        }
        assert {cosmos_scope(cosmos_rbac, scope) for scope in scopes} == assigned, definition.path


def test_the_control_plane_grants_are_exactly_what_the_app_needs_where_it_needs_them() -> None:
    grants = set()
    for file, assignment in role_assignments():
        if assignment.type != "Microsoft.Authorization/roleAssignments":
            continue
        scope = assignment.body["scope"]
        assert isinstance(scope, Expr)
        grants.add((control_plane_role(file, assignment), file.resource(scope.text).type))

    assert grants == CONTROL_PLANE_GRANTS


def test_the_deploying_user_gets_the_same_data_roles_as_the_app() -> None:
    main = bicep.load(MAIN)
    for symbol in ("rbac", "cosmosRbac"):
        params = main.module(symbol).params
        assert params["appPrincipalId"] == Expr("identity.outputs.principalId")
        assert params["userPrincipalId"] == Expr("principalId")
    assert main.params["principalId"].default == ""
    assert role_assignments()
    for file, assignment in role_assignments():
        if assignment.path == "metricsPublisher":  # telemetry: the app alone sends it
            continue
        assert assignment.loop_source is not None, assignment.path
        principals = str(bicep.resolve(file, Expr(assignment.loop_source)))
        principals += str(file.variables.get("app", ""))
        assert "appPrincipalId" in principals, assignment.path
        assert "userPrincipalId" in principals, assignment.path


def test_cosmos_role_operations_are_deployed_one_at_a_time() -> None:
    # Cosmos DB applies one role operation on an account at a time; parallel ones can fail with a conflict.
    cosmos_rbac = bicep.by_relative("app/cosmos-rbac.bicep")
    assert cosmos_rbac.of_type(f"{COSMOS}/sqlRoleAssignments")
    for assignment in cosmos_rbac.of_type(f"{COSMOS}/sqlRoleAssignments"):
        assert "@batchSize(1)" in assignment.decorators, assignment.path
        assert "dependsOn" in assignment.body, assignment.path
