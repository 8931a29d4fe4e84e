#!/usr/bin/env bash
# Landing-file listing: a triggered update that finds one new file among
# DIRS x FILES already ingested, with incremental listing (true; `auto`
# gets there once three full listings have seen files land in order) and
# with a full listing each batch (false). Usage:
#   bench/listing_bench.sh SILT [DIRS] [FILES] [ROUNDS]
set -euo pipefail
silt=$1; dirs=${2:-200}; files=${3:-250}; rounds=${4:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/landing" "$dirs" "$files" <<'PY'
import os, sys
root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for r in range(dirs):
    d = f"{root}/round-{r}"
    os.makedirs(d, exist_ok=True)
    for f in range(files):
        with open(f"{d}/part-{f}.jsonl", "w") as fh:
            fh.write('{"x":"%d"}\n' % (r * 100000 + f))
PY
mkdir -p "$work/proj"
printf 'name: listbench\nlibraries:\n  - glob:\n      include: "*.sql"\n' > "$work/proj/spark-pipeline.yml"
echo "CREATE STREAMING TABLE t AS SELECT x FROM STREAM read_files('\${landing}', format => 'json', useIncrementalListing => '\${inc}');" > "$work/proj/t.sql"
run() { # inc -> seconds
  local start end
  start=$(date +%s.%N)
  "$silt" pipeline run "$work/proj" --conf landing="$work/landing" --conf inc="$1" --storage "$work/lake-$1" > /dev/null
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}
echo "backlog of $((dirs * files)) files: true $(run true) s, false $(run false) s"
for i in $(seq 1 "$rounds"); do
  mkdir -p "$work/landing/round-$((dirs + i))"
  echo "{\"x\":\"new$i\"}" > "$work/landing/round-$((dirs + i))/part-0.jsonl"
  echo "one new file, round $i: true $(run true) s, false $(run false) s"
done
