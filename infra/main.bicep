// Trainyard on Azure, for `azd up`: a resource group with the Function App (Flex Consumption, isolated-worker Durable Functions),
// its storage, Service Bus drift-signals topic, Batch account with GPU and CPU pools, monitoring, identities and
// role assignments. Plain resources only (no registry modules), so `bicep build` works offline.
// The Event Grid subscription for blob arrivals is added after code deployment (see app/blob-events.bicep).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource (must offer Flex Consumption and the GPU VM size).')
param location string

@description('Object id of the deploying user or service principal, given data access for the CLI; empty skips it.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principalId.')
param principalType string = 'User'

@minLength(3)
@maxLength(24)
@description('Durable task hub name and prefix of Trainyard containers (3-24 lower-case letters and digits).')
param taskHub string = 'trainyard'

@description('Container watched for new data blobs.')
param dataContainerName string = 'data'

@description('VM size of the GPU pool.')
param gpuPoolVmSize string = 'Standard_NC4as_T4_v3'

@description('Largest number of GPU nodes.')
@minValue(1)
param gpuPoolMaxNodes int = 1

@description('VM size of the CPU pool.')
param cpuPoolVmSize string = 'Standard_D2s_v3'

@description('Largest number of CPU nodes.')
@minValue(1)
param cpuPoolMaxNodes int = 2

@description('Estimated USD per node-hour by pool, for run cost reports (pay-as-you-go Linux list prices; check yours).')
param batchPoolPrices string = 'gpu=0.526;cpu=0.096'

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var serviceName = 'trainyard'
var functionAppName = '${abbrs.webSitesFunctions}${serviceName}-${resourceToken}'
var deploymentContainerName = 'app-package-${take(serviceName, 32)}-${take(resourceToken, 7)}'
// Names are known before deployment (not module outputs), so what-if can predict the role assignments.
var names = {
  appIdentity: '${abbrs.managedIdentityUserAssignedIdentities}${serviceName}-${resourceToken}'
  nodeIdentity: '${abbrs.managedIdentityUserAssignedIdentities}batch-nodes-${resourceToken}'
  logAnalytics: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
  applicationInsights: '${abbrs.insightsComponents}${resourceToken}'
  storage: '${abbrs.storageStorageAccounts}${resourceToken}'
  systemTopic: '${abbrs.eventGridSystemTopics}storage-${resourceToken}'
  serviceBus: '${abbrs.serviceBusNamespaces}${resourceToken}'
  topic: 'drift-signals'
  subscription: 'trainyard'
  batch: '${abbrs.batchBatchAccounts}${resourceToken}'
  plan: '${abbrs.webServerFarms}${resourceToken}'
  artifactContainer: '${taskHub}-artifacts'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    appIdentityName: names.appIdentity
    nodeIdentityName: names.nodeIdentity
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    taskHub: taskHub
    dataContainerName: dataContainerName
    deploymentContainerName: deploymentContainerName
    systemTopicName: names.systemTopic
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    topicName: names.topic
    subscriptionName: names.subscription
  }
}

module batch 'app/batch.bicep' = {
  name: 'batch'
  scope: rg
  params: {
    name: names.batch
    location: location
    tags: tags
    nodeIdentityId: identity.outputs.nodeIdentityId
    gpuVmSize: gpuPoolVmSize
    gpuMaxNodes: gpuPoolMaxNodes
    cpuVmSize: cpuPoolVmSize
    cpuMaxNodes: cpuPoolMaxNodes
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: names.plan
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appIdentityClientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    taskHub: taskHub
    dataContainerName: dataContainerName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    batchEndpoint: batch.outputs.endpoint
    batchArtifactContainerUrl: storage.outputs.artifactContainerUrl
    batchNodeIdentityId: identity.outputs.nodeIdentityId
    batchDefaultPool: batch.outputs.cpuPoolId
    batchPoolPrices: batchPoolPrices
  }
}

module roles 'app/role-assignments.bicep' = {
  name: 'role-assignments'
  scope: rg
  dependsOn: [
    identity
    monitoring
    storage
    serviceBus
    batch
  ]
  params: {
    storageAccountName: names.storage
    artifactContainerName: names.artifactContainer
    batchAccountName: names.batch
    serviceBusNamespaceName: names.serviceBus
    topicName: names.topic
    subscriptionName: names.subscription
    applicationInsightsName: names.applicationInsights
    appIdentityName: names.appIdentity
    nodeIdentityName: names.nodeIdentity
    principalId: principalId
    principalType: principalType
  }
}

// azd stores these in .azure/<env>/.env; the postdeploy hook and the docs use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = storage.outputs.systemTopicName
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_SERVICEBUS_TOPIC string = serviceBus.outputs.topicName
output AZURE_BATCH_ACCOUNT_NAME string = batch.outputs.name
output AZURE_BATCH_ENDPOINT string = batch.outputs.endpoint
output TRAINYARD_TASK_HUB string = taskHub
output TRAINYARD_DATA_CONTAINER string = dataContainerName
