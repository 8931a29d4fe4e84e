"""Shared by the benchmark drivers: run one engine's process, read its JSON
result line, and format median/min/max with peak memory."""
import json, os, subprocess, sys, time


def run(cmd):
    """Runs `cmd`; returns the JSON record on its last stdout line (echoed to stderr).

    Dirty pages left by the previous engine are written back first, so an
    engine that syncs its files (silt) does not also pay for the writeback
    of one that does not (deltalake, pyarrow)."""
    os.sync()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(rec), file=sys.stderr)
    return rec


def fmt_seconds(r):
    """`median s (min–max), peak MB` of a record with median_s/min_s/max_s/peak_kb."""
    return f"{r['median_s']:.2f} s ({r['min_s']:.2f}–{r['max_s']:.2f}), {r['peak_kb']/1024:.0f} MB"


def contend(cmds, env=None):
    """Starts every command at once; returns (seconds until all ended, their JSON records)."""
    t = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=env) for c in cmds]
    recs = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"writer failed: {' '.join(map(str, cmds[0][:3]))}")
        recs.append(json.loads(out.strip().splitlines()[-1]))
    return time.perf_counter() - t, recs


# `deltalake` appending N 100-row batches as writer W:
#   python -c PEER_APPEND <table> <N> <W> [<storage options as JSON>]
# (the same rows silt-bench writes); prints one JSON record.
PEER_APPEND = r'''
import json, sys, time
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
uri, n, writer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
opts = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
dt = DeltaTable(uri, storage_options=opts)
lat, errors = [], 0
start = time.perf_counter()
for i in range(n):
    base = 1704067200000000 + (writer * 1000000 + i) * 100
    t = pa.table({"device_id": pa.array([f"dev-{(i*7+r)%1000:04d}" for r in range(100)]),
                  "ts": pa.array([base + r for r in range(100)], pa.timestamp("us", tz="UTC")),
                  "temperature": pa.array([21.0 + (r % 13) * 0.5 for r in range(100)])})
    t0 = time.perf_counter()
    while True:
        try:
            write_deltalake(dt, t, mode="append", storage_options=opts)
            break
        except Exception:
            errors += 1
            if errors > 1000:
                raise
            dt = DeltaTable(uri, storage_options=opts)
    lat.append((time.perf_counter() - t0) * 1000)
secs = time.perf_counter() - start
k = len(lat) // 10 + 1
s = sorted(lat)
print(json.dumps({"engine": "deltalake", "writer": writer, "commits": n, "seconds": secs,
                  "commits_per_s": n / secs, "p50_ms": s[len(s)//2], "p99_ms": s[int((len(s)-1)*0.99)],
                  "first10pct_ms": sum(lat[:k]) / k, "last10pct_ms": sum(lat[-k:]) / k,
                  "errors": errors, "version": dt.version()}))
'''
