"""test_events: protocol version 3 for programs (issue 10) — OPEN (create and attach, or
hold, atomically), EVENTS/EVENT lifecycle events for every session from any reactor,
PASTE (acknowledged, bracketed when the program asked for it), Server-Sent Events over
HTTP, and the negotiation: v1 and v2 clients keep working, a future version gets 3."""

import json
import re
import socket
import struct
import time

import wire
import wsclient
from harness import Daemon, check, check_eq, wait_for, TIMEOUT

ALL_EVENTS = 0xFFFFFFFF
V3_FLAGS = wire.WELCOME_F_OPEN | wire.WELCOME_F_EVENTS | wire.WELCOME_F_PASTE


def _v3(d):
    return wire.Conn.unix(d.sock, timeout=TIMEOUT, version=3)


def _open(c, argv, flags=wire.OPEN_F_ATTACH, keep=None, **kw):
    """Sends OPEN; returns (CREATED, ATTACHED or None)."""
    req = c.req()
    c.send(wire.open_(req, argv, flags=flags, **kw))
    m = c.recv_until(lambda m: getattr(m, "req", None) == req, TIMEOUT, keep)
    check_eq(m.name, "created", "OPEN's first reply")
    if not flags & wire.OPEN_F_ATTACH:
        return m, None
    a = c.recv_until(lambda m: getattr(m, "req", None) == req, TIMEOUT, keep)
    check_eq(a.name, "attached", "OPEN's second reply")
    return m, a


