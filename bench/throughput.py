"""throughput: how close ptyhub's output path comes to reading a PTY directly, what it
costs in daemon CPU, and what a stalled lossless client costs in daemon memory.

1. Throughput. One session writes 256 MiB (`head -c 268435456 /dev/zero`) to a lossless
   client (bench/tp_client.c: interactive ATTACH from offset 0, large reads, only frame
   headers parsed) over the Unix socket, against the raw PTY read rate of a plain reader
   (bench/tp_rawpty.c: the same command on a fresh PTY, 64 KiB reads until EIO), measured
   in the same run, interleaved, three times each; medians are printed. Also the daemon's
   CPU seconds per GiB delivered (utime+stime from /proc/PID/stat around each transfer),
   and, to explain it, syscalls and context switches per GiB of the daemon's threads
   (/proc/PID/task/*/io and status), the writer's and the client's CPU.
2. Stalled client. A lossless client attaches to `yes | head -c 32M` (48 MiB through
   ONLCR) and stops reading for 10 s. The daemon's VmRSS growth (max during the stall
   minus before the session existed) is compared with the goal, scrollback + 1 MiB;
   `ptyhub ls` shows the level meanwhile; after the client resumes, every byte must
   arrive, in order, with contiguous offsets and the right content.

Both for io_uring and epoll. Slow numbers and missed goals never fail the run; lost,
reordered or wrong bytes, a GAP, an ERROR or a dead daemon do (exit status 1).
"""

import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _tp_util import (GiB, MiB, TP_CLIENT, TP_RAWPTY, BenchFailure, Daemon,  # noqa: E402
                      median, parse_kv, run_helper)

BACKENDS = ("uring", "epoll")
REPS = 3
TP_BYTES = 256 * MiB
TP_CMD = ["head", "-c", str(TP_BYTES), "/dev/zero"]
STALL_SCROLLBACK = "1M"
STALL_SCROLLBACK_BYTES = 1 * MiB
STALL_MS = 10_000
STALL_AFTER = 256 * 1024
STALL_SRC = 32 * MiB  # bytes of `yes` output; ONLCR makes each "y\n" "y\r\n"
STALL_EXPECT = STALL_SRC // 2 * 3
STALL_CMD = ["sh", "-c", f"yes | head -c {STALL_SRC}"]


def mbps(r):
    return int(r["bytes"]) / float(r["seconds"]) / 1e6


def throughput(daemons):
    """Interleaves raw, uring and epoll REPS times; returns per-config lists of results
    (MB/s, and CPU seconds, syscalls and context switches per GiB)."""
    res = {"raw": [], **{io: [] for io in BACKENDS}}
    for rep in range(REPS):
        r = run_helper([TP_RAWPTY, "--"] + TP_CMD, timeout=120)
        if int(r["bytes"]) != TP_BYTES:
            raise BenchFailure(f"raw reader got {r['bytes']} bytes, expected {TP_BYTES}")
        gib = int(r["bytes"]) / GiB
        res["raw"].append({"mbps": mbps(r), "cpu_per_gib": float(r["self_cpu"]) / gib,
                           "reads_per_gib": int(r["reads"]) / gib,
                           "writer_cpu_per_gib": float(r["writer_cpu"]) / gib,
                           "ctxsw_per_gib": int(r["ctxsw"]) / gib})
        for io in BACKENDS:
            d = daemons[io]
            c0 = d.counters()
            r = run_helper([TP_CLIENT, "--socket", d.sock, "--expect", str(TP_BYTES), "--"]
                           + TP_CMD, timeout=120)
            d.check_alive("the throughput run")
            c1 = d.counters()
            gib = int(r["bytes"]) / GiB
            res[io].append({
                "mbps": mbps(r),
                "cpu_per_gib": (c1["cpu"] - c0["cpu"]) / gib,
                "writer_cpu_per_gib": (c1["children_cpu"] - c0["children_cpu"]) / gib,
                "reads_per_gib": (c1["syscr"] - c0["syscr"]) / gib,
                "writes_per_gib": (c1["syscw"] - c0["syscw"]) / gib,
                "ctxsw_per_gib": (c1["ctxsw"] - c0["ctxsw"]) / gib,
                "client_cpu_per_gib": float(r["self_cpu"]) / gib,
                "frame_kib": int(r["bytes"]) / max(1, int(r["frames"])) / 1024,
            })
        print(f"  run {rep + 1}: raw {res['raw'][-1]['mbps']:.0f} MB/s "
              f"({res['raw'][-1]['cpu_per_gib']:.2f} CPU-s/GiB)  " + "  ".join(
                  f"{io} {res[io][-1]['mbps']:.0f} MB/s ({res[io][-1]['cpu_per_gib']:.2f} "
                  f"CPU-s/GiB)" for io in BACKENDS), flush=True)
    return res


