#!/usr/bin/env bash
# The main job (until the medallion pipeline exists): build silt and query
# real Delta tables written by Spark and delta-rs — their state, history, files
# and time travel.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/silt-target}"
VECTORS="${DELTA_VECTORS_DIR:-../shared/delta-vectors}"
cargo build --release -p silt-cli
silt="$CARGO_TARGET_DIR/release/silt"

run() { printf '\n$ silt %s\n' "$*"; "$silt" "$@"; }

table="$VECTORS/delta-rs/data/simple_table"
run describe "$table"
run history "$table"
run files "$table" --version 2
run describe "$table" --version 0 --json

# A Spark table with deletion vectors and column mapping, and a V2 checkpoint with sidecars.
run files "$VECTORS/delta-spark/table-with-dv-small"
run describe "$VECTORS/kernel/data/v2-checkpoints-json-with-sidecars"

# Refusals are errors with a non-zero exit code.
printf '\n$ silt describe %s   # unsupported reader feature\n' "$VECTORS/delta-rs/data/simple_table_features"
if "$silt" describe "$VECTORS/delta-rs/data/simple_table_features"; then exit 1; fi
