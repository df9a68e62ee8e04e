"""Helpers for bench/web.py: a ptyhub daemon listening on a private port, an nginx of
our own (temp prefix, loopback, 2 workers), wrk, /proc CPU sampling, and the C helpers'
key=value output.

Everything here drives the real binaries; nothing imports the daemon's code. Every
process is started here and stopped here, by its own pid."""

import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PTYHUB = os.path.join(ROOT, "build", "ptyhub")
WEB_CLIENT = os.path.join(ROOT, "build", "bench", "web_client")
# The raw PTY reader is shared with the throughput benchmark (bench/tp_rawpty.c).
WEB_RAWPTY = os.path.join(ROOT, "build", "bench", "tp_rawpty")
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1 << 20
GiB = 1 << 30


class BenchFailure(Exception):
    """A real failure (lost bytes, a dead server, a helper that broke): exit non-zero."""


def proc_cpu_seconds(pid):
    """User + system CPU seconds of every thread of pid, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


def run_helper(argv, timeout):
    """Runs a C helper; returns the dict of its last `bytes=...` line."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchFailure(f"{os.path.basename(argv[0])} did not finish in {timeout} s")
    lines = [ln for ln in r.stdout.splitlines() if "bytes=" in ln]
    if r.returncode != 0 or not lines:
        raise BenchFailure(f"{os.path.basename(argv[0])} failed (status {r.returncode}): "
                           f"{r.stderr.strip() or r.stdout.strip()}")
    return parse_kv(lines[-1])


def http_get(addr, path):
    """GET http://addr/path; returns (status, body bytes)."""
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=10) as r:
        return r.status, r.read()


class Daemon:
    """build/ptyhub serve on a private socket and an ephemeral loopback port, started
    with --ready-fd so we know when it listens and where. With --no-auth: the daemon
    requires a token by default, and web_client (C, raw TCP) sends none."""

    def __init__(self, io, extra=()):
        self.io = io
        self.dir = tempfile.mkdtemp(prefix=f"ptyhub-web-{io}-")
        self.sock = os.path.join(self.dir, "sock")
        self.gate = os.path.join(self.dir, "gate")
        os.mkfifo(self.gate)
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "w")
        rfd, wfd = os.pipe()
        argv = [PTYHUB, "serve", "--socket", self.sock, "--no-session", "--listen",
                "127.0.0.1:0", "--ready-fd", str(wfd), "--io", io, "--log-level", "warn",
                "--no-auth", *extra]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, pass_fds=(wfd,))
        os.close(wfd)
        self.pid = self.proc.pid
        try:
            self.addr = self._wait_ready(rfd)
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(rfd)

    def _wait_ready(self, rfd):
        """Reads `READY <host:port> <socket>` from the ready pipe; returns host:port."""
        data = b""
        deadline = time.monotonic() + 10
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchFailure(f"ptyhub serve --io {self.io} did not report READY in 10 s")
            r, _, _ = select.select([rfd], [], [], left)
            if not r:
                continue
            chunk = os.read(rfd, 256)
            if not chunk:
                raise BenchFailure(f"ptyhub serve --io {self.io} closed the ready fd without "
                                   f"READY (status {self.proc.poll()}): {self.log_tail()}")
            data += chunk
        words = data.decode().split()
        if len(words) < 2 or words[0] != "READY":
            raise BenchFailure(f"unexpected ready line from ptyhub: {data!r}")
        return words[1]

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

    def cpu(self):
        return proc_cpu_seconds(self.pid)

    def metrics(self):
        """Sums of the reactor counters in GET /metrics, by name (without _total)."""
        _, body = http_get(self.addr, "/metrics")
        out = {}
        for line in body.decode().splitlines():
            m = re.match(r"ptyhub_(reactor_\w+|bytes_\w+)_total(?:\{[^}]*\})? (\d+)$", line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
        return out

    def gated(self, cmd):
        """cmd wrapped so that it starts only when web_client opens the gate FIFO."""
        return ["sh", "-c", f'read _ < "$0"; exec "$@"', self.gate, *cmd]

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


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


NGINX_CONF = """\
# bench/web.py: nginx as a peer for GET /healthz. Loopback only, one worker per core.
worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ default_type text/plain; return 200 "ok"; }}
        location / {{ return 404; }}
    }}
}}
"""


class Nginx:
    """Debian's nginx on a private prefix and port, in the foreground (daemon off)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ptyhub-web-nginx-")
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=self.dir, port=self.port))
        self.log_path = os.path.join(self.dir, "stderr")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.pid = self.proc.pid
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchFailure(f"nginx exited with status {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise BenchFailure("nginx is not listening after 10 s")

    def log_tail(self):
        out = []
        for p in (self.log_path, os.path.join(self.dir, "error.log")):
            try:
                with open(p) as f:
                    out.append(f.read()[-1000:].strip())
            except OSError:
                pass
        return " ".join(x for x in out if x) or "(no log output)"

    def check_alive(self, what):
        if self.proc.poll() is not None:
            raise BenchFailure(f"nginx died during {what} (status {self.proc.returncode}): "
                               f"{self.log_tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master ends its workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wrk_num(pattern, text, default=None):
    m = re.search(pattern, text)
    if not m:
        if default is not None:
            return default
        raise BenchFailure(f"cannot find {pattern!r} in wrk's output: {text.strip()}")
    return m.groups()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url, threads, conns, seconds):
    """Runs wrk; returns requests/s, mean latency in ms, non-2xx count and socket errors."""
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", url]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise BenchFailure(f"wrk against {url} did not finish")
    if r.returncode != 0:
        raise BenchFailure(f"wrk failed (status {r.returncode}): {r.stderr.strip()}")
    out = r.stdout
    (rps,) = _wrk_num(r"Requests/sec:\s+([\d.]+)", out)
    lat, unit = _wrk_num(r"Latency\s+([\d.]+)(us|ms|s|m)\b", out)
    (non2xx,) = _wrk_num(r"Non-2xx or 3xx responses:\s+(\d+)", out, ("0",))
    errs = _wrk_num(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                    out, ("0", "0", "0", "0"))
    (total,) = _wrk_num(r"(\d+) requests in", out)
    return {
        "rps": float(rps),
        "lat_ms": float(lat) * _UNITS[unit],
        "requests": int(total),
        "non2xx": int(non2xx),
        "errors": dict(zip(("connect", "read", "write", "timeout"), map(int, errs))),
    }
