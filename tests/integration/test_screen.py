"""Terminal state as clients see it (issue 9, protocol version 3): the screen as text
(SCREEN, GET /api/sessions/ID/screen, `ptyhub screen`), waits for text or quiet (WAIT,
POST .../wait, `ptyhub wait --text/--idle`), attaching from a snapshot (ATTACH from_kind 3)
instead of a raw replay, and the v3 LIST fields. Real programs on real PTYs."""

import json
import os
import struct
import time

import wire
from harness import Daemon, check, check_eq, TIMEOUT

from wire import screen, wait, SCREEN_REPLY, WAITED, SNAPSHOT  # noqa: E402

def conn3(d):
    return wire.Conn.unix(d.sock, timeout=TIMEOUT, version=3)


def get_screen(c, sid, ansi=False):
    m = c.call(lambda req: screen(req, sid, ansi), SCREEN_REPLY)
    check_eq(m.type, SCREEN_REPLY, "SCREEN reply (%r)" % m)
    return m


def screen_has(c, sid, text):
    return text.encode() in get_screen(c, sid).data


def wait_screen(d, c, sid, text):
    m = c.call(lambda req: wait(req, sid, text=text, timeout_ms=int(TIMEOUT * 1000)), WAITED,
               timeout=TIMEOUT + 5)
    check_eq((m.type, getattr(m, "reason", None)), (WAITED, "text"), "WAIT for %r: %r" % (text, m))
    return m


# A program that draws at fixed positions and then sleeps.
DRAW = r"printf '\033[2J\033[3;5HHELLO\033[5;1Hline five\033]2;my title\007\033[1;1H'; sleep 600"


def test_screen_text_of_a_real_program():
    with Daemon("--terminal-state", "on") as d:
        with conn3(d) as c:
            check(c.welcome.version == 3 and c.welcome.flags & wire.WELCOME_F_TERMINAL,
                  "WELCOME v3 with the TERMINAL flag: %r" % c.welcome)
            sid = c.create(["sh", "-c", DRAW], cols=40, rows=10)
            wait_screen(d, c, sid, "line five")
            m = get_screen(c, sid)
            want = "\n\n    HELLO\n\nline five" + "\n" * 5
            check_eq(m.data.decode(), want, "screen text")
            check_eq((m.cols, m.rows, m.cursor), (40, 10, (0, 0)), "size and cursor")
            check_eq(m.title, b"my title", "title")
            a = get_screen(c, sid, ansi=True)
            check(a.data.startswith(b"\x1bc") and b"HELLO" in a.data, "ANSI snapshot: %r" % a.data)


# ---- the reference emulator: a fresh vt fed a whole stream (vt_screen.c) ----

_VT_SCREEN = None


def vt_screen(cols, rows, data):
    """(text, (col, row)) of a fresh terminal fed `data` (bytes)."""
    global _VT_SCREEN
    import subprocess
    import tempfile
    from harness import ROOT
    if _VT_SCREEN is None:
        lib = os.path.join(ROOT, "build", "libptyhub.a")
        check(os.path.exists(lib), "build/libptyhub.a (make build/ptyhub)")
        out = os.path.join(tempfile.mkdtemp(prefix="vt-screen-"), "vt_screen")
        subprocess.run(["cc", "-std=gnu11", "-O1", "-I", os.path.join(ROOT, "src"),
                        "-D_GNU_SOURCE", "-o", out,
                        os.path.join(ROOT, "tests", "integration", "vt_screen.c"), lib,
                        "-luring", "-lcrypto", "-lcjson", "-lpthread"], check=True)
        _VT_SCREEN = out
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        p = subprocess.run([_VT_SCREEN, str(cols), str(rows), f.name], capture_output=True,
                           check=True, timeout=TIMEOUT)
    text, cursor = p.stdout.rsplit(b"\nCURSOR ", 1)
    col, row = cursor.split()
    return text.decode(), (int(col), int(row))


def attach_snapshot(c, sid, **kw):
    """ATTACH from a snapshot: returns (ATTACHED, SNAPSHOT) and checks their order."""
    att = c.attach(sid, from_kind=wire.FROM_SNAPSHOT, **kw)
    snap = c.recv_until(lambda m: m.type in (SNAPSHOT, wire.OUTPUT))
    check_eq(snap.type, SNAPSHOT, "the message after ATTACHED")
    check_eq(snap.offset, att.end, "SNAPSHOT offset == ATTACHED end")
    return att, snap


