// The Trainyard Function App: an isolated-worker Durable Functions app (runtime dotnet-isolated 10.0) on the Flex
// Consumption plan (FC1). The `durable` trigger group (orchestrators and activities) keeps always-ready instances, so
// runs are not stalled by scale-from-zero; the other triggers scale from zero. Every connection is identity-based with
// the app's user-assigned identity: host storage and Durable's task hub (AzureWebJobsStorage__*), the deployment
// package container, Application Insights and, through AZURE_CLIENT_ID, DefaultAzureCredential for Trainyard's blobs
// and tables, Service Bus (drain and send) and Batch. No keys, no connection strings.
//
// appSettings holds exactly the settings src/Trainyard.Functions/AppSettings.cs marks Both or AzureOnly;
// tests/Trainyard.Functions.Tests/InfraTests.cs compiles this template and checks the two lists agree.
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not app settings on Flex Consumption: functionAppConfig
// sets them.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the app\'s user-assigned identity.')
param identityId string

@description('Client id of the app\'s user-assigned identity.')
param identityClientId string

param storageAccountName string

@description('URL of the blob container the deployment package is uploaded to.')
param deploymentContainerUrl string

param applicationInsightsConnectionString string
param taskHub string
param dataContainerName string
param serviceBusNamespace string
param batchEndpoint string
param batchArtifactContainerUrl string
param batchNodeIdentityId string
param batchDefaultPool string

@description('Estimated USD per node-hour by pool ("gpu=0.526;cpu=0.096"), for run cost reports.')
param batchPoolPrices string

@description('Memory of one instance in MB (Flex Consumption: 512, 2048 or 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Days a finished run stays in the task hub before it is purged (0: never).')
@minValue(0)
param retentionDays int = 30

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

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
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
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // Orchestrations and activities wait on queue polling, which a scaled-to-zero app does not do.
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: 1
          }
        ]
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        // Host storage, Durable's task hub and Trainyard's blobs and tables, by managed identity.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'TRAINYARD_TASK_HUB'
          value: taskHub
        }
        {
          name: 'TRAINYARD_DATA_CONTAINER'
          value: dataContainerName
        }
        {
          // Instance-local scratch space; attempts write their outputs to blob storage before they finish.
          name: 'TRAINYARD_WORK_DIR'
          value: '/tmp/trainyard-work'
        }
        {
          name: 'TRAINYARD_RETENTION_DAYS'
          value: string(retentionDays)
        }
        {
          // DrainServiceBus and the drift step reach it with DefaultAzureCredential (AZURE_CLIENT_ID).
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusNamespace
        }
        {
          name: 'TRAINYARD_BATCH_ENDPOINT'
          value: batchEndpoint
        }
        {
          name: 'TRAINYARD_BATCH_ARTIFACT_CONTAINER_URL'
          value: batchArtifactContainerUrl
        }
        {
          name: 'TRAINYARD_BATCH_NODE_IDENTITY_ID'
          value: batchNodeIdentityId
        }
        {
          name: 'TRAINYARD_BATCH_DEFAULT_POOL'
          value: batchDefaultPool
        }
        {
          name: 'TRAINYARD_BATCH_POOL_PRICES'
          value: batchPoolPrices
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          // Local auth is off on the component: the host signs telemetry in with the app identity.
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
      ]
    }
  }
}

output name string = app.name
output id string = app.id
output defaultHostName string = app.properties.defaultHostName
