#!/bin/sh
# azd's post-provision hook: writes local.settings.json so `func start` (or `make run-azure`) runs this
# app against the resources just provisioned, with the developer's own Entra identity (Azure CLI, VS Code
# or Visual Studio sign-in): no keys, and no `__credential` settings, which are for managed identities only.
# The deploying user holds the same data roles as the app (infra/azure/app/rbac.bicep, cosmos-rbac.bicep).
#
# The relay gets its own lease prefix, so the local change-feed trigger keeps its own leases instead of
# taking the deployed app's. An existing local.settings.json that differs is kept as local.settings.json.bak.
#
# Values come from the environment (azd passes the environment's values to hooks) or `azd env get-values`.
# LOCAL_SETTINGS_PATH overrides where the file goes.
set -eu

cd "$(dirname "$0")/../../.."
target="${LOCAL_SETTINGS_PATH:-local.settings.json}"

names="COSMOS_CONNECTION__accountEndpoint EVENTHUB_CONNECTION__fullyQualifiedNamespace EVENTBANK_COSMOS_DATABASE AZURE_STORAGE_BLOB_ENDPOINT AZURE_STORAGE_TABLE_ENDPOINT"
azd_values=""
for name in $names; do
  eval "found=\${$name:-}"
  if [ -z "$found" ] && command -v azd >/dev/null 2>&1; then
    azd_values="$(azd env get-values 2>/dev/null || true)"
    break
  fi
done

value_of() {
  eval "found=\${$1:-}"
  if [ -z "$found" ]; then
    found="$(printf '%s\n' "$azd_values" | sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" | head -n 1)"
  fi
  case "$found" in
    "") echo "write-local-settings: $1 is not set; run azd provision first" >&2; exit 1 ;;
    *[!A-Za-z0-9:/._-]*) echo "write-local-settings: unexpected characters in $1" >&2; exit 1 ;;
  esac
  printf '%s' "$found"
}

cosmos_endpoint="$(value_of COSMOS_CONNECTION__accountEndpoint)"
eventhubs_namespace="$(value_of EVENTHUB_CONNECTION__fullyQualifiedNamespace)"
cosmos_database="$(value_of EVENTBANK_COSMOS_DATABASE)"
blob_endpoint="$(value_of AZURE_STORAGE_BLOB_ENDPOINT)"
table_endpoint="$(value_of AZURE_STORAGE_TABLE_ENDPOINT)"

# local-<user>-<service>-relay-: each deployed relay's prefix with a per-developer prefix.
user="$(printf '%s' "${USER:-$(id -un 2>/dev/null || echo developer)}" | tr '[:upper:]' '[:lower:]' \
  | tr -c 'a-z0-9' '-' | sed -e 's/--*/-/g' -e 's/^-//' -e 's/-$//' | cut -c 1-32)"
relay_lease_prefix="local-${user:-developer}-accounts-relay-"
transfers_relay_lease_prefix="local-${user:-developer}-transfers-relay-"

new="$(mktemp)"
trap 'rm -f "$new"' EXIT
cat > "$new" <<JSON
{
  "IsEncrypted": false,
  "Values": {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage__blobServiceUri": "$blob_endpoint",
    "AzureWebJobsStorage__tableServiceUri": "$table_endpoint",
    "COSMOS_CONNECTION__accountEndpoint": "$cosmos_endpoint",
    "EVENTHUB_CONNECTION__fullyQualifiedNamespace": "$eventhubs_namespace",
    "RELAY_LEASE_PREFIX": "$relay_lease_prefix",
    "TRANSFERS_RELAY_LEASE_PREFIX": "$transfers_relay_lease_prefix",
    "EVENTBANK_BACKEND": "azure",
    "EVENTBANK_COSMOS_DATABASE": "$cosmos_database",
    "EVENTBANK_IDENTITY_HEADERS": "local"
  },
  "Host": {
    "LocalHttpPort": 7071
  }
}
JSON

if [ -f "$target" ] && ! cmp -s "$new" "$target"; then
  cp "$target" "$target.bak"
  echo "write-local-settings: kept the previous $target as $target.bak"
fi
cp "$new" "$target"
echo "write-local-settings: wrote $target for the provisioned resources (relay lease prefix $relay_lease_prefix)"
