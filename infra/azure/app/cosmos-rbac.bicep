// Cosmos DB data-plane roles (Entra ID; the account's keys are disabled) for the app's identity and,
// when given, the deploying user:
// - the events containers (one per service): a custom append-only role. Create, read, query and change feed; no replace,
//   upsert or delete, so Cosmos DB itself refuses any attempt to change or remove an event;
// - the account: metadata reads, which the change-feed trigger and the SDK need above container scope;
// - snapshots, read models and leases, which are rewritten, and the sealing container (`keys`), whose documents
//   are created and deleted (crypto-shredding): Cosmos DB Built-in Data Contributor there only.
param accountName string
param databaseName string
param eventsContainerName string
param transfersEventsContainerName string
param snapshotsContainerName string
param readModelsContainerName string
param leasesContainerName string
param sealingContainerName string
param appPrincipalId string

@description('The deploying user (or CI principal); empty: no grants but the app\'s.')
param userPrincipalId string = ''

// Cosmos DB takes one role operation on an account at a time, so these are deployed one after another.
var principalIds = empty(userPrincipalId) ? [appPrincipalId] : [appPrincipalId, userPrincipalId]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: accountName
}

var accountScope = account.id
var eventsScope = '${account.id}/dbs/${databaseName}/colls/${eventsContainerName}'
var transfersEventsScope = '${account.id}/dbs/${databaseName}/colls/${transfersEventsContainerName}'
var snapshotsScope = '${account.id}/dbs/${databaseName}/colls/${snapshotsContainerName}'
var readModelsScope = '${account.id}/dbs/${databaseName}/colls/${readModelsContainerName}'
var leasesScope = '${account.id}/dbs/${databaseName}/colls/${leasesContainerName}'
var sealingScope = '${account.id}/dbs/${databaseName}/colls/${sealingContainerName}'
// Cosmos DB Built-in Data Contributor.
var dataContributorRoleId = '${account.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'

resource eventLogAppendOnly 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' = {
  parent: account
  name: guid(account.id, 'eventbank-event-log-append-only')
  properties: {
    roleName: 'eventbank event log append-only'
    type: 'CustomRole'
    assignableScopes: [
      eventsScope
      transfersEventsScope
    ]
    permissions: [
      {
        dataActions: [
          'Microsoft.DocumentDB/databaseAccounts/readMetadata'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/create'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items/read'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery'
          'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/readChangeFeed'
        ]
      }
    ]
  }
}

resource metadataReader 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' = {
  parent: account
  dependsOn: [
    eventLogAppendOnly
  ]
  name: guid(account.id, 'eventbank-metadata-reader')
  properties: {
    roleName: 'eventbank metadata reader'
    type: 'CustomRole'
    assignableScopes: [
      accountScope
    ]
    permissions: [
      {
        dataActions: [
          'Microsoft.DocumentDB/databaseAccounts/readMetadata'
        ]
      }
    ]
  }
}

@batchSize(1)
resource eventLogAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      metadataReader
    ]
    name: guid(eventLogAppendOnly.id, principalId, eventsScope)
    properties: {
      roleDefinitionId: eventLogAppendOnly.id
      principalId: principalId
      scope: eventsScope
    }
  }
]

@batchSize(1)
resource transfersEventLogAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      eventLogAssignments
    ]
    name: guid(eventLogAppendOnly.id, principalId, transfersEventsScope)
    properties: {
      roleDefinitionId: eventLogAppendOnly.id
      principalId: principalId
      scope: transfersEventsScope
    }
  }
]

@batchSize(1)
resource metadataAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      transfersEventLogAssignments
    ]
    name: guid(metadataReader.id, principalId, accountScope)
    properties: {
      roleDefinitionId: metadataReader.id
      principalId: principalId
      scope: accountScope
    }
  }
]

@batchSize(1)
resource snapshotsAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      metadataAssignments
    ]
    name: guid(dataContributorRoleId, principalId, snapshotsScope)
    properties: {
      roleDefinitionId: dataContributorRoleId
      principalId: principalId
      scope: snapshotsScope
    }
  }
]

@batchSize(1)
resource readModelsAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      snapshotsAssignments
    ]
    name: guid(dataContributorRoleId, principalId, readModelsScope)
    properties: {
      roleDefinitionId: dataContributorRoleId
      principalId: principalId
      scope: readModelsScope
    }
  }
]

@batchSize(1)
resource leasesAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      readModelsAssignments
    ]
    name: guid(dataContributorRoleId, principalId, leasesScope)
    properties: {
      roleDefinitionId: dataContributorRoleId
      principalId: principalId
      scope: leasesScope
    }
  }
]

@batchSize(1)
resource sealingAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principalIds: {
    parent: account
    dependsOn: [
      leasesAssignments
    ]
    name: guid(dataContributorRoleId, principalId, sealingScope)
    properties: {
      roleDefinitionId: dataContributorRoleId
      principalId: principalId
      scope: sealingScope
    }
  }
]
