#!/usr/bin/env bash
# Runs every test of the workspace: fetches the reference data the glucometrics tests
# compare against (once; see scripts/fetch-reference-data.sh), then `cargo test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/fetch-reference-data.sh
cargo test --workspace --locked
