// Least-privilege data-plane roles, each on the narrowest scope that works:
//   app identity   -> storage account: Blob Data Owner (includes Blob Data Contributor, which Durable's task hub needs;
//                     the host needs Owner for AzureWebJobsStorage: blob trigger receipts, leases, keys), Queue Data
//                     Contributor and Table Data Contributor (Durable's control and work-item queues, instance and
//                     history tables);
//                     Batch account: Azure Batch Job Submitter; subscription drift-signals/trainyard: Service Bus
//                     Data Receiver (DrainServiceBus); topic drift-signals: Data Sender (the drift step); Application
//                     Insights: Monitoring Metrics Publisher (telemetry with local auth off).
//   node identity  -> artifact container only: Blob Data Contributor (task inputs and outputs).
//   deploying user -> (when principalId is set) storage Blob/Queue/Table Data Contributor for `trainyard pipelines
//                     push` and `trainyard status --store azure:...`, and Service Bus Data Sender on the topic to
//                     send drift signals by hand.

param storageAccountName string
param artifactContainerName string
param batchAccountName string
param serviceBusNamespaceName string
param topicName string
param subscriptionName string
param applicationInsightsName string
param appIdentityName string
param nodeIdentityName string

@description('Object id of the deploying user or service principal; empty skips its roles.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  batchJobSubmitter: '48e5e92e-a480-4e71-aa9c-2778f4c13781'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: appIdentityName
}

resource nodeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: nodeIdentityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource artifacts 'containers' existing = {
      name: artifactContainerName
    }
  }
}

resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' existing = {
  name: batchAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = {
  name: serviceBusNamespaceName

  resource topic 'topics' existing = {
    name: topicName

    resource subscription 'subscriptions' existing = {
      name: subscriptionName
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var appStorageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]
var userStorageRoles = [
  roles.storageBlobDataContributor
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in appStorageRoles: {
    scope: storage
    name: guid(storage.id, appIdentity.id, role)
    properties: {
      principalId: appIdentity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource appBatch 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: batch
  name: guid(batch.id, appIdentity.id, roles.batchJobSubmitter)
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.batchJobSubmitter)
  }
}

// DrainServiceBus receives (peek-lock) from the topic subscription: the receiver role on the subscription itself.
resource appReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: serviceBus::topic::subscription
  name: guid(serviceBus::topic::subscription.id, appIdentity.id, roles.serviceBusDataReceiver)
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
  }
}

resource appSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: serviceBus::topic
  name: guid(serviceBus::topic.id, appIdentity.id, roles.serviceBusDataSender)
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: applicationInsights
  name: guid(applicationInsights.id, appIdentity.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource nodeArtifacts 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage::blobService::artifacts
  name: guid(storage::blobService::artifacts.id, nodeIdentity.id, roles.storageBlobDataContributor)
  properties: {
    principalId: nodeIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

resource userStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (empty(principalId) ? [] : userStorageRoles): {
    scope: storage
    name: guid(storage.id, principalId, role)
    properties: {
      principalId: principalId
      principalType: principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource userTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  scope: serviceBus::topic
  name: guid(serviceBus::topic.id, principalId, roles.serviceBusDataSender)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
  }
}
