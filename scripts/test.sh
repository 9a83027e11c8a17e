#!/usr/bin/env bash
# Runs every test of the workspace: fetches the reference data the glucometrics tests
# compare against, installs the Python test tools and the FHIR validator and server
# (once each; see scripts/fetch-reference-data.sh, scripts/install-test-tools.sh and
# scripts/install-fhir-tools.sh — the last builds for ~20 minutes the first time),
# then `cargo test`,
# and closes with the total over every test binary: "tests: N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-reference-data.sh
PGHD_TEST_TOOLS=$(scripts/install-test-tools.sh)
export PGHD_TEST_TOOLS
PGHD_FHIR_TOOLS=$(scripts/install-fhir-tools.sh)
export PGHD_FHIR_TOOLS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a build error or a crashed test binary: never report a clean total
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
