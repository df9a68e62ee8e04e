"""test_ready: a parent that starts the daemon learns that it is listening from one
signal: `READY <http-address> <socket-path>` on --ready-fd or on the FIFO named by
PTYHUB_READY_PIPE, and `READY=1` to $NOTIFY_SOCKET (sd_notify). Once it arrives both
listeners answer at once. A signal that cannot be delivered is an error: the daemon
says so and exits 1 rather than leave the parent waiting."""

import os
import re
import select
import socket
import subprocess
import tempfile
import time

import wire
import wsclient
from harness import Daemon, check, check_eq, ptyhub_bin, wait_for, TIMEOUT
from wsclient import Http

LINE = re.compile(rb"^READY (\S+) (\S+)\n$")


def _serve_argv(tmp, *extra):
    return [ptyhub_bin(), "serve", "--socket", os.path.join(tmp, "sock"), "--no-session"] + \
        list(extra) + os.environ.get("PTYHUB_SERVE_ARGS", "").split()


def _read_line(fd, proc, what):
    """Reads one line from a non-blocking fd, or fails if the daemon exits first."""
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, "no line on %s within %.0fs" % (what, TIMEOUT))
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        chunk = os.read(fd, 512) if r else b""
        if not chunk:
            check(proc.poll() is None, "the daemon exited with status %s before writing to %s"
                  % (proc.returncode, what))
            if r:
                time.sleep(0.02)  # a FIFO with no writer yet reads as EOF: poll again
            continue
        data += chunk
    return data


def _stop(proc):
    proc.terminate()
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the daemon ignored SIGTERM")


def _check_both_listeners(http_addr, sock_path):
    """Right after READY, without retrying, both listeners answer."""
    host, _, port = http_addr.rpartition(":")
    with Http(host, int(port), TIMEOUT) as h:
        resp = h.request("GET", "/healthz")
        check_eq((resp.status, resp.body), (200, b"ok\n"), "/healthz right after READY")
    with wire.Conn.unix(sock_path, timeout=TIMEOUT) as c:
        check_eq(c.welcome.version, wire.VERSION, "WELCOME on the Unix socket right after READY")


def test_ready_fd_3_line_format():
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        sock = os.path.join(tmp, "sock")
        r, w = os.pipe()
        proc = subprocess.Popen(_serve_argv(tmp, "--listen", "127.0.0.1:0", "--ready-fd", "3"),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, cwd=tmp, close_fds=False,
                                preexec_fn=lambda: os.dup2(w, 3))
        os.close(w)
        try:
            line = _read_line(r, proc, "fd 3")
            m = LINE.match(line)
            check(m is not None, "READY line format: %r" % line)
            addr, path = m.group(1).decode(), m.group(2).decode()
            check_eq(path, sock, "the socket path in the READY line")
            check(re.match(r"^127\.0\.0\.1:[1-9][0-9]*$", addr),
                  "the bound address, with the port port 0 picked: %r" % addr)
            _check_both_listeners(addr, sock)
            # The daemon closes the fd after the line: the parent sees end of file.
            wait_for(lambda: select.select([r], [], [], 0)[0] and os.read(r, 512) == b"",
                     "end of file on fd 3 after the READY line")
            check_eq(_stop(proc), 0, "exit status after SIGTERM")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(r)


def test_ready_fd_without_http():
    with Daemon("--listen", "none") as d:
        check_eq(d.http_addr, "-", "the HTTP address in READY with --listen none")
        with d.conn() as c:
            check_eq(c.welcome.version, wire.VERSION, "the Unix socket answers")


def test_ready_fd_that_is_not_open_is_a_usage_error():
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        p = subprocess.run(_serve_argv(tmp, "--listen", "127.0.0.1:0", "--ready-fd", "97"),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT, cwd=tmp)
        check_eq(p.returncode, 2, "exit status")
        check(b"--ready-fd" in p.stderr, "the error names --ready-fd: %r" % p.stderr)


def test_ready_pipe_fifo():
    d = Daemon()
    fifo = os.path.join(d.dir, "ready.fifo")
    os.mkfifo(fifo)
    # Opened before the daemon starts (non-blocking, so this does not wait for a writer).
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    d.env["PTYHUB_READY_PIPE"] = fifo
    try:
        with d:
            line = _read_line(fd, d.proc, "the FIFO %s" % fifo)
            check_eq(line, ("READY %s %s\n" % (d.http_addr, d.sock)).encode(),
                     "the line on the FIFO (the same as on --ready-fd)")
            _check_both_listeners(d.http_addr, d.sock)
    finally:
        os.close(fd)


def _notify_socket(tmp, abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "ptyhub-it-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        s.bind("\0" + name)
        return s, "@" + name
    path = os.path.join(tmp, "notify")
    s.bind(path)
    return s, path


def test_notify_socket_gets_ready_1():
    for abstract in (False, True):
        d = Daemon()
        s, addr = _notify_socket(d.dir, abstract)
        d.env["NOTIFY_SOCKET"] = addr
        try:
            with d:
                r, _, _ = select.select([s], [], [], TIMEOUT)
                check(r, "a datagram on NOTIFY_SOCKET %s within %ss" % (addr, TIMEOUT))
                check_eq(s.recv(4096), b"READY=1", "what the daemon sent to %s" % addr)
                check_eq(wsclient.get(d, "/healthz").status, 200, "/healthz after READY=1")
        finally:
            s.close()


def _start_fails(env_extra, what):
    """The daemon, given env_extra, must exit 1 with an error naming what, and leave no
    socket behind."""
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        env_extra = {k: v.replace("TMP", tmp) for k, v in env_extra.items()}
        env = dict(os.environ, **env_extra)
        env.pop("PTYHUB_SOCKET", None)
        p = subprocess.run(_serve_argv(tmp, "--listen", "127.0.0.1:0"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp,
                           timeout=TIMEOUT)
        err = p.stderr.decode(errors="replace")
        check_eq(p.returncode, 1, "exit status when %s (stderr %r)" % (what, err))
        check("error" in err and any(k in err or v in err for k, v in env_extra.items()),
              "the log names what failed (%r): %r" % (env_extra, err))
        check(not os.path.exists(os.path.join(tmp, "sock")), "no socket left behind")
        check_eq(p.stdout, b"", "nothing on stdout")


def test_notify_socket_nobody_listens_exits_1():
    _start_fails({"NOTIFY_SOCKET": "TMP/nobody-here"}, "NOTIFY_SOCKET names no socket")


def test_notify_socket_to_a_closed_socket_exits_1():
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(os.path.join(tmp, "gone"))
        s.close()  # the file stays, nobody receives
        _start_fails({"NOTIFY_SOCKET": os.path.join(tmp, "gone")},
                     "NOTIFY_SOCKET's listener has gone")


def test_ready_pipe_that_cannot_be_written_exits_1():
    _start_fails({"PTYHUB_READY_PIPE": "TMP/no/such/fifo"}, "PTYHUB_READY_PIPE does not exist")


def test_ready_pipe_fifo_without_reader_exits_1():
    # Nobody ever opens the FIFO for reading: the daemon gives up (after a few seconds)
    # instead of blocking its start-up forever.
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        _start_fails({"PTYHUB_READY_PIPE": fifo}, "nobody reads PTYHUB_READY_PIPE")
