#!/usr/bin/env bash
# Runs every cargo-fuzz target of device-adapters for SECONDS each (default 20), seeded
# from fuzz/seeds/. A nightly-length run: scripts/fuzz.sh 28800.
# cargo fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them (the machine has no other toolchain).
set -euo pipefail
seconds=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/device-adapters"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in $(cargo fuzz list); do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run -O "$target" "$corpus" "fuzz/seeds/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(Done|stat::number_of_executed_units|==|SUMMARY)|panicked|ERROR" || true
  # cargo fuzz exits non-zero on a crash; re-check so the pipe above cannot hide it.
  if ls fuzz/artifacts/"$target"/crash-* >/dev/null 2>&1; then
    echo "crash found in $target: see device-adapters/fuzz/artifacts/$target" >&2
    exit 1
  fi
done
