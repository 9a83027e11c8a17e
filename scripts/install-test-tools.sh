#!/usr/bin/env bash
# Installs the Python test tools the end-to-end tests drive — schemathesis (fuzzes the
# served OpenAPI document) and py-nightscout (a real Nightscout client library), both
# from PyPI — into a virtual environment under target/tools, once; prints the
# environment's bin directory. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/tools/venv"
requirements="schemathesis==4.32.5 py-nightscout==1.3.3"
stamp="$venv/installed.txt"
if [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  echo "installing $requirements from PyPI into $venv ..." >&2
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $requirements >&2
  echo "$requirements" > "$stamp"
fi
echo "$venv/bin"
