#!/usr/bin/env python3
"""Bulk write and scan: silt beside `deltalake` and the plain pyarrow floor.

Input: the 5,000,000-row IoT table from ../shared/bench/peer_bench.py
(`--dump-input DIR` writes iot_main.parquet). Each engine runs in its own
process (peak RSS includes the input held in memory), N runs per process;
the engines take turns, round after round, and each comparison is the
median of its per-round ratios, so a noisy spell on a shared machine hits
both sides of it rather than one. Workloads:
  - pyarrow.parquet.write_table (snappy, zstd): the floor for a Parquet writer
  - write, unpartitioned: silt (zstd default, and snappy) vs write_deltalake
    (which writes snappy)
  - write, partitioned by day (10 partitions): silt zstd and snappy vs write_deltalake
  - full scan of the unpartitioned table: silt Scan vs DeltaTable.to_pyarrow_table()
  - selective scan of the partitioned table, one day of ten (90% of files skipped)
Usage: python3 bench/data_bench.py --input DIR/iot_main.parquet [--silt-bench PATH] [--repeat N] [--rounds R]
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
times, cpus, rows, extra = [], [], 0, {}
for i in range(reps):
    d = os.path.join(work, f"{what}{i}")
    shutil.rmtree(d, ignore_errors=True)
    if what.startswith("pyarrow_"):
        os.makedirs(d)
        s, c = time.perf_counter(), time.process_time()
        pq.write_table(t, os.path.join(d, "f.parquet"), compression=what.split("_")[1])
        times.append(time.perf_counter() - s); cpus.append(time.process_time() - c)
    elif what.startswith("write"):
        s, c = time.perf_counter(), time.process_time()
        write_deltalake(d, t, partition_by=["date"] if what.endswith("_part") else None)
        times.append(time.perf_counter() - s); cpus.append(time.process_time() - c)
    rows = t.num_rows
times.sort(); cpus.sort()
print(json.dumps({"engine": "python", "workload": what, "rows": rows, "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "cpu_s": cpus[len(cpus)//2], "peak_kb": peak()}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''

PY_SCAN = r'''
import json, sys, time
from deltalake import DeltaTable
def peak():
    for l in open("/proc/self/status"):
        if l.startswith("VmHWM:"): return int(l.split()[1])
path, reps, day = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times, cpus, rows = [], [], 0
for i in range(reps):
    s, c = time.perf_counter(), time.process_time()
    dt = DeltaTable(path)
    t = dt.to_pyarrow_table(partitions=[("date", "=", day)]) if day != "-" else dt.to_pyarrow_table()
    times.append(time.perf_counter() - s); cpus.append(time.process_time() - c); rows = t.num_rows
times.sort(); cpus.sort()
print(json.dumps({"engine": "deltalake", "workload": "scan", "rows": rows, "median_s": times[len(times)//2], "min_s": times[0], "max_s": times[-1], "cpu_s": cpus[len(cpus)//2], "peak_kb": peak()}))
sys.stdout.flush(); __import__('os')._exit(0)  # deltalake 1.6.6 can abort at interpreter exit
'''


def summary(recs):
    """One record for a workload's rounds: median of the round medians,
    extremes over all runs, the highest peak."""
    meds = sorted(r["median_s"] for r in recs)
    out = dict(recs[-1])
    cpus = sorted(r.get("cpu_s", 0.0) for r in recs)
    out.update(median_s=meds[len(meds) // 2], min_s=min(r["min_s"] for r in recs),
               max_s=max(r["max_s"] for r in recs), peak_kb=max(r["peak_kb"] for r in recs),
               cpu_s=cpus[len(cpus) // 2])
    return out


def cpu(r):
    """`CPU s (cores)`: CPU seconds per run and how many cores that kept busy."""
    return f"{r['cpu_s']:.2f} s ({r['cpu_s'] / r['median_s']:.1f})"


def ratio(peer, ours):
    """Median over rounds of peer time / silt time, each pair from one round."""
    rs = sorted(p["median_s"] / o["median_s"] for p, o in zip(peer, ours))
    return f"{rs[len(rs) // 2]:.1f}× ({rs[0]:.1f}–{rs[-1]:.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine process")
    ap.add_argument("--short-repeat", type=int, default=15,
                    help="runs per engine process for the selective scan: at 40-70 ms a run, "
                         "three runs leave its median to whichever one the noise hits")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds, each running every engine once in turn, so a noisy spell "
                         "hits both sides of a comparison")
    a = ap.parse_args()
    sb, py, n = a.silt_bench, sys.executable, str(a.repeat)
    work = tempfile.mkdtemp(prefix="silt-data-bench-")
    fmt = fmt_seconds
    rec = {}

    def add(key, cmd):
        rec.setdefault(key, []).append(run(cmd))

    try:
        for k in range(a.rounds):
            last = k == a.rounds - 1
            # The last round's tables stay for the scans.
            for d in ("silt_u", "silt_us", "silt_p", "silt_ps"):
                shutil.rmtree(os.path.join(work, d), ignore_errors=True)
            add("floor_snappy", [py, "-c", PY, work, a.input, "pyarrow_snappy", n])
            add("floor_zstd", [py, "-c", PY, work, a.input, "pyarrow_zstd", n])
            add("s_u", [sb, "write", os.path.join(work, "silt_u"), a.input, "--repeat", n])
            add("s_us", [sb, "write", os.path.join(work, "silt_us"), a.input, "--snappy", "--repeat", n])
            add("d_u", [py, "-c", PY, work, a.input, "write", n])
            add("s_p", [sb, "write", os.path.join(work, "silt_p"), a.input, "--partition-by-date", "--repeat", n])
            add("s_ps", [sb, "write", os.path.join(work, "silt_ps"), a.input, "--partition-by-date", "--snappy", "--repeat", n])
            add("d_p", [py, "-c", PY, work, a.input, "write_part", n])
            if not last:
                shutil.rmtree(os.path.join(work, "silt_us"), ignore_errors=True)
        for d in ("silt_us", "silt_ps"):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        for k in range(a.rounds):
            add("sc_s", [sb, "scan", os.path.join(work, "silt_u", "rep0"), "--repeat", n])
            add("sc_d", [py, "-c", PY_SCAN, os.path.join(work, "write0"), n, "-"])
            short = str(a.short_repeat)
            add("sel_s", [sb, "scan", os.path.join(work, "silt_p", "rep0"), "--where", "date = '2024-01-05'", "--repeat", short])
            add("sel_d", [py, "-c", PY_SCAN, os.path.join(work, "write_part0"), short, "2024-01-05"])
        S = {key: summary(v) for key, v in rec.items()}
        print(f"{a.rounds} rounds × {a.repeat} runs ({a.short_repeat} for the selective scan); "
              "times are medians of the round medians, ratios the median (range) of the per-round ratios")
        print("| workload | silt | deltalake | pyarrow floor (snappy / zstd) | silt vs deltalake |")
        print("|---|---|---|---|---|")
        print(f"| write 5M rows, unpartitioned (silt zstd) | {fmt(S['s_u'])} | {fmt(S['d_u'])} | {S['floor_snappy']['median_s']:.2f} / {S['floor_zstd']['median_s']:.2f} s | {ratio(rec['d_u'], rec['s_u'])} |")
        print(f"| write 5M rows, unpartitioned (silt snappy) | {fmt(S['s_us'])} | {fmt(S['d_u'])} | | {ratio(rec['d_u'], rec['s_us'])} |")
        print(f"| write 5M rows, partitioned by day (silt zstd) | {fmt(S['s_p'])} | {fmt(S['d_p'])} | | {ratio(rec['d_p'], rec['s_p'])} |")
        print(f"| write 5M rows, partitioned by day (silt snappy) | {fmt(S['s_ps'])} | {fmt(S['d_p'])} | | {ratio(rec['d_p'], rec['s_ps'])} |")
        print(f"| silt zstd vs the pyarrow zstd floor | | | | {ratio(rec['floor_zstd'], rec['s_u'])} |")
        print(f"| full scan, 5M rows | {fmt(S['sc_s'])} | {fmt(S['sc_d'])} | | {ratio(rec['sc_d'], rec['sc_s'])} |")
        print(f"| selective scan, 1 day of 10 ({S['sel_s']['rows']:,} rows; silt read {S['sel_s']['files_read']} file(s)) | {fmt(S['sel_s'])} | {fmt(S['sel_d'])} | | {ratio(rec['sel_d'], rec['sel_s'])} |")
        print()
        print("CPU per run (user + system, every thread; median of the round medians), and the cores it kept busy (CPU / wall):")
        print("| workload | silt | deltalake | silt CPU / deltalake CPU |")
        print("|---|---|---|---|")
        for label, ours, peer in [("write, unpartitioned (silt zstd)", "s_u", "d_u"),
                                  ("write, unpartitioned (silt snappy)", "s_us", "d_u"),
                                  ("write, partitioned by day (silt zstd)", "s_p", "d_p"),
                                  ("write, partitioned by day (silt snappy)", "s_ps", "d_p"),
                                  ("full scan", "sc_s", "sc_d"),
                                  ("selective scan", "sel_s", "sel_d")]:
            print(f"| {label} | {cpu(S[ours])} | {cpu(S[peer])} | {S[ours]['cpu_s'] / max(S[peer]['cpu_s'], 1e-9):.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
