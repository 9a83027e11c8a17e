#!/usr/bin/env bash
# Times iglu-python 0.4.3 (PyPI, in a throwaway virtual environment) and pghd-hub's
# glucometrics engine on the same file, example_data_5_subject.csv (5 subjects,
# 13,866 readings), in the same run, and prints the ratio.
#
# iglu-python computes one metric per call; it is timed on the metrics our summary
# also reports (each once per file). Our side is one full summary per subject, which
# computes all of them and more (AGP, daily profiles, event lists).
#
# Usage: scripts/bench-vs-iglu-python.sh [REPEATS]   (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
repeats=${1:-5}
"$root/scripts/fetch-reference-data.sh" >/dev/null
data="$root/target/reference/iglu-python-0.4.3/tests/data/example_data_5_subject.csv"
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
echo "creating a throwaway venv with iglu-python 0.4.3 ..." >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet iglu-python==0.4.3
echo "building the engine's timing example ..." >&2
cargo build --quiet --release -p pghd-hub --example time_summary --manifest-path "$root/Cargo.toml"
ours=$("$root/target/release/examples/time_summary" "$data" Asia/Jerusalem $((repeats * 4)))
theirs=$(TZ=Asia/Jerusalem "$venv/bin/python" - "$data" "$repeats" <<'PY'
import io, sys, time, contextlib, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import iglu_python as iglu
from iglu_python import utils
utils.set_local_tz("Asia/Jerusalem")
path, repeats = sys.argv[1], int(sys.argv[2])
data = pd.read_csv(path, index_col=0)
data["time"] = pd.to_datetime(data["time"])
metrics = ["mean_glu", "median_glu", "sd_glu", "cv_glu", "quantile_glu", "iqr_glu", "range_glu",
           "mad_glu", "gmi", "ea1c", "in_range_percent", "below_percent", "above_percent", "gri",
           "active_percent", "episode_calculation", "mage", "modd", "conga", "lbgi", "hbgi", "adrr",
           "j_index", "gvp", "mag", "m_value", "igc", "hyper_index", "hypo_index", "grade",
           "grade_hypo", "grade_eugly", "grade_hyper", "cogi", "pgs", "sd_measures",
           "cv_measures", "sd_roc"]
times = []
for _ in range(repeats):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for name in metrics:
            getattr(iglu, name)(data.copy())
    times.append(time.perf_counter() - start)
times.sort()
print(f"{times[len(times) // 2]:.6f}")
PY
)
python3 - "$ours" "$theirs" <<'PY'
import sys
ours, theirs = float(sys.argv[1]), float(sys.argv[2])
print(f"example_data_5_subject.csv (5 subjects, 13,866 readings)")
print(f"  iglu-python 0.4.3, 38 metrics:        {theirs * 1000:10.2f} ms")
print(f"  pghd-hub glucometrics, full summary:  {ours * 1000:10.2f} ms")
print(f"  ratio iglu-python / pghd-hub:         {theirs / ours:10.1f}x")
PY
