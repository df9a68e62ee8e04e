"""terminal: what terminal state (issue 9) costs, in one run.

1. Floods. One session floods output to a lossless client (bench/tp_client.c, as in
   throughput.py) with terminal state off; on (the default: chunks of a flood that only
   draw wait for whoever needs the screen, src/pty/term_state.h); on-text
   (PTYHUB_TERM_FEED=text: only chunks without any ESC wait); on-inline
   (PTYHUB_TERM_FEED=inline: every chunk through the model as it is read); interleaved,
   TERM_REPS times. Medians of MB/s and of the daemon's CPU seconds per GiB delivered, with
   their ratios to off (goal: on/off >= 0.90 in MB/s). On a loaded machine the CPU per GiB
   is the steadier number.
   Floods: `yes` in raw mode (each "y\\n" scrolls without CR), `yes` cooked ("y\\r\\n"),
   coloured ls-like lines, cursor-addressed full-screen updates (24 rows repainted).
2. Idle memory. TERM_IDLE_N idle sessions (bench/ss_client.c create) running `cat` (a
   blank screen), and running a program that painted a full coloured 80x24 screen, with
   state on and off: daemon VmRSS growth per session; the painted ones again after the
   hibernation delay (their models replaced by snapshots).
3. Query round trip. With no client attached, a program asks ESC[6n TERM_RTT_N times and
   times each reply (the daemon answers): median and p99 in microseconds.

Slow numbers never fail the run; a failed transfer or a dead daemon does.
Run: make bench BENCH=terminal (TERM_REPS, TERM_MIB, TERM_IDLE_N to change the sizes).
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _tp_util import (MiB, ROOT, TP_CLIENT, BenchFailure, Daemon, median,  # noqa: E402
                      run_helper)

SS_CLIENT = os.path.join(ROOT, "build", "bench", "ss_client")
REPS = int(os.environ.get("TERM_REPS", "3"))
FLOOD_BYTES = int(os.environ.get("TERM_MIB", "64")) * MiB
IDLE_N = int(os.environ.get("TERM_IDLE_N", "1000"))
RTT_N = 2000
SLEEP_S = 12  # the daemon hibernates a model quiet for 10 s

ESC = "\\033"
COLOUR_LINE = (f"drwxr-xr-x 2 user user 4096 Jan 12 12:00 {ESC}[01;34mdir{ESC}[0m  "
               f"{ESC}[01;32mrun.sh{ESC}[0m  {ESC}[38;5;208mapp.log{ESC}[0m  "
               f"{ESC}[38;2;10;200;200mfile.c{ESC}[0m\\r")
SCREEN = "".join(f"{ESC}[{r};1H{ESC}[3{r % 8};4{(r + 3) % 8}m{r:3} top - load average: 0.52, "
                 f"0.58, 0.59  Tasks: 312 total, 2 running{ESC}[0m{ESC}[K" for r in range(1, 25))
N = FLOOD_BYTES
FLOODS = [
    ("raw yes", f"stty raw -echo; yes | head -c {N}"),
    ("cooked yes", f"yes | head -c {N}"),
    ("coloured lines", f"stty raw -echo; yes \"$(printf '{COLOUR_LINE}')\" | head -c {N}"),
    ("full-screen", f"stty raw -echo; yes \"$(printf '{SCREEN}')\" | head -c {N}"),
]
CONFIGS = [
    ("off", ["--terminal-state", "off"], None),
    ("on", ["--terminal-state", "on"], None),
    ("on-text", ["--terminal-state", "on"], {"PTYHUB_TERM_FEED": "text"}),
    ("on-inline", ["--terminal-state", "on"], {"PTYHUB_TERM_FEED": "inline"}),
]

RTT_PROG = r"""
import os, sys, time, termios, tty
tty.setraw(0, termios.TCSANOW)
n = int(sys.argv[1])
ts = []
for i in range(n):
    t0 = time.perf_counter()
    os.write(1, b"\x1b[6n")
    got = b""
    while not got.endswith(b"R"):
        got += os.read(0, 64)
    ts.append(time.perf_counter() - t0)
