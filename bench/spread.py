"""spread: one connection, many reactors. A stdio broker (bench/spread_client.c: one
`ptyhub stdio` child, one connection) creates 8 sessions that each flood
SPREAD_MIB MiB (`head -c N /dev/zero`), attaches to each from offset 0 (lossless) and
reads until every EXIT. With `--placement balance` (the default) the sessions are spread
over the daemon's two reactor threads and the output of the ones on the other reactor
reaches the connection through relays (src/server/relay.c); with `--placement creator`
all eight live on the connection's reactor. Measured in the same run, interleaved,
SPREAD_REPS times each, for io_uring and epoll: aggregate throughput (MB/s of payload)
and daemon CPU seconds per GiB; medians and the balance/creator ratios are printed.

Slow numbers never fail the run; lost or misordered bytes, a GAP or an ERROR do (exit 1).
"""

import os
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PTYHUB = os.path.join(ROOT, "build", "ptyhub")
CLIENT = os.path.join(ROOT, "build", "bench", "spread_client")
SESSIONS = 8
MIB = int(os.environ.get("SPREAD_MIB", "32"))
REPS = int(os.environ.get("SPREAD_REPS", "3"))
BACKENDS = os.environ.get("SPREAD_BACKENDS", "uring epoll").split()
GiB = 1 << 30


def run(backend, placement):
    args = [CLIENT, "--ptyhub", PTYHUB, "--sessions", str(SESSIONS)]
    for a in ("--threads", "2", "--io", backend, "--placement", placement, "--log-level",
              "warn", "--sched", "fifo"):
        args += ["--serve-arg", a]
    args += ["--", "head", "-c", str(MIB << 20), "/dev/zero"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit("spread_client failed (%s, %s): %s%s" % (backend, placement, p.stdout,
                                                                 p.stderr))
    kv = dict(f.split("=", 1) for f in p.stdout.split())
    want = SESSIONS * (MIB << 20)
    if int(kv["bytes"]) != want or kv["status"] != "0":
        raise SystemExit("spread_client: %s bytes (want %d), daemon status %s"
                         % (kv["bytes"], want, kv["status"]))
    secs, cpu = float(kv["seconds"]), float(kv["daemon_cpu"])
    return {"mbps": want / secs / 1e6, "cpu_per_gib": cpu / (want / GiB)}


def main():
    for b in (PTYHUB, CLIENT):
        if not os.path.exists(b):
            raise SystemExit("missing %s (make build/ptyhub build/bench/spread_client)" % b)
    print("spread: 1 stdio connection, %d sessions x %d MiB, 2 reactors, %d reps (medians)"
          % (SESSIONS, MIB, REPS))
    print("%-8s %-9s %10s %12s" % ("backend", "placement", "MB/s", "CPU s/GiB"))
    for backend in BACKENDS:
        res = {"balance": [], "creator": []}
        for _ in range(REPS):
            for placement in ("balance", "creator"):
                res[placement].append(run(backend, placement))
        med = {p: {k: statistics.median(r[k] for r in rs) for k in ("mbps", "cpu_per_gib")}
               for p, rs in res.items()}
        for p in ("balance", "creator"):
            print("%-8s %-9s %10.1f %12.2f" % (backend, p, med[p]["mbps"],
                                               med[p]["cpu_per_gib"]))
        print("%-8s balance/creator: throughput %.2fx, CPU per GiB %.2fx"
              % (backend, med["balance"]["mbps"] / med["creator"]["mbps"],
                 med["balance"]["cpu_per_gib"] / med["creator"]["cpu_per_gib"]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
