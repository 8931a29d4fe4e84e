#!/usr/bin/env bash
# The CLI tour of single tables: build silt, load a sample table from CSV
# and JSON lines, change it (delete with deletion vectors, optimize), query
# it, read its change feed and history, travel back in time, then read real
# tables written by Spark and delta-rs. (The main job is scripts/demo.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/silt-target}"
VECTORS="$(scripts/vectors.sh)"
# A debug build: the sample tables are tiny, and it shares the test suite's
# build cache (a release build with DataFusion takes about 20 minutes cold).
cargo build -p silt-cli
silt="$CARGO_TARGET_DIR/debug/silt"
run() { printf '\n$ silt %s\n' "$*"; "$silt" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/readings.csv" <<'CSV'
device,city,temp,ts
d1,Zurich,3.5,2026-11-24T08:00:00Z
d2,Bern,4.0,2026-11-24T08:00:00Z
d3,Zurich,-1.5,2026-11-24T08:05:00Z
d4,Basel,6.25,2026-11-24T08:05:00Z
CSV
cat > "$work/more.jsonl" <<'JSON'
{"device":"d5","city":"Bern","temp":5.5,"ts":"2026-11-24T09:00:00Z"}
{"device":"d6","city":"Zurich","temp":-3.0,"ts":"2026-11-24T09:00:00Z"}
JSON
table="$work/lake/silver/readings"
run append "$table" "$work/readings.csv" --create --partition-by city \
  --property delta.enableDeletionVectors=true --property delta.enableChangeDataFeed=true
run append "$table" "$work/more.jsonl"
run scan "$table"
run scan "$table" --where "temp < 0 OR city = 'Basel'" --columns device,city,temp
run delete "$table" --where "temp < 0"
run scan "$table" --format jsonl
run changes "$table" --from 0
run optimize "$table"
run history "$table"
run describe "$table"
run scan "$table" --version 1 --columns device,temp
run checkpoint "$table"

# SQL over the same table (DataFusion): aggregates, UPDATE, MERGE into a gold
# table created from a query, RESTORE, time travel by path suffix.
run sql "SELECT city, count(*) AS readings, avg(temp) AS avg_temp FROM delta.'$table' GROUP BY city ORDER BY city"
gold="$work/lake/gold/city_peaks"
run sql "CREATE TABLE delta.'$gold' AS SELECT city, max(temp) AS peak FROM delta.'$table' WHERE city <> 'Basel' GROUP BY city"
run sql "UPDATE delta.'$table' SET temp = temp + 10 WHERE device = 'd2'"
run sql "MERGE INTO delta.'$gold' AS g USING (SELECT city, max(temp) AS peak FROM delta.'$table' GROUP BY city) AS s
         ON g.city = s.city
         WHEN MATCHED AND s.peak > g.peak THEN UPDATE SET peak = s.peak
         WHEN NOT MATCHED THEN INSERT (city, peak) VALUES (s.city, s.peak);
         SELECT * FROM delta.'$gold' ORDER BY city"
run history "$gold"
run sql "RESTORE TABLE delta.'$gold' TO VERSION AS OF 0"
run sql "SELECT * FROM delta.'$gold@v1' ORDER BY city" --format jsonl

# A table declared with Delta's column features, evolved with ALTER TABLE:
# identity, default and generated columns filled on insert, a rename through
# column mapping, row ids kept by UPDATE.
events="$work/lake/bronze/events"
run sql "CREATE TABLE delta.'$events' (
           id BIGINT GENERATED ALWAYS AS IDENTITY, kind STRING NOT NULL DEFAULT 'reading',
           ts TIMESTAMP, day DATE GENERATED ALWAYS AS (CAST(ts AS DATE)), temp DOUBLE CHECK (temp > -90))
         PARTITIONED BY (day) TBLPROPERTIES ('delta.enableRowTracking' = 'true');
         INSERT INTO delta.'$events' (ts, temp) SELECT CAST(ts AS TIMESTAMP), temp FROM delta.'$table'"
run alter "$events" "SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')"
run alter "$events" "RENAME COLUMN kind TO category"
run sql "UPDATE delta.'$events' SET category = 'corrected' WHERE id = 2;
         SELECT id, category, day, temp FROM delta.'$events' ORDER BY id"
run describe "$events"

# Real tables written by other engines.
run describe "$VECTORS/delta-rs/data/simple_table" --version 2
run files "$VECTORS/delta-spark/table-with-dv-small"
run scan "$VECTORS/kernel/data/table-with-dv-small" --limit 5

# Refusals are errors with a non-zero exit code.
printf '\n$ silt describe %s   # unsupported reader feature\n' "$VECTORS/delta-rs/data/simple_table_features"
if "$silt" describe "$VECTORS/delta-rs/data/simple_table_features"; then exit 1; fi
