"""test_isolation: fault-injection and adversarial regressions for the isolation issue.

Each test reproduces one reported failure — a use-after-free on pipelined requests, a
connection or a whole reactor blocked by one session's input, peers whose close goes
unnoticed, a log pipe nobody reads, quadratic parsing, unbounded queues for stalled
viewers, processes left behind by `kill`, EMFILE spins — and asserts the fixed
behaviour. A freeze is the bug in most of them, so they use generous deadlines (HANG)
to detect one, never a wall-clock threshold as a pass criterion. Every test starts its
own daemon; after each, the daemon must still answer and exit 0 on SIGTERM.
"""

import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import wire
import wsclient
from harness import (Daemon, Skip, check, check_eq, wait_for, rss_kib, fd_count, fd_kinds,
                     pid_alive, ptyhub_bin, TIMEOUT)
from wsclient import Http, WsConn

MIB = 1 << 20
HANG = 10          # seconds: longer than this is a freeze
QUEUE = 1 * MIB    # the per-session input queue of the new contract

# A session that never reads its input: raw mode (no echo, no line discipline limit on
# what it says), prints R once it is raw.
NEVER_READS = ["sh", "-c", "stty raw -echo; printf R; exec sleep 1000"]


# ---- helpers ----

def _raise_nofile(n=20000):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _crash_note(d):
    """'' while the daemon runs; else its exit status and the ASan SUMMARY line, if any."""
    if d.proc is None or d.proc.poll() is None:
        return ""
    summary = [l for l in d.log_text(10 ** 6).splitlines() if "SUMMARY:" in l]
    return " [the daemon exited with status %s%s]" % (d.proc.returncode,
                                                      ": " + summary[0] if summary else "")


class _watch:
    """Turns a lost connection or a timeout inside the block into an AssertionError that
    says what was going on and whether the daemon died."""

    def __init__(self, d, what):
        self.d, self.what = d, what

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if etype is not None and issubclass(etype, (wire.Closed, TimeoutError, OSError,
                                                    wire.ProtocolError)):
            time.sleep(0.5)
            raise AssertionError("%s: %r%s" % (self.what, exc, _crash_note(self.d)))
        return False


def _alive(d, what, timeout=HANG):
    """The daemon is running and a fresh Unix client gets LIST answered within timeout."""
    check(d.proc.poll() is None, "the daemon is still running %s%s" % (what, _crash_note(d)))
    try:
        with wire.Conn.unix(d.sock, timeout=timeout) as c:
            return c.list(timeout=timeout)
    except Exception as e:
        time.sleep(0.5)
        raise AssertionError("a new client's LIST is not answered within %ss %s: %r%s"
                             % (timeout, what, e, _crash_note(d)))


def _wait_output(c, sid, token, timeout=HANG, what=None, keep=None):
    """Reads c until the OUTPUT of sid contains token; ERRORs for sid fail. Messages for
    other sessions go to keep (a list) when one is given."""
    deadline = time.monotonic() + timeout
    got = b""
    while token not in got:
        left = deadline - time.monotonic()
        try:
            m = c.recv_until(lambda m: getattr(m, "sid", None) == sid
                             and m.type in (wire.OUTPUT, wire.ERROR, wire.EXIT),
                             timeout=max(left, 0.001), keep=keep)
        except TimeoutError:
            raise AssertionError("%s: no %r from session %d within %ss (got %r)"
                                 % (what or "output", token, sid, timeout, got[-200:]))
        if m.type == wire.ERROR:
            raise AssertionError("%s: ERROR for session %d: %r" % (what or "output", sid, m))
        if m.type == wire.EXIT:
            raise AssertionError("%s: session %d exited before %r" % (what, sid, token))
        got += m.data
    return got


def _echo_session(c):
    """A `cat` session attached interactively on c from the live edge."""
    sid = c.create(["cat"])
    c.attach(sid, from_kind=wire.FROM_LIVE)
    return sid


def _check_echo(c, sid, token, what, timeout=HANG, keep=None):
    os.set_blocking(c.wfd, False)
    try:
        c.send(wire.input_(sid, token + b"\r"), timeout=timeout)
    except TimeoutError:
        raise AssertionError("%s: writing INPUT for the echo session blocked for %ss"
                             % (what, timeout))
    _wait_output(c, sid, token, timeout, what, keep)


def _never_reads(c):
    """A NEVER_READS session attached interactively on c, once it is raw."""
    sid = c.create(NEVER_READS)
    c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
    _wait_output(c, sid, b"R", what="the never-reading session's R")
    return sid


