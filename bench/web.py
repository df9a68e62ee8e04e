"""web: ptyhub's HTTP and WebSocket side against the raw PTY and against nginx.

1. WebSocket throughput. One session writes 256 MiB (`head -c 268435456 /dev/zero`) to
   one WebSocket client (bench/web_client.c: raw TCP, handshake, HELLO without ACK
   pacing, CREATE, interactive ATTACH from offset 0, only frame headers parsed, counts
   OUTPUT bytes until EXIT), against the raw PTY read rate of a plain reader
   (bench/tp_rawpty.c: the same command on a fresh PTY, blocking reads until EIO).
   Interleaved, five runs each; medians. Both time from the first output byte to the
   end. Also the daemon's CPU seconds per GiB delivered (utime+stime, /proc/PID/stat).
2. Fan-out. One session writes 32 MiB to 100 WebSocket viewers (one web_client
   multiplexing 100 sockets with epoll), all attached from offset 0 before the command
   starts (it waits on a FIFO the client opens). Interactive viewers: lossless, the
   slowest one paces the program, every byte reaches every viewer. Then once with
   read-only viewers, which never hold the program back and may get GAPs instead:
   delivered bytes and GAPs are counted. Daemon CPU seconds per delivered GiB, and its
   ratio to the single-viewer case of part 1. The interactive runs are repeated on a
   daemon started with --coalesce-ms 2, to show how much of the cost is frame size.
3. HTTP. `wrk -t2 -c64 -d10s` against GET /healthz of ptyhub (--threads 2) and of
   Debian's nginx-light (2 workers, a fixed 2-byte body, our own config on a private
   prefix), interleaved, twice each; requests/s and the ratio ptyhub/nginx.

Each for io_uring and epoll. Slow numbers never fail the run; lost bytes, a GAP to an
interactive viewer, an HTTP error, or a dead server do (exit status 1).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _web_util import (GiB, MiB, ROOT, WEB_CLIENT, WEB_RAWPTY, BenchFailure,  # noqa: E402
                       Daemon, Nginx, http_get, median, run_helper, run_wrk)

BACKENDS = ("uring", "epoll")
TP_REPS = 5
TP_BYTES = 256 * MiB
TP_CMD = ["head", "-c", str(TP_BYTES), "/dev/zero"]
FAN_VIEWERS = 100
FAN_BYTES = 32 * MiB
FAN_REPS = 2
FAN_CMD = ["head", "-c", str(FAN_BYTES), "/dev/zero"]
WRK_THREADS, WRK_CONNS, WRK_SECONDS, WRK_REPS = 2, 64, 10, 2
DAEMON_ARGS = ("--threads", "2", "--max-session-clients", str(FAN_VIEWERS + 28))
# Fan-out also on a daemon that batches WebSocket writes, to show what frame size costs.
COALESCE = "uring-coalesce2"
COALESCE_ARGS = ("--coalesce-ms", "2")


def ws_run(d, cmd, nbytes, viewers=1, mode="rw", timeout=180):
    """One web_client run against daemon d; returns its results plus daemon CPU seconds."""
    m0 = d.metrics()
    cpu0 = d.cpu()
    r = run_helper([WEB_CLIENT, "--addr", d.addr, "--viewers", str(viewers), "--mode", mode,
                    "--gate", d.gate, "--expect", str(nbytes), "--"] + d.gated(cmd),
                   timeout=timeout)
    cpu1 = d.cpu()
    d.check_alive(f"a {viewers}-viewer WebSocket run")
    m1 = d.metrics()
    delivered = int(r["bytes"])
    return {
        "mbps": nbytes / float(r["seconds"]) / 1e6,       # session output rate
        "agg_mbps": delivered / float(r["seconds"]) / 1e6,  # bytes delivered to all viewers
        "delivered": delivered,
        "min_bytes": int(r["min_bytes"]),
        "gaps": int(r["gaps"]),
        "gap_bytes": int(r["gap_bytes"]),
        "cpu": cpu1 - cpu0,
        "cpu_per_gib": (cpu1 - cpu0) / (delivered / GiB),
        "client_cpu_per_gib": float(r["self_cpu"]) / (delivered / GiB),
        "frame_kib": delivered / max(1, int(r["frames"])) / 1024,
        "wakes_per_mib": (m1["reactor_wakes"] - m0["reactor_wakes"]) / (nbytes / MiB),
    }


def throughput(daemons):
    """Part 1; returns {config: [result, ...]} with raw, uring and epoll interleaved."""
    res = {"raw": [], **{io: [] for io in BACKENDS}}
    for rep in range(TP_REPS):
        r = run_helper([WEB_RAWPTY, "--"] + TP_CMD, timeout=120)
        if int(r["bytes"]) != TP_BYTES:
            raise BenchFailure(f"raw reader got {r['bytes']} bytes, expected {TP_BYTES}")
        res["raw"].append({"mbps": TP_BYTES / float(r["seconds"]) / 1e6,
                           "self_cpu_per_gib": float(r["self_cpu"]) / (TP_BYTES / GiB),
                           "writer_cpu_per_gib": float(r["writer_cpu"]) / (TP_BYTES / GiB),
                           "sleeps_per_mib": int(r["ctxsw"]) / (TP_BYTES / MiB),
                           "read_kib": TP_BYTES / int(r["reads"]) / 1024})
        for io in BACKENDS:
            res[io].append(ws_run(daemons[io], TP_CMD, TP_BYTES))
        print(f"  rep {rep + 1}: raw {res['raw'][-1]['mbps']:.0f} MB/s  " + "  ".join(
            f"{io} {res[io][-1]['mbps']:.0f} MB/s ({res[io][-1]['cpu_per_gib']:.2f} CPU-s/GiB)"
            for io in BACKENDS), flush=True)
    return res


def fanout(daemons):
    """Part 2; returns {(io, mode): [result, ...]}."""
    res = {}
    for rep in range(FAN_REPS):
        for io in BACKENDS + (COALESCE,):
            r = ws_run(daemons[io], FAN_CMD, FAN_BYTES, viewers=FAN_VIEWERS, mode="rw")
            if r["gaps"] or r["delivered"] != FAN_VIEWERS * FAN_BYTES:
                raise BenchFailure(f"{io}: interactive viewers got {r['delivered']} bytes and "
                                   f"{r['gaps']} GAPs, expected {FAN_VIEWERS * FAN_BYTES}, 0")
            res.setdefault((io, "rw"), []).append(r)
            print(f"  rep {rep + 1} {io} interactive: {r['agg_mbps']:.0f} MB/s delivered, "
                  f"session {r['mbps']:.0f} MB/s, {r['cpu_per_gib']:.2f} CPU-s/GiB, "
                  f"{r['frame_kib']:.0f} KiB/frame, daemon {r['wakes_per_mib']:.0f} wakes/MiB",
                  flush=True)
    for io in BACKENDS:
        r = ws_run(daemons[io], FAN_CMD, FAN_BYTES, viewers=FAN_VIEWERS, mode="ro")
        res.setdefault((io, "ro"), []).append(r)
        print(f"  {io:5} read-only: {r['agg_mbps']:.0f} MB/s delivered, session "
              f"{r['mbps']:.0f} MB/s, {r['gaps']} GAPs ({r['gap_bytes'] / MiB:.1f} MiB skipped), "
              f"{r['cpu_per_gib']:.2f} CPU-s/GiB", flush=True)
    return res


def http_bench(daemons, nginx):
    """Part 3; returns {name: [wrk result, ...]}."""
    targets = {f"ptyhub-{io}": (daemons[io], daemons[io].addr) for io in BACKENDS}
    targets["nginx"] = (nginx, nginx.addr)
    for name, (srv, addr) in targets.items():
        status, body = http_get(addr, "/healthz")
        if status != 200:
            raise BenchFailure(f"{name}: GET /healthz answered {status}")
        print(f"  {name}: GET /healthz -> {status}, {len(body)}-byte body {body!r}")
    res = {name: [] for name in targets}
    for rep in range(WRK_REPS):
        for name, (srv, addr) in targets.items():
            w = run_wrk(f"http://{addr}/healthz", WRK_THREADS, WRK_CONNS, WRK_SECONDS)
            srv.check_alive("wrk")
            e = w["errors"]
            if w["non2xx"] or e["connect"] or e["read"] or e["write"]:
                raise BenchFailure(f"{name}: wrk saw {w['non2xx']} non-2xx responses and "
                                   f"socket errors {e}")
            res[name].append(w)
            note = f", {e['timeout']} timeouts" if e["timeout"] else ""
            print(f"  rep {rep + 1} {name:12} {w['rps']:9.0f} req/s  mean latency "
                  f"{w['lat_ms']:.2f} ms{note}", flush=True)
    return res


def main():
    for b in (WEB_CLIENT, WEB_RAWPTY):
        if not os.access(b, os.X_OK):
            print(f"web: {b} is missing; build with: make bench BENCH=web", file=sys.stderr)
            return 1
    dep = subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "wrk", "nginx-light"])
    if dep.returncode != 0:
        print("web: wrk and nginx-light are needed (see the line above)", file=sys.stderr)
        return 1
    print(f"machine: {os.cpu_count()} CPUs, Linux {os.uname().release}; load average "
          f"{os.getloadavg()[0]:.2f} at start")
    status = 0
    daemons = {}
    try:
        for io in BACKENDS:
            daemons[io] = Daemon(io, DAEMON_ARGS)
        daemons[COALESCE] = Daemon("uring", DAEMON_ARGS + COALESCE_ARGS)
        print(f"daemons: ptyhub serve --io uring|epoll {' '.join(DAEMON_ARGS)}; for fan-out "
              f"also --io uring {' '.join(COALESCE_ARGS)} ({COALESCE})")

        tp = None
        try:
            print(f"websocket throughput: `{' '.join(TP_CMD)}` to one interactive viewer, "
                  f"{TP_REPS} runs each, interleaved with the raw PTY reader")
            tp = throughput(daemons)
            raw = median([x["mbps"] for x in tp["raw"]])
            med = {io: median([x["mbps"] for x in tp[io]]) for io in BACKENDS}
            cpu = {io: median([x["cpu_per_gib"] for x in tp[io]]) for io in BACKENDS}
            ccpu = {io: median([x["client_cpu_per_gib"] for x in tp[io]]) for io in BACKENDS}
            fr = {io: median([x["frame_kib"] for x in tp[io]]) for io in BACKENDS}
            wk = {io: median([x["wakes_per_mib"] for x in tp[io]]) for io in BACKENDS}
            print(f"ws throughput  raw {raw:.0f} MB/s  " + "  ".join(
                f"{io} {med[io]:.0f} MB/s ({med[io] / raw:.2f})" for io in BACKENDS)
                + "   [ws/raw, goal >= 0.90]")
            paired = {io: [w["mbps"] / r["mbps"] for r, w in zip(tp["raw"], tp[io])]
                      for io in BACKENDS}
            print("ws/raw by run  " + "  ".join(
                f"{io} " + " ".join(f"{x:.2f}" for x in paired[io]) for io in BACKENDS)
                + "   (each ws run against the raw run just before it)")
            print("ws daemon cpu  " + "  ".join(f"{io} {cpu[io]:.2f} CPU-s/GiB" for io in BACKENDS)
                  + f"  uring/epoll {cpu['uring'] / cpu['epoll']:.2f}")
            print("ws client      " + "  ".join(
                f"{io} {ccpu[io]:.2f} CPU-s/GiB, {fr[io]:.0f} KiB/frame, daemon "
                f"{wk[io]:.0f} wakes/MiB" for io in BACKENDS))
            print(f"raw reader     "
                  f"{median([x['read_kib'] for x in tp['raw']]):.1f} KiB/read, "
                  f"{median([x['sleeps_per_mib'] for x in tp['raw']]):.0f} sleeps/MiB")
            rr = median([x["self_cpu_per_gib"] for x in tp["raw"]])
            rw = median([x["writer_cpu_per_gib"] for x in tp["raw"]])
            print(f"cpu budget     raw: writer {rw:.2f} + reader {rr:.2f} = {rw + rr:.2f} "
                  f"CPU-s/GiB;  ws: writer ~{rw:.2f} + " + " / ".join(
                      f"{io} daemon {cpu[io]:.2f} + client {ccpu[io]:.2f} = "
                      f"{rw + cpu[io] + ccpu[io]:.2f}" for io in BACKENDS)
                  + f"  ({os.cpu_count()} CPUs)")
        except BenchFailure as e:
            print(f"FAIL ws throughput: {e}")
            status = 1

        try:
            print(f"fan-out: `{' '.join(FAN_CMD)}` to {FAN_VIEWERS} WebSocket viewers "
                  f"attached from offset 0 (one epoll client), {FAN_REPS} interactive runs "
                  f"and 1 read-only run each")
            fan = fanout(daemons)
            for io in BACKENDS:
                rw = fan[(io, "rw")]
                c = median([x["cpu_per_gib"] for x in rw])
                single = median([x["cpu_per_gib"] for x in tp[io]]) if tp else float("nan")
                print(f"fan-out {io:5}  interactive: {median([x['agg_mbps'] for x in rw]):.0f} "
                      f"MB/s delivered ({FAN_VIEWERS} x "
                      f"{median([x['mbps'] for x in rw]):.0f} MB/s), every byte to every viewer, "
                      f"{median([x['frame_kib'] for x in rw]):.0f} KiB/frame, "
                      f"daemon {c:.3f} CPU-s/GiB delivered = {c / single:.2f} x single viewer "
                      f"({single:.2f})  client {median([x['client_cpu_per_gib'] for x in rw]):.2f}"
                      f" CPU-s/GiB")
                ro = fan[(io, "ro")][0]
                print(f"fan-out {io:5}  read-only:   {ro['agg_mbps']:.0f} MB/s delivered, "
                      f"{ro['delivered'] / (FAN_VIEWERS * FAN_BYTES) * 100:.1f}% of the bytes, "
                      f"{ro['gaps']} GAPs, {ro['frame_kib']:.0f} KiB/frame, "
                      f"daemon {ro['cpu_per_gib']:.3f} CPU-s/GiB = "
                      f"{ro['cpu_per_gib'] / single:.2f} x single viewer")
            rw = fan[(COALESCE, "rw")]
            c = median([x["cpu_per_gib"] for x in rw])
            single = median([x["cpu_per_gib"] for x in tp["uring"]]) if tp else float("nan")
            print(f"fan-out {COALESCE} interactive: "
                  f"{median([x['agg_mbps'] for x in rw]):.0f} MB/s delivered, "
                  f"{median([x['frame_kib'] for x in rw]):.0f} KiB/frame, daemon {c:.3f} "
                  f"CPU-s/GiB delivered = {c / single:.2f} x single viewer (uring, no coalescing)")
        except BenchFailure as e:
            print(f"FAIL fan-out: {e}")
            status = 1

        nginx = None
        try:
            nginx = Nginx()
            print(f"http: wrk -t{WRK_THREADS} -c{WRK_CONNS} -d{WRK_SECONDS}s GET /healthz, "
                  f"ptyhub --threads 2 vs nginx-light (worker_processes 2), {WRK_REPS} runs "
                  f"each, interleaved")
            hb = http_bench(daemons, nginx)
            ng = median([x["rps"] for x in hb["nginx"]])
            print(f"http healthz  nginx {ng:.0f} req/s  " + "  ".join(
                f"{io} {median([x['rps'] for x in hb['ptyhub-' + io]]):.0f} req/s "
                f"({median([x['rps'] for x in hb['ptyhub-' + io]]) / ng:.2f})" for io in BACKENDS)
                + "   [ptyhub/nginx, goal >= 1.00]")
        except BenchFailure as e:
            print(f"FAIL http: {e}")
            status = 1
        finally:
            if nginx:
                nginx.stop()
        for io, d in daemons.items():
            d.check_alive("the benchmark")
            if d.log_tail() not in ("(no log output)", "(no log)"):
                print(f"note: the {io} daemon logged: {d.log_tail()}")
    except BenchFailure as e:
        print(f"FAIL web: {e}")
        status = 1
    finally:
        for d in daemons.values():
            d.stop()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return status


if __name__ == "__main__":
    sys.exit(main())