def output_from(c, sid, offset, until, timeout=TIMEOUT):
    """OUTPUT of sid from `offset` on, checked contiguous, until `until` bytes are in."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while offset + len(data) < until:
        m = c.recv_until(lambda m: m.type in (wire.OUTPUT, wire.GAP) and m.sid == sid,
                         max(deadline - time.monotonic(), 0.01))
        check(m.type == wire.OUTPUT, "no GAP for an interactive client: %r" % m)
        check_eq(m.offset, offset + len(data), "OUTPUT offset (no gap, no duplicate)")
        data += m.data
    return bytes(data)


# A full-screen program: the alternate screen, keypad and bracketed paste set once at the
# start, a header and footer, then a counter redrawn in place many times -- far more
# bytes than the ring keeps. Raw mode: what it writes is exactly what the PTY carries,
# and a copy goes to a file (the whole stream, for the reference).
FULLSCREEN = r"""
import os, sys, tty, time
tty.setraw(0)
log = open(sys.argv[1], "wb")
def out(b):
    os.write(1, b)
    log.write(b)
    log.flush()
out(b"\x1b[?1049h\x1b[?1h\x1b[?2004h\x1b]2;fullscreen\x07\x1b[2J\x1b[1;1H== HEADER ==")
out(b"\x1b[12;1H-- footer --\x1b[5;3H")
for i in range(3000):
    out(b"\x1b[6;10H\x1b[1;3%dmcount %06d\x1b[0m\x1b[%d;1Hrow %d" % (i % 8, i, 7 + i % 4, i))
out(b"\x1b[3;4HDONE")
open(sys.argv[1] + ".done", "w").close()
time.sleep(600)
"""


def test_snapshot_attach_restores_a_screen_the_ring_lost():
    with Daemon("--terminal-state", "on", "--scrollback", "4096") as d:
        log = os.path.join(d.dir, "stream")
        with conn3(d) as c:
            sid = c.create(["python3", "-c", FULLSCREEN, log], cols=40, rows=12)
            from harness import wait_for
            wait_for(lambda: os.path.exists(log + ".done"), "the program to finish drawing")
            stream = open(log, "rb").read()
            check(len(stream) > 20 * 4096, "the output (%d bytes) is far beyond the ring"
                  % len(stream))
            want_text, want_cursor = vt_screen(40, 12, stream)
            check("== HEADER ==" in want_text and "DONE" in want_text, "reference screen")
            att, snap = attach_snapshot(c, sid, mode=wire.MODE_READ_ONLY)
            check_eq(att.end, len(stream), "the snapshot is of the whole stream")
            got_text, got_cursor = vt_screen(40, 12, snap.data)
            check_eq(got_text, want_text, "screen from the snapshot vs the reference")
            check_eq(got_cursor, want_cursor, "cursor from the snapshot vs the reference")
            check(b"\x1b[?1049h" in snap.data and b"\x1b[?2004h" in snap.data,
                  "the snapshot carries the alternate screen and bracketed paste")
            # The same screen through SCREEN (text) agrees.
            check_eq(get_screen(c, sid).data.decode(), want_text, "SCREEN text")
            # A raw replay of what the ring still holds does not reproduce it.
            with conn3(d) as raw:
                a2 = raw.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_TAIL,
                                from_=1 << 20)  # all it keeps
                check(a2.start > 0, "the ring has wrapped (start %d)" % a2.start)
                ring = output_from(raw, sid, a2.start, a2.end)
            raw_text, _ = vt_screen(40, 12, ring)
            check(raw_text != want_text, "a raw replay of the ring shows the same screen")
            check("== HEADER ==" not in raw_text, "the raw replay lost the header")


# A counter flooding numbered lines, also written to a file (raw mode, as above).
FLOOD = r"""
import os, sys, tty
tty.setraw(0)
log = open(sys.argv[1], "wb")
i = 0
while True:
    b = b"".join(b"line %09d\r\n" % n for n in range(i, i + 200))
    i += 200
    log.write(b)
    log.flush()
    os.write(1, b)