def _input_frames(sid, total, chunk=64 * 1024):
    return b"".join(wire.frame(wire.input_(sid, b"i" * chunk)) for _ in range(total // chunk))


class _Stdio:
    """`ptyhub stdio ARGS` as a child with pipes we own; conn is a wire.Conn on them."""

    def __init__(self, *args, stderr=None):
        self.d = Daemon()  # for its binary, temp dir and log
        self.logf = open(self.d.log_path, "wb")
        self.proc = subprocess.Popen([self.d.bin, "stdio"] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.logf if stderr is None else stderr,
                                     cwd=self.d.dir, env=self.d.env)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.conn = wire.Conn(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def close_stdin(self):
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    def finish(self, failed):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if failed:
            sys.stderr.write("--- stdio log\n%s\n---\n" % self.d.log_text())
        self.logf.close()
        shutil.rmtree(self.d.dir, ignore_errors=True)


class _RssMax:
    """Samples the daemon's RSS in a thread; max_growth() in KiB over the baseline."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss_kib(pid)
        self.max = self.base
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            self.max = max(self.max, rss_kib(self.pid))
            time.sleep(0.05)

    def growth_mib(self):
        return (self.max - self.base) / 1024.0

    def done(self):
        self.stop = True
        self.t.join()
        return self.growth_mib()


def _http_create(d, argv, **kw):
    body = dict(kw, argv=argv)
    resp = wsclient.call(d, "POST", "/api/sessions", body, timeout=HANG)
    check_eq(resp.status, 201, "POST /api/sessions %r: %r" % (argv, resp))
    return resp.json()["id"]


def _session(d, sid):
    for e in d.ls_json():
        if e["id"] == sid:
            return e
    return None


def _pump(socks, datas, deadline, on_read=None):
    """Writes datas[i] to socks[i] (non-blocking) until everything is written or the
    deadline; on_read(i, bytes) is called with what arrives. Returns bytes written each."""
    import select
    for s in socks:
        s.setblocking(False)
    off = [0] * len(socks)
    live = set(range(len(socks)))
    fdmap = {s.fileno(): i for i, s in enumerate(socks)}
    while live and time.monotonic() < deadline:
        want_w = [socks[i] for i in live if off[i] < len(datas[i])]
        if not want_w and on_read is None:
            break
        r, w, _ = select.select([socks[i] for i in live] if on_read else [], want_w, [],
                                min(0.2, max(deadline - time.monotonic(), 0)))
        for s in r:
            i = fdmap[s.fileno()]
            try:
                data = s.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                live.discard(i)
                continue
            if on_read(i, data):
                live.discard(i)
        for s in w:
            i = fdmap[s.fileno()]
            try:
                off[i] += s.send(memoryview(datas[i])[off[i]:off[i] + (256 << 10)])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                live.discard(i)
        if not any(off[i] < len(datas[i]) for i in live) and on_read is None:
            break
    return off


class _Frames:
    """Incremental decoder of server frames, for _pump's on_read."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack_from("<I", self.buf)
            if len(self.buf) < 4 + n:
                break
            out.append(wire.decode(bytes(self.buf[4:4 + n])))
            del self.buf[:4 + n]
        return out


# ---- 1 ----

_LINES_480K = b"".join(b"%079d\n" % i for i in range(6000))  # 480,000 bytes of lines


def _uaf_running():
    """The original repro: INPUT ~480 KB and REMOVE in one write, the session running."""
    with Daemon() as d:
        with _watch(d, "INPUT 480 KB + REMOVE in one write, running session"), d.conn() as c:
            sid = c.create(["sleep", "2"])
            c.attach(sid, from_kind=wire.FROM_LIVE)
            c.send_raw(wire.frame(wire.input_(sid, _LINES_480K))
                       + wire.frame(wire.remove(99, sid)))
            m = c.recv_until(lambda m: getattr(m, "req", None) == 99, timeout=HANG)
            check(m.type in (wire.OK, wire.ERROR), "REMOVE of a running session answered: %r" % m)
            c.recv_until(lambda m: m.type == wire.EXIT and m.sid == sid, timeout=HANG + 5)
            c.send(wire.remove(100, sid))
            c.recv_until(lambda m: getattr(m, "req", None) == 100, timeout=HANG)
        _alive(d, "after INPUT 480 KB + REMOVE in one write (running session)")


def _uaf_exited():
    """The session has exited; INPUT then REMOVE in one write."""
    with Daemon() as d:
        with _watch(d, "INPUT + REMOVE in one write, exited session"), d.conn() as c:
            sid = c.create(["sleep", "2"])
            c.attach(sid, from_kind=wire.FROM_LIVE)
            c.recv_until(lambda m: m.type == wire.EXIT and m.sid == sid, timeout=HANG + 5)
            c.send_raw(wire.frame(wire.input_(sid, _LINES_480K)) + wire.frame(wire.remove(7, sid)))
            m = c.recv_until(lambda m: getattr(m, "req", None) == 7, timeout=HANG)
            check_eq(m.type, wire.OK, "REMOVE of the exited session after INPUT: %r" % m)
        _alive(d, "after INPUT + REMOVE in one write (exited session)")


def _uaf_queued():
    """INPUT queued while running, REMOVE right after the exit."""
    with Daemon() as d:
        with _watch(d, "REMOVE right after the exit, input queued"), d.conn() as c:
            sid = c.create(["sleep", "2"])
            c.attach(sid, from_kind=wire.FROM_LIVE)
            c.send(wire.input_(sid, _LINES_480K))
            c.recv_until(lambda m: m.type == wire.EXIT and m.sid == sid, timeout=HANG + 5)
            c.send(wire.remove(8, sid))
            c.recv_until(lambda m: getattr(m, "req", None) == 8, timeout=HANG)
        _alive(d, "after REMOVE of a session with input still queued")


def test_isolation_uaf_input_then_remove():
    failures = []
    for variant in (_uaf_running, _uaf_exited, _uaf_queued):
        _soft(failures, variant)
    check(not failures, " | ".join(failures))


# ---- 2 ----

def test_isolation_http_input_then_delete_pipelined():
    body = b"".join(b"%079d\n" % i for i in range(6000))
    with Daemon() as d:
        for phase in ("running", "exited"):
            sid = _http_create(d, ["sleep", "2"])
            if phase == "exited":
                wait_for(lambda: (_session(d, sid) or {}).get("state") == "exited",
                         "session %d to exit" % sid, timeout=HANG + 5)
            with Http.to(d, timeout=HANG) as h:
                h.send(h.request_bytes("POST", "/api/sessions/%d/input" % sid, body=body)
                       + h.request_bytes("DELETE", "/api/sessions/%d" % sid))
                try:
                    r1 = h.read_response()
                    r2 = h.read_response()
                except (TimeoutError, wire.Closed) as e:
                    raise AssertionError("%s session: pipelined input+DELETE not both answered: %r"
                                         % (phase, e))
            check(r1.status < 500, "%s: input answered %r" % (phase, r1))
            check(r2.status in (202, 204), "%s: DELETE answered %r" % (phase, r2))
            _alive(d, "after pipelined input + DELETE (%s session)" % phase)
            if phase == "running":
                wait_for(lambda: (_session(d, sid) or {}).get("state") != "running",
                         "session %d to end" % sid, timeout=HANG)
                wsclient.call(d, "DELETE", "/api/sessions/%d" % sid, timeout=HANG)


# ---- 3 ----

def _ws_same_write(what, extra):
    with Daemon() as d:
        h = Http.to(d, timeout=HANG)
        req, key = wsclient.upgrade_request(h.authority, headers=d.auth_header())
        h.send(req + extra)
        try:
            status, _, _ = h.read_head()
            check_eq(status, 101, "%s: upgrade status" % what)
            c = WsConn(h.sock, bytes(h.buf))
            code, _ = c.wait_close(HANG)
        except (TimeoutError, wire.Closed, OSError) as e:
            time.sleep(0.5)
            raise AssertionError("%s in the upgrade's write: no close frame back (%r)%s"
                                 % (what, e, _crash_note(d)))
        finally:
            h.close()
        check(code is None or 1000 <= code < 5000, "%s: close code %r" % (what, code))
        _alive(d, "after an upgrade with a %s in the same write" % what)


def test_isolation_ws_upgrade_then_close_same_write():
    variants = [
        ("masked close", wsclient.frame_bytes(wsclient.OP_CLOSE, wsclient.close_payload(1000))),
        ("text frame", wsclient.frame_bytes(wsclient.OP_TEXT, b"hello")),
        ("unmasked frame", wsclient.frame_bytes(wsclient.OP_BINARY, wire.hello(), mask=False)),
        ("non-HELLO binary", wsclient.frame_bytes(wsclient.OP_BINARY, wire.list_(1))),
    ]
    failures = []
    for what, extra in variants:
        _soft(failures, _ws_same_write, what, extra)
    check(not failures, " | ".join(failures))


# ---- 4 ----

def _hol(c, what):
    os.set_blocking(c.wfd, False)  # so that send_raw's deadline holds
    a = _never_reads(c)
    b = _echo_session(c)
    errors = []
    t0 = time.monotonic()
    try:
        c.send_raw(_input_frames(a, 2 * MIB), timeout=HANG)
    except TimeoutError:
        raise AssertionError("%s: 2 MiB of INPUT for a session that never reads: the "
                             "connection stopped reading for %ss" % (what, HANG))
    _check_echo(c, b, b"hol-echo", what + ": B's echo after A's input was refused", keep=errors)
    req = c.req()
    c.send(wire.list_(req))
    try:
        c.recv_until(lambda m: getattr(m, "req", None) == req and not m.flags & wire.LIST_F_MORE
                     if m.type == wire.LIST_REPLY else m.type == wire.ERROR and m.req == req,
                     timeout=HANG, keep=errors)
    except TimeoutError:
        raise AssertionError("%s: LIST not answered within %ss" % (what, HANG))
    m = c.call(lambda r: wire.signal_(r, a, 0), wire.OK, timeout=HANG, keep=errors)
    check_eq(m.type, wire.OK, "%s: SIGNAL kill of A: %r" % (what, m))
    c.recv_until(lambda m: m.type == wire.EXIT and m.sid == a, timeout=HANG, keep=errors)
    limits = [m for m in errors if m.type == wire.ERROR and m.code == wire.ERR_LIMIT]
    check(limits, "%s: no ERROR limit for A's input beyond its 1 MiB queue (errors: %r)"
          % (what, [m for m in errors if m.type == wire.ERROR][:5]))
    check(all(m.sid == a for m in limits), "%s: ERROR limit names A: %r" % (what, limits[:3]))
    return time.monotonic() - t0


def test_isolation_input_hol():
    failures = []
    with Daemon() as d:
        try:
            with d.conn() as c:
                _hol(c, "Unix socket")
        except AssertionError as e:
            failures.append(str(e))
        _alive(d, "after the Unix-socket HOL test")
    s = _Stdio()
    failed = True
    try:
        try:
            s.conn.handshake(timeout=HANG)
            _hol(s.conn, "stdio")
        except AssertionError as e:
            failures.append(str(e))
        s.close_stdin()
        try:
            status = s.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            raise AssertionError("; ".join(failures + ["stdio did not exit within %ss of "
                                                       "stdin closing" % HANG]))
        check_eq(status, 0, "stdio exit status after stdin closed")
        failed = bool(failures)
    finally:
        s.finish(failed)
    check(not failures, "; ".join(failures))


# ---- 5 ----

def test_isolation_peer_close_noticed():
    _raise_nofile()
    with Daemon() as d:
        owner = d.conn()
        a = _never_reads(owner)
        time.sleep(0.2)
        base = fd_count(d.pid)

        conns = []
        for _ in range(50):
            c = d.conn()
            c.attach(a, from_kind=wire.FROM_LIVE, timeout=HANG)
            conns.append(c)
        socks = [c.owner for c in conns]
        datas = [_input_frames(a, 2 * MIB)] * len(socks)
        decs = [_Frames() for _ in socks]

        def on_read(i, data):
            return any(m.type == wire.ERROR and m.code == wire.ERR_LIMIT
                       for m in decs[i].feed(data))
        _pump(socks, datas, time.monotonic() + HANG, on_read)
        for c in conns:
            c.close()

        hs = []
        for _ in range(50):
            h = Http.to(d, timeout=HANG)
            hs.append(h)
        req = hs[0].request_bytes("POST", "/api/sessions/%d/input" % a, body=b"h" * 400000)
        _pump([h.sock for h in hs], [req] * len(hs), time.monotonic() + HANG)
        for h in hs:
            h.close()

        try:
            wait_for(lambda: fd_count(d.pid) <= base + 10,
                     "the daemon's fds (baseline %d) to come back after 100 peers closed" % base,
                     timeout=HANG)
        except AssertionError as e:
            metrics = [l for l in wsclient.get(d, "/metrics").body.decode().splitlines()
                       if l.startswith("ptyhub_connections")]
            raise AssertionError("%s: %d fds now %r; %s" % (e, fd_count(d.pid), fd_kinds(d.pid),
                                                          "; ".join(metrics)))
        _alive(d, "after 100 peers closed mid-request")
        owner.close()


# ---- 6 ----

def test_isolation_stdio_eof_ends():
    s = _Stdio()
    failed = True
    try:
        c = s.conn
        c.handshake(timeout=HANG)
        sid = c.create(NEVER_READS)
        pid = None
        for e in c.list(timeout=HANG):
            if e.sid == sid:
                pid = e.pid
        c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
        _wait_output(c, sid, b"R")
        data = _input_frames(sid, 2 * MIB)
        deadline = time.monotonic() + 3
        view = memoryview(data)
        while view and time.monotonic() < deadline:  # fill what fits, for at most 3 s
            try:
                view = view[os.write(c.wfd, view[:1 << 16]):]
            except BlockingIOError:
                c.fill(0.05)
                c.buf.clear()
        s.close_stdin()
        try:
            status = s.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            raise AssertionError("stdio did not exit within %ss of stdin closing, with a "
                                 "session's input queue full" % HANG)
        check_eq(status, 0, "stdio exit status")
        wait_for(lambda: not pid_alive(pid), "the session's process %d to be gone" % pid,
                 timeout=HANG)
        failed = False
    finally:
        s.finish(failed)


# ---- 7 ----

def test_isolation_stderr_not_read():
    r, w = os.pipe()  # stderr: nobody reads r
    s = _Stdio("--log-level", "debug", stderr=w)
    os.close(w)
    failed = True
    try:
        c = s.conn
        c.handshake(timeout=HANG)
        created = 0
        prev = []
        for batch in range(20):
            reqs = {}
            out = b""
            for _ in range(50):
                q = c.req()
                reqs[q] = True
                out += wire.frame(wire.create(q, ["true"]))
            for sid in prev:
                out += wire.frame(wire.remove(0, sid))
            c.send_raw(out, timeout=HANG)
            prev = []
            while reqs:
                try:
                    m = c.recv_until(lambda m: getattr(m, "req", None) in reqs, timeout=HANG)
                except TimeoutError:
                    raise AssertionError("CREATE not answered within %ss after %d sessions "
                                         "created (log pipe full?)" % (HANG, created))
                del reqs[m.req]
                check_eq(m.type, wire.CREATED, "reply to CREATE #%d" % (created + 1))
                created += 1
                prev.append(m.sid)
        check_eq(created, 1000, "sessions created")
        s.close_stdin()
        check_eq(s.proc.wait(HANG), 0, "stdio exit status")
        failed = False
    finally:
        os.close(r)
        s.finish(failed)


# ---- 8 ----

def test_isolation_quadratic_env():
    with Daemon() as d:
        body = b'{"argv":["true"],"env":[' + b",".join([b'"A="'] * 200000) + b"]}"
        check(len(body) < MIB, "body under 1 MiB")
        result = {}

        def big():
            try:
                result["resp"] = wsclient.call(d, "POST", "/api/sessions", body,
                                               headers=[("Content-Type", "application/json")],
                                               timeout=120)
            except Exception as e:
                result["err"] = e
        t = threading.Thread(target=big, daemon=True)
        t.start()
        time.sleep(0.3)
        try:
            with Http.to(d, timeout=5) as h:
                check_eq(h.request("GET", "/api/sessions").status, 200, "GET /api/sessions")
        except TimeoutError:
            raise AssertionError("GET /api/sessions not answered within 5 s while a 200,000-"
                                 "entry env is parsed")
        _alive(d, "while a 200,000-entry env is parsed", timeout=5)
        t.join(120)
        check("resp" in result, "the big POST got a response: %r" % result.get("err"))
        check_eq(result["resp"].status, 400, "POST with 200,000 env entries: %r" % result["resp"])

        with d.conn() as e, d.conn() as c:
            echo = _echo_session(e)
            env = ["K%05d=" % i for i in range(65535)]
            req = c.req()
            c.send(wire.create(req, ["true"], env=env))
            _check_echo(e, echo, b"env-echo", "echo while a 65,535-key CREATE is processed")
            m = c.recv_until(lambda m: getattr(m, "req", None) == req, timeout=60)
            check(m.type == wire.CREATED or (m.type == wire.ERROR and m.message),
                  "CREATE with 65,535 env keys: %r" % m)
        _alive(d, "after the big env")


# ---- 9 ----

def _raw_request(d, method, path, body=b"", version="1.1", close=True, host=None):
    """One request on a fresh connection; reads to end of stream; returns Response after
    checking it is complete (body length = Content-Length)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    lines = ["%s %s HTTP/%s" % (method, path, version), "Host: %s" % d.http_addr]
    lines += ["%s: %s" % kv for kv in d.auth_header()]
    if close and version == "1.1":
        lines.append("Connection: close")
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    s = socket.create_connection((d.http_host, d.http_port), timeout=HANG)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionResetError:
                raise AssertionError("%s %s HTTP/%s: connection reset after %r"
                                     % (method, path, version, data[:200]))
            if not chunk:
                break
            data += chunk
        else:
            raise AssertionError("%s %s HTTP/%s: the server did not close within %ss"
                                 % (method, path, version, HANG))
    finally:
        s.close()
    check(b"\r\n\r\n" in data, "%s %s HTTP/%s: a complete response head, got %r"
          % (method, path, version, data[:200]))
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k, v.strip()) for k, _, v in (l.partition(":") for l in lines[1:])]
    resp = wsclient.Response(status, "", headers, rest)
    clen = resp.header("Content-Length")
    if clen is not None and method != "HEAD" and status not in (204, 304):
        check_eq(len(rest), int(clen), "%s %s HTTP/%s: body bytes vs Content-Length (%r)"
                 % (method, path, version, resp))
    return resp


def _soft(failures, fn, *args):
    """Runs fn(*args); an AssertionError (or a transport error) is recorded, not raised."""
    try:
        return fn(*args)
    except (AssertionError, TimeoutError, wire.Closed, wire.ProtocolError, OSError) as e:
        failures.append(str(e))
        return None


def _close_resize_output_delete(d, sids):
    bad = []
    for version in ("1.1", "1.0"):
        for sid in sids:
            what = "HTTP/%s%s session %d" % (version, " Connection: close" if version == "1.1"
                                             else "", sid)
            r = _soft(bad, _raw_request, d, "POST", "/api/sessions/%d/resize" % sid,
                      {"cols": 100, "rows": 30}, version)
            if r is not None and not 200 <= r.status < 300:
                bad.append("%s resize: %r" % (what, r))
            r = _soft(bad, _raw_request, d, "GET", "/api/sessions/%d/output?from=0" % sid, b"",
                      version)
            if r is not None and r.status != 200:
                bad.append("%s output: %r" % (what, r))
    for i, sid in enumerate(sids):
        r = _soft(bad, _raw_request, d, "DELETE", "/api/sessions/%d" % sid, b"",
                  ("1.1", "1.0")[i % 2])
        if r is not None and r.status not in (202, 204):
            bad.append("DELETE %d: %r" % (sid, r))
    check(not bad, "%d of 20 Connection: close / HTTP/1.0 requests failed, e.g. %s"
          % (len(bad), "; ".join(sorted(set(b[:160] for b in bad))[:10])))


def _close_input(d):
    path = os.path.join(d.dir, "sink")
    sink = _http_create(d, ["sh", "-c", "stty raw -echo; printf R; exec cat > %s" % path])
    wait_for(lambda: b"R" in wsclient.get(d, "/api/sessions/%d/output" % sink).body,
             "the sink session to be raw", timeout=HANG)
    bad = []
    for i in range(4):
        r = _soft(bad, _raw_request, d, "POST", "/api/sessions/%d/input" % sink,
                  b"%d" % i * 400000, ("1.1", "1.0")[i % 2])
        if r is not None and not 200 <= r.status < 300:
            bad.append("400 KB input #%d with Connection: close: %r" % (i, r))
    got = 0
    try:
        wait_for(lambda: os.path.exists(path) and os.path.getsize(path) >= 1600000,
                 "1,600,000 bytes in the sink", timeout=HANG)
    except AssertionError:
        pass
    got = os.path.getsize(path) if os.path.exists(path) else 0
    if got != 1600000:
        bad.append("the session received %d of 1,600,000 input bytes" % got)
    check(not bad, "; ".join(bad))


def _urllib_resize_delete(d):
    ok = 0
    errs = []
    more = [_http_create(d, ["sleep", "100"]) for _ in range(10)]
    base = "http://%s" % d.http_addr
    for i in range(10):
        rq = urllib.request.Request("%s/api/sessions/%d/resize" % (base, more[i]),
                                    data=b'{"cols":90,"rows":20}', method="POST",
                                    headers=dict([("Content-Type", "application/json")]
                                                 + d.auth_header()))
        try:
            with urllib.request.urlopen(rq, timeout=HANG) as resp:
                ok += 200 <= resp.status < 300
        except Exception as e:
            errs.append("resize: %r" % e)
    for i in range(10):
        rq = urllib.request.Request("%s/api/sessions/%d" % (base, more[i]), method="DELETE",
                                    headers=dict(d.auth_header()))
        try:
            with urllib.request.urlopen(rq, timeout=HANG) as resp:
                ok += resp.status in (202, 204)
        except Exception as e:
            errs.append("DELETE: %r" % e)
    check_eq(ok, 20, "urllib resize and DELETE requests that succeeded (of 10 + 10; %s)"
             % "; ".join(errs[:3]))


def test_isolation_connection_close_requests():
    failures = []
    with Daemon("--threads", "2") as d:
        sids = [_http_create(d, ["cat"]) for _ in range(4)]
        _soft(failures, _close_resize_output_delete, d, sids)
        _soft(failures, _close_input, d)
        _soft(failures, _urllib_resize_delete, d)
        _alive(d, "after Connection: close requests")
    check(not failures, " | ".join(failures))


# ---- 10 ----

def _owner_cli(d):
    idle = [socket.create_connection((d.http_host, d.http_port), timeout=HANG)
            for _ in range(600)]
    try:
        try:
            d.ok("ls", timeout=HANG)
        except subprocess.TimeoutExpired:
            raise AssertionError("`ptyhub ls` hangs with 600 idle HTTP connections open")
        _alive(d, "with 600 idle HTTP connections")
    finally:
        for s in idle:
            s.close()


def _owner_authorized(d):
    idle = []
    try:
        for i in range(600):
            s = socket.create_connection((d.http_host, d.http_port), timeout=HANG)
            idle.append(s)
            if i % 2:
                s.sendall(b"GET /api/sessions HTTP/1.1\r\nHost: x\r\n")  # head never ends
        try:
            with Http.to(d, timeout=HANG) as h:
                r = h.request("GET", "/api/sessions", [("Authorization", "Bearer isotoken1234")])
        except (TimeoutError, wire.Closed, OSError) as e:
            raise AssertionError("an authorized request with 600 unauthenticated "
                                 "connections open: %r" % e)
        check_eq(r.status, 200, "authorized GET /api/sessions with 600 unauthenticated "
                 "connections open: %r" % r)
        d.ok("ls", timeout=HANG)
    finally:
        for s in idle:
            s.close()


def test_isolation_owner_not_starved():
    _raise_nofile()
    failures = []
    # --max-clients 512: 600 idle HTTP connections are more than the whole budget.
    with Daemon("--max-clients", "512") as d:
        _soft(failures, _owner_cli, d)
        _alive(d, "after the idle HTTP connections closed")
    with Daemon("--listen", "127.0.0.1:0", "--token", "isotoken1234",
                "--max-clients", "512") as d:
        _soft(failures, _owner_authorized, d)
        _alive(d, "after the unauthenticated connections closed")
    check(not failures, " | ".join(failures))


# ---- 11 ----

def test_isolation_viewer_gaps_bounded():
    with Daemon() as d:
        flood = d.new("yes")
        with d.conn() as v:
            v.attach(flood, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_LIVE)
            rss = _RssMax(d.pid)
            time.sleep(10)  # the viewer reads nothing
            grew = rss.done()
            check(grew < 64, "daemon RSS grew %.0f MiB while a viewer stalled 10 s (want < 64)"
                  % grew)
            gaps_before_output = None
            seen_gap = 0
            deadline = time.monotonic() + HANG
            while time.monotonic() < deadline:
                m = v.recv(HANG)
                if m.sid != flood:
                    continue
                if m.type == wire.GAP:
                    seen_gap += 1
                elif m.type == wire.OUTPUT and seen_gap:
                    gaps_before_output = seen_gap
                    break
            if seen_gap:
                check(gaps_before_output is not None and gaps_before_output <= 2,
                      "GAP messages queued before the next OUTPUT: %d (want <= 2)" % seen_gap)
        d.ok("kill", str(flood))
        _alive(d, "after the stalled viewer")


# ---- 12 ----

def test_isolation_stalled_viewers_rss():
    _raise_nofile()
    with Daemon() as d:
        floods = [d.new("yes") for _ in range(20)]
        viewers = []
        for sid in floods:
            for _ in range(50):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(d.sock)
                s.sendall(wire.frame(wire.hello()) + wire.frame(
                    wire.attach(1, sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_LIVE)))
                viewers.append(s)
        try:
            rss = _RssMax(d.pid)
            time.sleep(5)
            check(rss.growth_mib() < 300, "RSS grew %.0f MiB with 1,000 stalled viewers"
                  % rss.growth_mib())
            _alive(d, "with 1,000 stalled viewers")
            with d.conn() as c:
                for sid in floods:
                    c.call(lambda r: wire.signal_(r, sid, 0), wire.OK, timeout=HANG)
                wait_for(lambda: all(e.state == wire.STATE_EXITED for e in c.list(HANG)
                                     if e.sid in floods), "the floods to exit", timeout=HANG)
                for sid in floods:
                    m = c.call(lambda r: wire.remove(r, sid), wire.OK, timeout=HANG)
                    check_eq(m.type, wire.OK, "REMOVE %d: %r" % (sid, m))
            time.sleep(1)
            grew = rss.done()
            check(grew < 300, "RSS grew %.0f MiB overall with 1,000 stalled viewers and their "
                  "sessions removed (want < 300)" % grew)
        finally:
            for s in viewers:
                s.close()
        _alive(d, "after the stalled viewers closed")


# ---- 13 ----

def test_isolation_list_flood_bounded():
    _raise_nofile()
    with Daemon() as d:
        with d.conn() as c:
            for i in range(30):
                c.create(["sh", "-c", "exec sleep 1000 # " + "x" * 200],
                         name="s%03d-%s" % (i, "n" * 40))
        socks = []
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            socks.append(s)
        data = wire.frame(wire.hello()) + b"".join(wire.frame(wire.list_(i + 1))
                                                   for i in range(10000))
        rss = _RssMax(d.pid)
        _pump(socks, [data] * len(socks), time.monotonic() + HANG)
        time.sleep(2)
        failures = []
        _soft(failures, _alive, d, "while 20 clients flood LIST without reading")
        grew = rss.done()
        for s in socks:
            s.close()
        if grew >= 200:
            failures.append("RSS grew %.0f MiB with 20 x 10,000 unread LISTs (want < 200)"
                            % grew)
        _soft(failures, _alive, d, "after the LIST flood")
        check(not failures, " | ".join(failures))


# ---- 14 ----

_STALL_CLIENT = r"""
import os, socket, struct, sys
sys.path.insert(0, %r)
import wire
c = wire.Conn.unix(%r)
c.attach(%d, from_kind=wire.FROM_LIVE)
os.write(1, b"A")
while True:
    c.recv(3600)
"""


def test_isolation_kill9_and_sigstop_clients():
    with Daemon() as d:
        flood = d.new("yes")
        here = os.path.dirname(os.path.abspath(__file__))
        p = subprocess.Popen([sys.executable, "-c", _STALL_CLIENT % (here, d.sock, flood)],
                             stdout=subprocess.PIPE)
        try:
            check_eq(p.stdout.read(1), b"A", "the interactive flood client attached")
            os.kill(p.pid, signal.SIGSTOP)
            with d.conn() as c:
                echo = _echo_session(c)
                t_end = time.monotonic() + 5
                n = 0
                while time.monotonic() < t_end:
                    _check_echo(c, echo, b"stopped-%d" % n, "echo while a flood client is stopped")
                    n += 1
                    time.sleep(0.5)
                c.list(HANG)
            os.kill(p.pid, signal.SIGKILL)
            p.wait()

            def flowing():
                e = _session(d, flood)
                return e and e["level"] in ("none", "light")
            wait_for(flowing, "the flood session to resume once its client was killed",
                     timeout=HANG)
            with d.conn() as c:
                e0 = [e for e in c.list(HANG) if e.sid == flood][0].bytes_out
                wait_for(lambda: [e for e in c.list(HANG) if e.sid == flood][0].bytes_out
                         > e0 + 100000, "the flood's output to grow", timeout=HANG)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        d.ok("kill", str(flood))
        _alive(d, "after the stopped and killed client")


# ---- 15 ----

def _tagged(tag):
    out = []
    needle = ("ISO_TAG=%s" % tag).encode() + b"\0"
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read() + b"\0"
        except OSError:
            continue
        if b"\0" + needle in b"\0" + env and pid_alive(int(name)):
            out.append(int(name))
    return out


def _kill_leaves_nothing(d, what, script):
    """Starts `sh -c script` tagged with a unique ISO_TAG, waits for at least 3 tagged
    processes, `ptyhub kill`s the session; within grace + 5 s none may remain."""
    tag = "%d-%d" % (os.getpid(), time.monotonic_ns())
    sid = int(d.ok("new", "--env", "ISO_TAG=" + tag, "--", "sh", "-c", script))
    wait_for(lambda: len(_tagged(tag)) >= 3, "the session's processes", timeout=HANG)
    before = _tagged(tag)
    d.ok("kill", str(sid))
    try:
        wait_for(lambda: not _tagged(tag), "no process of the session left", timeout=5.5)
    except AssertionError:
        left = _tagged(tag)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        raise AssertionError("%s: processes of the killed session still alive 5.5 s later: "
                             "%r (of %r)" % (what, left, before))


def test_isolation_grandchild_ignoring_sighup():
    failures = []
    with Daemon("--kill-grace", "500") as d:
        # Same process group; the shell and both children ignore SIGHUP.
        _soft(failures, _kill_leaves_nothing, d, "same process group",
              "trap '' HUP; (trap '' HUP; exec sleep 1000) & sleep 1000")
        # Job control: the grandchild is in its own process group (same session), as a
        # background job of an interactive shell is, and holds the slave.
        _soft(failures, _kill_leaves_nothing, d, "own process group (set -m)",
              "set -m; trap '' HUP; (trap '' HUP; exec sleep 1000) & sleep 1000")
        # setsid: a new session, still holding the slave as stdout/stderr.
        _soft(failures, _kill_leaves_nothing, d, "own session (setsid)",
              "trap '' HUP; (trap '' HUP; exec setsid sleep 1000 </dev/null) & sleep 1000")
        _alive(d, "after killing sessions with SIGHUP-ignoring children")
    check(not failures, " | ".join(failures))


# ---- 16 ----

def _spawn_daemon(d, preexec=None, shell_suffix=None, http=False):
    """Starts d (a harness.Daemon not yet started) ourselves, without --ready-fd, and
    waits for its socket (and, with http, for the HTTP address in its log); for daemons
    that need a different start."""
    d.log = open(d.log_path, "wb")
    listen = "127.0.0.1:0" if http else "none"
    argv = [d.bin, "serve", "--socket", d.sock, "--no-session", "--listen", listen] + d.extra
    if shell_suffix:
        argv = ["sh", "-c", 'exec "$@" ' + shell_suffix, "sh"] + argv
    d.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=d.log,
                              stderr=subprocess.STDOUT, env=d.env, cwd=d.dir,
                              preexec_fn=preexec)
    d.pid = d.proc.pid
    wait_for(lambda: os.path.exists(d.sock) or d.proc.poll() is not None, "the socket")
    check(d.proc.poll() is None, "the daemon started: %s" % d.log_text())
    if http:
        import re
        m = wait_for(lambda: re.search(r"HTTP on http://([0-9.]+):([0-9]+)/", d.log_text()),
                     "the HTTP address in the log")
        d.http_host, d.http_port = m.group(1), int(m.group(2))
        d.http_addr = "%s:%d" % (d.http_host, d.http_port)
    time.sleep(0.2)
    return d


def test_isolation_emfile():
    d = Daemon()
    try:
        _spawn_daemon(d, http=True)
        n = fd_count(d.pid) + 16
        resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (n, n))
        _alive(d, "with its fd limit lowered to %d" % n)
        conns = []
        t0 = time.monotonic()
        for i in range(n + 40):  # both listeners, alternately
            s = socket.socket(*((socket.AF_UNIX, socket.SOCK_STREAM) if i % 2 else
                                (socket.AF_INET, socket.SOCK_STREAM)))
            s.settimeout(2)
            try:
                s.connect(d.sock if i % 2 else (d.http_host, d.http_port))
            except OSError:
                s.close()
                break
            conns.append(s)
        time.sleep(3)
        check(d.proc.poll() is None, "the daemon survived EMFILE")
        for s in conns:
            s.close()
        _alive(d, "after the connections past its fd limit closed")
        try:
            r = wsclient.get(d, "/healthz", timeout=HANG)
        except (TimeoutError, wire.Closed, OSError) as e:
            raise AssertionError("HTTP after the connections past its fd limit closed: %r" % e)
        check_eq(r.status, 200, "GET /healthz after EMFILE")
        elapsed = time.monotonic() - t0
        log = d.log_text(10 ** 7)
        warns = sum(1 for line in log.splitlines() if "accept" in line.lower())
        check(warns <= 10 * elapsed + 10, "%d 'accept' log lines in %.1f s (want about 10 per "
              "second at most)" % (warns, elapsed))
    except BaseException:
        d.__exit__(*sys.exc_info())
        raise
    d.__exit__(None, None, None)


# ---- 17 ----

def test_isolation_protocol():
    with Daemon() as d:
        for v in (2, 7):
            c = d.conn(handshake=False)
            try:
                c.send(wire.hello(version=v))
                m = c.recv(HANG)
                check_eq((m.type, getattr(m, "version", None)),
                         (wire.WELCOME, min(v, wire.SERVER_VERSION)),
                         "reply to HELLO version %d: %r" % (v, m))
            finally:
                c.close()
        with d.conn() as c:
            sid = c.create(["sleep", "100"])
            c.send(wire.resize(sid, 80, 24))
            m = c.recv_until(lambda m: m.type == wire.ERROR, timeout=HANG)
            check_eq((m.code, m.sid), (wire.ERR_NOT_ATTACHED, sid),
                     "RESIZE without an attachment: %r" % m)
            c.list(HANG)


# ---- 18 ----

def _head_then_get(d):
    with Http.to(d, timeout=HANG) as h:
        h.send(h.request_bytes("HEAD", "/") + h.request_bytes("GET", "/healthz"))
        status, _, _ = h.read_head()
        check_eq(status, 200, "HEAD / status")
        try:
            r = h.read_response()
        except wire.ProtocolError as e:
            raise AssertionError("HEAD / sent a body: the next response on the connection "
                                 "starts with %r" % str(e)[len("not an HTTP response: "):][:60])
        check_eq((r.status, r.body), (200, b"ok\n"), "GET /healthz after HEAD /")


def _expect_continue(d):
    sid = _http_create(d, ["cat"])
    with Http.to(d, timeout=HANG) as h:
        h.send(("POST /api/sessions/%d/input HTTP/1.1\r\nHost: %s\r\nContent-Length: 3\r\n"
                "Expect: 100-continue\r\n" % (sid, h.authority)).encode()
               + d.auth_header_bytes() + b"\r\n")
        try:
            status, _, _ = h.read_head(time.monotonic() + 5)
        except TimeoutError:
            raise AssertionError("no `100 Continue` within 5 s of an Expect: 100-continue head")
        check_eq(status, 100, "first response to Expect: 100-continue")
        h.send(b"hi\n")
        r = h.read_response()
        check(200 <= r.status < 300, "input after 100 Continue: %r" % r)


def _trickled_head(d):
    with Http.to(d, timeout=HANG) as h:
        raw = h.request_bytes("GET", "/healthz")
        for i in range(len(raw)):
            h.send(raw[i:i + 1])
            time.sleep(2.0 / len(raw))
        r = h.read_response()
        check_eq((r.status, r.body), (200, b"ok\n"), "a head trickled over 2 s")


def _stderr_closed():
    d = Daemon()
    try:
        _spawn_daemon(d, shell_suffix="2>&-")
        path = "/proc/%d/fd/2" % d.pid
        fd2 = os.readlink(path) if os.path.lexists(path) else "(closed)"
        check_eq(fd2, "/dev/null", "fd 2 of a daemon started with stderr closed")
        _alive(d, "started with stderr closed")
    except BaseException:
        d.__exit__(*sys.exc_info())
        raise
    d.__exit__(None, None, None)


def test_isolation_http_misc():
    failures = []
    with Daemon() as d:
        for part in (_head_then_get, _expect_continue, _trickled_head):
            try:
                part(d)
            except (AssertionError, TimeoutError, wire.Closed, wire.ProtocolError) as e:
                failures.append("%s: %s" % (part.__name__.strip("_"), e))
            _alive(d, "after %s" % part.__name__.strip("_"))
    try:
        _stderr_closed()
    except AssertionError as e:
        failures.append("stderr_closed: %s" % e)
    check(not failures, "; ".join(failures))


# ---- 19 ----

def test_isolation_stdio_nonblock_restored():
    d = Daemon()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    keep_in, keep_out = os.dup(in_r), os.dup(out_w)
    log = open(d.log_path, "wb")
    proc = subprocess.Popen([d.bin, "stdio"], stdin=in_r, stdout=out_w, stderr=log,
                            cwd=d.dir, env=d.env)
    os.close(in_r)
    os.close(out_w)

    def nonblock(fd):
        return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)
    try:
        c = wire.Conn(out_r, in_w)
        c.handshake(timeout=HANG)
        c.list(HANG)
        running = (nonblock(keep_in), nonblock(keep_out))
        os.close(in_w)
        in_w = -1
        check_eq(proc.wait(HANG), 0, "stdio exit status")
        after = (nonblock(keep_in), nonblock(keep_out))
        check_eq({"while running": running, "after exit": after},
                 {"while running": (False, False), "after exit": (False, False)},
                 "O_NONBLOCK on (our stdin pipe, our stdout pipe), the file descriptions "
                 "we passed to stdio")
    except BaseException:
        sys.stderr.write("--- stdio log\n%s\n---\n" % d.log_text())
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for fd in (keep_in, keep_out, out_r, in_w):
            if fd >= 0:
                os.close(fd)
        log.close()
        shutil.rmtree(d.dir, ignore_errors=True)


# ---- 20 ----

def test_isolation_script_without_shebang():
    with Daemon() as d:
        path = os.path.join(d.dir, "noshebang")
        with open(path, "w") as f:
            f.write("echo no-shebang-ok\n")
        os.chmod(path, 0o755)
        try:
            sid = d.new(path)
        except AssertionError as e:
            raise AssertionError("a script without #! as a session's argv: %s" % e)
        d.cli("wait", str(sid), timeout=HANG)
        out = d.ok("output", str(sid))
        check(b"no-shebang-ok" in out, "output of a script without #!: %r" % out)


# ---- timeouts for clients that send or take nothing ----

def test_isolation_silent_and_non_reading_clients_time_out():
    # A Unix or WebSocket client that never says HELLO is dropped after --header-timeout;
    # an HTTP client that stops reading its responses after six of them. Neither holds
    # its budget slot (or memory) for ever.
    with Daemon("--header-timeout", "500") as d:
        d.ok("ls")  # settled: the start-up fds (the READY pipe) are closed
        base = fd_count(d.pid)
        silent = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(5)]
        for s in silent:
            s.connect(d.sock)
        h = Http.to(d, timeout=HANG)
        big = h.request_bytes("GET", "/app.js")  # the page's bundle: hundreds of KiB
        h.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        wait_for(lambda: fd_count(d.pid) >= base + 6, "the daemon to hold the 6 clients",
                 timeout=HANG)
        t0 = time.monotonic()
        h.send(big * 100)  # far more response than the socket buffers hold, never read
        wait_for(lambda: fd_count(d.pid) <= base + 1, "the silent clients to be dropped",
                 timeout=HANG)
        check(time.monotonic() - t0 < 2.5, "the non-reading HTTP client is still held "
              "when the silent ones are dropped")
        wait_for(lambda: fd_count(d.pid) <= base, "the non-reading HTTP client to be dropped "
                 "after six header timeouts", timeout=HANG)
        for s in silent:
            s.settimeout(HANG)
            data = s.recv(4096)
            m = wire.decode(data[4:]) if len(data) > 4 else None
            check(m is not None and m.type == wire.ERROR and m.code == wire.ERR_NOT_HELLO,
                  "a silent client is told why it is dropped: %r" % (m,))
            s.close()
        h.close()
        _alive(d, "after dropping silent clients")


def test_isolation_stdio_parent_stops_reading_stdout():
    # A broker (`ptyhub stdio --socket`) whose parent stops reading stdout while a session
    # floods: that session pauses (its client is lossless), the daemon's memory stays
    # bounded, a Unix socket client of the same daemon is served as usual, and when the
    # parent closes stdin without ever reading again the daemon still ends, cleanly.
    d = Daemon()  # for its binary, temp dir and log
    sock = os.path.join(d.dir, "sock")
    logf = open(d.log_path, "wb")
    proc = subprocess.Popen([d.bin, "stdio", "--socket", sock], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=logf, cwd=d.dir, env=d.env)
    failed = True
    try:
        os.set_blocking(proc.stdin.fileno(), False)
        c = wire.Conn(proc.stdout.fileno(), proc.stdin.fileno())
        c.handshake(timeout=HANG)
        flood = c.create(["yes"])
        c.attach(flood, from_kind=wire.FROM_OFFSET, from_=0)
        wait_for(lambda: os.path.exists(sock), "the stdio daemon's socket", timeout=HANG)
        rss = _RssMax(proc.pid)
        time.sleep(2)  # we read nothing: stdout's pipe and the daemon's queue fill up
        with wire.Conn.unix(sock, timeout=HANG) as u:
            b = _echo_session(u)
            _check_echo(u, b, b"still-served", "a socket client while stdout is not read")
            rows = {e.sid: e for e in u.list(timeout=HANG)}
            check(wire.LEVELS[rows[flood].level] == "blocked",
                  "the flooding session is held back (level blocked): %r" % rows[flood])
        grew = rss.done()
        check(grew < 64, "RSS grew %.0f MiB while stdout was not read" % grew)
        proc.stdin.close()
        try:
            status = proc.wait(HANG)
        except subprocess.TimeoutExpired:
            raise AssertionError("stdio did not exit within %ss of stdin closing while its "
                                 "stdout was full" % HANG)
        check_eq(status, 0, "stdio exit status")
        failed = False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if failed:
            sys.stderr.write("--- stdio log\n%s\n---\n" % d.log_text())
        logf.close()
        shutil.rmtree(d.dir, ignore_errors=True)


# ---- security: spoofed sockets, runtime directories, token guessing ----

_FAKE_SERVER = r"""
import os, socket, sys
path, uid = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
s.listen(1)  # SO_PEERCRED reports the credentials in effect here
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(5)
got = b""
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
except OSError:
    pass
print("received", len(got), flush=True)
"""


def test_isolation_cli_refuses_a_socket_of_another_uid():
    # Another user who gets to serve the socket path must not receive our `ptyhub send`
    # text: the CLI checks the server's uid before it sends a byte.
    if os.getuid() != 0:
        raise Skip("needs root to run a server as another uid")
    d = Daemon()
    try:
        sock = os.path.join(d.dir, "fake.sock")
        p = subprocess.Popen([sys.executable, "-c", _FAKE_SERVER, sock, "65534"],
                             stdout=subprocess.PIPE, text=True)
        check_eq(p.stdout.readline().strip(), "ready", "the fake server listens")
        r = subprocess.run([d.bin, "send", "--socket", sock, "1", "secret password"],
                           capture_output=True, timeout=HANG)
        check(r.returncode != 0, "ptyhub send to another uid's socket must fail")
        check(b"uid 65534" in r.stderr, "the CLI says whose socket it is: %r" % r.stderr)
        out, _ = p.communicate(timeout=HANG)
        check("received 0" in out, "the fake server received nothing: %r" % out)
    finally:
        shutil.rmtree(d.dir, ignore_errors=True)


def test_isolation_daemon_refuses_unsafe_runtime_directories():
    # The socket's directory must be ours alone: a symlink (someone else decides where it
    # points), another owner, or a mode open to others is refused with a clear error.
    base = tempfile.mkdtemp(prefix="ptyhub-it-rt-")
    try:
        real = os.path.join(base, "real")
        os.mkdir(real, 0o700)
        link = os.path.join(base, "link")
        os.symlink(real, link)
        loose = os.path.join(base, "loose")
        os.mkdir(loose)
        os.chmod(loose, 0o755)
        cases = [(link, "symbolic link"), (loose, "open to other users")]
        if os.getuid() == 0:
            other = os.path.join(base, "other")
            os.mkdir(other, 0o700)
            os.chown(other, 65534, 65534)
            cases.append((other, "belongs to uid 65534"))
        for path, why in cases:
            r = subprocess.run([ptyhub_bin(), "serve", "--socket", os.path.join(path, "sock"),
                                "--no-session", "--listen", "none"],
                               capture_output=True, timeout=HANG, stdin=subprocess.DEVNULL)
            check(r.returncode != 0, "serve with its socket in %s must refuse" % path)
            check(why.encode() in r.stderr, "the error names the problem (%s): %r"
                  % (why, r.stderr[-300:]))
            check(not os.path.exists(os.path.join(real, "sock")),
                  "nothing was created through the symlink")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_isolation_login_guessing_is_rate_limited():
    # Wrong tokens at /api/login are answered 429 after a burst; the right one still
    # works once the bucket refills.
    with Daemon() as d:
        statuses = []
        for i in range(40):
            r = wsclient.call(d, "POST", "/api/login", {"token": "guess%08d" % i},
                              headers=[("Cookie", "x=y")], timeout=HANG)
            statuses.append(r.status)
        check(set(statuses) <= {401, 429}, "wrong tokens get 401 or 429: %r" % statuses)
        check(statuses.count(429) >= 20, "most of 40 quick guesses are refused with 429: %r"
              % statuses)
        time.sleep(2.5)
        r = wsclient.call(d, "POST", "/api/login", {"token": d.token},
                          headers=[("Cookie", "x=y")], timeout=HANG)
        check_eq(r.status, 204, "the right token after the guesses")


def test_isolation_hang_up_after_more_than_a_read_quantum():
    """A client sends more than one read quantum (256 KiB) and hangs up, all before the
    daemon looks: the daemon reads it over several turns and must still see the end and
    close the connection. (The hang-up is reported once; a link that yielded mid-read
    used to forget it and stayed open for good.) The daemon is stopped with SIGSTOP so
    that the data and the hang-up are all there when it looks; the input goes to a
    session with room for it, so no reply to the gone client closes the link instead."""
    import signal as _signal
    with Daemon() as d:
        sid = d.new("cat")
        c = d.conn()
        try:
            c.owner.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)  # SO_SNDBUFFORCE
        except OSError as e:
            c.close()
            raise Skip("cannot raise the socket's send buffer (SO_SNDBUFFORCE): %s" % e)
        time.sleep(0.2)
        base = fd_count(d.pid)
        frames = _input_frames(sid, 768 * 1024)
        os.kill(d.pid, _signal.SIGSTOP)
        try:
            c.owner.setblocking(False)
            sent = c.owner.send(frames)
            check_eq(sent, len(frames), "bytes queued in the socket while the daemon is stopped")
            c.close()
        finally:
            os.kill(d.pid, _signal.SIGCONT)
        try:
            wait_for(lambda: fd_count(d.pid) <= base - 1, "the daemon to close the connection",
                     timeout=HANG)
        except AssertionError as e:
            raise AssertionError("%s: %d fds now, %d before the hang-up" % (e, fd_count(d.pid),
                                                                           base))
        _alive(d, "after the hang-up")
