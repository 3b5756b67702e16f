#!/usr/bin/env bash
# Runs every test project. Installs and starts Azurite (pinned, into .tools/) for the Azure Storage tests,
# stops it afterwards, and ends with one line: "N passed, N failed, N skipped" summed over all test projects.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AZURITE_VERSION=3.35.0
TOOLS=$ROOT/.tools

if [ ! -x "$TOOLS/node_modules/.bin/azurite" ]; then
  echo "installing azurite@$AZURITE_VERSION into .tools/ ..."
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null) || { echo "npm install azurite failed"; exit 1; }
fi

AZ_DIR=$(mktemp -d)
RESULTS=$(mktemp -d)
node "$TOOLS/node_modules/.bin/azurite" --silent --disableTelemetry --skipApiVersionCheck --location "$AZ_DIR" \
  --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 >"$AZ_DIR/azurite.log" 2>&1 &
AZ_PID=$!
cleanup() { kill "$AZ_PID" 2>/dev/null; wait "$AZ_PID" 2>/dev/null; rm -rf "$AZ_DIR"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/10001) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/10002) 2>/dev/null && break
  sleep 0.1
done
export TRAINYARD_AZURITE="UseDevelopmentStorage=true"

dotnet build FunctionApp.sln -c Debug -nologo -v q || { echo "0 passed, 1 failed"; exit 1; }
dotnet test FunctionApp.sln --no-build -nologo --logger "trx" --results-directory "$RESULTS" -- RunConfiguration.TestSessionTimeout=1500000
rc=$?

passed=0; failed=0; total=0
for f in "$RESULTS"/*.trx; do
  [ -f "$f" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  total=$((total + $(get total))); passed=$((passed + $(get passed))); failed=$((failed + $(get failed)))
done
skipped=$((total - passed - failed))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
rm -rf "$RESULTS"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
