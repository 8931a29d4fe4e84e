#!/usr/bin/env bash
# Prints the absolute path of the peer medallion pipeline
# (peer_pipeline.py: the IoT data generator, the polars + deltalake pipeline
# and the gold oracle): SILT_PEER_PIPELINE when set, else
# ../shared/bench/peer_pipeline.py beside this clone, else beside the
# repository this clone was made from. Exits 1 if none exists.
set -euo pipefail
cd "$(dirname "$0")/.."
candidates=()
if [ -n "${SILT_PEER_PIPELINE:-}" ]; then
  candidates=("$SILT_PEER_PIPELINE")
else
  candidates=("../shared/bench/peer_pipeline.py")
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [ -n "$origin" ] && [ -d "$origin" ]; then
    candidates+=("$origin/../shared/bench/peer_pipeline.py")
  fi
fi
for c in "${candidates[@]}"; do
  if [ -f "$c" ]; then
    echo "$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"
    exit 0
  fi
done
echo "silt: peer_pipeline.py is not at ${candidates[*]}; set SILT_PEER_PIPELINE" >&2
exit 1
