"""Helpers for bench/throughput.py: a ptyhub daemon on a private socket, /proc sampling
(CPU time, resident memory), and the two C helper programs' key=value output.

Everything here drives the real binaries; nothing imports the daemon's code."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PTYHUB = os.path.join(ROOT, "build", "ptyhub")
TP_CLIENT = os.path.join(ROOT, "build", "bench", "tp_client")
TP_RAWPTY = os.path.join(ROOT, "build", "bench", "tp_rawpty")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20
GiB = 1 << 30


class BenchFailure(Exception):
    """A real failure (lost bytes, a dead daemon, a helper that broke): exit non-zero."""


def proc_cpu_seconds(pid):
    """(own, reaped children's) user + system CPU seconds of pid, from /proc/PID/stat:
    utime+stime cover every thread of the process, cutime+cstime its reaped children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14 to 17.
    return ((int(fields[11]) + int(fields[12])) / CLK_TCK,
            (int(fields[13]) + int(fields[14])) / CLK_TCK)


def proc_rss_kib(pid):
    """VmRSS of pid in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchFailure(f"no VmRSS for pid {pid}")


def proc_io_calls(pid):
    """(read-class, write-class) syscalls made by pid's own threads, summed from
    /proc/PID/task/TID/io (/proc/PID/io would also count reaped children: the sessions)."""
    r = w = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/io") as f:
                for line in f:
                    k, v = line.split(":")
                    if k == "syscr":
                        r += int(v)
                    elif k == "syscw":
                        w += int(v)
        except FileNotFoundError:
            pass
    return r, w


def proc_ctxsw(pid):
    """Voluntary + involuntary context switches summed over pid's threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def parse_kv(line):
    """Parses `key=value key=value` into a dict of strings."""
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def median(xs):
    return statistics.median(xs)


class Daemon:
    """build/ptyhub serve on a private socket, with its stderr kept in a log file."""

    def __init__(self, io, scrollback=None, extra=(), env=None):
        self.io = io
        self.dir = tempfile.mkdtemp(prefix=f"ptyhub-tp-{io}-")
        self.sock = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "log")
        argv = [PTYHUB, "serve", "--socket", self.sock, "--no-session", "--io", io,
                "--listen", "none", "--log-level", "warn"]
        if scrollback:
            argv += ["--scrollback", scrollback]
        argv += list(extra)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=dict(os.environ, **(env or {})))
        self.pid = self.proc.pid
        self._wait_ready()

    def _wait_ready(self):
        """Waits until the socket accepts a connection (the daemon is listening)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchFailure(f"ptyhub serve --io {self.io} exited with status "
                                   f"{self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.sock):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(self.sock)
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.02)
        raise BenchFailure(f"ptyhub serve --io {self.io} is not listening after 10 s")

    def log_tail(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-2000:].strip() or "(no log output)"
        except OSError:
            return "(no log)"

    def check_alive(self, what):
        if self.proc.poll() is not None:
            raise BenchFailure(f"the {self.io} daemon died during {what} (status "
                               f"{self.proc.returncode}): {self.log_tail()}")

    def counters(self):
        """CPU seconds (the daemon's and its reaped sessions'), read and write syscalls and
        context switches of the daemon's threads so far."""
        r, w = proc_io_calls(self.pid)
        own, children = proc_cpu_seconds(self.pid)
        return {"cpu": own, "children_cpu": children, "syscr": r, "syscw": w,
                "ctxsw": proc_ctxsw(self.pid)}

    def rss_kib(self):
        return proc_rss_kib(self.pid)

    def ls(self):
        """`ptyhub ls --json` as a list of dicts."""
        r = subprocess.run([PTYHUB, "ls", "--json", "--socket", self.sock],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise BenchFailure(f"ptyhub ls --json failed: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_helper(argv, timeout):
    """Runs a C helper; returns the dict of its last key=value line."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchFailure(f"{os.path.basename(argv[0])} did not finish in {timeout} s")
    lines = [l for l in r.stdout.splitlines() if "bytes=" in l and not l.startswith("event=")]
    if r.returncode != 0 or not lines:
        raise BenchFailure(f"{os.path.basename(argv[0])} failed (status {r.returncode}): "
                           f"{r.stderr.strip() or r.stdout.strip()}")
    return parse_kv(lines[-1])
