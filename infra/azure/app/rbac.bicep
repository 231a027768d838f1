// Control-plane role assignments (storage, Event Hubs, Application Insights) for the app's identity and,
// when given, the deploying user, so a local run against these resources works with the same rights.
// Cosmos DB data-plane roles are in cosmos-rbac.bicep.
param storageAccountName string
param eventHubsNamespaceName string
param applicationInsightsName string
param appPrincipalId string

@description('The deploying user (or CI principal); empty: no grants but the app\'s.')
param userPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
param userPrincipalType string = 'User'

// Built-in role definitions (Microsoft.Authorization/roleDefinitions).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var app = [
  {
    id: appPrincipalId
    type: 'ServicePrincipal'
  }
]
var principals = empty(userPrincipalId) ? app : concat(app, [
  {
    id: userPrincipalId
    type: userPrincipalType
  }
])

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource eventHubsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host's blobs (keys, locks), the Event Hubs trigger's checkpoints and the Flex deployment
// package all live in blobs.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(storage.id, principal.id, roles.storageBlobDataOwner)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

// The host's diagnostic events go to tables.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(storage.id, principal.id, roles.storageTableDataContributor)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

// The relay publishes to the services' hubs; the namespace holds only those hubs.
resource eventHubsDataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(eventHubsNamespace.id, principal.id, roles.eventHubsDataSender)
    scope: eventHubsNamespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

// The projectors read them.
resource eventHubsDataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(eventHubsNamespace.id, principal.id, roles.eventHubsDataReceiver)
    scope: eventHubsNamespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

// Telemetry with local auth off: only the app sends it.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
