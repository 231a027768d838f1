// The function app: Flex Consumption, Python 3.13 (the worker pinned in requirements.txt), running as the user-assigned identity. Every app
// setting below is a name the code or a binding reads (tests/deploy derives the list from function_app.py
// and infra/entry/settings.py); none holds a key.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param cosmosEndpoint string
param cosmosDatabaseName string
param eventHubsNamespace string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

// The Entra ID app registration callers sign in to; empty: no authentication in front of the app.
param authClientId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the deployment target of service `api` by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }

  // Flex Consumption takes neither FUNCTIONS_WORKER_RUNTIME nor FUNCTIONS_EXTENSION_VERSION: the runtime
  // is functionAppConfig.runtime above.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Host storage, as the identity (Storage Blob Data Owner, Storage Table Data Contributor).
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      // Telemetry, authenticated with the identity (the connection string names the resource; it is no secret).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // DefaultAzureCredential in the code picks the user-assigned identity by this.
      AZURE_CLIENT_ID: identityClientId
      // The Cosmos DB trigger and the code's CosmosClient (connection COSMOS_CONNECTION).
      COSMOS_CONNECTION__accountEndpoint: cosmosEndpoint
      COSMOS_CONNECTION__credential: 'managedidentity'
      COSMOS_CONNECTION__clientId: identityClientId
      // The Event Hubs trigger and the code's producer (connection EVENTHUB_CONNECTION).
      EVENTHUB_CONNECTION__fullyQualifiedNamespace: eventHubsNamespace
      EVENTHUB_CONNECTION__credential: 'managedidentity'
      EVENTHUB_CONNECTION__clientId: identityClientId
      // %RELAY_LEASE_PREFIX% in the relays' triggers; a local run uses its own (write-local-settings.sh).
      RELAY_LEASE_PREFIX: 'accounts-relay-'
      TRANSFERS_RELAY_LEASE_PREFIX: 'transfers-relay-'
      EVENTBANK_BACKEND: 'azure'
      EVENTBANK_COSMOS_DATABASE: cosmosDatabaseName
    }
  }

  // App Service Authentication (Easy Auth): Microsoft Entra ID validates each caller's token before the
  // app runs and passes on who they are (X-MS-CLIENT-PRINCIPAL*, which a client then cannot set itself);
  // a call without a valid token is answered 401. Health stays open for probes. The app fails closed
  // without this (infra/entry/identity.py). See the README's security section for Flex Consumption.
  resource authentication 'config' = if (!empty(authClientId)) {
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'Return401'
        excludedPaths: [
          '/api/health'
          '/api/health/deep'
          '/api/openapi.json'
          '/api/docs'
          '/api/docs/swagger-ui.css'
          '/api/docs/swagger-ui-bundle.js'
        ]
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: authClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: [
              'api://${authClientId}'
              authClientId
            ]
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }

  // No publishing user names and passwords: deployments go through the identity and Entra ID.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output id string = site.id
output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
