#!/usr/bin/env bash
# Load benchmark of the HTTP API (docs/benchmarks.md): starts `pghd-hub serve --demo`
# (embedded SQLite store, demo patient with ~13 days of CGM data), logs in as the demo
# doctor, and drives the 14-day glucometrics summary endpoint with wrk (Debian package
# `wrk`) at 64 concurrent connections (the same window: served from the summary cache
# after the first request, each request still authorised and audited); then 20 cold
# requests (distinct windows, computed each time); then /healthz under the same load as
# the reference (the HTTP stack alone). Prints wrk's latency distributions.
#
# Usage: scripts/bench-api.sh [SECONDS] [CONNECTIONS]   (default 20 s, 64)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-20}
connections=${2:-64}
port=${PGHD_BENCH_PORT:-18090}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked -q -p pghd-hub
data=$(mktemp -d)
log="$data/serve.log"
target/release/pghd-hub serve --demo --listen "127.0.0.1:$port" --data-dir "$data" >"$log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null; tail -3 "$log" >&2; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
password=$(awk '$3 == "medico" {print $5}' "$log")
token=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" \
  -H 'content-type: application/json' \
  -d "{\"login\":\"medico\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
summary="http://127.0.0.1:$port/api/v1/patients/demo-patient/glucometrics"
readings=$(curl -sf -H "Authorization: Bearer $token" "$summary" | python3 -c 'import json,sys; print(json.load(sys.stdin)["readings"])')
echo "== 14-day summary ($readings readings) at $connections connections for ${seconds}s"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "$summary"
echo "== cold: 20 sequential summaries of distinct windows (nothing cached), seconds each"
for i in $(seq 1 20); do
  to=$(date -u -d "+$i minutes" +%Y-%m-%dT%H:%M:%SZ)
  curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$summary?to=$to"
done | sort -n | awk '{a[NR]=$1} END {print "  min " a[1] "  median " a[int((NR+1)/2)] "  max " a[NR]}'
echo "== reference: /healthz at $connections connections for ${seconds}s"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/healthz"
