#!/usr/bin/env python3
"""Snapshot-load benchmark: silt beside the Python `deltalake` package.

Builds tables with `silt-bench gen` (delta-rs-shaped appends), then loads each
one with silt (`silt-bench load`) and with `deltalake` (`DeltaTable(path)` +
`.version()`, as in ../shared/bench/peer_bench.py W4), each in its own process,
back to back, median of N. A checkpoint is then written by `deltalake`
(`create_checkpoint()`) and both load again; finally commits are appended after
the checkpoint to show load cost following the commits since the checkpoint.

Usage: python3 bench/snapshot_load.py [--silt-bench PATH] [--repeat N] [--small]
       python3 bench/snapshot_load.py --files 100000,1000000 [--tail 1000] [--baseline PATH]
The second form is the many-files benchmark: for each size, a table of that
many live files in 100 commits with a `deltalake` checkpoint at the last,
loaded as is and again after a tail of JSON commits (one file each). Each
load runs in a new process (median time and peak RSS over --repeat). With
`--baseline`, another silt-bench build (say, the one before a change) loads
the same tables in the same run, so the two can be compared on one machine
state. Prints a markdown table; raw JSON lines go to stderr.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

PEER = r'''
import json, sys, time
def mem():
    d = {}
    for line in open("/proc/self/status"):
        k, v = line.split(":", 1)
        d[k] = int(v.split()[0]) if v.strip().endswith("kB") else 0
    return d
from deltalake import DeltaTable
path, repeat = sys.argv[1], int(sys.argv[2])
before = mem()["VmRSS"]
times = []
for _ in range(repeat):
    t = time.perf_counter()
    dt = DeltaTable(path)
    v = dt.version()
    times.append((time.perf_counter() - t) * 1000)
    del dt
times.sort()
print(json.dumps({"engine": "deltalake", "median_ms": times[len(times)//2], "min_ms": times[0],
                  "max_ms": times[-1], "n": len(times), "version": v,
                  "rss_before_kb": before, "peak_kb": mem()["VmHWM"]}))
'''


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(rec), file=sys.stderr)
    return rec


def measure(silt_bench, path, repeat):
    s = run_json([silt_bench, "load", path, "--repeat", str(repeat)])
    d = run_json([sys.executable, "-c", PEER, path, str(repeat)])
    return s, d


def fresh_loads(cmd, repeat):
    """`repeat` single loads, each in a new process: median time, median
    peak RSS (a process's allocator keeps memory between loads, so in-process
    repeats measure the allocator as much as the load)."""
    recs = [run_json(cmd + ["1"]) for _ in range(repeat)]
    mid = lambda key: sorted(r[key] for r in recs)[len(recs) // 2]
    times = sorted(r["median_ms"] for r in recs)
    return {"median_ms": mid("median_ms"), "min_ms": times[0], "max_ms": times[-1],
            "peak_kb": mid("peak_kb"), "rss_before_kb": mid("rss_before_kb")}


def many_files(a):
    sizes = [int(x) for x in a.files.split(",")]
    tmp = tempfile.mkdtemp(prefix="silt-bench-")
    rows = []
    try:
        from deltalake import DeltaTable
        for n in sizes:
            t = os.path.join(tmp, f"files{n}")
            subprocess.run([a.silt_bench, "gen", t, "--commits", "100", "--files-per-commit", str(n // 100)], check=True)
            DeltaTable(t).create_checkpoint()
            for label in (f"{n:,} live files, checkpoint", f"{n:,} live files, checkpoint + {a.tail:,} commits"):
                base = fresh_loads([a.baseline, "load", t, "--repeat"], a.repeat) if a.baseline else None
                s = fresh_loads([a.silt_bench, "load", t, "--repeat"], a.repeat)
                d = fresh_loads([sys.executable, "-c", PEER, t], a.repeat)
                rows.append((label, s, d, base))
                if label.endswith("checkpoint"):
                    subprocess.run([a.silt_bench, "gen", t, "--commits", str(a.tail), "--files-per-commit", "1", "--append"], check=True)
            shutil.rmtree(t, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = lambda r: f"{r['peak_kb']/1024:.0f} ({(r['peak_kb']-r['rss_before_kb'])/1024:.0f})"
    ms = lambda r: f"{r['median_ms']:.1f} ({r['min_ms']:.1f}–{r['max_ms']:.1f})"
    head = "| table | silt median ms (min–max) | silt peak RSS (load delta) MB | deltalake median ms (min–max) | deltalake peak RSS (load delta) MB | speed-up | silt / deltalake peak |"
    sep = "|---|---|---|---|---|---|---|"
    if a.baseline:
        head += " baseline silt ms | baseline silt peak MB |"
        sep += "---|---|"
    print(head)
    print(sep)
    for name, s, d, base in rows:
        line = (f"| {name} | {ms(s)} | {mb(s)} | {ms(d)} | {mb(d)} | "
                f"{d['median_ms']/s['median_ms']:.1f}× | {s['peak_kb']/d['peak_kb']:.2f} |")
        if base:
            line += f" {ms(base)} | {mb(base)} |"
        print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="1,000 commits / 10,000 files (quick check)")
    ap.add_argument("--files", help="comma-separated live-file counts: the many-files benchmark")
    ap.add_argument("--tail", type=int, default=1000, help="JSON commits after the checkpoint (with --files)")
    ap.add_argument("--baseline", help="another silt-bench to load the same tables (with --files)")
    a = ap.parse_args()
    if a.files:
        return many_files(a)
    commits, big_files = (1000, 10_000) if a.small else (10_000, 100_000)
    tmp = tempfile.mkdtemp(prefix="silt-bench-")
    rows = []
    try:
        t1 = os.path.join(tmp, "commits")
        subprocess.run([a.silt_bench, "gen", t1, "--commits", str(commits), "--files-per-commit", "1"], check=True)
        t2 = os.path.join(tmp, "files")
        subprocess.run([a.silt_bench, "gen", t2, "--commits", "100", "--files-per-commit", str(big_files // 100)], check=True)
        rows.append((f"{commits:,} commits, no checkpoint", *measure(a.silt_bench, t1, a.repeat)))
        rows.append((f"{big_files:,} live files in 100 commits, no checkpoint", *measure(a.silt_bench, t2, a.repeat)))
        from deltalake import DeltaTable
        DeltaTable(t1).create_checkpoint()
        DeltaTable(t2).create_checkpoint()
        rows.append((f"{commits:,} commits, checkpoint at the last", *measure(a.silt_bench, t1, a.repeat)))
        rows.append((f"{big_files:,} live files, checkpoint at the last", *measure(a.silt_bench, t2, a.repeat)))
        subprocess.run([a.silt_bench, "gen", t1, "--commits", "100", "--files-per-commit", "1", "--append"], check=True)
        rows.append((f"{commits:,} commits, checkpoint, then 100 more", *measure(a.silt_bench, t1, a.repeat)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| table | silt median ms (min–max) | deltalake median ms (min–max) | speed-up | silt peak RSS (load delta) MB | deltalake peak RSS (load delta) MB |")
    print("|---|---|---|---|---|---|")
    for name, s, d in rows:
        mb = lambda r: f"{r['peak_kb']/1024:.0f} ({(r['peak_kb']-r['rss_before_kb'])/1024:.0f})"
        print(f"| {name} | {s['median_ms']:.1f} ({s['min_ms']:.1f}–{s['max_ms']:.1f}) | "
              f"{d['median_ms']:.1f} ({d['min_ms']:.1f}–{d['max_ms']:.1f}) | "
              f"{d['median_ms']/s['median_ms']:.1f}× | {mb(s)} | {mb(d)} |")


if __name__ == "__main__":
    main()
