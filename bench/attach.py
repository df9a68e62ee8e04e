"""attach: time to the first correct frame when a client attaches to a full-screen program
whose 1 MiB ring is full: from a screen snapshot (ATTACH from_kind 3) against a raw replay
of the whole ring (from the oldest retained byte), over the Unix socket and WebSocket.

"First correct frame": the time from sending ATTACH until the client holds every byte it
needs to draw the screen as it is now -- ATTACHED plus SNAPSHOT, or ATTACHED plus OUTPUT up
to ATTACHED's end. (A terminal must then also parse those bytes: 1 MiB takes xterm.js
30-200 ms at its 5-35 MB/s; the snapshot is a few KiB. That cost is not counted here, so
the ratio understates the snapshot's advantage.) Each way is measured N times, alternating,
in one run; medians and their ratio are printed. Correctness: the snapshot's offset is
ATTACHED's end, and the replay delivers exactly [start, end) with no gap.
"""

import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True
import wire  # noqa: E402
import wsclient  # noqa: E402

PTYHUB = os.path.join(ROOT, "build", "ptyhub")
N = int(os.environ.get("ATTACH_BENCH_N", "15"))
RING = 1 << 20

# A full-screen program (alternate screen, 120x40) redrawing itself until well past the
# ring's size, then idle: the ring holds 1 MiB of cursor-addressed, coloured updates.
PROGRAM = r"""
import os, sys, tty, time
tty.setraw(0)
os.write(1, b"\x1b[?1049h\x1b[2J")
total, i = 0, 0
while total < 3 * 1024 * 1024:
    b = b"".join(b"\x1b[%d;1H\x1b[3%dmrow %02d update %08d %s\x1b[0m" % (r + 1, r % 8, r, i,
                 b"x" * 80) for r in range(40))
    os.write(1, b)
    total += len(b)
    i += 1
open(sys.argv[1], "w").close()
time.sleep(3600)
"""


def start_daemon(tmp):
    sock = os.path.join(tmp, "sock")
    rfd, wfd = os.pipe()
    log = open(os.path.join(tmp, "log"), "w")
    p = subprocess.Popen([PTYHUB, "serve", "--socket", sock, "--no-session", "--listen",
                          "127.0.0.1:0", "--no-auth", "--terminal-state", "on", "--scrollback",
                          str(RING), "--ready-fd", str(wfd), "--log-level", "warn"],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(wfd,))
    os.close(wfd)
    line = b""
    deadline = time.monotonic() + 20
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        r, _, _ = select.select([rfd], [], [], 1)
        if r:
            chunk = os.read(rfd, 256)
            if not chunk:
                break
            line += chunk
    os.close(rfd)
    if not line.startswith(b"READY "):
        p.kill()
        raise SystemExit("attach bench: the daemon did not start")
    host, port = line.split()[1].decode().rsplit(":", 1)
    return p, sock, host, int(port)


def time_attach(make_conn, sid, snapshot):
    """Seconds from ATTACH to holding the current screen's bytes; and their count."""
    c = make_conn()
    try:
        t0 = time.perf_counter()
        if snapshot:
            att = c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_SNAPSHOT)
            m = c.recv_until(lambda m: m.type == wire.SNAPSHOT)
            dt = time.perf_counter() - t0
            if m.offset != att.end:
                raise SystemExit("attach bench: SNAPSHOT offset %d != ATTACHED end %d"
                                 % (m.offset, att.end))
            return dt, len(m.data)
        att = c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_TAIL, from_=RING)
        got, off = 0, att.start
        while off < att.end:
            m = c.recv_until(lambda m: m.type in (wire.OUTPUT, wire.GAP))
            if m.type != wire.OUTPUT or m.offset != off:
                raise SystemExit("attach bench: replay gap at %d: %r" % (off, m))
            off += len(m.data)
            got += len(m.data)
        dt = time.perf_counter() - t0
        if att.end - att.start < RING - 4096:
            raise SystemExit("attach bench: the ring is not full (%d bytes)"
                             % (att.end - att.start))
        return dt, got
    finally:
        c.close()


def main():
    if not os.path.exists(PTYHUB):
        raise SystemExit("attach bench: build/ptyhub is missing (make build/ptyhub)")
    tmp = tempfile.mkdtemp(prefix="ptyhub-attach-")
    p, sock, host, port = start_daemon(tmp)
    try:
        with wire.Conn.unix(sock, version=3) as c:
            done = os.path.join(tmp, "done")
            sid = c.create(["python3", "-c", PROGRAM, done], cols=120, rows=40)
            deadline = time.monotonic() + 120
            while not os.path.exists(done):
                if time.monotonic() > deadline:
                    raise SystemExit("attach bench: the program did not finish drawing")
                time.sleep(0.05)
            # Let the daemon read the last of it.
            time.sleep(0.2)
        transports = {
            "unix": lambda: wire.Conn.unix(sock, version=3),
            "websocket": lambda: _ws(host, port),
        }
        print("attach to a 120x40 full-screen program, 1 MiB ring full; %d runs each" % N)
        for name, make in transports.items():
            snap, raw = [], []
            snap_bytes = raw_bytes = 0
            for _ in range(N):
                dt, snap_bytes = time_attach(make, sid, True)
                snap.append(dt)
                dt, raw_bytes = time_attach(make, sid, False)
                raw.append(dt)
            ms, mr = statistics.median(snap), statistics.median(raw)
            print("  %-9s snapshot %7.2f ms (%d bytes)   raw replay %7.2f ms (%d bytes)   "
                  "snapshot/raw = %.3f" % (name, ms * 1e3, snap_bytes, mr * 1e3, raw_bytes,
                                            ms / mr))
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _ws(host, port):
    c = wsclient.WsConn.connect(host, port)
    c.handshake(version=3)
    return c


if __name__ == "__main__":
    main()