"""


def test_snapshot_then_live_has_no_gap_or_duplicate_under_a_flood():
    with Daemon("--terminal-state", "on") as d:
        log = os.path.join(d.dir, "stream")
        with conn3(d) as c:
            sid = c.create(["python3", "-c", FLOOD, log], cols=30, rows=8)
            from harness import wait_for
            wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 200000,
                     "the flood to be going")
            for _ in range(3):  # several attaches, each at a different point of the flood
                with conn3(d) as v:
                    att, snap = attach_snapshot(v, sid)
                    live = output_from(v, sid, att.end, att.end + 100000)
                # The snapshot followed by the live output draws what the whole stream up
                # to the same offset draws: nothing lost or doubled at the seam.
                upto = att.end + len(live)
                wait_for(lambda: os.path.getsize(log) >= upto, "the log to catch up")
                with open(log, "rb") as f:
                    whole = f.read(upto)
                check_eq(vt_screen(30, 8, snap.data + live), vt_screen(30, 8, whole),
                         "screen at offset %d: snapshot + live vs the whole stream" % upto)
                # And the live bytes are exactly the stream's bytes from the seam.
                check_eq(live, whole[att.end:], "live output after the snapshot")
            c.send(wire.signal_(c.req(), sid, 0))


# Prints "phase 1", waits for a file, prints MAGIC, then sleeps.
PHASES = r"""printf 'phase 1\n'; while [ ! -e "$1" ]; do sleep 0.05; done; printf 'MAGIC here\n'; sleep 600"""


def test_wait_text_returns_when_the_text_appears_and_not_before():
    with Daemon("--terminal-state", "on") as d:
        go = os.path.join(d.dir, "go")
        with conn3(d) as c:
            sid = c.create(["sh", "-c", PHASES, "sh", go])
            first = wait_screen(d, c, sid, "^phase 1$")
            # A WAIT for MAGIC, then a SCREEN on the same connection: requests are handled
            # in order, so had the WAIT matched, WAITED would come before SCREEN_REPLY.
            req = c.req()
            c.send(wait(req, sid, text="MAGIC", timeout_ms=int(TIMEOUT * 1000)))
            seen = []
            c.send(screen(c.req(), sid))
            m = c.recv_until(lambda m: m.type == SCREEN_REPLY, keep=seen)
            check(not [x for x in seen if x.type == WAITED], "WAITED before MAGIC: %r" % seen)
            check(b"MAGIC" not in m.data, "MAGIC is not on the screen yet")
            # `after`: the phase-1 text is stale for a wait after its offset.
            req2 = c.req()
            c.send(wait(req2, sid, text="phase", after=first.offset,
                        timeout_ms=int(TIMEOUT * 1000)))
            seen = []
            c.send(screen(c.req(), sid))
            c.recv_until(lambda m: m.type == SCREEN_REPLY, keep=seen)
            check(not [x for x in seen if x.type == WAITED], "stale text matched: %r" % seen)
            # The CLI waits too.
            import subprocess
            cli = subprocess.Popen([d.bin, "wait", "--socket", d.sock, str(sid), "--text",
                                    "MAGIC h[a-z]+"], stdout=subprocess.PIPE)
            open(go, "w").close()
            got = {}
            while len(got) < 2:
                w = c.recv_until(lambda m: m.type == WAITED)
                got[w.req] = w
            check_eq(got[req].reason, "text", "WAIT MAGIC")
            check(got[req].offset > first.offset, "MAGIC's screen is later than phase 1's")
            check_eq(got[req2].reason, "text", "WAIT phase after the stale offset")
            out, _ = cli.communicate(timeout=TIMEOUT)
            check_eq(cli.returncode, 0, "ptyhub wait --text exit status")
            check(out.startswith(b"text "), "ptyhub wait prints the reason: %r" % out)


def test_wait_idle_timeout_exited_and_bad_regex():
    with Daemon("--terminal-state", "on") as d:
        sid = d.new("sh", "-c", "printf 'busy\\n'; sleep 600")
        p = d.cli("wait", str(sid), "--idle", "200")
        check_eq((p.returncode, p.stdout.split()[0]), (0, b"idle"), "wait --idle")
        p = d.cli("wait", str(sid), "--text", "never there", "--timeout", "300")
        check_eq((p.returncode, p.stdout.split()[0]), (124, b"timeout"), "wait --timeout")
        p = d.cli("wait", str(sid), "--text", "(unclosed")
        check_eq(p.returncode, 1, "bad regex status")
        check(b"regex" in p.stderr, "bad regex message: %r" % p.stderr)
        with conn3(d) as c:
            m = c.call(lambda req: wait(req, sid, text="a{1"), WAITED)
            check_eq((m.type, m.code), (wire.ERROR, wire.ERR_BAD_ARGUMENT), "bad regex ERROR")
            m = c.call(lambda req: wait(req, sid), WAITED)  # no condition: the codec says no
            check_eq((m.type, m.code), (wire.ERROR, wire.ERR_BAD_ARGUMENT), "WAIT without flags")
            # The connection goes on.
            check_eq(get_screen(c, sid).data.split(b"\n")[0], b"busy", "SCREEN afterwards")
        short = d.new("sh", "-c", "printf 'bye\\n'; read x")
        import subprocess
        w = subprocess.Popen([d.bin, "wait", "--socket", d.sock, str(short), "--text",
                              "not printed"], stdout=subprocess.PIPE)
        with conn3(d) as c:
            wait_screen(d, c, short, "bye")
        d.ok("send", str(short), "\n")
        out, _ = w.communicate(timeout=TIMEOUT)
        check_eq((w.returncode, out.split()[0]), (125, b"exited"), "wait on a session that exits")


def test_a_thousand_concurrent_waits():
    with Daemon("--terminal-state", "on") as d:
        go = os.path.join(d.dir, "go")
        with conn3(d) as c:
            sid = c.create(["sh", "-c", PHASES, "sh", go])
            wait_screen(d, c, sid, "phase 1")
            conns = [c] + [conn3(d) for _ in range(4)]
            per = [1000, 250, 250, 250, 250]
            for k, n in zip(conns, per):
                body = b"".join(wire.frame(wait(k.req(), sid, text="MAGIC",
                                                timeout_ms=int(TIMEOUT * 1000)))
                                for _ in range(n))
                k.send_raw(body)
            # All registered (SCREEN is answered after them), none answered yet.
            for k in conns:
                seen = []
                k.send(screen(k.req(), sid))
                k.recv_until(lambda m: m.type == SCREEN_REPLY, keep=seen)
                check(not seen, "replies before MAGIC: %r" % seen[:3])
            open(go, "w").close()
            for k, n in zip(conns, per):
                got = [k.recv_until(lambda m: m.type in (WAITED, wire.ERROR)) for _ in range(n)]
                check(all(m.type == WAITED and m.reason == "text" for m in got),
                      "every WAIT matched: %r" % [m for m in got if m.type != WAITED][:3])
                check_eq(len({m.req for m in got}), n, "one WAITED per WAIT")
            for k in conns[1:]:
                k.close()
            # The per-connection bound: 4096 pending, then `limit`.
            body = b"".join(wire.frame(wait(c.req(), sid, text="never")) for _ in range(4097))
            c.send_raw(body)
            m = c.recv_until(lambda m: m.type == wire.ERROR)
            check_eq(m.code, wire.ERR_LIMIT, "WAIT 4097 on one connection")


def test_v1_v2_clients_unaffected_and_state_off_unavailable():
    with Daemon("--terminal-state", "on") as d:
        sid = d.new("sh", "-c", "printf 'x\\033]2;T\\007'; sleep 600")
        for version in (1, 2):
            with wire.Conn.unix(d.sock, timeout=TIMEOUT, version=version) as c:
                check_eq((c.welcome.version, c.welcome.flags), (version, 0 if version == 1 else 3),
                         "WELCOME v%d" % version)
                for body in (screen(1, sid), wait(2, sid, text="x")):
                    c.send(body)
                    m = c.recv()
                    check_eq((m.type, m.code), (wire.ERROR, wire.ERR_UNKNOWN_TYPE),
                             "v%d sends %r" % (version, body[:1]))
                m = c.call(lambda req: wire.attach(req, sid, from_kind=wire.FROM_SNAPSHOT),
                           wire.ATTACHED)
                check_eq((m.type, m.code), (wire.ERROR, wire.ERR_BAD_ARGUMENT),
                         "v%d ATTACH from a snapshot" % version)
                req = c.req()
                c.send(wire.list_(req))
                lr = c.recv_until(lambda m: m.type == wire.LIST_REPLY)
                check_eq(lr.flags & wire.LIST_F_EXT, 0, "v%d LIST has no extension" % version)
                check(not hasattr(lr.entries[0], "title"), "v%d entry layout" % version)
        with conn3(d) as c:
            wait_screen(d, c, sid, "x")
            e = [e for e in c.list() if e.sid == sid][0]
            check_eq((e.title, e.cls), (b"T", 0), "v3 LIST entry: title, class")
            check(e.last_output_ms > 0, "last_output_ms")
    with Daemon("--terminal-state", "off") as d:
        sid = d.new("sh", "-c", "printf 'x'; sleep 600")
        with conn3(d) as c:
            check_eq(c.welcome.flags & wire.WELCOME_F_TERMINAL, 0, "no TERMINAL flag")
            for fn in (lambda req: screen(req, sid), lambda req: wait(req, sid, text="x"),
                       lambda req: wire.attach(req, sid, from_kind=wire.FROM_SNAPSHOT)):
                m = c.call(fn, 0)
                check_eq((m.type, m.code), (wire.ERROR, wire.ERR_UNAVAILABLE), "state off")
        p = d.cli("screen", str(sid))
        check(p.returncode == 1 and b"terminal-state" in p.stderr, "ptyhub screen, state off")


def test_rest_screen_and_long_poll_wait():
    import threading
    import wsclient
    with Daemon("--terminal-state", "on") as d:
        go = os.path.join(d.dir, "go")
        sid = d.new("sh", "-c", "printf '\\033]2;rest\\007'; " + PHASES, "sh", go)
        with conn3(d) as c:
            wait_screen(d, c, sid, "phase 1")
        r = wsclient.get(d, "/api/sessions/%d/screen" % sid)
        check_eq((r.status, r.body.split(b"\n")[0]), (200, b"phase 1"), "GET screen")
        r = wsclient.get(d, "/api/sessions/%d/screen?format=json" % sid)
        j = r.json()
        check_eq((j["title"], j["cols"], j["cursor"]["row"], j["alt_screen"]), ("rest", 80, 1,
                 False), "GET screen?format=json: %r" % j)
        r = wsclient.get(d, "/api/sessions/%d/screen?format=ansi" % sid)
        check(r.body.startswith(b"\x1bc") and b"phase 1" in r.body, "ansi: %r" % r.body[:40])
        j = wsclient.get(d, "/api/sessions/%d" % sid).json()
        check_eq(j["title"], "rest", "session JSON title")
        for k in ("cwd", "bells", "last_output_ms", "class"):
            check(k in j, "session JSON has %s" % k)
        # The long poll: answered only once MAGIC appears; a second request on another
        # connection meanwhile is served (nothing blocks).
        res = {}
        body = json.dumps({"text": "MAGIC", "timeout_ms": int(TIMEOUT * 1000)})

        def poll():
            res["r"] = wsclient.call(d, "POST", "/api/sessions/%d/wait" % sid, body)
        t = threading.Thread(target=poll)
        t.start()
        r = wsclient.get(d, "/api/sessions/%d/screen" % sid)  # served meanwhile
        check_eq(r.status, 200, "GET screen during a long poll")
        check("r" not in res, "the long poll answered before MAGIC: %r" % res)
        open(go, "w").close()
        t.join(TIMEOUT)
        check_eq(res["r"].json()["reason"], "text", "POST wait")
        r = wsclient.call(d, "POST", "/api/sessions/%d/wait" % sid,
                          json.dumps({"text": "nope", "timeout_ms": 200}))
        check_eq(r.json()["reason"], "timeout", "POST wait timeout")
        r = wsclient.call(d, "POST", "/api/sessions/%d/wait" % sid, json.dumps({"text": "(("}))
        check_eq((r.status, r.json()["error"]["code"]), (400, "bad_argument"), "bad regex")


def test_snapshot_and_screen_of_sessions_on_other_reactors():
    # Two reactors; one connection's sessions are spread over both, so once it is attached
    # to one, its requests for the others are forwarded to their reactor.
    with Daemon("--threads", "2", "--terminal-state", "on") as d:
        with conn3(d) as c:
            sids = [c.create(["sh", "-c", "printf 'sess %d\\033[2;3Hmark'; sleep 600" % i],
                             cols=30, rows=5) for i in range(4)]
            for i, sid in enumerate(sids):
                att, snap = attach_snapshot(c, sid, mode=wire.MODE_READ_ONLY)
                text, cursor = vt_screen(30, 5, snap.data)
                if "mark" not in text:  # not drawn yet when attached: wait, then look again
                    wait_screen(d, c, sid, "mark")
                    text = get_screen(c, sid).data.decode()
                check(text.startswith("sess %d\n  mark" % i), "session %d screen: %r" % (i, text))
                check_eq(get_screen(c, sid).data.decode().split("\n")[:2],
                         ["sess %d" % i, "  mark"], "SCREEN of session %d" % i)
            # WAIT works on every one of them, local or on the other reactor: the text is
            # there (matched at once), it appears later, or the wait times out.
            for sid in sids:
                m = c.call(lambda req: wait(req, sid, text="mark"), WAITED)
                check_eq((m.type, m.reason), (WAITED, "text"), "WAIT for mark on session %d" % sid)
            go = [c.create(["sh", "-c", "sleep 0.3; echo LATER; sleep 600"]) for _ in range(2)]
            for sid in go:
                m = c.call(lambda req: wait(req, sid, text="LATER"), WAITED)
                check_eq((m.type, m.reason), (WAITED, "text"), "WAIT for LATER on session %d" % sid)
                check(b"LATER" in get_screen(c, sid).data, "LATER is on the screen")
            m = c.call(lambda req: wait(req, go[0], text="never", timeout_ms=100), WAITED)
            check_eq((m.type, m.reason), (WAITED, "timeout"), "a timed-out WAIT")
