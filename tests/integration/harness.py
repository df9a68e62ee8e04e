"""harness: what every integration test needs: the daemon under test on a private socket
in its own temp dir, the CLI run as a user would run it, waiting on conditions with a
deadline, and looking at the daemon's process (/proc) from outside.

Tests are plain functions named test_* in tests/integration/test_*.py; run.py runs each
in its own process with a timeout. A test fails by raising (use the check helpers below
for readable messages) and skips by raising Skip.
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import wire

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Generous: machines are shared and slow, and ASan makes everything 2-3x slower.
TIMEOUT = 60 * float(os.environ.get("PTYHUB_TIMEOUT_SCALE", "1"))


class Skip(Exception):
    """Raised by a test that cannot run here; reported as skipped, with its reason."""


def ptyhub_bin():
    """The binary under test: $PTYHUB_BIN, else build/asan/ptyhub, else build/ptyhub."""
    env = os.environ.get("PTYHUB_BIN")
    if env:
        return os.path.abspath(env)
    for rel in ("build/asan/ptyhub", "build/ptyhub"):
        path = os.path.join(ROOT, rel)
        if os.path.exists(path):
            return path
    return os.path.join(ROOT, "build/ptyhub")


# ---- checks ----

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def check_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %s, want %s" % (what, _short(got), _short(want)))


def _short(v):
    r = repr(v)
    return r if len(r) <= 300 else r[:300] + "...(%d chars)" % len(r)


def wait_for(pred, what, timeout=TIMEOUT, interval=0.02):
    """Polls pred() until it returns a true value (returned) or the deadline passes. For
    conditions nobody can notify us of (a file appearing, a /proc field changing)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


# ---- /proc ----

def proc_status(pid, field):
    """A field of /proc/PID/status as a string, or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def rss_kib(pid):
    v = proc_status(pid, "VmRSS")
    return int(v.split()[0]) if v else 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_kinds(pid):
    """What a process's fds are, counted by kind (socket, pipe, anon_inode:..., a path's
    directory): for a failure message that says what leaked."""
    import collections
    kinds = collections.Counter()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        kinds[t.split("[")[0] if ":" in t else os.path.dirname(t)] += 1
    return dict(kinds)


def proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def children_of(ppid):
    """[(pid, state)] of the processes whose parent is ppid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == ppid:
            out.append((int(name), st[0]))
    return out


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


# ---- the daemon ----

