#!/usr/bin/env python3
"""Bulk write and scan: silt beside `deltalake` and the plain pyarrow floor.

Input: the 5,000,000-row IoT table from ../shared/bench/peer_bench.py
(`--dump-input DIR` writes iot_main.parquet). Workloads, median of N, each
engine in its own process (peak RSS includes the input held in memory):
  - pyarrow.parquet.write_table (snappy, zstd): the floor for a Parquet writer
  - write, unpartitioned: silt (zstd default, and snappy) vs write_deltalake
  - write, partitioned by day (10 partitions)
  - full scan of the unpartitioned table: silt Scan vs DeltaTable.to_pyarrow_table()
  - selective scan of the partitioned table, one day of ten (90% of files skipped)
Usage: python3 bench/data_bench.py --input DIR/iot_main.parquet [--silt-bench PATH] [--repeat N]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

from bench_run import run, fmt_seconds

PY = r'''
import json, sys, time, shutil, os
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
def peak():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
work, inp, what, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = pq.read_table(inp)
t = t.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type) else f.type) for f in t.schema]))
if what.endswith("_part"):
    t = t.append_column("date", pc.cast(pc.cast(t.column("ts"), pa.timestamp("us")), pa.date32()))
times, rows, extra = [], 0, {}
for i in range(reps):
    d = os.path.join(work, f"{what}{i}")
    shutil.rmtree(d, ignore_errors=True)
    if what.startswith("pyarrow_"):
        os.makedirs(d)
        s = time.perf_counter(); pq.write_table(t, os.path.join(d, "f.parquet"), compression=what.split("_")[1]); times.append(time.perf_counter() - s)
    elif what.startswith("write"):
        s = time.perf_counter()
        write_deltalake(d, t, partition_by=["date"] if what.endswith("_part") else None)
        times.append(time.perf_counter() - s)
    rows = t.num_rows
times.sort()
print(json.dumps({"engine": "python", "workload": what, "rows": rows, "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "peak_kb": peak()}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''

PY_SCAN = r'''
import json, sys, time
from deltalake import DeltaTable
def peak():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
path, reps, day = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times, rows = [], 0
for i in range(reps):
    s = time.perf_counter()
    dt = DeltaTable(path)
    t = dt.to_pyarrow_table(partitions=[("date", "=", day)]) if day != "-" else dt.to_pyarrow_table()
    times.append(time.perf_counter() - s); rows = t.num_rows
times.sort()
print(json.dumps({"engine": "deltalake", "workload": "scan", "rows": rows, "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "peak_kb": peak()}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    sb, py, n = a.silt_bench, sys.executable, str(a.repeat)
    work = tempfile.mkdtemp(prefix="silt-data-bench-")
    fmt = fmt_seconds
    try:
        floor_snappy = run([py, "-c", PY, work, a.input, "pyarrow_snappy", n])
        floor_zstd = run([py, "-c", PY, work, a.input, "pyarrow_zstd", n])
        s_u = run([sb, "write", os.path.join(work, "silt_u"), a.input, "--repeat", n])
        s_us = run([sb, "write", os.path.join(work, "silt_us"), a.input, "--snappy", "--repeat", n])
        d_u = run([py, "-c", PY, work, a.input, "write", n])
        s_p = run([sb, "write", os.path.join(work, "silt_p"), a.input, "--partition-by-date", "--repeat", n])
        d_p = run([py, "-c", PY, work, a.input, "write_part", n])
        print("| workload | silt | deltalake | pyarrow floor (snappy / zstd) | silt vs deltalake |")
        print("|---|---|---|---|---|")
        print(f"| write 5M rows, unpartitioned (silt zstd) | {fmt(s_u)} | {fmt(d_u)} | {floor_snappy['median_s']:.2f} / {floor_zstd['median_s']:.2f} s | {d_u['median_s']/s_u['median_s']:.1f}× |")
        print(f"| write 5M rows, unpartitioned (silt snappy) | {fmt(s_us)} | {fmt(d_u)} | | {d_u['median_s']/s_us['median_s']:.1f}× |")
        print(f"| write 5M rows, partitioned by day | {fmt(s_p)} | {fmt(d_p)} | | {d_p['median_s']/s_p['median_s']:.1f}× |")
        sc_s = run([sb, "scan", os.path.join(work, "silt_u", "rep0"), "--repeat", n])
        sc_d = run([py, "-c", PY_SCAN, os.path.join(work, "write0"), n, "-"])
        print(f"| full scan, 5M rows | {fmt(sc_s)} | {fmt(sc_d)} | | {sc_d['median_s']/sc_s['median_s']:.1f}× |")
        sel_s = run([sb, "scan", os.path.join(work, "silt_p", "rep0"), "--where", "date = '2024-01-05'", "--repeat", n])
        sel_d = run([py, "-c", PY_SCAN, os.path.join(work, "write_part0"), n, "2024-01-05"])
        print(f"| selective scan, 1 day of 10 ({sel_s['rows']:,} rows; silt read {sel_s['files_read']} file(s)) | {fmt(sel_s)} | {fmt(sel_d)} | | {sel_d['median_s']/sel_s['median_s']:.1f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
