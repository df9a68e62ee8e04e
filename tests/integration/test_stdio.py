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
