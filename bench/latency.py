#!/usr/bin/env python3
"""latency: interactive latency under load (issue 8), in one run.

A session running `cat` is typed into one byte at a time, and the time from sending the
INPUT to receiving the OUTPUT that holds the tty's echo is measured: idle, and while 8
other sessions run `sh -c 'stty raw -echo; exec yes'`. Every session has its own
WebSocket connection (GET /ws, HELLO flags 0) attached interactively from the live edge,
and the flood connections read as fast as they can (build/bench/lat_client, one C epoll
loop). The same arrangement without a daemon (lat_client raw: the client owns the PTYs)
gives the machine's floor. tmux 3.3 in control mode (build/bench/lat_tmux: `send-keys` in,
decoded `%output` out, the floods as windows of the one control client's session) is the
peer, under the same probe and floods.

Runs, each against a fresh daemon (--no-auth, loopback port 0, a private socket dir):
  uring and epoll, each with --sched fifo (the old behaviour) and --sched interactive;
  uring interactive with one mechanism off each (--bulk-flush 0, --bulk-read sized,
  --dispatch arrival); --threads 1 and 2 with the default mode (uring; the default is
  one per core but one); and the raw PTY arrangement.
Each phase: KEYS keystrokes, KEY_GAP_US after each echo, FLOODS floods.

Prints p50/p99/max idle and under the floods, the flood throughput, the daemon's CPU
seconds per delivered GiB (its utime+stime from /proc/PID/stat, read by lat_client at
the flood phase's start and end), and the ratios the issue asks for:
  loaded p99 / idle p99 (goal <= 3), loaded p50 / idle p50 (goal <= 2),
  flood throughput interactive / fifo (goal >= 0.9),
  daemon CPU per delivered GiB interactive / fifo (goal <= 1.1).
The machine is shared, so the ratios within one run are the numbers to read. Exits
non-zero only when something broke (a client error, a lost or misordered byte, a daemon
that died), never because a number is slow.

Run: make bench BENCH=latency   (or python3 bench/latency.py)
Environment: LAT_ROUNDS (default 3): every configuration this many times, interleaved;
the summary reports per-number medians across the rounds.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _web_util as wu  # noqa: E402  (the daemon on a private port, --ready-fd)

ROOT = wu.ROOT
PTYHUB = os.path.join(ROOT, "build", "ptyhub")
CLIENT = os.path.join(ROOT, "build", "bench", "lat_client")
KEYS = 2000        # keystrokes per phase
KEY_GAP_US = 500   # pause after each echo
FLOODS = 8
WARMUP_MS = 500    # floods running before the loaded phase starts
ROUNDS = int(os.environ.get("LAT_ROUNDS", "3"))
GiB = 1 << 30

# (label, io, extra daemon arguments). "fifo" is the old behaviour; "interactive" the
# default: bulk sessions at a low CPU weight, read once per readiness, their readiness
# run after each turn's interactive work, their output batched for 4 ms. Each
# "interactive, X" row switches one of those mechanisms off, to show what it is worth.
CONFIGS = [
    ("uring fifo", "uring", ["--sched", "fifo"]),
    ("uring interactive", "uring", ["--sched", "interactive"]),
    ("uring interactive, flush 0", "uring", ["--sched", "interactive", "--bulk-flush", "0"]),
    ("uring interactive, read sized", "uring", ["--sched", "interactive", "--bulk-read", "sized"]),
    ("uring interactive, arrival", "uring", ["--sched", "interactive", "--dispatch", "arrival"]),
    ("epoll fifo", "epoll", ["--sched", "fifo"]),
    ("epoll interactive", "epoll", ["--sched", "interactive"]),
    ("uring default --threads 1", "uring", ["--threads", "1"]),
    ("uring default --threads 2", "uring", ["--threads", "2"]),
]
# LAT_ONLY=a,b keeps the configurations whose label contains one of the words (and raw).
if os.environ.get("LAT_ONLY"):
    _words = os.environ["LAT_ONLY"].split(",")
    CONFIGS = [c for c in CONFIGS if any(w in c[0] for w in _words)]
RAW = "raw PTY (no daemon)"

failures = []


def say(line=""):
    print(line, flush=True)


def fail(what):
    failures.append(what)
    say(f"FAIL: {what}")


def run_client(argv, timeout=240):
    """Runs lat_client; returns {phase: dict of its `lat` line}."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise wu.BenchFailure(f"lat_client did not finish in {timeout} s")
    out = {}
    for ln in r.stdout.splitlines():
        if ln.startswith("lat "):
            w = wu.parse_kv(ln)
            out[w["phase"]] = w
    if r.returncode != 0 or set(out) != {"idle", "flood"}:
        raise wu.BenchFailure(f"lat_client failed (status {r.returncode}): "
                              f"{r.stderr.strip() or r.stdout.strip() or '(no output)'}")
    return out


