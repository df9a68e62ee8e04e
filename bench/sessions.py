#!/usr/bin/env python3
"""sessions: what a session costs in ptyhub, against tmux and dtach, in one run.

1. spawn  - create-and-exit rate of sessions running `true`: ptyhub through the raw
            protocol (build/bench/ss_client: CREATE, ATTACH read-only at the live edge,
            count the EXIT with code 0, REMOVE), against `tmux new-session -d true` and
            `dtach -n SOCK true` run one after another as a user's loop would.
2. scale  - 4,000 idle sessions running `cat`: time to create them, daemon RSS per idle
            session (and tmux's server, for comparison), an echo round trip through 50
            random ones, and a clean SIGTERM shutdown.
3. fair   - keystroke echo latency of a session running `cat`, idle and while 8 sessions
            on the same reactor run `yes` and one lossless client reads them all; the
            same keystrokes on a raw PTY (no daemon) give the machine's own floor.

Everything runs under io_uring and epoll, against a daemon on a private socket in a temp
directory; tmux servers use a private socket too. Ratios are the numbers to read: the
machine is shared. Exits non-zero only when something is wrong (a session that did not
run, a lost byte, a daemon that failed), never because a number is slow.

Run: make bench BENCH=sessions
"""
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Copied into the temp directory at start: the build directory is shared, and a rebuild
# by someone else in the middle of the run must not swap the binaries under us.
PTYHUB = os.path.join(ROOT, "build", "ptyhub")
CLIENT = os.path.join(ROOT, "build", "bench", "ss_client")
BACKENDS = ("uring", "epoll")

SPAWN_ROUNDS = 3        # ptyhub, tmux, dtach back to back, this many times
SPAWN_N = 1000          # sessions per pipelined ptyhub run
SPAWN_WINDOW = 16       # requests in flight per connection
SPAWN_CONNS = 2         # connections (the daemon spreads them over its reactors)
SPAWN_SEQ_N = 500       # one at a time, for reference
PEER_N = 100            # tmux / dtach commands in a row per round
SCALE_N = 4000          # idle sessions (kernel.pty.max is 4096)
SCALE_SAMPLE = 50       # echo round trips
TMUX_IDLE_N = 500       # idle tmux sessions for the RSS comparison
KEYS = 2000             # keystrokes per latency measurement
FLOODERS = 8
KEY_GAP_US = 500        # pause between keystrokes

failures = []


def say(line=""):
    print(line, flush=True)


def fail(what):
    failures.append(what)
    say(f"FAIL: {what}")


def words(line):
    """Parses the key=value words of one ss_client line."""
    out = {}
    for w in line.split():
        if "=" in w:
            k, v = w.split("=", 1)
            out[k] = v
    return out


def client(*args, timeout=120):
    """Runs ss_client; returns (exit status, stdout lines)."""
    p = subprocess.run([CLIENT, *map(str, args)], stdout=subprocess.PIPE, text=True,
                       timeout=timeout)
    lines = p.stdout.splitlines()
    for ln in lines:
        if ln.startswith(("error:", "daemon_error")):
            say(f"  ss_client: {ln}")
    return p.returncode, lines


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def peer_env():
    env = dict(os.environ)
    env.pop("TMUX", None)
    return env


