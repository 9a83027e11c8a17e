#!/usr/bin/env bash
# Times the glucose summary of two revisions against each other on this machine:
# `summary_loop` of each, pinned to one core, run back to back ROUNDS times per case.
# Prints, per case, the minimum of each side, the ratio of the minima and the median
# of the paired ratios (new / base). A shared machine drifts by tens of percent within
# minutes; pairs that ran within a second of each other are what can be compared
# (docs/benchmarks.md, "Session 14").
#
#   scripts/bench-ab.sh BASE_REV [NEW_REV]     # NEW_REV defaults to the working tree
#   ROUNDS=100 scripts/bench-ab.sh 1780045
#
# Needs git, cargo, taskset (util-linux) and python3.
set -euo pipefail

base_rev=${1:?usage: scripts/bench-ab.sh BASE_REV [NEW_REV]}
new_rev=${2:-}
rounds=${ROUNDS:-100}
root=$(git rev-parse --show-toplevel)
work="$root/target/bench-ab"
mkdir -p "$work"

# Builds `summary_loop` of a revision (empty: the working tree) and prints its path.
build() {
  local rev=$1 name tree
  if [ -z "$rev" ]; then
    tree=$root name=working-tree
  else
    name=$(git -C "$root" rev-parse --short "$rev")
    tree="$work/tree-$name"
    [ -d "$tree" ] || git -C "$root" worktree add --detach -f "$tree" "$rev" >&2
  fi
  echo "building $name" >&2
  (cd "$tree" && CARGO_TARGET_DIR="$work/target-$name" \
    cargo build --release --quiet -p glucometrics --example summary_loop >&2)
  echo "$work/target-$name/release/examples/summary_loop"
}

base=$(build "$base_rev")
new=$(build "$new_rev")
# Freed pages kept by the allocator on both sides, so that the engines' work is compared
# rather than where each one's allocations happen to fall (docs/benchmarks.md).
export GLIBC_TUNABLES=glibc.malloc.trim_threshold=1000000000:glibc.malloc.mmap_threshold=100000000

# One case: its name, the arguments of `summary_loop`, and the number of pairs.
compare() {
  local label=$1 args=$2 pairs=$3
  echo "$label: $pairs pairs of '$args'" >&2
  for _ in $(seq "$pairs"); do
    # shellcheck disable=SC2086 # the arguments are words
    a=$(taskset -c 1 "$base" $args | grep -o '[0-9.]* µs' | cut -d' ' -f1)
    # shellcheck disable=SC2086
    b=$(taskset -c 1 "$new" $args | grep -o '[0-9.]* µs' | cut -d' ' -f1)
    echo "$a $b"
  done | python3 -c '
import statistics, sys
label = sys.argv[1]
pairs = [tuple(map(float, line.split())) for line in sys.stdin]
base = min(a for a, _ in pairs)
new = min(b for _, b in pairs)
ratios = sorted(b / a for a, b in pairs)
quarter = len(ratios) // 4
print(f"{label:<12} base {base:9.1f} µs  new {new:9.1f} µs  ratio of minima {new / base:.3f}"
      f"  median ratio {statistics.median(ratios):.3f}"
      f" (middle half {ratios[quarter]:.3f}-{ratios[-quarter - 1]:.3f})")
' "$label"
}

compare "14 d" "14 300 500" "$rounds"
compare "14 d ±20 s" "14 300 500 20" "$rounds"
compare "90 d" "90 60 20" "$((rounds / 3 + 1))"
compare "90 d ±20 s" "90 60 20 20" "$((rounds / 3 + 1))"
