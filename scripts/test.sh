#!/usr/bin/env bash
# The whole silt test suite, from a fresh machine: toolchain checks, formatting,
# lints, unit/integration/property tests, the conformance suite over the public
# Delta vectors, rustdoc, and a smoke run of every fuzz target.
#
# Environment:
#   CARGO_TARGET_DIR   build dir (default: $HOME/.cache/silt-target, outside the clone,
#                      so repeated runs and fresh clones reuse the build)
#   DELTA_VECTORS_DIR  the public test tables (default: ../shared/delta-vectors, beside
#                      this clone or beside the repository it was cloned from)
#   SILT_FUZZ_SECONDS  seconds per fuzz target (default 20; 0 skips fuzzing)
#   SILT_DIFF_STATEMENTS  statements of the differential SQL test against DuckDB
#                      (default 2000; its seed is fresh each run and printed)
#   SILT_AZURITE_PORT  loopback port for Azurite (default 10010)
#   SILT_MOTO_PORT     loopback port for the S3 server (default 5010)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/silt-target}"
DELTA_VECTORS_DIR="$(scripts/vectors.sh)"
export DELTA_VECTORS_DIR
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
FUZZ_SECONDS="${SILT_FUZZ_SECONDS:-20}"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -qE '^(rustfmt|clippy)' || rustup component add rustfmt clippy

step "python peers (deltalake, pyarrow, polars; duckdb, the differential SQL oracle)"
VENV="${SILT_VENV:-$HOME/.cache/silt-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import deltalake, pyarrow, duckdb, polars' 2>/dev/null \
  || "$VENV/bin/pip" install --quiet --disable-pip-version-check 'deltalake==1.6.6' 'pyarrow>=17' numpy 'duckdb==2.0.1' 'polars==2.1.0'
export SILT_DIFF_STATEMENTS="${SILT_DIFF_STATEMENTS:-2000}"
export SILT_PYTHON="$VENV/bin/python"
"$SILT_PYTHON" -c 'import deltalake, duckdb, polars; print("deltalake", deltalake.__version__, "duckdb", duckdb.__version__, "polars", polars.__version__)'
# The peer medallion pipeline (generator and oracle of the pipeline tests).
SILT_PEER_PIPELINE="$(scripts/peer.sh)"
export SILT_PEER_PIPELINE

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cloud backends compile (s3, azure, gcs features)"
cargo clippy -p silt-store --features cloud --all-targets -- -D warnings
cargo clippy -p silt-cli --features emulator-tests --all-targets -- -D warnings

step "object-store servers on loopback: Azurite (Azure Blob), moto (S3, serialized)"
trap 'scripts/azurite.sh stop; scripts/moto.sh stop' EXIT
eval "$(scripts/azurite.sh start)"
eval "$(scripts/moto.sh start)"

step "cargo test (unit, integration, property, doc, conformance)"
cargo test --workspace -- --skip silt_agrees_with_duckdb

step "the README's Rust tour (crates/sql/examples/tour.rs)"
cargo run -q -p silt-sql --example tour

step "differential SQL test against DuckDB ($SILT_DIFF_STATEMENTS statements, fresh seed)"
cargo test -p silt-sql --test differential -- --nocapture

step "silt on Azure Blob (Azurite) and S3 (moto): storage contract, racing writers, checkpoints, the CLI"
cargo test -p silt-store --features azure,s3 --test azurite --test s3_moto
cargo test -p silt-cli --features emulator-tests --test cli_cloud

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

if [ "$FUZZ_SECONDS" != "0" ]; then
  step "fuzz smoke (${FUZZ_SECONDS}s per target)"
  if ! rustup toolchain list | grep -q nightly; then
    rustup toolchain install nightly --profile minimal
  fi
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  work=$(mktemp -d)
  trap 'rm -rf "$work"; scripts/azurite.sh stop; scripts/moto.sh stop' EXIT
  for target in $(cd fuzz && cargo +nightly fuzz list); do
    # The committed seeds, plus real log files from the vectors (not copied
    # into the repository).
    mkdir -p "$work/$target"
    cp fuzz/corpus/"$target"/* "$work/$target"/ 2>/dev/null || true
    if [ -d "$DELTA_VECTORS_DIR" ]; then
      case "$target" in
        action_lines) find "$DELTA_VECTORS_DIR" -path '*_delta_log/*.json' -size -64k | head -200 | xargs -r -I{} cp {} "$work/$target/" 2>/dev/null || true ;;
        checkpoint_parquet) { find "$DELTA_VECTORS_DIR" -name '*.checkpoint*.parquet' -size -64k | head -40 | while read -r f; do cp "$f" "$work/$target/$(echo "$f" | md5sum | cut -c1-12)"; done; } || true ;;
      esac
    fi
    # Keep the whole fuzzer log; a crash fails the run and leaves the artifact.
    if ! (cd fuzz && cargo +nightly fuzz run "$target" "$work/$target" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 > "$work/$target.log" 2>&1); then
      tail -n 60 "$work/$target.log"
      echo "fuzz target $target failed" >&2
      exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$work/$target.log" | sed "s/^/$target: /"
  done
fi

step "all tests passed"
