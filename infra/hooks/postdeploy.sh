#!/bin/sh
# azd postdeploy hook (azure.yaml): runs after `azd deploy` / `azd up` has put the code on the Function App.
#  1. Connects blob arrivals to OnBlobArrived: deploys infra/app/blob-events.bicep, the Event Grid subscription whose
#     webhook URL carries the host's blobs_extension system key. The key exists only once the deployed host has
#     started with a blob trigger, so this cannot be part of `azd provision` (see that file).
#  2. Registers the sample pipelines in the Azure store with `trainyard pipelines push` (content-hashed versions:
#     pushing an unchanged file again changes nothing), signed in as you (az login / azd auth login).
# Needs: az (logged in to the azd subscription), dotnet. Values come from the azd environment (main.bicep outputs).
# Optional: TRAINYARD_PUSH_SAMPLES=false skips step 2; TRAINYARD_SAMPLES_STORE registers them in another store (same
# syntax as --store); TRAINYARD_CLI is the command that runs the CLI (default: build src/Trainyard.Cli into a temp folder);
# TRAINYARD_KEY_WAIT_ATTEMPTS/_SECONDS (30 x 10 s) and TRAINYARD_PUSH_RETRIES/_RETRY_SECONDS (8 x 20 s) bound the waits.
set -eu

need() {
  eval "v=\${$1:-}"
  if [ -z "$v" ]; then
    echo "postdeploy: $1 is not set; run this hook through azd (azd deploy / azd hooks run postdeploy) after azd provision." >&2
    exit 1
  fi
}
for name in AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME AZURE_FUNCTION_APP_URL \
            AZURE_EVENTGRID_SYSTEM_TOPIC_NAME AZURE_STORAGE_BLOB_ENDPOINT TRAINYARD_TASK_HUB TRAINYARD_DATA_CONTAINER; do
  need "$name"
done

if ! command -v az >/dev/null 2>&1; then
  echo "postdeploy: the Azure CLI (az) is required to connect blob events; install it and run az login." >&2
  exit 1
fi
if ! az account show --subscription "$AZURE_SUBSCRIPTION_ID" -o none 2>/dev/null; then
  echo "postdeploy: az is not logged in to subscription $AZURE_SUBSCRIPTION_ID; run az login, then azd hooks run postdeploy." >&2
  exit 1
fi

cd "$(dirname "$0")/../.."

# 1. Event Grid subscription -> OnBlobArrived --------------------------------------------------------------------
echo "postdeploy: waiting for the blobs_extension key of $AZURE_FUNCTION_APP_NAME ..."
key=""
attempt=0
while [ "$attempt" -lt "${TRAINYARD_KEY_WAIT_ATTEMPTS:-30}" ]; do
  key=$(az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
          --query "systemKeys.blobs_extension" -o tsv 2>/dev/null || true)
  [ -n "$key" ] && break
  # A scaled-to-zero app creates the key when its host starts: any request starts it.
  curl -s -o /dev/null --max-time 30 "$AZURE_FUNCTION_APP_URL/" || true
  attempt=$((attempt + 1))
  sleep "${TRAINYARD_KEY_WAIT_SECONDS:-10}"
done
if [ -z "$key" ]; then
  echo "postdeploy: the app has no blobs_extension key after $attempt attempts. Check that OnBlobArrived is deployed and the host starts (Application Insights, or the portal's Functions list), then run: azd hooks run postdeploy" >&2
  exit 1
fi
unset key

echo "postdeploy: subscribing OnBlobArrived to BlobCreated events of container '$TRAINYARD_DATA_CONTAINER' ..."
az deployment group create --subscription "$AZURE_SUBSCRIPTION_ID" -g "$AZURE_RESOURCE_GROUP" -n blob-events \
  -f infra/app/blob-events.bicep \
  -p systemTopicName="$AZURE_EVENTGRID_SYSTEM_TOPIC_NAME" functionAppName="$AZURE_FUNCTION_APP_NAME" \
     dataContainerName="$TRAINYARD_DATA_CONTAINER" \
  -o none

# 2. Sample pipelines ------------------------------------------------------------------------------------------
if [ "${TRAINYARD_PUSH_SAMPLES:-true}" = "false" ]; then
  echo "postdeploy: TRAINYARD_PUSH_SAMPLES=false; not registering the sample pipelines."
  exit 0
fi
store="${TRAINYARD_SAMPLES_STORE:-azure:${AZURE_STORAGE_BLOB_ENDPOINT%/};TaskHub=$TRAINYARD_TASK_HUB}"
cli="${TRAINYARD_CLI:-}"
if [ -z "$cli" ]; then
  cli_dir=$(mktemp -d)
  trap 'rm -rf "$cli_dir"' EXIT
  dotnet build src/Trainyard.Cli -c Release -o "$cli_dir" -nologo -v q >/dev/null
  cli="$cli_dir/trainyard"
fi
for file in samples/*/pipeline.yaml; do
  # Role assignments made by this provision can take a few minutes to reach the storage data plane: retry 403s.
  attempt=0
  while :; do
    rc=0
    # $cli unquoted on purpose: it may be a command with arguments (dotnet path/trainyard.dll).
    $cli pipelines push "$file" --store "$store" || rc=$?
    [ "$rc" -eq 0 ] && break
    if [ "$rc" -eq 2 ] || [ "$attempt" -ge "${TRAINYARD_PUSH_RETRIES:-8}" ]; then
      echo "postdeploy: could not register $file (exit $rc). Your account needs Storage Blob/Table/Queue Data Contributor on the storage account (main.bicep grants them to AZURE_PRINCIPAL_ID)." >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    echo "postdeploy: push of $file failed (exit $rc); retrying in ${TRAINYARD_PUSH_RETRY_SECONDS:-20} s (role assignments may still be propagating) ..."
    sleep "${TRAINYARD_PUSH_RETRY_SECONDS:-20}"
  done
done
echo "postdeploy: done. Upload data to the '$TRAINYARD_DATA_CONTAINER' container to start blob-triggered runs."
