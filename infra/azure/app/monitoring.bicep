// Logs and telemetry. Application Insights takes Entra-authenticated telemetry only (local auth off);
// the app's identity is its Monitoring Metrics Publisher (app/rbac.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // This API version spells the property with a capital D.
    DisableLocalAuth: true
  }
}

// A read model parked a stream (infra/app/projector.py logs "PARKED <model> <stream> ..." at ERROR): an
// event could not be applied after its retries, and the stream's later events wait behind it until
// someone fixes the cause and replays it (GET /api/ops/deadletters, POST .../replay).
resource parkedStreamAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${applicationInsightsName}-parked-stream'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'eventbank: a read model parked a stream'
    description: 'An event could not be applied after its retries; its stream waits in the dead letters until a replay.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message startswith "PARKED "'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
  }
}

output applicationInsightsName string = applicationInsights.name
output logAnalyticsName string = logAnalytics.name