ts.sort()
os.write(1, b"\r\nRTT %.1f %.1f\r\n" % (ts[len(ts) // 2] * 1e6, ts[len(ts) * 99 // 100] * 1e6))
"""


def floods():
    daemons = {name: Daemon("uring", extra=extra, env=env) for name, extra, env in CONFIGS}
    res = {(f, c): [] for f, _ in FLOODS for c, _, _ in CONFIGS}
    try:
        for rep in range(REPS):
            for fname, cmd in FLOODS:
                line = []
                for cname, _, _ in CONFIGS:
                    d = daemons[cname]
                    c0 = d.counters()["cpu"]
                    r = run_helper([TP_CLIENT, "--socket", d.sock, "--", "sh", "-c", cmd],
                                   timeout=300)
                    d.check_alive(f"the {fname} flood")
                    cpu = (d.counters()["cpu"] - c0) / (int(r["bytes"]) / (1 << 30))
                    mbps = int(r["bytes"]) / float(r["seconds"]) / 1e6
                    res[(fname, cname)].append((mbps, cpu))
                    line.append(f"{cname} {mbps:.1f} MB/s {cpu:.2f} s/GiB")
                print(f"  run {rep + 1} {fname:15} " + "  ".join(line), flush=True)
    finally:
        for d in daemons.values():
            d.stop()
    print(f"floods ({N // MiB} MiB each, medians of {REPS}): MB/s (ratio to off; goal on/off"
          f" >= 0.90), daemon CPU-s per GiB (ratio to off)")
    for fname, _ in FLOODS:
        mb = {c: median([x[0] for x in res[(fname, c)]]) for c, _, _ in CONFIGS}
        cpu = {c: median([x[1] for x in res[(fname, c)]]) for c, _, _ in CONFIGS}
        cols = []
        for c, _, _ in CONFIGS:
            cols.append(f"{c} {mb[c]:6.1f} ({mb[c] / mb['off']:.2f}x) {cpu[c]:5.2f}"
                        f" ({cpu[c] / cpu['off']:.2f}x)")
        verdict = "met" if mb["on"] / mb["off"] >= 0.9 else "MISSED"
        print(f"  {fname:15} " + "  ".join(cols) + f"  [on/off: {verdict}]")


def idle_rss():
    paint = f"printf '{ESC}[2J{SCREEN}'; exec cat"
    print(f"idle memory: {IDLE_N} sessions each, daemon VmRSS growth per session")
    for cname, extra in (("off", ["--terminal-state", "off"]), ("on", ["--terminal-state", "on"])):
        for what, argv in (("cat", ["cat"]), ("painted 80x24", ["sh", "-c", paint])):
            d = Daemon("uring", extra=extra)
            try:
                time.sleep(0.3)
                rss0 = d.rss_kib()
                p = subprocess.run([SS_CLIENT, "create", d.sock, str(IDLE_N), "32", "2", "--"]
                                   + argv, stdout=subprocess.PIPE, text=True, timeout=600)
                n = IDLE_N
                for tok in (p.stdout.splitlines() or [""])[0].split():
                    if tok.startswith("n="):
                        n = int(tok[2:])
                if n == 0:
                    raise BenchFailure("no session could be created")
                time.sleep(1.5)
                rss1 = d.rss_kib()
                msg = f"  state {cname:3} {what:14} {(rss1 - rss0) / n:6.2f} KiB/session"
                if cname == "on" and what != "cat":
                    time.sleep(SLEEP_S)
                    rss2 = d.rss_kib()
                    msg += f", after hibernation {(rss2 - rss0) / n:6.2f} KiB/session"
                print(msg + f" ({n} sessions)", flush=True)
            finally:
                d.stop()


def query_rtt():
    d = Daemon("uring", extra=["--terminal-state", "on"])
    try:
        out = subprocess.run([os.path.join(ROOT, "build", "ptyhub"), "new", "--socket", d.sock,
                              "--", "python3", "-c", RTT_PROG, str(RTT_N)],
                             capture_output=True, text=True, timeout=60)
        sid = out.stdout.strip()
        subprocess.run([os.path.join(ROOT, "build", "ptyhub"), "wait", "--socket", d.sock, sid],
                       capture_output=True, timeout=120)
        o = subprocess.run([os.path.join(ROOT, "build", "ptyhub"), "output", "--socket", d.sock,
                            sid], capture_output=True, timeout=60).stdout
        line = [ln for ln in o.split(b"\r\n") if ln.startswith(b"RTT ")]
        if not line:
            raise BenchFailure(f"the query program printed no result: {o[-200:]!r}")
        p50, p99 = (float(x) for x in line[0].split()[1:])
        print(f"query round trip (ESC[6n -> reply, no client attached, {RTT_N} queries): "
              f"median {p50:.0f} us, p99 {p99:.0f} us")
    finally:
        d.stop()


def main():
    for b in (TP_CLIENT, SS_CLIENT):
        if not os.access(b, os.X_OK):
            print(f"terminal: {b} is missing; build with: make bench BENCH=terminal",
                  file=sys.stderr)
            return 1
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    status = 0
    for part in (floods, query_rtt, idle_rss):
        try:
            part()
        except BenchFailure as e:
            print(f"FAIL {part.__name__}: {e}")
            status = 1
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return status


if __name__ == "__main__":
    sys.exit(main())
