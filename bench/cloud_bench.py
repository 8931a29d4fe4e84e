#!/usr/bin/env python3
"""Commits and snapshot loads on object-store servers: silt beside the
Python `deltalake` package against the same Azurite (Azure Blob) and moto
(S3, one request at a time) servers, started here on loopback.

1. One writer, N sequential appends of a 100-row Parquet file each.
2. Contending writers: 4 processes x 25 appends on one table.
3. Snapshot load of a table with 1,000 live files in 100 commits plus a
   checkpoint and 20 commits after it.

Each engine works on its own table prepared identically by `silt-bench`.
Usage:
  python3 bench/cloud_bench.py [--silt-bench PATH] [--commits N] [--repeat R]
Prints markdown tables; raw JSON lines go to stderr. The servers add their
own latency (both are single-process emulators on this machine), so the
ratios say more than the absolute figures.
"""
import argparse, json, os, subprocess, sys, time, uuid

from bench_run import PEER_APPEND, contend, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PEER_LOAD = r'''
import json, sys, time
from deltalake import DeltaTable
uri, repeat, opts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
times = []
for _ in range(repeat):
    t = time.perf_counter()
    dt = DeltaTable(uri, storage_options=opts)
    n = len(dt.file_uris())
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({"engine": "deltalake", "median_ms": times[len(times)//2], "min_ms": times[0],
                  "max_ms": times[-1], "files": n, "version": dt.version()}))
'''


def servers():
    """Starts Azurite and moto; returns {name: (uri prefix, options)}."""
    env = {}
    for script in ("azurite.sh", "moto.sh"):
        out = subprocess.run([os.path.join(ROOT, "scripts", script), "start"], check=True,
                             capture_output=True, text=True).stdout
        for token in out.split():
            if "=" in token:
                k, v = token.split("=", 1)
                env[k] = v.strip("'\"")
    # object_store takes the emulator's address from this variable (with
    # use_emulator it ignores azure_storage_endpoint); children inherit it.
    os.environ["AZURITE_BLOB_STORAGE_URL"] = env["SILT_AZURITE_URL"]
    return {
        "Azurite": ("az://silt", {"azure_storage_use_emulator": "true",
                                  "azure_storage_endpoint": env["SILT_AZURITE_URL"] + "/devstoreaccount1"}),
        "S3 (moto)": ("s3://silt", {"aws_endpoint": env["SILT_S3_URL"], "aws_allow_http": "true",
                                    "aws_region": "us-east-1", "aws_access_key_id": "test",
                                    "aws_secret_access_key": "test",
                                    "aws_virtual_hosted_style_request": "false",
                                    "aws_conditional_put": "etag"}),
    }


def silt(sb, opts, *args):
    env = dict(os.environ, SILT_STORAGE_OPTIONS=json.dumps(opts))
    done = subprocess.run([sb, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"silt-bench {' '.join(args)} failed: {done.stderr.strip()}")
    out = done.stdout
    rec = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(rec), file=sys.stderr)
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--silt-bench", default=os.environ.get("SILT_BENCH", "target/release/silt-bench"))
    ap.add_argument("--commits", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    sb, py, n = a.silt_bench, sys.executable, a.commits
    try:
        rows = []
        for name, (prefix, opts) in servers().items():
            o = json.dumps(opts)
            run_id = uuid.uuid4().hex[:8]
            # 1. One writer.
            us, up = f"{prefix}/{run_id}/single-s", f"{prefix}/{run_id}/single-p"
            silt(sb, opts, "prepare", us, "--files", "0")
            silt(sb, opts, "prepare", up, "--files", "0")
            s = silt(sb, opts, "append", us, "--commits", str(n))
            p = run([py, "-c", PEER_APPEND, up, str(n), "0", o])
            rows.append((name, f"{n} appends, one writer (commits/s; p50 / p99 ms)",
                         f"{s['commits_per_s']:.1f} ({s['p50_ms']:.1f} / {s['p99_ms']:.1f})",
                         f"{p['commits_per_s']:.1f} ({p['p50_ms']:.1f} / {p['p99_ms']:.1f})",
                         s['commits_per_s'] / p['commits_per_s']))
            # 2. Contention.
            writers, each = 4, 25
            cs, cp = f"{prefix}/{run_id}/race-s", f"{prefix}/{run_id}/race-p"
            silt(sb, opts, "prepare", cs, "--files", "0")
            silt(sb, opts, "prepare", cp, "--files", "0")
            env = dict(os.environ, SILT_STORAGE_OPTIONS=o)
            ts, rs = contend([[sb, "append", cs, "--commits", str(each), "--writer", str(w)]
                              for w in range(writers)], env)
            tp, rp = contend([[py, "-c", PEER_APPEND, cp, str(each), str(w), o] for w in range(writers)], env)
            landed_s = silt(sb, opts, "load", cs, "--repeat", "1")["version"]
            landed_p = silt(sb, opts, "load", cp, "--repeat", "1")["version"]
            total = writers * each
            rows.append((name, f"{writers} writers × {each} appends (commits/s; landed; rebases or app retries)",
                         f"{total/ts:.1f} ({landed_s}/{total}; {sum(r['retries'] for r in rs)} rebases)",
                         f"{total/tp:.1f} ({landed_p}/{total}; {sum(r['errors'] for r in rp)} retries)",
                         (total / ts) / (total / tp)))
            # 3. Snapshot load: 1,000 files in 100 commits, a checkpoint, 20 more commits.
            lt = f"{prefix}/{run_id}/load"
            silt(sb, opts, "prepare", lt, "--files", "1000")
            silt(sb, opts, "append", lt, "--commits", "20")
            s = silt(sb, opts, "load", lt, "--repeat", str(a.repeat))
            p = run([py, "-c", PEER_LOAD, lt, str(a.repeat), o])
            assert s["version"] == p["version"], (s, p)
            rows.append((name, f"snapshot load, {s['files']:,} files, checkpoint + 20 commits (median ms, min–max)",
                         f"{s['median_ms']:.1f} ({s['min_ms']:.1f}–{s['max_ms']:.1f})",
                         f"{p['median_ms']:.1f} ({p['min_ms']:.1f}–{p['max_ms']:.1f})",
                         p['median_ms'] / s['median_ms']))
        print("| server | workload | silt | deltalake | silt faster by |")
        print("|---|---|---|---|---|")
        for server, what, s, p, ratio in rows:
            print(f"| {server} | {what} | {s} | {p} | {ratio:.1f}× |")
    finally:
        for script in ("azurite.sh", "moto.sh"):
            subprocess.run([os.path.join(ROOT, "scripts", script), "stop"], capture_output=True)


if __name__ == "__main__":
    main()
