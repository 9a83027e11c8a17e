#!/usr/bin/env bash
# Installs the Python test tools the end-to-end tests drive (schemathesis, from PyPI)
# into a virtual environment under target/tools, once; prints the environment's bin
# directory. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/tools/venv"
schemathesis_version=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  echo "installing schemathesis==$schemathesis_version from PyPI into $venv ..." >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version" >&2
fi
echo "$venv/bin"