def med(res, key, what):
    return median([x[what] for x in res[key]])


def report_throughput(res):
    raw = med(res, "raw", "mbps")
    mb = {io: med(res, io, "mbps") for io in BACKENDS}
    cpu = {io: med(res, io, "cpu_per_gib") for io in BACKENDS}
    print(f"throughput  raw {raw:.0f} MB/s  " + "  ".join(
        f"{io} {mb[io]:.0f} MB/s ({mb[io] / raw:.2f})" for io in BACKENDS)
        + "   [ptyhub/raw; goal >= 0.90]")
    print("daemon cpu  " + "  ".join(f"{io} {cpu[io]:.2f} CPU-s/GiB" for io in BACKENDS)
          + f"  (uring/epoll {cpu['uring'] / cpu['epoll']:.2f})   [goal <= 1.00 CPU-s/GiB]")
    print(f"  for scale: the raw reader alone uses {med(res, 'raw', 'cpu_per_gib'):.2f} CPU-s/GiB")
    k = 1000
    print(f"per GiB     raw reader: {med(res, 'raw', 'reads_per_gib') / k:.0f}k reads, "
          f"{med(res, 'raw', 'ctxsw_per_gib') / k:.0f}k context switches; "
          f"writer {med(res, 'raw', 'writer_cpu_per_gib'):.2f} CPU-s/GiB")
    for io in BACKENDS:
        print(f"per GiB     {io:5} daemon: {med(res, io, 'reads_per_gib') / k:.0f}k reads, "
              f"{med(res, io, 'writes_per_gib') / k:.1f}k writes "
              f"({med(res, io, 'frame_kib'):.0f} KiB/OUTPUT), "
              f"{med(res, io, 'ctxsw_per_gib') / k:.0f}k context switches; "
              f"writer {med(res, io, 'writer_cpu_per_gib'):.2f}, "
              f"client {med(res, io, 'client_cpu_per_gib'):.2f} CPU-s/GiB")


