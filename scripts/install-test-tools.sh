#!/usr/bin/env bash
# Installs the test tools the end-to-end tests drive — schemathesis (fuzzes the served
# OpenAPI document) and py-nightscout (a real Nightscout client library), both from PyPI,
# into a virtual environment under target/tools, and axe-core (the accessibility
# checker the browser test runs in the page) from npm into target/tools/node — once;
# prints the environment's bin directory. Idempotent.
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
axe="axe-core@4.14.1"
node="$root/target/tools/node"
if [ "$(cat "$node/installed.txt" 2>/dev/null)" != "$axe" ]; then
  echo "installing $axe from npm into $node ..." >&2
  mkdir -p "$node"
  (cd "$node" && npm install --silent --no-audit --no-fund --prefix . "$axe" >&2)
  echo "$axe" > "$node/installed.txt"
fi
echo "$venv/bin"