def summarize(lines):
    """The numbers of one run of lat_client."""
    i, f = lines["idle"], lines["flood"]
    res = {}
    for ph, w in (("idle", i), ("flood", f)):
        for k in ("p50", "p99", "max"):
            res[f"{ph}_{k}"] = float(w[f"{k}_us"])
        if int(w["n"]) != KEYS:
            raise wu.BenchFailure(f"{w['n']} keystrokes measured in phase {ph}, not {KEYS}")
    res["mbps"] = float(f["flood_mbps"])
    res["bytes"] = int(f["flood_bytes"])
    if res["bytes"] <= 0:
        raise wu.BenchFailure("the floods delivered nothing during the loaded phase")
    cpu = float(f["daemon_cpu_s"])
    res["cpu_s"] = cpu
    res["cpu_per_gib"] = cpu / (res["bytes"] / GiB) if cpu >= 0 else None
    res["client_cpu_s"] = float(f["client_cpu_s"])
    return res


def bench_daemon(label, io, extra):
    d = wu.Daemon(io, extra)
    try:
        lines = run_client([CLIENT, "ws", d.addr, "--floods", str(FLOODS), "--keys", str(KEYS),
                            "--gap-us", str(KEY_GAP_US), "--warmup-ms", str(WARMUP_MS),
                            "--target", "ptyhub"])
        d.check_alive(label)
        pid = int(lines["flood"]["daemon_pid"])
        if pid != d.pid:
            raise wu.BenchFailure(f"WELCOME names pid {pid}, the daemon started is {d.pid}")
    except wu.BenchFailure:
        d.check_alive(label)  # a dead daemon is the better message
        raise
    finally:
        d.stop()
    return summarize(lines)


def bench_raw():
    return summarize(run_client([CLIENT, "raw", "--floods", str(FLOODS), "--keys", str(KEYS),
                                 "--gap-us", str(KEY_GAP_US), "--warmup-ms", str(WARMUP_MS)]))


# tmux 3.3 in control mode under the same probe and floods (bench/lat_tmux.c): one
# `tmux -C` client over pipes, the floods are windows of its session, keys are `send-keys`,
# echoes and flood bytes come from decoded `%output`; no pause-after (lossless).
TMUX = "tmux -C (control mode)"
TMUX_CLIENT = os.path.join(ROOT, "build", "bench", "lat_tmux")


