// Azure Batch account (Batch-service pool allocation, Entra ID auth only) with two autoscaling pools:
//   gpu: NVIDIA T4 nodes for training containers;  cpu: small nodes for CPU-bound steps.
// Both scale to zero nodes when no task is pending, so an idle account costs nothing but storage.
// Both run the DSVM HPC Ubuntu image (NVIDIA driver + a Docker-compatible runtime preinstalled) so step
// containers (run.image) start with the GPU visible, without --gpus.
// Pool nodes carry the node identity; tasks name it in identityReference to read inputs from and upload outputs
// to the artifact container.

param name string
param location string
param tags object = {}

@description('Resource id of the user-assigned identity attached to the pool nodes.')
param nodeIdentityId string

@description('VM size of the GPU pool (needs Batch account quota for its family, e.g. NCASv3_T4 for Standard_NC4as_T4_v3).')
param gpuVmSize string = 'Standard_NC4as_T4_v3'

@description('Largest number of GPU nodes autoscale may start.')
@minValue(1)
param gpuMaxNodes int = 1

@description('VM size of the CPU pool.')
param cpuVmSize string = 'Standard_D2s_v3'

@description('Largest number of CPU nodes autoscale may start.')
@minValue(1)
param cpuMaxNodes int = 2

@description('Container images pulled when a node starts (saves the pull on the first task); may be empty.')
param prefetchImages array = []

var imageReference = {
  publisher: 'microsoft-dsvm'
  offer: 'ubuntu-hpc'
  sku: '2204'
  version: 'latest'
}
var nodeAgentSkuId = 'batch.node.ubuntu 22.04'

// Nodes follow the pending work: a node per pending task (sampled over 5 minutes, the latest sample when the history
// is thin) up to the maximum, none when nothing is pending. Running tasks finish before their node is removed.
func autoScaleFormula(maxNodes int) string =>
  '$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);\n$latest = $PendingTasks.GetSample(1);\n$pending = $samples < 70 ? max(0, $latest) : max($latest, avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));\n$TargetDedicatedNodes = min(${maxNodes}, $pending);\n$TargetLowPriorityNodes = 0;\n$NodeDeallocationOption = taskcompletion;'

resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    poolAllocationMode: 'BatchService'
    // No shared keys: the app submits jobs with its managed identity (Azure Batch Job Submitter).
    allowedAuthenticationModes: [
      'AAD'
      'TaskAuthenticationToken'
    ]
    publicNetworkAccess: 'Enabled'
  }
}

resource gpuPool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: batch
  name: 'gpu'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${nodeIdentityId}': {}
    }
  }
  properties: {
    displayName: 'GPU training (${gpuVmSize})'
    vmSize: gpuVmSize
    taskSlotsPerNode: 1
    interNodeCommunication: 'Disabled'
    targetNodeCommunicationMode: 'Simplified'
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: imageReference
        nodeAgentSkuId: nodeAgentSkuId
        containerConfiguration: {
          type: 'DockerCompatible'
          containerImageNames: prefetchImages
        }
      }
    }
    scaleSettings: {
      autoScale: {
        formula: autoScaleFormula(gpuMaxNodes)
        evaluationInterval: 'PT5M'
      }
    }
  }
}

resource cpuPool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: batch
  name: 'cpu'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${nodeIdentityId}': {}
    }
  }
  properties: {
    displayName: 'CPU steps (${cpuVmSize})'
    vmSize: cpuVmSize
    taskSlotsPerNode: 2
    interNodeCommunication: 'Disabled'
    targetNodeCommunicationMode: 'Simplified'
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: imageReference
        nodeAgentSkuId: nodeAgentSkuId
        containerConfiguration: {
          type: 'DockerCompatible'
          containerImageNames: prefetchImages
        }
      }
    }
    scaleSettings: {
      autoScale: {
        formula: autoScaleFormula(cpuMaxNodes)
        evaluationInterval: 'PT5M'
      }
    }
  }
}

output name string = batch.name
output id string = batch.id
output endpoint string = 'https://${batch.properties.accountEndpoint}'
output gpuPoolId string = gpuPool.name
output cpuPoolId string = cpuPool.name
