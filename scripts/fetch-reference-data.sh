#!/usr/bin/env bash
# Fetches the reference data the glucometrics tests compare against: the outputs of the
# R package iglu 4.3.0 and the example CGM data they were computed on, as published in
# the source distribution of iglu-python 0.4.3 on PyPI (folder tests/, GPL-2, not
# vendored here). Idempotent: does nothing when the data is already in place.
#
# Usage: scripts/fetch-reference-data.sh [DEST]   (default: target/reference)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${PGHD_REFERENCE_DIR:-$root/target/reference}}
package=iglu-python
version=0.4.3
target_dir="$dest/iglu-python-$version"

if [ -f "$target_dir/tests/expected_results.json" ]; then
  echo "reference data present: $target_dir/tests"
  exit 0
fi

mkdir -p "$dest"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
echo "fetching $package==$version source distribution from PyPI ..."
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$download" "$package==$version"
archive=$(ls "$download"/*.tar.gz)
python3 - "$archive" "$target_dir" <<'PY'
import sys, tarfile, pathlib
archive, target = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(archive) as tar:
    members = []
    for member in tar.getmembers():
        parts = pathlib.PurePosixPath(member.name).parts
        if len(parts) > 2 and parts[1] in ("tests", "LICENSE") or (len(parts) == 2 and parts[1] == "LICENSE"):
            member.name = str(pathlib.PurePosixPath(*parts[1:]))
            members.append(member)
    target.mkdir(parents=True, exist_ok=True)
    tar.extractall(target, members=members, filter="data")
PY
test -f "$target_dir/tests/expected_results.json"
echo "reference data unpacked to $target_dir/tests"