def _collect(c, sid, upto, what, timeout=TIMEOUT):
    """Reads OUTPUT of sid from offset 0 until `upto` (bytes) or EXIT; every frame must
    continue exactly where the previous ended. Returns (data, exit message or None)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while len(data) < upto:
        m = c.recv(max(deadline - time.monotonic(), 0.001))
        if getattr(m, "sid", None) != sid:
            continue
        check(m.name != "gap", "%s: no GAP (%r)" % (what, m))
        if m.name == "exit":
            return bytes(data), m
        if m.name == "output":
            check_eq(m.offset, len(data), "%s: OUTPUT continues without a gap" % what)
            data += m.data
    return bytes(data), None


def _event(c, pred, what, timeout=TIMEOUT):
    """The first EVENT satisfying pred, among those read before (kept in c.events) or
    arriving within timeout."""
    seen = c.__dict__.setdefault("events", [])
    for m in seen:
        if pred(m):
            seen.remove(m)
            return m
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %s event within %ss (got %r)" % (what, timeout, seen))
        m = c.recv(left)
        if m.name != "event":
            continue
        if pred(m):
            return m
        seen.append(m)


# ---- OPEN ---------------------------------------------------------------------------

FLOOD = ["sh", "-c", "printf 'BYTE-ZERO:'; exec yes 0123456789abcdefghijklmnopqrstuvwxyz"]


def test_open_attaches_from_byte_zero_under_a_fast_producer():
    with Daemon("--scrollback", "4096") as d:
        # The contrast first: CREATE then ATTACH a moment later loses the start.
        with _v3(d) as c:
            sid = c.create(FLOOD)
            wait_for(lambda: next(e["bytes_out"] for e in d.ls_json() if e["id"] == sid) > 8192,
                     "the flood to pass the scrollback")
            c.send(wire.attach(c.req(), sid))
            g = c.recv_until(lambda m: m.name in ("gap", "output") and m.sid == sid, TIMEOUT)
            check_eq(g.name, "gap", "CREATE then ATTACH from 0 under a flood starts with a GAP")
            c.call(lambda r: wire.signal_(r, sid, 0), wire.OK)
        # OPEN: the subscription exists before the PTY is first read.
        for mode in (wire.MODE_INTERACTIVE, wire.MODE_READ_ONLY):
            with _v3(d) as c:
                created, att = _open(c, FLOOD, mode=mode)
                check_eq((att.sid, att.start, att.end), (created.sid, 0, 0),
                         "ATTACHED of OPEN (mode %d)" % mode)
                if mode == wire.MODE_READ_ONLY:
                    # A viewer never holds the program back: it may fall out of the ring
                    # later, but it starts with byte 0.
                    m = c.recv_until(lambda m: m.name in ("output", "gap"), TIMEOUT)
                    check_eq((m.name, m.offset), ("output", 0), "a viewer's first message")
                    data = m.data
                else:
                    data, ex = _collect(c, created.sid, 1 << 20, "OPEN mode %d" % mode)
                    check(ex is None, "the flood is still running")
                check(data.startswith(b"BYTE-ZERO:"),
                      "byte 0 arrives first (mode %d): %r" % (mode, data[:40]))
                c.call(lambda r: wire.signal_(r, created.sid, 0), wire.OK)


def _reactor_sessions(d):
    """{reactor: running sessions} from /metrics."""
    body = wsclient.get(d, "/metrics").body.decode()
    return {int(r): int(n) for r, n in
            re.findall(r'^ptyhub_reactor_sessions\{reactor="(\d+)"\} (\d+)$', body, re.M)}


def test_open_on_both_reactors_under_floods():
    # Sessions are placed to balance the reactors: some OPENs run where the connection
    # lives, the others are forwarded (the session is made held there, then attached from
    # 0 by a second hop). Every one starts at byte 0 with no gap, whichever it was.
    with Daemon("--threads", "2", "--scrollback", "4096") as d, _v3(d) as c:
        sids, early = [], []
        for i in range(4):
            created, att = _open(c, ["sh", "-c", "printf 'ZERO%d:'; exec yes %d" % (i, i)],
                                 keep=early)
            check_eq((att.start, att.end), (0, 0), "ATTACHED of OPEN %d" % i)
            sids.append(created.sid)
        check_eq(sorted(_reactor_sessions(d).values()), [2, 2], "sessions per reactor")
        got = {sid: bytearray() for sid in sids}
        while any(len(b) < 256 * 1024 for b in got.values()):
            m = early.pop(0) if early else c.recv(TIMEOUT)
            if getattr(m, "sid", None) not in got:
                continue
            check(m.name == "output", "OPEN session %d: %r" % (m.sid, m))
            check_eq(m.offset, len(got[m.sid]), "session %d's OUTPUT continues" % m.sid)
            got[m.sid] += m.data
        for i, sid in enumerate(sids):
            check(got[sid].startswith(b"ZERO%d:%d\r\n" % (i, i)), "session %d from byte 0: %r"
                  % (sid, bytes(got[sid][:20])))
        for sid in sids:
            c.call(lambda r, sid=sid: wire.signal_(r, sid, 0), wire.OK)


def test_open_hold_reads_nothing_until_the_first_attach():
    with Daemon("--scrollback", "4096") as d:
        script = "stty -opost; printf 'FIRST:'; seq 1 20000; printf ':LAST'"
        want = b"FIRST:" + b"".join(b"%d\n" % i for i in range(1, 20001)) + b":LAST"
        with _v3(d) as c:
            created, _ = _open(c, ["sh", "-c", script], flags=wire.OPEN_F_HOLD)
            sid = created.sid
            time.sleep(0.5)  # would be plenty to produce 100 KiB: it must be held
            e = next(e for e in d.ls_json() if e["id"] == sid)
            check_eq((e["state"], e["bytes_out"]), ("running", 0),
                     "a held session has read nothing and its program is blocked")
        # Another client attaches later, from 0: everything, in order, then the exit.
        with _v3(d) as viewer:
            viewer.attach(sid)
            data, ex = _collect(viewer, sid, len(want) + 1, "held session")
            check_eq(data, want, "the held session's whole output")
            check(ex is not None and ex.code == 0, "its EXIT follows: %r" % ex)
        # A held session nobody attaches to can still be killed (and exits).
        with _v3(d) as c:
            created, _ = _open(c, ["sh", "-c", "yes"], flags=wire.OPEN_F_HOLD)
            c.call(lambda r: wire.signal_(r, created.sid, 0), wire.OK)
            wait_for(lambda: next(e["state"] for e in d.ls_json() if e["id"] == created.sid)
                     == "exited", "a killed held session to exit")


def test_open_errors_keep_the_connection():
    with Daemon() as d, _v3(d) as c:
        req = c.req()
        c.send(wire.open_(req, ["/nonexistent/program"]))
        m = c.recv_until(lambda m: getattr(m, "req", None) == req, TIMEOUT)
        check_eq((m.name, m.code), ("error", wire.ERR_SPAWN_FAILED), "OPEN of a missing program")
        req = c.req()
        c.send(wire.open_(req, ["true"], mode=7))
        m = c.recv_until(lambda m: getattr(m, "req", None) == req, TIMEOUT)
        check_eq((m.name, m.code), ("error", wire.ERR_BAD_ARGUMENT), "OPEN with mode 7")
        created, att = _open(c, ["sh", "-c", "printf ok"])
        data, ex = _collect(c, created.sid, 3, "after errors")
        check_eq(data, b"ok", "OPEN works after refused ones")


# ---- EVENTS ---------------------------------------------------------------------------

def test_events_for_every_session_across_reactors():
    with Daemon("--threads", "2") as d, _v3(d) as sub:
        check_eq(sub.call(lambda r: wire.events(r, ALL_EVENTS), wire.OK).name, "ok", "EVENTS")
        # Connections are spread over both workers; each creates a session there.
        sids = {}
        conns = [_v3(d) for _ in range(4)]
        try:
            for i, c in enumerate(conns):
                sids[c.create(["sh", "-c", "read x; exit %d" % (10 + i)], name="ev%d" % i,
                              cols=90, rows=30)] = i
            for sid, i in sids.items():
                m = _event(sub, lambda m, sid=sid: m.kind == wire.EV_CREATED and m.sid == sid,
                           "created")
                check_eq((m.session_name, m.cols, m.rows), (b"ev%d" % i, 90, 30),
                         "CREATED fields")
                check(m.pid > 0 and m.command.startswith(b"sh -c read x"), "CREATED %r" % m)
                check(abs(m.time_ms / 1000 - time.time()) < 60, "time_ms is unix ms")
            for c, sid in zip(conns, sids):
                c.attach(sid)
                c.send(wire.resize(sid, 100, 40))
                m = _event(sub, lambda m, sid=sid: m.kind == wire.EV_RESIZED and m.sid == sid,
                           "resized")
                check_eq((m.cols, m.rows), (100, 40), "RESIZED")
                c.send(wire.input_(sid, b"\n"))
            for sid, i in sids.items():
                m = _event(sub, lambda m, sid=sid: m.kind == wire.EV_EXITED and m.sid == sid,
                           "exited")
                check_eq((m.code, m.signal), (10 + i, 0), "EXITED status")
                check(m.end > 0, "EXITED end offset")
            for c, sid in zip(conns, sids):
                c.call(lambda r, sid=sid: wire.remove(r, sid), wire.OK)
                _event(sub, lambda m, sid=sid: m.kind == wire.EV_REMOVED and m.sid == sid,
                       "removed")
            # Unsubscribing stops them.
            sub.call(lambda r: wire.events(r, 0), wire.OK)
            conns[0].create(["true"])
            try:
                m = sub.recv_until(lambda m: m.name == "event", 1.0)
                raise AssertionError("an event after unsubscribing: %r" % m)
            except TimeoutError:
                pass
        finally:
            for c in conns:
                c.close()


def test_a_subscriber_that_never_reads_gets_dropped_and_slows_nobody():
    # Enough events to overflow the stuck subscriber's queue (1024) plus what its socket
    # and its reply buffer (256 KiB) hold.
    resizes, batch = 80000, 1000
    with Daemon("--threads", "2") as d:
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.connect(d.sock)
        s = wire.Conn(stuck.fileno(), stuck.fileno(), owner=stuck)
        s.handshake(version=3)
        s.call(lambda r: wire.events(r, 1 << wire.EV_RESIZED), wire.OK)
        # From here on `s` reads nothing.
        with _v3(d) as live, _v3(d) as c:
            live.call(lambda r: wire.events(r, 1 << wire.EV_RESIZED), wire.OK)
            sid = c.create(["sleep", "1000"])
            c.attach(sid)
            got = 0
            for start in range(0, resizes, batch):
                c.send_raw(b"".join(wire.frame(wire.resize(sid, 20 + i % 100, 10 + i % 50))
                                    for i in range(start, start + batch)))
                # The live subscriber gets each batch in full while the other is stuck.
                while got < start + batch:
                    m = live.recv(TIMEOUT)
                    if m.name == "event":
                        check(m.kind == wire.EV_RESIZED, "the live subscriber lost nothing: %r"
                              % m)
                        got += 1
                while c.fill(0):  # RESIZED messages to the attached client
                    c.buf.clear()
            check_eq(got, resizes, "the live subscriber got every event while another was stuck")
            c.call(lambda r: wire.signal_(r, sid, 0), wire.OK)
        # Now the stuck one reads: some events, in order, then one DROPPED saying how many.
        seen, dropped = 0, 0
        while seen + dropped < resizes:
            m = s.recv(TIMEOUT)
            if m.name != "event":
                continue
            if m.kind == wire.EV_DROPPED:
                check_eq(dropped, 0, "one DROPPED")
                check_eq(m.sid, 0, "DROPPED names no session")
                dropped = m.count
            else:
                check_eq(dropped, 0, "no event after DROPPED (until re-sync)")
                seen += 1
        check(dropped > 0, "the stuck subscriber was told it lost events")
        check_eq(seen + dropped, resizes, "events received + dropped")
        check(seen >= 1024, "its queue (1024) and buffers were delivered (%d)" % seen)
        s.close()


# ---- PASTE ----------------------------------------------------------------------------

# Raw terminal, no echo: cat -v shows exactly what the program received.
BRACKETED = "stty raw -echo; printf 'READY\\033[?2004h\\n'; exec cat -v"
PLAIN = "stty raw -echo; printf 'READY\\n'; exec cat -v"


def _paste_roundtrip(c, sid, text, flags, until):
    req = c.req()
    c.send(wire.paste(req, sid, text, flags))
    out = bytearray()
    ok = False
    deadline = time.monotonic() + TIMEOUT
    while not (ok and until in out):
        m = c.recv(max(deadline - time.monotonic(), 0.001))
        if m.name == "ok" and m.req == req:
            ok = True
        elif m.name == "error":
            raise AssertionError("PASTE failed: %r" % m)
        elif m.name == "output" and m.sid == sid:
            out += m.data
    return bytes(out)


def test_paste_is_bracketed_only_when_the_program_asked():
    with Daemon("--terminal-state", "on") as d, _v3(d) as c:
        check(c.welcome.flags & wire.WELCOME_F_TERMINAL, "TERMINAL flag with terminal state on")
        for script, bracketed in ((BRACKETED, True), (PLAIN, False)):
            created, _ = _open(c, ["sh", "-c", script])
            sid = created.sid
            c.recv_until(lambda m: m.name == "output" and b"READY" in m.data, TIMEOUT)
            text = b"one\r\ntwo\nthree\x1b[201~four\x1b[20\x1b[200~1~"
            out = _paste_roundtrip(c, sid, text, wire.PASTE_F_ENTER, b"^M")
            if bracketed:
                want = b"^[[200~one^Mtwo^Mthreefour^[[201~^M"
            else:
                want = b"one^Mtwo^Mthree^[[201~four^[[20^[[200~1~^M"
            check(want in out, "bracketed=%s: %r in %r" % (bracketed, want, out))
            c.call(lambda r, sid=sid: wire.signal_(r, sid, 0), wire.OK)


def test_paste_without_terminal_state_is_not_bracketed_and_latches_like_write():
    with Daemon("--input-queue", "64K", "--terminal-state", "off") as d, _v3(d) as c:
        check_eq(c.welcome.flags & wire.WELCOME_F_TERMINAL, 0, "no TERMINAL flag with state off")
        created, _ = _open(c, ["sh", "-c", BRACKETED])
        sid = created.sid
        c.recv_until(lambda m: m.name == "output" and b"READY" in m.data, TIMEOUT)
        out = _paste_roundtrip(c, sid, b"a\nb", 0, b"a^Mb")
        check(b"200~" not in out, "no bracket without terminal state: %r" % out)
        # Stop the reader, fill the queue: a refused PASTE latches like a WRITE.
        c.call(lambda r: wire.signal_(r, sid, 19), wire.OK)  # SIGSTOP
        reqs = [c.req() for _ in range(6)]
        for r in reqs:
            c.send(wire.paste(r, sid, b"x" * 30000))
        # Two fit in the 64 KiB queue (their OK comes once the program reads them); the
        # third is refused, and so is every later one (the latch), at once.
        got = {}
        while len(got) < 4:
            m = c.recv(TIMEOUT)
            if getattr(m, "req", None) in reqs and m.name in ("ok", "error"):
                got[m.req] = m
        check_eq(sorted(got), reqs[2:], "the refused PASTEs are answered at once")
        check(all(m.name == "error" and m.code == wire.ERR_LIMIT for m in got.values()),
              "refused with limit: %r" % got)
        c.call(lambda r: wire.signal_(r, sid, 18), wire.OK)  # SIGCONT
        for r in reqs[:2]:
            m = c.recv_until(lambda m, r=r: getattr(m, "req", None) == r, TIMEOUT)
            check_eq(m.name, "ok", "a queued PASTE is acknowledged once the program read it")
        m = c.call(lambda r: wire.paste(r, sid, b"y", wire.PASTE_F_RESUME), wire.OK)
        check_eq(m.name, "ok", "a RESUME PASTE goes through once there is room")
        c.call(lambda r: wire.signal_(r, sid, 0), wire.OK)


# ---- negotiation -----------------------------------------------------------------------

def test_versions_old_clients_and_a_future_one():
    with Daemon("--terminal-state", "off") as d:
        for offered, want_version, want_flags in ((1, 1, 0), (2, 2, 3), (3, 3, 3 | V3_FLAGS),
                                                  (7, 3, 3 | V3_FLAGS)):
            with wire.Conn.unix(d.sock, timeout=TIMEOUT, version=offered) as c:
                check_eq((c.welcome.version, c.welcome.flags), (want_version, want_flags),
                         "WELCOME to HELLO version %d" % offered)
                sid = c.create(["sh", "-c", "printf v%d" % offered])
                c.attach(sid)
                data, ex = _collect(c, sid, 10, "v%d client" % offered)
                check_eq(data, b"v%d" % offered, "a version %d client's output" % offered)
                if want_version < 3:
                    for body in (wire.open_(c.req(), ["true"]), wire.events(c.req(), 1),
                                 wire.paste(c.req(), sid, b"x")):
                        c.send(body)
                        m = c.recv_until(lambda m: m.name == "error", TIMEOUT)
                        check_eq(m.code, wire.ERR_UNKNOWN_TYPE,
                                 "a version 3 message on a v%d connection" % offered)
                    check_eq(c.call(lambda r: wire.list_(r), wire.LIST_REPLY).name, "list_reply",
                             "the connection is kept")


# ---- HTTP: Server-Sent Events and paste -----------------------------------------------

def _sse_open(d, headers=None):
    s = socket.create_connection((d.http_host, d.http_port), timeout=TIMEOUT)
    hdrs = d.auth_header_bytes() if headers is None else headers
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + hdrs + b"\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return s, head.decode("latin-1"), rest


def _sse_next(s, buf, pred, timeout=TIMEOUT):
    """Reads SSE records until pred(event, data) holds; returns (event, data, buf)."""
    deadline = time.monotonic() + timeout
    while True:
        while b"\n\n" in buf:
            rec, _, buf = buf.partition(b"\n\n")
            fields = {}
            for line in rec.split(b"\n"):
                if line.startswith(b":"):
                    continue
                k, _, v = line.partition(b":")
                fields[k.decode()] = v[1:] if v.startswith(b" ") else v
            if "event" in fields:
                ev, data = fields["event"].decode(), json.loads(fields["data"])
                if pred(ev, data):
                    return ev, data, buf
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = s.recv(65536)
        check(chunk, "the SSE stream ended")
        buf += chunk


def test_sse_events_over_http_with_the_token():
    with Daemon() as d:
        s, head, _ = _sse_open(d, headers=b"")
        check(head.startswith("HTTP/1.1 401"), "SSE needs the token: %s" % head)
        s.close()
        s, head, buf = _sse_open(d)
        try:
            check(head.startswith("HTTP/1.1 200"), "SSE status: %s" % head)
            check("text/event-stream" in head.lower(), "SSE content type: %s" % head)
            r = wsclient.call(d, "POST", "/api/sessions",
                              json.dumps({"argv": ["sh", "-c", "read x; exit 4"],
                                          "name": "sse"}).encode())
            sid = json.loads(r.body)["id"]
            ev, data, buf = _sse_next(s, buf, lambda e, j: e == "created" and j["id"] == sid)
            check_eq((data["name"], data["cols"]), ("sse", 80), "created event data")
            check("pid" in data and "command" in data and "time_ms" in data, "fields %r" % data)
            r = wsclient.call(d, "POST", "/api/sessions/%d/resize" % sid,
                              b'{"cols":101,"rows":33}')
            ev, data, buf = _sse_next(s, buf, lambda e, j: e == "resized" and j["id"] == sid)
            check_eq((data["cols"], data["rows"]), (101, 33), "resized event")
            r = wsclient.call(d, "POST", "/api/sessions/%d/paste" % sid,
                              b'{"text":"go","enter":true}')
            check_eq(r.status, 200, "paste status (%r)" % (r.body,))
            ev, data, buf = _sse_next(s, buf, lambda e, j: e == "exited" and j["id"] == sid)
            check_eq((data["exit_code"], data["exit_signal"]), (4, None), "exited event")
            wsclient.call(d, "DELETE", "/api/sessions/%d" % sid)
            ev, data, buf = _sse_next(s, buf, lambda e, j: e == "removed" and j["id"] == sid)
        finally:
            s.close()


def test_sse_idle_stream_stays_open_with_heartbeats():
    # HTTP timeouts scale with --header-timeout (the send timeout is six of them: 1.2 s
    # here); an idle event stream is not an HTTP request and must outlive them, with a
    # comment line every 15 s.
    with Daemon("--header-timeout", "200") as d:
        s, head, buf = _sse_open(d)
        try:
            check(head.startswith("HTTP/1.1 200"), "SSE status: %s" % head)
            s.settimeout(30)
            while b": keep-alive\n\n" not in buf:
                chunk = s.recv(4096)
                check(chunk, "the idle SSE stream was closed (after %r)" % buf)
                buf += chunk
            # Still a live stream: an event after the heartbeat arrives.
            sid = d.new("true")
            ev, data, buf = _sse_next(s, buf, lambda e, j: e == "created" and j["id"] == sid)
        finally:
            s.close()


def test_title_events_with_terminal_state():
    with Daemon("--terminal-state", "on") as d, _v3(d) as sub, _v3(d) as c:
        sub.call(lambda r: wire.events(r, 1 << wire.EV_TITLE), wire.OK)
        sid = c.create(["sh", "-c", "printf '\\033]2;first\\007'; read x; "
                        "printf '\\033]0;second\\007'; read x"])
        m = _event(sub, lambda m: m.sid == sid, "title")
        check_eq((m.kind, m.title), (wire.EV_TITLE, b"first"), "TITLE after OSC 2")
        c.send(wire.input_(sid, b"\n"))
        m = _event(sub, lambda m: m.sid == sid and m.title == b"second", "second title")
        c.call(lambda r: wire.signal_(r, sid, 0), wire.OK)