def stalled(io):
    """One stalled-client measurement on a fresh daemon; returns a dict of findings."""
    d = Daemon(io, scrollback=STALL_SCROLLBACK)
    try:
        rss_before = d.rss_kib()
        p = subprocess.Popen([TP_CLIENT, "--socket", d.sock, "--stall-after", str(STALL_AFTER),
                              "--stall-ms", str(STALL_MS), "--pattern", "y\\r\\n", "--expect",
                              str(STALL_EXPECT), "--"] + STALL_CMD,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()

        def pump():
            for line in p.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        sid = None
        events = {}
        final = None
        rss_max = rss_before
        levels = []  # (seconds into the stall, level, bytes_out)
        t_begin = None
        ls_at = [1.0, 5.0, STALL_MS / 1000 - 1.0]
        deadline = time.monotonic() + STALL_MS / 1000 + 60
        done = False
        while not done:
            if time.monotonic() > deadline:
                p.kill()
                raise BenchFailure(f"{io}: the stalled client did not finish in time")
            try:
                line = lines.get(timeout=0.02)
            except queue.Empty:
                line = ""
            if line is None:
                done = True
            elif line.startswith("event="):
                kv = parse_kv(line)
                events[kv["event"]] = kv
                if kv["event"] == "created":
                    sid = int(kv["sid"])
                elif kv["event"] == "stall_begin":
                    t_begin = time.monotonic()
            elif line:
                final = parse_kv(line)
            if t_begin is not None and "stall_end" not in events:
                d.check_alive("the stall")
                rss_max = max(rss_max, d.rss_kib())
                into = time.monotonic() - t_begin
                if ls_at and into >= ls_at[0]:
                    ls_at.pop(0)
                    row = next((s for s in d.ls() if s["id"] == sid), None)
                    if row is None:
                        raise BenchFailure(f"{io}: session {sid} missing from ptyhub ls")
                    levels.append((into, row["level"], row["bytes_out"]))
        p.wait(timeout=10)
        d.check_alive("the stalled-client drain")
        err = p.stderr.read().strip()
        if p.returncode != 0 or final is None:
            raise BenchFailure(f"{io}: stalled client failed (status {p.returncode}): {err}")
        return {
            "rss_before": rss_before,
            "rss_max": rss_max,
            "growth": rss_max - rss_before,
            "levels": levels,
            "final": final,
            "stall_bytes": int(events.get("stall_begin", {}).get("bytes", 0)),
        }
    finally:
        d.stop()


def main():
    for b in (TP_CLIENT, TP_RAWPTY):
        if not os.access(b, os.X_OK):
            print(f"throughput: {b} is missing; build with: make bench BENCH=throughput",
                  file=sys.stderr)
            return 1
    print(f"machine: {os.cpu_count()} CPUs, Linux {os.uname().release}; load average "
          f"{os.getloadavg()[0]:.2f} at start")
    status = 0
    try:
        print(f"throughput: 256 MiB of `{' '.join(TP_CMD)}`, {REPS} runs each, interleaved")
        daemons = {}
        try:
            for io in BACKENDS:
                daemons[io] = Daemon(io)
            res = throughput(daemons)
        finally:
            for d in daemons.values():
                d.stop()
        report_throughput(res)
        print(f"load average {os.getloadavg()[0]:.2f} after the throughput runs")
    except BenchFailure as e:
        print(f"FAIL throughput: {e}")
        status = 1

    print(f"stalled client: `{' '.join(STALL_CMD)}` ({STALL_EXPECT // MiB} MiB via ONLCR), "
          f"scrollback {STALL_SCROLLBACK}, reading stops after {STALL_AFTER // 1024} KiB "
          f"for {STALL_MS // 1000} s")
    bound = (STALL_SCROLLBACK_BYTES + MiB) // 1024
    for io in BACKENDS:
        try:
            r = stalled(io)
        except BenchFailure as e:
            print(f"FAIL stalled {io}: {e}")
            status = 1
            continue
        f = r["final"]
        ok_mem = r["growth"] <= bound
        lv = ", ".join(f"{t:.0f}s {lvl} ({out // MiB} MiB out)" for t, lvl, out in r["levels"])
        print(f"stalled {io:5}  rss {r['rss_before'] / 1024:.1f} -> max "
              f"{r['rss_max'] / 1024:.1f} MiB, growth {r['growth'] / 1024:.2f} MiB "
              f"(goal <= scrollback + 1 MiB = {bound / 1024:.0f} MiB: {'met' if ok_mem else 'MISSED'})  level: {lv}")
        print(f"stalled {io:5}  after resume: {int(f['bytes'])} of {STALL_EXPECT} bytes, "
              f"EXIT end {f['end']}, offsets contiguous {'yes' if f['offsets_ok'] == '1' else 'NO'}, "
              f"content {'ok' if f['pattern_ok'] == '1' else 'WRONG'}")
        if any(lvl not in ("heavy", "blocked") for _, lvl, _ in r["levels"]):
            print(f"stalled {io:5}  note: level was not heavy/blocked during the whole stall")
    return status


if __name__ == "__main__":
    sys.exit(main())
