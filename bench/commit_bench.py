#!/usr/bin/env python3
"""Commit benchmarks: silt beside the Python `deltalake` package.

1. One writer, 200 sequential appends of a 100-row Parquet file each, on
   tables with 0, 1,000 and 10,000 live files (default post-commit hooks:
   silt checkpoints every 10 commits, deltalake every 100).
2. Contending writers: 4 processes x 50 appends and 16 processes x 25 appends
   on one table, started together; landed commits, retries and errors.
3. Checkpoint writing for tables with 10,000 and 100,000 live files (load +
   write, first checkpoint of the table) on identical copies.

The starting tables are prepared by `silt-bench` (deltalake reads them: the
interop tests check that). Usage:
  python3 bench/commit_bench.py [--silt-bench PATH] [--quick]
Prints markdown tables; raw JSON lines go to stderr.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

from bench_run import PEER_APPEND, contend, run

PEER_CHECKPOINT = r'''
import json, sys, time
from deltalake import DeltaTable
t = time.perf_counter()
dt = DeltaTable(sys.argv[1])
loaded = (time.perf_counter() - t) * 1000
dt.create_checkpoint()
print(json.dumps({"engine": "deltalake", "load_ms": loaded, "total_ms": (time.perf_counter() - t) * 1000}))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--quick", action="store_true", help="fewer commits and smaller tables")
    a = ap.parse_args()
    sb, py = a.silt_bench, sys.executable
    n = 50 if a.quick else 200
    tmp = tempfile.mkdtemp(prefix="silt-commit-bench-")
    try:
        print("| live files before | silt commits/s (p50 / p99 ms; first→last 10% ms) | deltalake commits/s (p50 / p99 ms; first→last 10% ms) | ratio |")
        print("|---|---|---|---|")
        for files in ([0, 1000] if a.quick else [0, 1000, 10000]):
            d_s, d_p = os.path.join(tmp, f"s{files}"), os.path.join(tmp, f"p{files}")
            run([sb, "prepare", d_s, "--files", str(files)])
            shutil.copytree(d_s, d_p)
            s = run([sb, "append", d_s, "--commits", str(n)])
            p = run([py, "-c", PEER_APPEND, d_p, str(n), "0"])
            fmt = lambda r: f"{r['commits_per_s']:.1f} ({r['p50_ms']:.1f} / {r['p99_ms']:.1f}; {r['first10pct_ms']:.1f}→{r['last10pct_ms']:.1f})"
            print(f"| {files:,} | {fmt(s)} | {fmt(p)} | {s['commits_per_s']/p['commits_per_s']:.1f}× |", flush=True)

        print()
        print("| writers × commits | silt commits/s (landed, retries) | deltalake commits/s (landed, app-level retries after exhausted internal retries) | ratio |")
        print("|---|---|---|---|")
        for writers, each in ([(4, 20)] if a.quick else [(4, 50), (16, 25)]):
            d_s, d_p = os.path.join(tmp, f"c{writers}s"), os.path.join(tmp, f"c{writers}p")
            run([sb, "prepare", d_s, "--files", "0"])
            shutil.copytree(d_s, d_p)
            ts, rs = contend([[sb, "append", d_s, "--commits", str(each), "--writer", str(w)] for w in range(writers)])
            tp, rp = contend([[py, "-c", PEER_APPEND, d_p, str(each), str(w)] for w in range(writers)])
            landed_s = run([sb, "load", d_s, "--repeat", "1"])["version"]
            landed_p = run([sb, "load", d_p, "--repeat", "1"])["version"]
            total = writers * each
            print(f"| {writers} × {each} | {total/ts:.1f} ({landed_s}/{total}, {sum(r['retries'] for r in rs)} rebases) | "
                  f"{total/tp:.1f} ({landed_p}/{total}, {sum(r['errors'] for r in rp)} errors) | {(total/ts)/(total/tp):.1f}× |", flush=True)

        print()
        print("| live files | silt load + checkpoint ms | deltalake load + create_checkpoint ms | ratio |")
        print("|---|---|---|---|")
        for files in ([10000] if a.quick else [10000, 100000]):
            d_s, d_p = os.path.join(tmp, f"k{files}s"), os.path.join(tmp, f"k{files}p")
            subprocess.run([sb, "gen", d_s, "--commits", "100", "--files-per-commit", str(files // 100)], check=True)
            shutil.copytree(d_s, d_p)
            s = run([sb, "checkpoint", d_s])
            p = run([py, "-c", PEER_CHECKPOINT, d_p])
            print(f"| {files:,} | {s['total_ms']:.0f} (load {s['load_ms']:.0f}) | {p['total_ms']:.0f} (load {p['load_ms']:.0f}) | {p['total_ms']/s['total_ms']:.1f}× |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
