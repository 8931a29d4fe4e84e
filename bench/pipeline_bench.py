#!/usr/bin/env python3
"""The IoT medallion pipeline: silt (`silt pipeline run examples/iot-lake`)
beside the peer (`../shared/bench/peer_pipeline.py run`, polars + deltalake)
on identical `peer_pipeline.py gen` input.

Per round (one day of readings), each engine runs a triggered update in its
own process over the files not processed before; wall time and peak RSS of
that process (from wait4) are recorded, and silt's gold table is checked
with `peer_pipeline.py compare` after every round. `--latency N` then runs
silt continuously (trigger interval 500 ms) and lands N more files one at a
time (renamed into place), measuring for each how long until its readings
show in gold (the sum of gold.readings grows).
Usage: python3 bench/pipeline_bench.py --silt PATH [--readings N] [--devices D]
        [--files F] [--rounds R] [--latency N] [--work DIR]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peer_script():
    p = subprocess.run([str(HERE.parent / "scripts/peer.sh")], check=True, capture_output=True, text=True)
    return p.stdout.strip()


def timed(cmd, env=None):
    """(seconds, peak RSS MiB, stdout) of one process."""
    os.sync()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out_chunks = []
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    out = p.stdout.read()
    err = p.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[:4]))} failed:\n{err}")
    return elapsed, usage.ru_maxrss / 1024, out


def gold_sum(silt, lake):
    out = subprocess.run([silt, "sql", f"SELECT sum(readings) FROM delta.'{lake}/gold/site_daily'", "--format", "csv"],
                         capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    try:
        return int(lines[-1])
    except (ValueError, IndexError):
        return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--silt", required=True)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--latency", type=int, default=0)
    ap.add_argument("--work")
    a = ap.parse_args()
    peer = peer_script()
    py = os.environ.get("SILT_PYTHON", sys.executable)
    work = Path(a.work or tempfile.mkdtemp(prefix="silt-pipeline-bench-"))
    data, silt_lake, peer_lake = work / "data", work / "silt-lake", work / "peer-lake"
    example = HERE.parent / "examples/iot-lake"
    landing = data / "landing"
    rows = []
    for r in range(a.rounds):
        subprocess.run([py, peer, "gen", "--out", str(data), "--readings", str(a.readings), "--devices",
                        str(a.devices), "--files", str(a.files), "--seed", "7", "--round", str(r)],
                       check=True, capture_output=True)
        ps, pm, pout = timed([py, peer, "run", "--landing", str(landing), "--lake", str(peer_lake)])
        ss, sm, _ = timed([a.silt, "pipeline", "run", str(example), "--conf", f"landing={landing}",
                           "--storage", str(silt_lake)])
        cmp = subprocess.run([py, peer, "compare", "--lake", str(silt_lake), "--landing", str(landing)],
                             capture_output=True, text=True)
        rec = {"round": r, "readings": a.readings, "silt_s": round(ss, 2), "silt_peak_mb": round(sm),
               "peer_s": round(ps, 2), "peer_peak_mb": round(pm), "speedup": round(ps / ss, 2),
               "memory_ratio": round(sm / pm, 2), "gold": cmp.stdout.strip() or cmp.stderr.strip()}
        print(json.dumps(rec), file=sys.stderr)
        rows.append(rec)
    print(f"| round | readings | silt | peer (polars + deltalake) | speed-up | silt peak / peer peak | gold |")
    print(f"|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['round']} | {r['readings']:,} | {r['silt_s']:.2f} s, {r['silt_peak_mb']} MB | "
              f"{r['peer_s']:.2f} s, {r['peer_peak_mb']} MB | {r['speedup']:.2f}× | {r['memory_ratio']:.2f} | {r['gold']} |")
    if a.latency:
        # More files of a new day, landed one at a time into a running pipeline.
        extra = work / "extra"
        subprocess.run([py, peer, "gen", "--out", str(extra), "--readings", str(a.latency * 2000), "--devices",
                        str(a.devices), "--files", str(a.latency), "--seed", "7", "--round", str(a.rounds)],
                       check=True, capture_output=True)
        proc = subprocess.Popen([a.silt, "pipeline", "run", str(example), "--conf", f"landing={landing}",
                                 "--storage", str(silt_lake), "--continuous", "--trigger-interval", "500ms"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        src = sorted((extra / "landing/readings" / f"round-{a.rounds}").glob("*.jsonl"))
        dst = landing / "readings" / f"round-{a.rounds}"
        dst.mkdir(parents=True, exist_ok=True)
        latencies = []
        for f in src:
            before = gold_sum(a.silt, silt_lake)
            tmp = dst / f".{f.name}.tmp"
            shutil.copy(f, tmp)
            t0 = time.perf_counter()
            os.rename(tmp, dst / f.name)
            while gold_sum(a.silt, silt_lake) == before:
                if time.perf_counter() - t0 > 60:
                    break
                time.sleep(0.05)
            latencies.append(time.perf_counter() - t0)
        proc.terminate()
        proc.wait()
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        print(f"\ncontinuous (trigger 500 ms), {len(latencies)} files of {2000} readings: "
              f"landed → visible in gold p50 {p(0.5):.2f} s, p99 {p(0.99):.2f} s, max {latencies[-1]:.2f} s")
    print(f"\nwork dir: {work}")


if __name__ == "__main__":
    main()
