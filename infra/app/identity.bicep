// User-assigned managed identities: one for the Function App (storage, Service Bus, Batch job submission, telemetry),
// one for the Batch pool nodes. The nodes run arbitrary step containers, so their identity can only read and write
// the artifact container (see role-assignments.bicep), never the run store, queues, Service Bus or Batch itself.

@description('Name of the Function App identity.')
param appIdentityName string

@description('Name of the Batch node identity.')
param nodeIdentityName string

param location string
param tags object = {}

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource nodeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: nodeIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appIdentityName string = appIdentity.name
output appIdentityClientId string = appIdentity.properties.clientId
output appIdentityPrincipalId string = appIdentity.properties.principalId
output nodeIdentityId string = nodeIdentity.id
output nodeIdentityName string = nodeIdentity.name
output nodeIdentityPrincipalId string = nodeIdentity.properties.principalId
