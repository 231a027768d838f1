// Event Hubs: one hub per service, one consumer group per projector. Standard tier (consumer groups beyond
// $Default need it), Entra identities only, TLS 1.2. Names match infra/entry/settings.py and infra/entry/services.py (tests/deploy checks).
param name string
param location string
param tags object

@minValue(1)
@maxValue(32)
param partitionCount int = 4

@minValue(1)
@maxValue(7)
@description('How long the hub keeps events; the event store in Cosmos DB remains the source of truth.')
param messageRetentionInDays int = 7

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }

  // The accounts service's events, partitioned by stream id (the relay publishes with that key).
  resource accounts 'eventhubs' = {
    name: 'accounts'
    properties: {
      partitionCount: partitionCount
      messageRetentionInDays: messageRetentionInDays
    }

    // The accounts service's projector.
    resource readModels 'consumergroups' = {
      name: 'accounts-readmodels'
    }

    // The transfers service, advancing its transfers on the accounts' answers.
    resource transfersSaga 'consumergroups' = {
      name: 'transfers-saga'
    }
  }

  // The transfers service's events, partitioned by stream id.
  resource transfers 'eventhubs' = {
    name: 'transfers'
    properties: {
      partitionCount: partitionCount
      messageRetentionInDays: messageRetentionInDays
    }

    // The transfers service's projector.
    resource transferReadModels 'consumergroups' = {
      name: 'transfers-readmodels'
    }

    // The accounts service, moving the money each transfer asks for.
    resource accountsTransfers 'consumergroups' = {
      name: 'accounts-transfers'
    }
  }
}

output id string = namespace.id
output name string = namespace.name
// <namespace>.servicebus.windows.net (or the sovereign cloud's suffix): the host name, without scheme or port.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '://')[1], ':')[0]
