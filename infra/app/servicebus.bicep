// Service Bus namespace with the drift-signals topic and the trainyard subscription DrainServiceBus reads (peek-lock).
// Standard tier: topics need it. Local (SAS) auth is off; senders and the host use Entra ID.

param name string
param location string
param tags object = {}

@description('Topic drift signals are published to (AppSettings.DriftTopic in src/Trainyard.Functions).')
param topicName string = 'drift-signals'

@description('Subscription DrainServiceBus receives from (AppSettings.DriftSubscriptionName in src/Trainyard.Functions).')
param subscriptionName string = 'trainyard'

@description('Deliveries before a signal the app keeps failing on moves to the dead-letter queue.')
param maxDeliveryCount int = 10

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    defaultMessageTimeToLive: 'P14D'
    // Senders set a deterministic MessageId: a signal sent twice within the window is stored once.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxSizeInMegabytes: 1024
  }
}

resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: subscriptionName
  properties: {
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P14D'
  }
}

output name string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (the host name differs in sovereign clouds).
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output topicName string = topic.name
output subscriptionName string = subscription.name
