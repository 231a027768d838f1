// eventbank on Azure: `azd up` provisions this, then deploys the function app (service `api`).
// No keys anywhere: every connection is the app's user-assigned identity, and each identity is allowed
// only what it needs (app/rbac.bicep, app/cosmos-rbac.bicep). The event log is append-only by role.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user (azd passes AZURE_PRINCIPAL_ID): it gets the app\'s data roles, so a local run against these resources works. Empty: nobody but the app.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Kind of principal principalId names: User for a developer, ServicePrincipal for a CI pipeline.')
param principalType string = 'User'

@minValue(0)
@maxValue(1000000)
@description('0 (the default): a serverless Cosmos DB account, billed per request unit used. Otherwise the database\'s shared provisioned throughput in RU/s (400 or more, in steps of 100).')
param cosmosThroughput int = 0

@minValue(1)
@maxValue(32)
@description('Partitions of each event hub; fixed once created on the Standard tier.')
param eventHubPartitionCount int = 4

@allowed([
  512
  2048
  4096
])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances.')
param maximumInstanceCount int = 100

@description('Client id of the Microsoft Entra ID app registration callers sign in to (AUTH_CLIENT_ID): App Service Authentication then validates every caller\'s token in front of the app. Empty: no sign-in, and the app, failing closed, answers every request but health with 503.')
param authClientId string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    throughput: cosmosThroughput
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    name: '${abbrs.eventHubNamespaces}${resourceToken}'
    location: location
    tags: tags
    partitionCount: eventHubPartitionCount
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    eventHubsNamespace: eventHubs.outputs.fullyQualifiedNamespace
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    authClientId: authClientId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module cosmosRbac 'app/cosmos-rbac.bicep' = {
  name: 'cosmos-rbac'
  scope: rg
  params: {
    accountName: cosmos.outputs.name
    databaseName: cosmos.outputs.databaseName
    eventsContainerName: cosmos.outputs.eventsContainerName
    transfersEventsContainerName: cosmos.outputs.transfersEventsContainerName
    snapshotsContainerName: cosmos.outputs.snapshotsContainerName
    readModelsContainerName: cosmos.outputs.readModelsContainerName
    leasesContainerName: cosmos.outputs.leasesContainerName
    sealingContainerName: cosmos.outputs.sealingContainerName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

// azd writes these to .azure/<env>/.env; infra/azure/scripts/write-local-settings.sh reads them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output COSMOS_CONNECTION__accountEndpoint string = cosmos.outputs.endpoint
output EVENTHUB_CONNECTION__fullyQualifiedNamespace string = eventHubs.outputs.fullyQualifiedNamespace
output EVENTBANK_COSMOS_DATABASE string = cosmos.outputs.databaseName
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
