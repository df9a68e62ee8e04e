"""test_pty: what the program in a session sees: a real terminal (a /dev/pts path, job
control, Ctrl-C), only fds 0-2; and `ptyhub attach` driven from a terminal of our own:
keys in, output out, detach, exit, and the terminal restored on every way out."""

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

from harness import Daemon, check, check_eq, children_of, pid_alive, wait_for, TIMEOUT


def _output_when(d, sid, pred, what):
    return wait_for(lambda: (lambda out: out if pred(out) else None)(d.ok("output", str(sid))),
                    what)


def test_child_has_only_std_fds_and_a_tty():
    with Daemon() as d:
        sid = d.new("sh", "-c", "ls -1 /proc/$$/fd; exec tty")
        check_eq(d.cli("wait", str(sid)).returncode, 0, "status")
        lines = d.ok("output", str(sid)).decode().split("\r\n")
        check_eq(lines[-1], "", "output ends with a line end")
        check_eq(sorted(lines[:-2]), ["0", "1", "2"], "the shell's open fds")
        check(re.fullmatch(r"/dev/pts/\d+", lines[-2]), "`tty` printed %r" % lines[-2])


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def test_ctrl_c_interrupts_the_foreground_job():
    with Daemon() as d:
        sid = d.new("sh", "-i")
        shell = [e for e in d.ls_json() if e["id"] == sid][0]["pid"]
        d.ok("send", str(sid), "sleep 100\r")
        sleeper = wait_for(lambda: next((p for p, _ in children_of(shell) if _comm(p) == "sleep"),
                                        None), "`sleep 100` to start under the shell")
        d.ok("send", str(sid), "\x03")
        wait_for(lambda: not pid_alive(sleeper), "Ctrl-C to end `sleep 100`")
        d.ok("send", str(sid), "echo al''ive\r")
        _output_when(d, sid, lambda out: b"\nalive\r\n" in out, "`echo alive` to print alive")
        d.ok("kill", str(sid))
        status = d.cli("wait", str(sid)).returncode
        check(status in (129, 137), "status after kill: %d, want 129 (SIGHUP) or 137" % status)


class Term:
    """A pseudo-terminal of our own, with `ptyhub attach` running on its slave side."""

    def __init__(self, d, *args, size=(80, 24)):
        self.master, self.slave = os.openpty()
        self.resize(*size)
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen([d.bin, "attach", "--socket", d.sock] + list(args),
                                     stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     start_new_session=True)
        self.seen = bytearray()

    def read_until(self, needle, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            check(left > 0, "timed out waiting for %r on the terminal; saw %r"
                  % (needle, bytes(self.seen[-500:])))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # EIO: nothing has the slave open any more
                    pass
        return bytes(self.seen)

    def resize(self, cols, rows):
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, keys):
        os.write(self.master, keys)

    def finish(self, timeout=TIMEOUT):
        """Waits for attach to end, keeps draining the terminal; returns its status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            check(time.monotonic() < deadline, "attach did not end; terminal shows %r"
                  % bytes(self.seen[-500:]))
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                self.seen += os.read(self.master, 65536)
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            self.seen += data
        return self.proc.returncode

    def check_restored(self):
        check_eq(termios.tcgetattr(self.slave), self.before, "terminal settings after attach")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


SESSION = 'printf READY; while read line; do [ "$line" = bye ] && exit 7; printf "got:%s\\n" "$line"; done'


def test_attach_keys_output_and_detach():
    with Daemon() as d:
        sid = d.new("sh", "-c", "stty -echo; " + SESSION, name="att")
        t = Term(d, "att", size=(100, 30))
        try:
            t.read_until(b"READY")
            raw = termios.tcgetattr(t.slave)
            check(not raw[3] & (termios.ICANON | termios.ECHO), "attach puts the terminal raw")
            e = d.ls_json()[0]
            check_eq((e["cols"], e["rows"]), (100, 30), "session size after attach")
            # Our pty is not attach's controlling terminal, so deliver SIGWINCH ourselves.
            t.resize(120, 40)
            t.proc.send_signal(signal.SIGWINCH)
            wait_for(lambda: (lambda e: (e["cols"], e["rows"]) == (120, 40))(d.ls_json()[0]),
                     "the session to follow the terminal to 120x40")
            t.type(b"hello\r")
            t.read_until(b"got:hello")
            t.type(b"\x1c")
            check_eq(t.finish(), 0, "attach status after the detach key")
            check(b"[detached from session %d]" % sid in t.seen, "detach message: %r"
                  % bytes(t.seen[-200:]))
            t.check_restored()
        finally:
            t.close()
        check_eq(d.ls_json()[0]["state"], "running", "the session outlives the detach")

        # Reattach: the recent output is replayed, and a detach key of our choosing.
        t = Term(d, "--detach-key", "^a", str(sid))
        try:
            t.read_until(b"got:hello")
            t.type(b"again\r")
            t.read_until(b"got:again")
            t.type(b"\x01")
            check_eq(t.finish(), 0, "attach status after the ^a detach key")
            check(b"[detached from session %d]" % sid in t.seen, "detach message: %r"
                  % bytes(t.seen[-200:]))
            t.check_restored()
        finally:
            t.close()

        # The session exits while attached.
        t = Term(d, str(sid))
        try:
            t.read_until(b"got:again")
            t.type(b"bye\r")
            check_eq(t.finish(), 0, "attach status after the session exited")
            check(b"[session %d exited with code 7]" % sid in t.seen, "exit message: %r"
                  % bytes(t.seen[-200:]))
            t.check_restored()
        finally:
            t.close()


def test_attach_read_only_and_signals_restore_the_terminal():
    with Daemon() as d:
        sid = d.new("sh", "-c", "stty -echo; " + SESSION)
        t = Term(d, "--read-only", str(sid))
        try:
            t.read_until(b"READY")
            t.type(b"ignored\r")
            d.ok("send", str(sid), "typed\r")
            t.read_until(b"got:typed")
            check(b"got:ignored" not in t.seen, "a read-only attach typed into the session")
            t.proc.send_signal(signal.SIGTERM)
            check_eq(t.finish(), -signal.SIGTERM, "attach status after SIGTERM")
            t.check_restored()
        finally:
            t.close()
        for sig in (signal.SIGHUP, signal.SIGINT):
            t = Term(d, str(sid))
            try:
                t.read_until(b"got:typed")
                # Raw mode is set before the replay is written, so it is on by now.
                t.proc.send_signal(sig)
                check_eq(t.finish(), -sig, "attach status after %s" % sig.name)
                t.check_restored()
            finally:
                t.close()
        # The daemon going away ends attach with an error and a restored terminal.
        t = Term(d, str(sid))
        try:
            t.read_until(b"got:typed")
            d.stop()
            # Either the session's end reaches us first (status 0) or the closed socket
            # (status 1 and a message); both leave a usable terminal.
            status = t.finish()
            check(status in (0, 1), "attach status when the daemon goes away: %d" % status)
            check((b"ptyhub: " if status else b"exited with") in t.seen,
                  "what attach said: %r" % bytes(t.seen[-300:]))
            t.check_restored()
        finally:
            t.close()
