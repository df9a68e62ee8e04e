#!/usr/bin/env python3
"""Browser Ctrl-C benchmark (issue 8): how long after Ctrl-C during a `yes` flood the page
stops drawing flood output, and how responsive the page stays during the flood.

Runs bench/_web_ctrlc.mjs (Debian's chromium through playwright-core, the page attached to
a shell running `yes`, Ctrl-C pressed after 2 s of flood) against a fresh daemon per
configuration, in one run:
  default            --render-hold 256K (the page's program runs at most 256 KiB ahead
                     of what xterm.js has parsed)
  render hold off    --render-hold 0: only the 2 MiB ACK window, as before issue 8
Prints each trial, the medians, and the ratio. Goal (issue 8): Ctrl-C to the last flood
byte drawn under 150 ms. Never fails because a number is slow; fails when something broke.
WEBCTRLC_TRIALS sets the trials per configuration (default 5)."""
import hashlib
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _web_util as wu  # noqa: E402

ROOT = wu.ROOT
E2E = os.path.join(ROOT, "tests", "e2e")
TRIALS = int(os.environ.get("WEBCTRLC_TRIALS", "5"))
CONFIGS = [
    ("default (render hold 256K)", ["--render-hold", "256K"]),
    ("render hold off", ["--render-hold", "0"]),
]


def npm_ready():
    """npm ci in tests/e2e when node_modules is missing or from another lock (as run.sh)."""
    stamp = os.path.join(E2E, "node_modules", ".ptyhub-lock.sha256")
    want = hashlib.sha256(open(os.path.join(E2E, "package-lock.json"), "rb").read()).hexdigest()
    if os.path.exists(stamp) and open(stamp).read().strip() == want:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=E2E,
                   check=True)
    with open(stamp, "w") as f:
        f.write(want + "\n")


def run(label, extra):
    d = wu.Daemon("uring", extra)
    try:
        r = subprocess.run(["node", os.path.join(ROOT, "bench", "_web_ctrlc.mjs"),
                            f"http://{d.addr}", str(TRIALS)],
                           capture_output=True, text=True, timeout=600)
        d.check_alive(label)
    finally:
        d.stop()
    rows = [wu.parse_kv(ln) for ln in r.stdout.splitlines() if ln.startswith("ctrlc ")]
    if r.returncode != 0 or len(rows) != TRIALS:
        raise wu.BenchFailure(f"{label}: web_ctrlc.mjs failed (status {r.returncode}): "
                              f"{r.stderr.strip()[-2000:] or r.stdout.strip()}")
    for w in rows:
        print(f"  {label:28} trial {w['trial']}: Ctrl-C to last flood byte parsed "
              f"{w['stop_ms']:>5} ms, painted {w['paint_ms']:>5} ms; during the flood "
              f"{w['fps']:>5} frames/s, {w['mbps']:>6} MB/s into xterm.js; "
              f"{w['bytes_after']} bytes drawn after Ctrl-C; keydown seen after {w['key_ms']} ms",
              flush=True)
    med = {k: statistics.median(float(w[k]) for w in rows)
           for k in ("stop_ms", "paint_ms", "fps", "mbps")}
    return med


def main():
    npm_ready()
    print(f"-- web_ctrlc: {TRIALS} trials per configuration, chromium headless, uring")
    res = {}
    for label, extra in CONFIGS:
        res[label] = run(label, extra)
    print("-- medians")
    for label, m in res.items():
        print(f"  {label:28} Ctrl-C to last byte painted {m['paint_ms']:6.0f} ms (goal < 150)"
              f"   parsed {m['stop_ms']:6.0f} ms   {m['fps']:5.1f} fps   {m['mbps']:6.2f} MB/s")
    a, b = res[CONFIGS[0][0]], res[CONFIGS[1][0]]
    print(f"-- ratios: render hold on/off: Ctrl-C time {a['paint_ms'] / b['paint_ms']:.2f}x,"
          f" fps {a['fps'] / b['fps']:.2f}x, page throughput {a['mbps'] / b['mbps']:.2f}x")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except wu.BenchFailure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