class Daemon:
    """ptyhub serve on a private socket, started and ended by this script."""

    def __init__(self, tmp, io, extra=()):
        self.io = io
        self.sock = os.path.join(tmp, f"{io}.sock")
        self.log = os.path.join(tmp, f"{io}.log")
        self.proc = subprocess.Popen(
            # Unix socket only: no HTTP listener (and so no token file).
            [PTYHUB, "serve", "--socket", self.sock, "--no-session", "--io", io,
             "--listen", "none", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.time() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ptyhub serve --io {io} exited with {self.proc.returncode}:"
                                   f" {self.tail()}")
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"ptyhub serve --io {io} is not listening after 10 s")
                time.sleep(0.02)
        backend = "?"
        with open(self.log) as f:
            for ln in f:
                if "I/O backend" in ln:
                    backend = ln.split("I/O backend", 1)[1].split()[0]
        if backend != io:
            raise RuntimeError(f"asked for --io {io}, the daemon runs {backend}")

    @property
    def pid(self):
        return self.proc.pid

    def tail(self):
        try:
            with open(self.log) as f:
                return " | ".join(f.read().splitlines()[-3:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM (the daemon ends its sessions) and wait; returns the seconds it took."""
        if self.proc.poll() is not None:
            fail(f"[{self.io}] the daemon had already exited ({self.proc.returncode}):"
                 f" {self.tail()}")
            return 0.0
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"[{self.io}] the daemon did not exit within 60 s of SIGTERM")
            return time.time() - t0
        if rc != 0:
            fail(f"[{self.io}] the daemon exited with status {rc} after SIGTERM: {self.tail()}")
        return time.time() - t0


class Tmux:
    """A tmux server on a private socket with one idle keeper session."""

    def __init__(self, tmp, name):
        self.sock = os.path.join(tmp, f"{name}.tmux.sock")
        self.base = ["tmux", "-f", "/dev/null", "-S", self.sock]
        subprocess.run(self.base + ["new-session", "-d", "-s", "keep", "sleep 1000000"],
                       check=True, env=peer_env())
        out = subprocess.run(self.base + ["display-message", "-p", "-t", "keep", "#{pid}"],
                             check=True, stdout=subprocess.PIPE, text=True, env=peer_env())
        self.pid = int(out.stdout.strip())

    def stop(self):
        subprocess.run(self.base + ["kill-server"], env=peer_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while os.path.exists(f"/proc/{self.pid}") and time.time() < deadline:
            time.sleep(0.05)
        if os.path.exists(f"/proc/{self.pid}"):
            os.kill(self.pid, signal.SIGKILL)


def run_rate(n, *cmd):
    """Runs cmd n times in a row through ss_client run; returns commands per second."""
    rc, lines = client("run", n, "--", *cmd, timeout=300)
    if rc != 0:
        fail(f"{' '.join(cmd[:3])} ... failed")
        return None
    return float(words(lines[-1])["rate"])


def fmt_ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "n/a"


# ---- 1. spawn ------------------------------------------------------------------------


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def bench_spawn(tmp, io, have_tmux, have_dtach):
    """Rounds of ptyhub, tmux and dtach back to back, so that the load other people put on
    the machine hits all three alike; the ratio reported is the median of the rounds'."""
    say(f"-- spawn [{io}]: {SPAWN_ROUNDS} rounds of ptyhub {SPAWN_N}, tmux {PEER_N},"
        f" dtach {PEER_N}")
    d = Daemon(tmp, io)
    t = Tmux(tmp, f"spawn-{io}") if have_tmux else None
    dd = os.path.join(tmp, f"dtach-{io}")
    os.mkdir(dd)
    rounds = []
    res = {}

    def ptyhub_rate(n, window, conns):
        rc, lines = client("spawn", d.sock, n, window, conns)
        w = words(lines[-1]) if lines else {}
        if rc != 0 or int(w.get("removed", 0)) != n:
            fail(f"[{io}] spawn: {lines[-1] if lines else 'no output'}")
            return None
        return float(w["rate"])

    def dtach_rate(n, tag):
        r = run_rate(n, "dtach", "-n", os.path.join(dd, f"{tag}-{{}}"), "true")
        deadline = time.time() + 10
        while os.listdir(dd) and time.time() < deadline:  # the masters exit with `true`
            time.sleep(0.05)
        return r

    try:
        ptyhub_rate(300, SPAWN_WINDOW, SPAWN_CONNS)  # warm-up
        if t:
            run_rate(20, *t.base, "new-session", "-d", "true")
        if have_dtach:
            dtach_rate(20, "warm")
        for i in range(SPAWN_ROUNDS):
            r = {"ptyhub": ptyhub_rate(SPAWN_N, SPAWN_WINDOW, SPAWN_CONNS)}
            if t:
                r["tmux"] = run_rate(PEER_N, *t.base, "new-session", "-d", "true")
            if have_dtach:
                r["dtach"] = dtach_rate(PEER_N, f"r{i}")
            rounds.append(r)
            say(f"  round {i + 1}: ptyhub {r['ptyhub'] or 0:6.0f}/s"
                f"   tmux {r.get('tmux') or 0:5.0f}/s   dtach {r.get('dtach') or 0:5.0f}/s"
                f"   ptyhub/tmux {fmt_ratio(r['ptyhub'], r.get('tmux'))}   ptyhub/dtach"
                f" {fmt_ratio(r['ptyhub'], r.get('dtach'))}")
        res["ptyhub_seq"] = ptyhub_rate(SPAWN_SEQ_N, 1, 1)
        res["ptyhub_cli"] = run_rate(PEER_N, PTYHUB, "new", "--socket", d.sock, "--", "true")
    finally:
        if t:
            t.stop()
        d.stop()
    for k in ("ptyhub", "tmux", "dtach"):
        vals = [r[k] for r in rounds if r.get(k)]
        if vals:
            res[k] = median(vals)
    for peer in ("tmux", "dtach"):
        ratios = [r["ptyhub"] / r[peer] for r in rounds if r.get("ptyhub") and r.get(peer)]
        if ratios:
            res[f"ratio_{peer}"] = median(ratios)
    say(f"  ptyhub  {res.get('ptyhub') or 0:6.0f} sessions/s  median; each session CREATE -> ATTACH"
        f" read-only -> EXIT code 0 -> REMOVE, {SPAWN_CONNS} connections x {SPAWN_WINDOW} in"
        f" flight")
    say(f"  ptyhub  {res.get('ptyhub_seq') or 0:6.0f} sessions/s  one at a time (1 connection,"
        f" the next CREATE sent when the previous EXIT arrives)")
    say(f"  ptyhub  {res.get('ptyhub_cli') or 0:6.0f} sessions/s  `ptyhub new -- true`, {PEER_N}"
        f" commands in a row (returns once created, as tmux and dtach do)")
    if t:
        say(f"  tmux    {res.get('tmux') or 0:6.0f} sessions/s  `tmux new-session -d true` in a"
            f" row, server already running")
    if have_dtach:
        say(f"  dtach   {res.get('dtach') or 0:6.0f} sessions/s  `dtach -n SOCK true` in a row")
    rt, rd = res.get("ratio_tmux"), res.get("ratio_dtach")
    say(f"  ratio ptyhub/tmux  = {f'{rt:.1f}x' if rt else 'n/a'} (goal >= 10x);"
        f"  ptyhub/dtach = {f'{rd:.1f}x' if rd else 'n/a'}   (medians of the rounds)")
    say(f"  whole command against whole command: ptyhub CLI/tmux ="
        f" {fmt_ratio(res.get('ptyhub_cli'), res.get('tmux'))},"
        f" ptyhub CLI/dtach = {fmt_ratio(res.get('ptyhub_cli'), res.get('dtach'))}")
    return res


# ---- 2. scale ------------------------------------------------------------------------


def alive_cats(pids):
    n = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "cat":
                    n += 1
        except OSError:
            pass
    return n


def bench_scale(tmp, io):
    say(f"-- scale [{io}]")
    res = {}
    d = Daemon(tmp, io)
    pids = []
    try:
        time.sleep(0.2)
        rss0 = vmrss_kib(d.pid)
        rc, lines = client("create", d.sock, SCALE_N, 32, SPAWN_CONNS, "--", "cat", timeout=300)
        w = words(lines[0]) if lines else {}
        n = int(w.get("n", 0))
        sids = [int(x) for ln in lines if ln.startswith("sids") for x in ln.split()[1:]]
        pids = [int(x) for ln in lines if ln.startswith("pids") for x in ln.split()[1:]]
        if n < SCALE_N:
            ptys = open("/proc/sys/kernel/pty/nr").read().strip()
            say(f"  only {n} of {SCALE_N} sessions could be created (ptys in use on the machine"
                f" now: {ptys} of {open('/proc/sys/kernel/pty/max').read().strip()});"
                f" measuring with {n}")
        if n == 0:
            fail(f"[{io}] no session could be created")
            return res
        secs = float(w["secs"])
        time.sleep(1.0)  # every cat is up and blocked in read(); the daemon is idle
        rss1 = vmrss_kib(d.pid)
        rc, lines = client("count", d.sock)
        running = int(words(lines[-1]).get("running", -1)) if lines else -1
        if running != n:
            fail(f"[{io}] the daemon lists {running} running sessions, expected {n}")
        sample = random.sample(sids, min(SCALE_SAMPLE, len(sids)))
        rc, lines = client("echo", d.sock, 5000, *sample, timeout=600)
        rtts = sorted(float(words(ln)["us"]) for ln in lines if ln.startswith("echo "))
        if rc != 0 or len(rtts) != len(sample):
            fail(f"[{io}] {len(sample) - len(rtts)} of {len(sample)} sampled sessions did not"
                 f" echo")
        per = (rss1 - rss0) / n
        res.update(n=n, create_s=secs, rss0=rss0, rss1=rss1, per_kib=per)
        say(f"  created {n} idle sessions (cat) in {secs:.2f} s ({n / secs:.0f}/s)")
        say(f"  daemon RSS {rss0} KiB -> {rss1} KiB: {per:.2f} KiB per idle session (goal <= 8)")
        mid, top = (rtts[len(rtts) // 2], rtts[-1]) if rtts else (0, 0)
        say(f"  listed running: {running}; echo through {len(rtts)}/{len(sample)} random sessions:"
            f" median {mid:.0f} us, max {top:.0f} us")
    finally:
        t = d.stop()
        res["stop_s"] = t
        time.sleep(0.2)
        left = alive_cats(pids)
        say(f"  SIGTERM -> daemon exited in {t:.2f} s; session processes still running: {left}")
        if left:
            fail(f"[{io}] {left} session processes outlived the daemon")
    return res


def bench_tmux_rss(tmp):
    say(f"-- scale [tmux, for comparison]")
    t = Tmux(tmp, "rss")
    try:
        time.sleep(0.3)
        rss0 = vmrss_kib(t.pid)
        t0 = time.time()
        r = run_rate(TMUX_IDLE_N, *t.base, "new-session", "-d", "sleep 1000000")
        secs = time.time() - t0
        time.sleep(0.5)
        rss1 = vmrss_kib(t.pid)
    finally:
        t.stop()
    if not r:
        return {}
    per = (rss1 - rss0) / TMUX_IDLE_N
    say(f"  tmux server RSS {rss0} KiB -> {rss1} KiB over {TMUX_IDLE_N} idle sessions"
        f" (`sleep`): {per:.1f} KiB per session; created in {secs:.2f} s")
    return {"per_kib": per}


# ---- 3. fairness ---------------------------------------------------------------------


def daemon_counters(pid):
    """CPU ticks of the whole daemon, per-thread (on-CPU, run-queue wait) ns, read calls."""
    ticks, threads = 0, {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            ticks += int(st[11]) + int(st[12])
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = f.read().split()[:2]
            threads[tid] = (int(run), int(wait))
        except OSError:
            pass
    io = {}
    with open(f"/proc/{pid}/io") as f:
        for ln in f:
            k, v = ln.split(":")
            io[k] = int(v)
    return time.time(), ticks, threads, io


class StateSampler(threading.Thread):
    """Samples each daemon thread's scheduler state and wait channel ~300 times a second:
    tells a reactor that is idle (S in io_uring/epoll wait) from one blocked inside a
    system call (D, e.g. __flush_work in a PTY read)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop_ev, self.samples = pid, threading.Event(), {}

    def run(self):
        while not self.stop_ev.is_set():
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                try:
                    with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                    with open(f"/proc/{self.pid}/task/{tid}/wchan") as f:
                        wchan = f.read().strip() or "-"
                except OSError:
                    continue
                c = self.samples.setdefault(tid, {})
                c[(state, wchan)] = c.get((state, wchan), 0) + 1
            time.sleep(0.003)

    def finish(self):
        self.stop_ev.set()
        self.join()
        return self.samples


def counters_delta(a, b, samples):
    """Summarizes one phase for the busiest daemon thread (the sessions' reactor)."""
    dt = b[0] - a[0]
    cpu = (b[1] - a[1]) / os.sysconf("SC_CLK_TCK") / dt
    busiest = max(b[2], key=lambda t: b[2][t][0] - a[2].get(t, (0, 0))[0])
    run = (b[2][busiest][0] - a[2].get(busiest, (0, 0))[0]) / 1e9 / dt
    wait = (b[2][busiest][1] - a[2].get(busiest, (0, 0))[1]) / 1e9 / dt
    reads = b[3]["syscr"] - a[3]["syscr"]
    rbytes = b[3]["rchar"] - a[3]["rchar"]
    smp = samples.get(busiest, {})
    total = sum(smp.values()) or 1
    blocked = sum(v for (st, _), v in smp.items() if st == "D") / total
    idle = sum(v for (st, _), v in smp.items() if st == "S") / total
    runnable = sum(v for (st, _), v in smp.items() if st == "R") / total
    why = {}
    for (st, w), v in smp.items():
        if st == "D" and w not in ("-", "0"):
            why[w] = why.get(w, 0) + v
    return dict(cpu=cpu, run=run, wait=wait, runnable=runnable, blocked=blocked, idle=idle,
                blocked_in=max(why, key=why.get) if why else "-",
                reads_s=reads / dt, bytes_per_read=rbytes / reads if reads else 0)


def bench_fair(tmp, io):
    say(f"-- fair [{io}]: {KEYS} keystrokes each, {KEY_GAP_US} us apart")
    d = Daemon(tmp, io)
    res, ok = {}, True
    try:
        p = subprocess.Popen([CLIENT, "fair", d.sock, str(KEYS), str(FLOODERS), str(KEY_GAP_US),
                              "other"], stdout=subprocess.PIPE, text=True)
        snap, sampler = None, None
        for ln in p.stdout:
            ln = ln.rstrip("\n")
            if ln.startswith("begin"):
                snap = daemon_counters(d.pid)
                sampler = StateSampler(d.pid)
                sampler.start()
            elif ln.startswith("fair"):
                w = words(ln)
                samples = sampler.finish()
                c = counters_delta(snap, daemon_counters(d.pid), samples)
                key = (w["target"], w["phase"])
                res[key] = dict(p50=float(w["p50_us"]), p99=float(w["p99_us"]),
                                max=float(w["max_us"]), mbps=float(w["flood_mbps"]), **c)
                flood = (f", flood read {w['flood_mbps']} MB/s" if w["phase"] != "idle" else "")
                say(f"  {w['target']:6} {w['phase']:19} p50 {float(w['p50_us']):8.0f} us"
                    f"  p99 {float(w['p99_us']):8.0f} us  max {float(w['max_us']):8.0f} us{flood}")
                if w["target"] == "ptyhub":
                    say(f"         daemon {100 * c['cpu']:.0f}% CPU, {c['reads_s']:.0f} read"
                        f" calls/s of {c['bytes_per_read']:.0f} bytes; busiest reactor thread:"
                        f" on a CPU"
                        f" {100 * c['run']:.0f}%, runnable {100 * c['runnable']:.0f}%, blocked in"
                        f" a system call {100 * c['blocked']:.0f}% (in {c['blocked_in']}),"
                        f" idle {100 * c['idle']:.0f}% (sampled)")
            elif ln.startswith("flood_reader"):
                w = words(ln)
                say(f"  lossless flood reader ({w['phase']}): {w['total_mb']} MB, gaps {w['gaps']},"
                    f" out-of-order {w['disorder']}")
                if w["gaps"] != "0" or w["disorder"] != "0" or w["status"] != "0":
                    ok = False
            elif ln.startswith("error"):
                say(f"  ss_client: {ln}")
        if p.wait() != 0 or not ok:
            fail(f"[{io}] fairness run failed (lost bytes or a client error)")
    finally:
        d.stop()
    hi, hf = res.get(("ptyhub", "idle")), res.get(("ptyhub", "flood"))
    ri, rf = res.get(("rawpty", "idle")), res.get(("rawpty", "flood"))
    ho = res.get(("ptyhub", "flood_other_reactor"))
    if hi and hf:
        raw = f"; raw PTY {rf['p99'] / ri['p99']:.1f}" if ri and rf else ""
        say(f"  ratio p99 flood/idle: ptyhub {hf['p99'] / hi['p99']:.1f} (goal <= 2){raw}")
        if ho:
            say(f"  diagnostic: flood on the other reactor instead: ptyhub p99"
                f" {ho['p99']:.0f} us ({ho['p99'] / hi['p99']:.1f}x idle)")
    return res


# ---- main ----------------------------------------------------------------------------


def main():
    os.chdir(ROOT)
    if not (os.access(PTYHUB, os.X_OK) and os.access(CLIENT, os.X_OK)):
        subprocess.run(["make", "-s", "build/ptyhub", "build/bench/ss_client"], check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    have_tmux, have_dtach = bool(shutil.which("tmux")), bool(shutil.which("dtach"))
    for name, have in (("tmux", have_tmux), ("dtach", have_dtach)):
        if not have:
            say(f"skip: {name} is not installed (make bench installs it); no {name} numbers")
    say(f"machine: nproc {os.cpu_count()}, kernel {os.uname().release},"
        f" load average {open('/proc/loadavg').read().split()[0]},"
        f" open files {resource.getrlimit(resource.RLIMIT_NOFILE)[0]},"
        f" kernel.pty.max {open('/proc/sys/kernel/pty/max').read().strip()}")
    tmp = tempfile.mkdtemp(prefix="ptyhub-sessions.")
    for name in ("PTYHUB", "CLIENT"):
        copy = os.path.join(tmp, os.path.basename(globals()[name]))
        shutil.copy2(globals()[name], copy)
        globals()[name] = copy
    t_start = time.time()
    spawn, scale, fair = {}, {}, {}
    tmux_rss = {}

    def section(fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # a harness or daemon failure: report it, go on
            fail(f"{fn.__name__}{args[1:]}: {type(e).__name__}: {e}")
            return {}

    try:
        for io in BACKENDS:
            spawn[io] = section(bench_spawn, tmp, io, have_tmux, have_dtach)
        for io in BACKENDS:
            scale[io] = section(bench_scale, tmp, io)
        if have_tmux:
            tmux_rss = section(bench_tmux_rss, tmp)
        for io in BACKENDS:
            fair[io] = section(bench_fair, tmp, io)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    say("-- summary (uring | epoll)")

    def row(label, fn, goal):
        cells = []
        for io in BACKENDS:
            try:
                cells.append(fn(io))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("n/a")
        say(f"  {label:34} {cells[0]:>10} | {cells[1]:<10} {goal}")

    row("spawn ptyhub sessions/s", lambda io: f"{spawn[io]['ptyhub']:.0f}", "")
    row("spawn ptyhub/tmux", lambda io: f"{spawn[io]['ratio_tmux']:.1f}x", "(goal >= 10x)")
    row("spawn ptyhub/dtach", lambda io: f"{spawn[io]['ratio_dtach']:.1f}x", "")
    row("scale create 4000 s", lambda io: f"{scale[io]['create_s']:.2f}", "")
    row("scale RSS KiB per idle session", lambda io: f"{scale[io]['per_kib']:.2f}",
        "(goal <= 8)" + (f"; tmux {tmux_rss['per_kib']:.1f}" if tmux_rss else ""))
    row("fair p99 idle us", lambda io: f"{fair[io][('ptyhub', 'idle')]['p99']:.0f}", "")
    row("fair p99 flood us", lambda io: f"{fair[io][('ptyhub', 'flood')]['p99']:.0f}", "")
    def p99_ratio(io, target):
        f = fair[io]
        return f"{f[(target, 'flood')]['p99'] / f[(target, 'idle')]['p99']:.1f}"

    row("fair p99 flood/idle", lambda io: p99_ratio(io, "ptyhub"), "(goal <= 2)")
    row("fair reactor blocked (D) in flood",
        lambda io: f"{100 * fair[io][('ptyhub', 'flood')]['blocked']:.0f}%",
        "(in " + "/".join(sorted({fair[io][('ptyhub', 'flood')]['blocked_in']
                                  for io in BACKENDS if ('ptyhub', 'flood') in fair.get(io, {})}))
        + ")")
    row("fair p99 flood other reactor us",
        lambda io: f"{fair[io][('ptyhub', 'flood_other_reactor')]['p99']:.0f}", "(diagnostic)")
    row("fair raw PTY p99 flood/idle", lambda io: p99_ratio(io, "rawpty"), "(the machine's floor)")
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