def bench_tmux():
    d = tempfile.mkdtemp(prefix="ptyhub-lat-tmux.")
    try:
        # tmux is slow under the floods (tens of ms per echo): a longer timeout
        return summarize(run_client([TMUX_CLIENT, "--floods", str(FLOODS), "--keys",
                                     str(KEYS), "--gap-us", str(KEY_GAP_US), "--warmup-ms",
                                     str(WARMUP_MS), "--dir", d], timeout=900))
    finally:
        # a lat_tmux killed by the timeout could not end its server: do it here
        subprocess.run(["tmux", "-S", os.path.join(d, "sock"), "kill-server"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def tmux_rows():
    """[TMUX] when tmux is installed and LAT_ONLY (if set) names it, else []."""
    if not os.access(TMUX_CLIENT, os.X_OK):
        subprocess.run(["make", "-s", "build/bench/lat_tmux"], check=True)
    if shutil.which("tmux") is None:
        say("tmux is not installed (make bench installs it): its row is skipped")
        return []
    only = os.environ.get("LAT_ONLY")
    return [TMUX] if not only or any(w in TMUX for w in only.split(",")) else []


def show_tmux_ratios(res):
    """The comparison issue 8 checks: ptyhub's default mode against tmux, same run."""
    it, tm = res.get("uring interactive"), res.get(TMUX)
    if not (it and tm):
        return
    cpu = (f"{it['cpu_per_gib'] / tm['cpu_per_gib']:.2f}x"
           if it.get("cpu_per_gib") and tm.get("cpu_per_gib") else "n/a")
    say(f"  uring interactive / tmux -C: loaded p99 {it['flood_p99'] / tm['flood_p99']:.2f}"
        f" (goal <= 1), flood throughput {it['mbps'] / tm['mbps']:.1f}x (goal >= 1.4),"
        f" daemon CPU per GiB {cpu}")


def show(label, r):
    cpu = f", daemon {r['cpu_per_gib']:.2f} CPU s/GiB" if r.get("cpu_per_gib") is not None else ""
    say(f"  {label:32} idle p50/p99/max {r['idle_p50']:6.0f} {r['idle_p99']:6.0f}"
        f" {r['idle_max']:7.0f} us | flood {r['flood_p50']:6.0f} {r['flood_p99']:6.0f}"
        f" {r['flood_max']:7.0f} us | {r['mbps']:6.1f} MB/s{cpu}")


def median_of(runs):
    """Per-number median across rounds."""
    out = {}
    for k in runs[0]:
        vals = [r[k] for r in runs if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    return out


def main():
    global CLIENT, TMUX_CLIENT
    os.chdir(ROOT)
    if not (os.access(PTYHUB, os.X_OK) and os.access(CLIENT, os.X_OK)):
        subprocess.run(["make", "-s", "build/ptyhub", "build/bench/lat_client"], check=True)
    extra_rows = [RAW] + tmux_rows()
    load = open("/proc/loadavg").read().split()[0]
    say(f"machine: nproc {os.cpu_count()}, kernel {os.uname().release}, load average {load},"
        f" sched_autogroup_enabled "
        f"{open('/proc/sys/kernel/sched_autogroup_enabled').read().strip()}"
        if os.path.exists("/proc/sys/kernel/sched_autogroup_enabled") else
        f"machine: nproc {os.cpu_count()}, kernel {os.uname().release}, load average {load}")
    say(f"-- {KEYS} keystrokes per phase, {KEY_GAP_US} us after each echo, {FLOODS} floods"
        f" (`stty raw -echo; exec yes`), one WebSocket connection per session;"
        f" {ROUNDS} round(s)")
    # Copies of the binaries: the build directory is shared, and a rebuild by someone else
    # in the middle of the run must not swap them under us.
    tmp = tempfile.mkdtemp(prefix="ptyhub-latency.")
    for src in (PTYHUB, CLIENT, TMUX_CLIENT):
        shutil.copy2(src, os.path.join(tmp, os.path.basename(src)))
    wu.PTYHUB = os.path.join(tmp, "ptyhub")
    CLIENT = os.path.join(tmp, "lat_client")
    TMUX_CLIENT = os.path.join(tmp, "lat_tmux")
    t_start = time.time()
    runs = {label: [] for label, *_ in CONFIGS}
    runs[RAW] = []
    runs[TMUX] = []
    try:
        for rnd in range(ROUNDS):
            if ROUNDS > 1:
                say(f"-- round {rnd + 1}")
            for label, io, extra in CONFIGS + [(x, None, None) for x in extra_rows]:
                try:
                    r = (bench_raw() if label == RAW else bench_tmux() if label == TMUX
                         else bench_daemon(label, io, extra))
                except (wu.BenchFailure, OSError, ValueError, KeyError) as e:
                    fail(f"{label}: {type(e).__name__}: {e}")
                    continue
                runs[label].append(r)
                show(label, r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    res = {label: median_of(rs) for label, rs in runs.items() if rs}
    say(f"-- summary{' (medians of ' + str(ROUNDS) + ' rounds)' if ROUNDS > 1 else ''}:"
        f" keystroke echo in us, flood MB/s, daemon CPU s per delivered GiB")
    say(f"  {'':32} {'idle p50':>8} {'p99':>6} {'max':>7} | {'flood p50':>9} {'p99':>6}"
        f" {'max':>7} | {'MB/s':>6} {'CPU s/GiB':>9} | {'p99 x':>6} {'p50 x':>6}")
    for label in [c[0] for c in CONFIGS] + extra_rows:
        r = res.get(label)
        if not r:
            say(f"  {label:32} (failed)")
            continue
        cpg = f"{r['cpu_per_gib']:.2f}" if r.get("cpu_per_gib") is not None else "-"
        say(f"  {label:32} {r['idle_p50']:8.0f} {r['idle_p99']:6.0f} {r['idle_max']:7.0f} |"
            f" {r['flood_p50']:9.0f} {r['flood_p99']:6.0f} {r['flood_max']:7.0f} |"
            f" {r['mbps']:6.1f} {cpg:>9} |"
            f" {r['flood_p99'] / r['idle_p99']:6.1f} {r['flood_p50'] / r['idle_p50']:6.1f}")
    say("  (p99 x = loaded p99 / idle p99, goal <= 3; p50 x = loaded p50 / idle p50, goal <= 2)")
    say("-- ratios")
    for label in [c[0] for c in CONFIGS] + extra_rows:
        r = res.get(label)
        if r:
            say(f"  {label:32} loaded/idle p99 {r['flood_p99'] / r['idle_p99']:5.1f} (goal <= 3)"
                f"   loaded/idle p50 {r['flood_p50'] / r['idle_p50']:5.1f} (goal <= 2)"
                + ("   (the machine's floor)" if label == RAW else ""))
    for io in ("uring", "epoll"):
        fi, it = res.get(f"{io} fifo"), res.get(f"{io} interactive")
        if not (fi and it):
            say(f"  {io}: interactive/fifo n/a (a run failed)")
            continue
        tp = it["mbps"] / fi["mbps"] if fi["mbps"] else float("nan")
        cpu = (it["cpu_per_gib"] / fi["cpu_per_gib"]
               if it.get("cpu_per_gib") and fi.get("cpu_per_gib") else float("nan"))
        say(f"  {io:5} interactive/fifo: flood throughput {tp:4.2f} (goal >= 0.9),"
            f" daemon CPU per GiB {cpu:4.2f} (goal <= 1.1),"
            f" loaded p99 {it['flood_p99'] / fi['flood_p99']:4.2f}")
    show_tmux_ratios(res)
    t1, rw = res.get("uring default --threads 1"), res.get(RAW)
    if t1 and rw:
        say(f"  --threads 1 loaded p99 is {t1['flood_p99'] / rw['flood_p99']:.1f}x the raw PTY's;"
            f" flood throughput {t1['mbps'] / rw['mbps']:.2f}x the raw PTY's")
    say(f"  total {time.time() - t_start:.0f} s; load average now"
        f" {open('/proc/loadavg').read().split()[0]}")
    if failures:
        say(f"{len(failures)} failure(s):")
        for f in failures:
            say(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
