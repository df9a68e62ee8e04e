"""test_spread: sessions anywhere, one connection. New sessions are placed on the least
loaded reactor (--placement balance), and one connection — the stdio broker above all —
creates, attaches to, types into and reads sessions on every reactor: output of sessions
on other reactors reaches it through relays (src/server/relay.c) with every byte, a
consumer that stops reading holds back only its own sessions, and a session removed or a
connection closed while output is in flight frees nothing still in use (the ASan daemon
must exit cleanly)."""

import hashlib
import os
import re
import select
import shutil
import subprocess
import sys
import time

import wire
import wsclient
from harness import Daemon, check, check_eq, wait_for, TIMEOUT

FLOOD_LINES = 120000  # `seq 1 N`: about 0.8 MB per session


def expected_seq(n):
    return ("\n".join(str(i) for i in range(1, n + 1)) + "\n").encode()


def flood_argv(n=FLOOD_LINES):
    # Raw mode first, so the bytes arrive exactly as written (no \r\n translation).
    return ["sh", "-c", "stty raw -echo; seq 1 %d" % n]


class StdioDaemon(Daemon):
    """`ptyhub stdio` with two reactors, HTTP on a free port (for /metrics), READY on a
    pipe; `conn` speaks the protocol over its stdin/stdout."""

    def start(self):
        self.log = open(self.log_path, "wb")
        rfd, wfd = os.pipe()
        self.proc = subprocess.Popen(
            [self.bin, "stdio", "--socket", self.sock, "--threads", "2", "--listen",
             "127.0.0.1:0", "--ready-fd", str(wfd)] + self.extra,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=self.dir,
            env=self.env, pass_fds=(wfd,))
        os.close(wfd)
        self.pid = self.proc.pid
        line = b""
        deadline = time.monotonic() + TIMEOUT
        try:
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                r, _, _ = select.select([rfd], [], [], 1)
                if r:
                    chunk = os.read(rfd, 512)
                    if not chunk:
                        break
                    line += chunk
        finally:
            os.close(rfd)
        parts = line.decode().split()
        check(len(parts) == 3 and parts[0] == "READY", "READY line %r:\n%s"
              % (line, self.log_text()))
        host, _, port = parts[1].rpartition(":")
        self.http_addr, self.http_host, self.http_port = parts[1], host.strip("[]"), int(port)
        self.token = self.read_token()
        self.conn = wire.Conn(self.proc.stdout.fileno(), self.proc.stdin.fileno())
        self.conn.handshake()
        return self

    def stop(self, timeout=TIMEOUT):
        """Closing stdin ends `ptyhub stdio`: it must exit 0 (ASan found nothing)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("stdio did not exit after its stdin closed")
        status = self.proc.returncode
        self.proc.stdout.close()
        self.log.close()
        return status

    def __exit__(self, etype, exc, tb):
        try:
            status = self.stop()
            if etype is None:
                check_eq(status, 0, "stdio exit status (log:\n%s)" % self.log_text())
        except BaseException:
            sys.stderr.write("--- daemon log\n%s\n---\n" % self.log_text())
            raise
        finally:
            if etype is not None:
                sys.stderr.write("--- daemon log\n%s\n---\n" % self.log_text())
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def reactor_sessions(d):
    """{reactor: running sessions} from /metrics."""
    body = wsclient.get(d, "/metrics").body.decode()
    return {int(r): int(n) for r, n in
            re.findall(r'^ptyhub_reactor_sessions\{reactor="(\d+)"\} (\d+)$', body, re.M)}


class Streams:
    """Collects OUTPUT per session (checking offsets: no gap, no duplicate) and EXITs."""

    def __init__(self, conn):
        self.conn = conn
        self.data = {}
        self.exits = {}
        self.replies = []

    def take(self, m):
        if m.type == wire.OUTPUT:
            buf = self.data.setdefault(m.sid, bytearray())
            check_eq(m.offset, len(buf), "offset of session %d's output" % m.sid)
            buf += m.data
        elif m.type == wire.EXIT:
            self.exits[m.sid] = m
        elif m.type == wire.GAP:
            raise AssertionError("a lossless stdio subscription got a GAP: %r" % m)
        else:
            self.replies.append(m)

    def pump(self, until, timeout=TIMEOUT, what="the streams"):
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for %s" % what)
            self.take(self.conn.recv(left))

    def reply(self, req, timeout=TIMEOUT):
        """The reply (not output) to req, taking output meanwhile."""
        def found():
            return any(getattr(m, "req", None) == req for m in self.replies)
        self.pump(found, timeout, "the reply to request %d" % req)
        m = next(m for m in self.replies if getattr(m, "req", None) == req)
        self.replies.remove(m)
        return m


def test_stdio_broker_sixteen_sessions_on_both_reactors():
    with StdioDaemon() as d:
        c = d.conn
        floods = [c.create(flood_argv()) for _ in range(8)]
        stuck = c.create(["sh", "-c", "stty raw -echo; exec sleep 300"])
        cats = [c.create(["sh", "-c", "stty raw -echo; exec cat"]) for _ in range(7)]
        per = reactor_sessions(d)
        check_eq(sorted(per), [0, 1], "reactors in /metrics")
        check_eq(per, {0: 8, 1: 8}, "16 sessions of one connection, balanced over 2 reactors")

        st = Streams(c)
        for sid in floods + [stuck] + cats:
            req = c.req()
            c.send(wire.attach(req, sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET,
                               from_=0))
            check_eq(st.reply(req).type, wire.ATTACHED, "ATTACH %d" % sid)

        # The stuck session never reads its input: WRITEs past its queue (1 MiB) are
        # refused at once; the ones queued wait for their OK forever (not awaited here).
        chunk = b"x" * 65536
        reqs = []
        for _ in range(24):
            reqs.append(c.req())
            c.send(wire.write(reqs[-1], stuck, chunk))

        def refused():
            return any(m.type == wire.ERROR and m.req in reqs and m.code == wire.ERR_LIMIT
                       for m in st.replies)
        st.pump(refused, what="a WRITE to the stuck session refused with `limit`")
        st.replies.clear()

        # Acknowledged input to every cat, on whichever reactor it lives.
        for i, sid in enumerate(cats):
            msg = ("prompt %d\n" % i).encode()
            check_eq(c.write(sid, msg, keep=st.replies).type, wire.OK, "WRITE to cat %d" % sid)
        for m in list(st.replies):
            st.replies.remove(m)
            st.take(m)
        st.pump(lambda: all(bytes(st.data.get(sid, b"")) == ("prompt %d\n" % i).encode()
                            for i, sid in enumerate(cats)), what="every cat's echo")
        st.pump(lambda: all(sid in st.exits for sid in floods), what="every flood's EXIT")
        want = hashlib.sha256(expected_seq(FLOOD_LINES)).hexdigest()
        for sid in floods:
            got = bytes(st.data.get(sid, b""))
            check_eq(len(got), st.exits[sid].end, "flood %d: bytes before its EXIT" % sid)
            check_eq(hashlib.sha256(got).hexdigest(), want, "flood %d's checksum" % sid)
        # Resize and signal a session on each reactor through the same connection.
        for sid in cats[:2]:
            c.send(wire.resize(sid, 100, 30))
        for sid in cats:
            req = c.req()
            c.send(wire.signal_(req, sid, 15))
            check_eq(st.reply(req).type, wire.OK, "SIGNAL %d" % sid)
        st.pump(lambda: all(sid in st.exits for sid in cats), what="the cats' EXITs")


def test_slow_consumer_pauses_only_its_sessions():
    with StdioDaemon() as d:
        c = d.conn
        mine = [c.create(["sh", "-c", "stty raw -echo; exec yes"]) for _ in range(2)]
        per = reactor_sessions(d)
        check_eq(per, {0: 1, 1: 1}, "the stdio client's two floods, one per reactor")
        for sid in mine:
            c.attach(sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_LIVE)
        # From here on nobody reads the stdio client's output.
        with wire.Conn.unix(d.sock) as other:
            theirs = other.create(["sh", "-c", "stty raw -echo; exec yes"])
            other.attach(theirs, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_LIVE)

            def levels():
                return {e.sid: wire.LEVELS[e.level] for e in other.list()}

            wait_for(lambda: all(levels()[s] == "blocked" for s in mine),
                     "both of the stalled client's sessions (local and remote) to block")
            got = 0
            deadline = time.monotonic() + TIMEOUT
            while got < 4 << 20 and time.monotonic() < deadline:
                m = other.recv(TIMEOUT)
                if m.type == wire.OUTPUT:
                    got += len(m.data)
            check(got >= 4 << 20, "the other client's flood keeps flowing (%d bytes)" % got)
            check(all(levels()[s] == "blocked" for s in mine), "the stalled ones stay blocked")
            req = other.req()
            other.send(wire.signal_(req, theirs, 9))


def test_session_removed_while_output_in_flight():
    with StdioDaemon() as d:
        c = d.conn
        first = c.create(["sleep", "300"])  # reactor 0: the connection stays there
        sid = c.create(flood_argv(400000))  # reactor 1: reached through a relay
        check_eq(reactor_sessions(d), {0: 1, 1: 1}, "placement")
        st = Streams(c)
        req = c.req()
        c.send(wire.attach(req, first, mode=wire.MODE_INTERACTIVE))
        check_eq(st.reply(req).type, wire.ATTACHED, "ATTACH local")
        req = c.req()
        c.send(wire.attach(req, sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET,
                           from_=0))
        check_eq(st.reply(req).type, wire.ATTACHED, "ATTACH remote")
        # Take a little, then have another client kill and remove it while the rest of
        # its output is still in the ring and the relay.
        st.pump(lambda: len(st.data.get(sid, b"")) > 100000, what="some output")
        with wire.Conn.unix(d.sock) as other:
            other.call(lambda r: wire.signal_(r, sid, 9), wire.OK)
            wait_for(lambda: next(e for e in other.list() if e.sid == sid).state
                     == wire.STATE_EXITED, "the flood to exit")
            m = other.call(lambda r: wire.remove(r, sid), wire.OK)
            check_eq(m.type, wire.OK, "REMOVE while output is in flight")
        st.pump(lambda: sid in st.exits, what="the removed session's EXIT")
        got = bytes(st.data[sid])
        check_eq(len(got), st.exits[sid].end, "every byte up to EXIT")
        check(expected_seq(400000).startswith(got), "the bytes are the program's")
        with wire.Conn.unix(d.sock) as other:
            check_eq([e.sid for e in other.list()], [first], "the removed session is gone")


def test_connection_closing_mid_flood():
    with Daemon("--threads", "2") as d:
        c = wire.Conn.unix(d.sock)
        sids = [c.create(["sh", "-c", "stty raw -echo; exec yes"]) for _ in range(4)]
        per = {e.sid for e in c.list()}
        check_eq(per, set(sids), "four floods")
        for sid in sids:
            c.attach(sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_LIVE)
        got = 0
        while got < 2 << 20:
            m = c.recv(TIMEOUT)
            if m.type == wire.OUTPUT:
                got += len(m.data)
        c.close()  # mid-flood, with relays full and posts in flight
        with wire.Conn.unix(d.sock) as other:
            # The sessions run on, and a new connection can attach to each of them.
            for sid in sids:
                other.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_LIVE)
            seen = set()
            deadline = time.monotonic() + TIMEOUT
            while seen != set(sids) and time.monotonic() < deadline:
                m = other.recv(TIMEOUT)
                if m.type == wire.OUTPUT:
                    seen.add(m.sid)
            check_eq(seen, set(sids), "output from every session after the close")
            for sid in sids:
                other.call(lambda r: wire.signal_(r, sid, 9), wire.OK)
