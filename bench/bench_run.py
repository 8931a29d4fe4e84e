"""Shared by the benchmark drivers: run one engine's process, read its JSON
result line, and format median/min/max with peak memory."""
import json, subprocess, sys, time


def run(cmd):
    """Runs `cmd`; returns the JSON record on its last stdout line (echoed to stderr)."""
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
