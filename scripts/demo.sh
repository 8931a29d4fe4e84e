#!/usr/bin/env bash
# The main job: build silt and run the IoT lake pipeline end to end
# (`silt demo`): generated landing files with real-world defects go through
# bronze, silver and gold (examples/iot-lake), first as a triggered update,
# then continuously while two more days of files land; it prints the gold
# table, `silt pipeline status` and `silt pipeline graph`.
#   ./scripts/demo.sh [DIR]     (DIR keeps the project, landing files and lake)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/silt-target}"
# A debug build shares the test suite's build cache; the demo's data is
# small (a release build with DataFusion takes far longer to compile).
cargo build -p silt-cli
silt="$CARGO_TARGET_DIR/debug/silt"
dir="${1:-}"
if [ -z "$dir" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
"$silt" demo "$dir"
