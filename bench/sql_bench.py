#!/usr/bin/env python3
"""SQL workloads: silt-sql beside `deltalake` on the same tables.

Inputs: `iot_main.parquet` (5,000,000 rows) and `merge_source.parquet`
(100,000 rows: 50,000 existing keys with new values, 50,000 new keys) from
../shared/bench/peer_bench.py --dump-input DIR. The target table is written
once by `deltalake` (as in the peer benchmark's W1); every MERGE repeat
runs on a fresh copy of it. Each engine runs in its own process; peak RSS
includes the source held in memory.
  - MERGE (W7): update matched rows, insert the rest, ON (device_id, ts)
      silt without deletion vectors (rewrites the files holding matches)
      silt with deletion vectors enabled on the copy (no rewrite)
      deltalake TableMerger (rewrites)
  - selective SELECT (one hour of ten days: file skipping by ts statistics)
  - GROUP BY aggregate over the whole table
Usage: python3 bench/sql_bench.py --inputs DIR [--silt-bench PATH] [--repeat N]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

from bench_run import run, fmt_seconds

MERGE_PY = r'''
import json, sys, time, shutil, os
import pyarrow as pa, pyarrow.parquet as pq
from deltalake import DeltaTable
def peak():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
base, source, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = pq.read_table(source)
src = src.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type) else f.type) for f in src.schema]))
times, m = [], {}
for i in range(reps):
    d = base + f"_py_merge{i}"
    shutil.copytree(base, d)
    dt = DeltaTable(d)
    s = time.perf_counter()
    m = dt.merge(src, predicate="t.device_id = s.device_id AND t.ts = s.ts", source_alias="s", target_alias="t").when_matched_update_all().when_not_matched_insert_all().execute()
    times.append(time.perf_counter() - s)
    shutil.rmtree(d)
times.sort()
keep = ["num_target_rows_updated", "num_target_rows_inserted", "num_target_rows_copied", "num_target_files_added", "num_target_files_removed"]
print(json.dumps({"engine": "deltalake", "workload": "merge", "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "peak_kb": peak(), "metrics": {k: m.get(k) for k in keep}}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''

QUERY_PY = r'''
import json, sys, time
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
def peak():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
path, sql, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
times, rows = [], 0
for i in range(reps):
    s = time.perf_counter()
    r = QueryBuilder().register("t", DeltaTable(path)).execute(sql)
    t = pa.RecordBatchReader.from_stream(r).read_all()
    times.append(time.perf_counter() - s); rows = t.num_rows
times.sort()
print(json.dumps({"engine": "deltalake", "workload": "sql", "rows": rows, "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "peak_kb": peak()}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''

WRITE_PY = r'''
import sys, pyarrow as pa, pyarrow.parquet as pq
from deltalake import write_deltalake
t = pq.read_table(sys.argv[2])
t = t.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type) else f.type) for f in t.schema]))
write_deltalake(sys.argv[1], t)
'''

SELECTIVE = "SELECT count(*), avg(temperature) FROM t WHERE ts >= '2024-01-03T00:00:00Z' AND ts < '2024-01-03T01:00:00Z'"
GROUP_BY = "SELECT status, count(*), avg(temperature), max(humidity) FROM t GROUP BY status ORDER BY status"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    sb, py, n = a.silt_bench, sys.executable, str(a.repeat)
    main_in = os.path.join(a.inputs, "iot_main.parquet")
    source = os.path.join(a.inputs, "merge_source.parquet")
    work = tempfile.mkdtemp(prefix="silt-sql-bench-")
    fmt = fmt_seconds
    try:
        base = os.path.join(work, "w1")
        subprocess.run([py, "-c", WRITE_PY, base, main_in], check=True)
        m_d = run([py, "-c", MERGE_PY, base, source, n])
        m_s = run([sb, "merge", base, source, "--repeat", n])
        m_dv = run([sb, "merge", base, source, "--deletion-vectors", "--repeat", n])
        print("| workload | silt | deltalake | silt vs deltalake |")
        print("|---|---|---|---|")
        print(f"| MERGE 100k (50k match) into 5M rows, file rewrite | {fmt(m_s)} | {fmt(m_d)} | {m_d['median_s']/m_s['median_s']:.1f}× |")
        print(f"| MERGE 100k (50k match) into 5M rows, deletion vectors | {fmt(m_dv)} | (rewrite, above) | {m_d['median_s']/m_dv['median_s']:.1f}× |")
        print(f"<!-- silt metrics: {json.dumps(m_s['metrics'])} / dv: {json.dumps(m_dv['metrics'])}; deltalake: {json.dumps(m_d['metrics'])} -->")
        for name, sql in [("selective SELECT, 1 hour of 10 days", SELECTIVE), ("GROUP BY status over 5M rows", GROUP_BY)]:
            q_s = run([sb, "sql", base, sql, "--repeat", n])
            q_d = run([py, "-c", QUERY_PY, base, sql, n])
            print(f"| {name} | {fmt(q_s)} | {fmt(q_d)} | {q_d['median_s']/q_s['median_s']:.1f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
