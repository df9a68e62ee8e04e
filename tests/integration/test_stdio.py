"""test_stdio: `ptyhub stdio` — the session protocol over the daemon's own stdin/stdout,
for programs that embed it as a child. A parent that stops reading stalls only its own
sessions; the socket keeps serving; closing stdin ends the daemon cleanly, exit 0, with
no process of its left behind."""

import os
import shutil
import subprocess
import sys

import wire
from harness import (Daemon, check, check_eq, children_of, pid_alive, wait_for, TIMEOUT)


def test_stdio_stalled_parent_and_clean_exit():
    d = Daemon()  # used for its temp dir, binary and CLI helpers; started below as stdio
    log = open(d.log_path, "wb")
    d.log = log
    proc = subprocess.Popen([d.bin, "stdio", "--socket", d.sock] + d.extra, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, cwd=d.dir, env=d.env)
    d.proc, d.pid = proc, proc.pid
    try:
        wait_for(lambda: os.path.exists(d.sock) or proc.poll() is not None,
                 "the stdio daemon's socket")
        check(proc.poll() is None, "stdio exited early (%s): %s" % (proc.returncode,
                                                                    d.log_text()))
        c = wire.Conn(proc.stdout.fileno(), proc.stdin.fileno())
        c.handshake()
        yes = c.create(["sh", "-c", "yes"])
        c.attach(yes, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET, from_=0)
        # From here on nobody reads the daemon's stdout.

        wait_for(lambda: next(e["level"] for e in d.ls_json() if e["id"] == yes)
                 in ("heavy", "blocked"), "the stdio client's session to be held back")
        sid = d.new("sh", "-c", "printf 'still serving'")
        check_eq(d.cli("wait", str(sid)).returncode, 0, "a socket client's session status")
        check_eq(d.ok("output", str(sid)), b"still serving", "its output over the socket")
        sleeper = d.new("sleep", "100")
        sessions = d.ls_json()
        check_eq(sorted(e["id"] for e in sessions), sorted([yes, sid, sleeper]),
                 "`ls` over the socket lists every session")
        pids = [e["pid"] for e in sessions if e["state"] == "running"]
        check(len(pids) == 2 and all(pid_alive(p) for p in pids), "running sessions: %r"
              % sessions)
        check(set(pids) <= {p for p, _ in children_of(proc.pid)},
              "the sessions are the daemon's children")

        proc.stdin.close()
        try:
            status = proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("stdio did not exit within %ss of its stdin closing" % TIMEOUT)
        check_eq(status, 0, "stdio exit status after stdin closed")
        left = [p for p in pids if pid_alive(p)]
        check_eq(left, [], "session processes still alive after stdio exited")
    except BaseException:
        sys.stderr.write("--- daemon log\n%s\n---\n" % d.log_text())
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d.dir, ignore_errors=True)


def test_stdio_over_a_socketpair_is_non_blocking():
    """A parent that hands one end of a socketpair as stdin and stdout (Node's child pipes
    do): the daemon must make its descriptor non-blocking (a blocking one parked the
    reactor thread in read, and output stopped after about 1 MiB), deliver every byte of
    several floods, keep serving its socket while the parent does not read, and give the
    socket its flags back at exit."""
    import fcntl
    import hashlib
    import socket
    d = Daemon()
    log = open(d.log_path, "wb")
    d.log = log
    a, b = socket.socketpair()
    proc = subprocess.Popen([d.bin, "stdio", "--socket", d.sock] + d.extra, stdin=b.fileno(),
                            stdout=b.fileno(), stderr=log, cwd=d.dir, env=d.env)
    d.proc, d.pid = proc, proc.pid
    flags_before = fcntl.fcntl(b.fileno(), fcntl.F_GETFL)
    try:
        c = wire.Conn(a.fileno(), a.fileno(), owner=a)
        # ACK-paced: many small messages from the parent while output flows.
        c.handshake(flags=wire.HELLO_F_ACK)
        # The description is shared with the parent: the daemon set O_NONBLOCK on it.
        check(fcntl.fcntl(b.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK,
              "the stdio socket is non-blocking while the daemon runs")
        n = 3 * 1024 * 1024
        script = "head -c %d /dev/urandom | od -An -v -tx1" % (n // 3)
        sids = [c.create(["sh", "-c", script]) for _ in range(4)]
        # ATTACHes pipelined, their replies taken in the loop below (a blocking attach()
        # would drop the OUTPUT of sessions already attached while it waits).
        for k, sid in enumerate(sids):
            c.send(wire.attach(100 + k, sid, mode=wire.MODE_READ_ONLY,
                               from_kind=wire.FROM_OFFSET, from_=0))
        # Stop reading for a while: the daemon must keep serving its socket meanwhile.
        sid = d.new("sh", "-c", "printf 'still serving'")
        check_eq(d.cli("wait", str(sid)).returncode, 0, "a socket client's session while the "
                 "stdio parent is not reading")
        got = {s: bytearray() for s in sids}
        ends = {}
        while len(ends) < len(sids):
            m = c.recv(timeout=TIMEOUT)
            if m.type == wire.OUTPUT and m.sid in got:
                check_eq(m.offset, len(got[m.sid]), "OUTPUT offset of session %d" % m.sid)
                got[m.sid] += m.data
                c.send(wire.ack(m.sid, len(got[m.sid])))
            elif m.type == wire.EXIT and m.sid in got:
                ends[m.sid] = m.end
            elif m.type == wire.ATTACHED:
                check_eq(m.start, 0, "session %d retained from 0" % m.sid)
            elif m.type in (wire.GAP, wire.ERROR):
                raise AssertionError("unexpected %r (stdio attachments are lossless)" % m)
        for s in sids:
            check_eq(len(got[s]), ends[s], "session %d: every byte up to EXIT" % s)
            check(ends[s] > n // 3, "session %d wrote its flood (%d bytes)" % (s, ends[s]))
        check(len({hashlib.sha256(bytes(got[s])).hexdigest() for s in sids}) == len(sids),
              "four different floods")
        a.shutdown(socket.SHUT_WR)
        check_eq(proc.wait(TIMEOUT), 0, "stdio exit status after its input ended")
        check_eq(fcntl.fcntl(b.fileno(), fcntl.F_GETFL), flags_before,
                 "the socket's flags are given back")
    except BaseException:
        sys.stderr.write("--- daemon log\n%s\n---\n" % d.log_text())
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        a.close()
        b.close()
        log.close()
