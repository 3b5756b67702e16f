// One storage account for everything: the Functions host (AzureWebJobsStorage) and Durable Functions' task hub (its
// queues, tables and blobs, which the Durable extension creates and owns), Trainyard's blob containers (artifacts,
// key-values, pipeline versions), the watched data container, the drift-signals queue and the Flex Consumption
// deployment package. Shared-key access is off: every client (host, app, Batch nodes, the CLI) signs in with Entra ID.
// The names below are the ones Trainyard creates on first use (see docs/azure-storage.md); creating them here means
// the first run does not need create permissions and the queue trigger has its queue to poll from the start.

param name string
param location string
param tags object = {}

@description('Task hub: the Durable task hub name and the prefix of Trainyard\'s containers.')
param taskHub string

@description('Container watched for new data blobs (OnBlobArrived).')
param dataContainerName string

@description('Container the Flex Consumption app is deployed from.')
param deploymentContainerName string

@description('Name of the Event Grid system topic that publishes this account\'s blob events.')
param systemTopicName string

var containerNames = [
  deploymentContainerName
  dataContainerName
  '${taskHub}-artifacts'
  '${taskHub}-values'
  '${taskHub}-pipelines'
]
var queueNames = [
  'drift-signals'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containerNames: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queueNames: {
    parent: queueService
    name: queue
  }
]

// The system topic exists from the first provision; its event subscription to the blob function needs the
// function's blobs_extension key, which exists only once the code runs, so the postdeploy hook adds it
// (infra/app/blob-events.bicep).
resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output artifactContainerName string = '${taskHub}-artifacts'
output artifactContainerUrl string = '${storage.properties.primaryEndpoints.blob}${taskHub}-artifacts'
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
output systemTopicName string = systemTopic.name
