#!/usr/bin/env bash
# Prints the absolute path of the public Delta test tables: DELTA_VECTORS_DIR
# when set, else ../shared/delta-vectors beside this clone, else the same
# place beside the repository this clone was made from (a clone in a
# temporary directory still finds the shared vectors). Exits 1 if none exists.
set -euo pipefail
cd "$(dirname "$0")/.."
candidates=()
if [ -n "${DELTA_VECTORS_DIR:-}" ]; then
  candidates=("$DELTA_VECTORS_DIR")
else
  candidates=("../shared/delta-vectors")
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [ -n "$origin" ] && [ -d "$origin" ]; then
    candidates+=("$origin/../shared/delta-vectors")
  fi
fi
for c in "${candidates[@]}"; do
  if [ -d "$c" ]; then
    (cd "$c" && pwd)
    exit 0
  fi
done
echo "silt: the Delta test vectors are not at ${candidates[*]}; set DELTA_VECTORS_DIR" >&2
exit 1
