"""Shared by the benchmark drivers: run one engine's process, read its JSON
result line, and format median/min/max with peak memory."""
import json, subprocess, sys


def run(cmd):
    """Runs `cmd`; returns the JSON record on its last stdout line (echoed to stderr)."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(rec), file=sys.stderr)
    return rec


def fmt_seconds(r):
    """`median s (min–max), peak MB` of a record with median_s/min_s/max_s/peak_kb."""
    return f"{r['median_s']:.2f} s ({r['min_s']:.2f}–{r['max_s']:.2f}), {r['peak_kb']/1024:.0f} MB"
