#!/usr/bin/env bash
# Prints the absolute path of REL (a file or directory of the shared
# workplace, e.g. delta-vectors or bench/peer_pipeline.py): the value of the
# environment variable VAR when set, else ../shared/REL beside this clone,
# else beside the repository this clone was made from. Exits 1 if none
# exists.   Usage: scripts/shared-path.sh REL VAR
set -euo pipefail
cd "$(dirname "$0")/.."
rel="$1" var="$2"
candidates=()
if [ -n "${!var:-}" ]; then
  candidates=("${!var}")
else
  candidates=("../shared/$rel")
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [ -n "$origin" ] && [ -d "$origin" ]; then
    candidates+=("$origin/../shared/$rel")
  fi
fi
for c in "${candidates[@]}"; do
  if [ -e "$c" ]; then
    if [ -d "$c" ]; then (cd "$c" && pwd); else echo "$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"; fi
    exit 0
  fi
done
echo "silt: $rel is not at ${candidates[*]}; set $var" >&2
exit 1