class Daemon:
    """`ptyhub serve --socket TMP/sock --no-session` in a fresh temp dir.

    HTTP listens on a free loopback port (`--listen 127.0.0.1:0`, unless the test names
    its own --listen), and start() returns once the daemon says READY on a pipe
    (--ready-fd): `http_addr` is then the bound "HOST:PORT" ("-" with --listen none),
    `http_host` and `http_port` its parts.

    Use as a context manager: on the way out the daemon gets SIGTERM and must exit 0
    (checked unless the test body already failed). Its log is TMP/daemon.log and is
    printed when something fails.

    Unless given --token, $PTYHUB_TOKEN, --token-file or --no-auth, the daemon makes up
    a token and writes it to TMP/token (the socket's directory); after READY `token` is
    that token (None when there is no such file), and the wsclient helpers that take a
    Daemon send it as `Authorization: Bearer TOKEN`. A test that builds requests by hand
    adds auth_header() itself."""

    def __init__(self, *extra, env=None):
        self.bin = ptyhub_bin()
        if not os.path.exists(self.bin):
            raise AssertionError("no ptyhub binary at %s (build it with: make build/ptyhub)"
                                 % self.bin)
        self.dir = tempfile.mkdtemp(prefix="ptyhub-it-")
        self.sock = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "daemon.log")
        # $PTYHUB_SERVE_ARGS adds flags to every daemon, e.g. "--io epoll".
        self.extra = list(extra) + os.environ.get("PTYHUB_SERVE_ARGS", "").split()
        self.env = dict(os.environ, **(env or {}))
        self.env.pop("PTYHUB_SOCKET", None)
        self.proc = None
        self.http_addr = self.http_host = self.http_port = None
        self.token = None
        self.token_path = os.path.join(self.dir, "token")
        self.url_path = os.path.join(self.dir, "url")

    def start(self):
        self.log = open(self.log_path, "wb")
        # Not the default 127.0.0.1:7681: test daemons run side by side.
        listen = [] if "--listen" in self.extra else ["--listen", "127.0.0.1:0"]
        own_ready = "--ready-fd" in self.extra
        rfd, wfd = (None, None) if own_ready else os.pipe()
        ready_args = [] if own_ready else ["--ready-fd", str(wfd)]
        try:
            self.proc = subprocess.Popen(
                [self.bin, "serve", "--socket", self.sock, "--no-session"] + listen
                + ready_args + self.extra,
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.dir, pass_fds=() if own_ready else (wfd,))
        finally:
            if wfd is not None:
                os.close(wfd)
        self.pid = self.proc.pid

        def exited():
            return AssertionError("the daemon exited with status %s before listening:\n%s"
                                  % (self.proc.returncode, self.log_text()))
        if own_ready:
            def ready():
                if self.proc.poll() is not None:
                    raise exited()
                return os.path.exists(self.sock)
            wait_for(ready, "the daemon's socket %s" % self.sock)
            return self
        # "READY <http-address> <socket-path>\n", or end of file if the daemon dies first.
        line = b""
        deadline = time.monotonic() + TIMEOUT
        try:
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no READY line from the daemon within %.0fs:\n%s"
                                         % (TIMEOUT, self.log_text()))
                r, _, _ = select.select([rfd], [], [], left)
                if not r:
                    continue
                chunk = os.read(rfd, 512)
                if not chunk:
                    self.proc.wait(TIMEOUT)
                    raise exited()
                line += chunk
        finally:
            os.close(rfd)
        parts = line.decode().split()
        check(len(parts) == 3 and parts[0] == "READY" and parts[2] == self.sock,
              "READY line %r names the socket %s" % (line, self.sock))
        self.http_addr = parts[1]
        if self.http_addr != "-":
            host, _, port = self.http_addr.rpartition(":")
            self.http_host, self.http_port = host.strip("[]"), int(port)
        self.token = self.read_token()
        return self

    def read_token(self):
        """The token in the daemon's token file (TMP/token, written before READY), or None
        when there is none (an explicit --token or --no-auth, or an older server)."""
        try:
            with open(self.token_path) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def auth_header(self):
        """[("Authorization", "Bearer TOKEN")] for requests built by hand, or [] when the
        daemon has no token file."""
        return [("Authorization", "Bearer " + self.token)] if self.token else []

    def auth_header_bytes(self):
        """auth_header() as raw header lines (b"Authorization: Bearer T\r\n" or b"")."""
        return b"".join(("%s: %s\r\n" % kv).encode() for kv in self.auth_header())

    def __enter__(self):
        return self.start()

    def __exit__(self, etype, exc, tb):
        try:
            status = self.stop()
            if etype is None and status != 0:
                raise AssertionError("the daemon exited with status %s after SIGTERM (want 0):\n%s"
                                     % (status, self.log_text()))
        finally:
            if etype is not None:
                sys.stderr.write("--- daemon log (%s)\n%s\n---\n"
                                 % (self.log_path, self.log_text()))
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self, timeout=TIMEOUT):
        """SIGTERM by pid; returns the exit status (SIGKILL and -9 if it does not exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                sys.stderr.write("the daemon ignored SIGTERM for %ss; killed it\n" % timeout)
        return self.proc.returncode

    def log_text(self, limit=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]

    # -- clients --

    def cli(self, *args, input=None, timeout=TIMEOUT, check_status=None):
        """Runs `ptyhub ARGS --socket SOCK`; returns the CompletedProcess (bytes)."""
        argv = [self.bin] + list(args[:1]) + ["--socket", self.sock] + list(args[1:])
        stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=self.env, cwd=self.dir, **stdin)
        if check_status is not None and p.returncode != check_status:
            raise AssertionError("`ptyhub %s` exited %d (want %d); stderr: %s; stdout: %s"
                                 % (" ".join(map(str, args)), p.returncode, check_status,
                                    p.stderr.decode(errors="replace").strip(),
                                    _short(p.stdout)))
        return p

    def ok(self, *args, **kw):
        """Runs a CLI command that must exit 0; returns its stdout as bytes."""
        return self.cli(*args, check_status=0, **kw).stdout

    def new(self, *argv, name=None):
        """`ptyhub new [--name NAME] -- ARGV`; returns the session id."""
        opts = ["--name", name] if name else []
        out = self.ok("new", *opts, "--", *argv)
        check(out.strip().isdigit() and out.endswith(b"\n"),
              "`ptyhub new` printed %r, not an id and a newline" % out)
        return int(out)

    def ls_json(self):
        import json
        return json.loads(self.ok("ls", "--json"))

    def conn(self, handshake=True):
        return wire.Conn.unix(self.sock, handshake=handshake, timeout=TIMEOUT)
