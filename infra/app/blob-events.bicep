// Event Grid subscription: BlobCreated events of the data container -> the Functions blob extension's webhook for
// OnBlobArrived (a blob trigger with "source": "EventGrid", which Flex Consumption requires).
//
// Deployed by the azd postdeploy hook (infra/hooks/postdeploy.sh), not by `azd provision`: the webhook URL carries
// the host's blobs_extension system key, and the host creates that key only when the deployed code with a blob
// trigger starts. At provision time the key does not exist yet, so a listKeys here would fail the first `azd up`.
// Event Grid also validates the endpoint when the subscription is created, which needs the running app.

param systemTopicName string
param functionAppName string
param dataContainerName string

@description('Function the events go to (its folder name).')
param functionName string = 'OnBlobArrived'

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Microsoft.Web/sites/host has no Bicep type definitions, so its listKeys is called by resource id.
var blobsExtensionKey = listKeys('${app.id}/host/default', '2024-04-01').systemKeys.blobs_extension

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'blob-created-${toLower(functionName)}'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${dataContainerName}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output name string = subscription.name
