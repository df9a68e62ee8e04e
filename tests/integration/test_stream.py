"""test_stream: output arrives whole and in order: 10 MiB through a lossless client with
the default 1 MiB ring (the PTY is held back, nothing is dropped), the same through
`ptyhub output`, and a client that reattaches from an offset mid-stream gets exactly the
rest — no byte twice, none missing."""

import hashlib
import os
import subprocess

import wire
from harness import Daemon, check, check_eq, TIMEOUT

SIZE = 10 * 1024 * 1024


def read_stream(conn, sid, start, stop_at=None, timeout=TIMEOUT):
    """Reads OUTPUT for sid from offset start, checking that offsets are contiguous, until
    EXIT (returns (data, exit msg)) or until stop_at bytes are in (returns (data, None))."""
    data = bytearray()
    pos = start
    while stop_at is None or pos < stop_at:
        m = conn.recv(timeout)
        if m.type == wire.OUTPUT and m.sid == sid:
            check_eq(m.offset, pos, "offset of the next OUTPUT (contiguous)")
            data += m.data
            pos += len(m.data)
        elif m.type == wire.EXIT and m.sid == sid:
            check_eq(m.end, pos, "EXIT.end (every byte arrived before EXIT)")
            return data, m
        elif m.type == wire.GAP:
            raise AssertionError("a lossless client got %r" % m)
        elif m.type == wire.ERROR:
            raise AssertionError("unexpected %r" % m)
    return data, None


def _make_data(d):
    """Writes 10 MiB of random bytes into the daemon's temp dir; returns them."""
    data = os.urandom(SIZE)
    with open(os.path.join(d.dir, "data.bin"), "wb") as f:
        f.write(data)
    return data


# The session goes raw (no \n → \r\n, no echo), says READY, waits for a line, then writes
# the file: whoever is attached before the line is sent must get every byte.
SCRIPT = "stty raw -echo; printf READY; read x; cat data.bin"


def test_10mib_lossless_client_gets_every_byte():
    with Daemon() as d:
        data = _make_data(d)
        want = hashlib.sha256(b"READY" + data).hexdigest()
        with d.conn() as c:
            sid = c.create(["sh", "-c", SCRIPT], cwd=d.dir)
            att = c.attach(sid, mode=wire.MODE_INTERACTIVE, from_kind=wire.FROM_OFFSET, from_=0)
            check_eq(att.start, 0, "ATTACHED.start")
            head, _ = read_stream(c, sid, 0, stop_at=5)
            check_eq(bytes(head), b"READY", "first output")
            c.send(wire.input_(sid, b"\n"))
            rest, exit_msg = read_stream(c, sid, len(head))
            got = hashlib.sha256(bytes(head) + bytes(rest)).hexdigest()
            check_eq(len(head) + len(rest), 5 + SIZE, "bytes received")
            check_eq(got, want, "sha256 of the stream")
            check_eq((exit_msg.code, exit_msg.signal), (0, 0), "exit status")


test_10mib_lossless_client_gets_every_byte.timeout = 600


def test_10mib_through_output_cli():
    with Daemon("--scrollback", "16M") as d:
        data = _make_data(d)
        want = hashlib.sha256(b"READY" + data).hexdigest()
        sid = int(d.ok("new", "--cwd", d.dir, "--", "sh", "-c", SCRIPT))
        # `output --follow` from 0, started before the data flows, writing to a file.
        follow_path = os.path.join(d.dir, "follow.out")
        with open(follow_path, "wb") as f:
            follower = subprocess.Popen([d.bin, "output", "--socket", d.sock, "--follow",
                                         str(sid)], stdout=f, stderr=subprocess.PIPE)
            with d.conn() as c:
                c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_OFFSET, from_=0)
                read_stream(c, sid, 0, stop_at=5)
            d.ok("send", str(sid), "\n")
            check_eq(d.cli("wait", str(sid), timeout=600).returncode, 0, "session status")
            _, err = follower.communicate(timeout=600)
        check_eq(follower.returncode, 0, "`output --follow` status (stderr %r)" % err)
        with open(follow_path, "rb") as f:
            followed = f.read()
        check_eq(len(followed), 5 + SIZE, "bytes from `output --follow`")
        check_eq(hashlib.sha256(followed).hexdigest(), want, "sha256 from `output --follow`")
        # After the exit, `output` replays all of it from the 16 MiB ring.
        out = d.cli("output", str(sid), timeout=600)
        check_eq((out.returncode, out.stderr), (0, b""), "`output` status and stderr")
        check_eq(len(out.stdout), 5 + SIZE, "bytes from `output`")
        check_eq(hashlib.sha256(out.stdout).hexdigest(), want, "sha256 from `output`")


test_10mib_through_output_cli.timeout = 600


def test_reattach_from_offset_mid_stream():
    # A ring big enough to keep everything: this is about offsets, not about loss.
    with Daemon("--scrollback", "4M") as d:
        full = b"".join(b"%d\r\n" % i for i in range(1, 200001))
        k = 300007  # mid-line, and well inside the stream
        with d.conn() as c:
            sid = c.create(["seq", "1", "200000"])
            c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_OFFSET, from_=0)
            first, _ = read_stream(c, sid, 0, stop_at=k)
        with d.conn() as c:
            att = c.attach(sid, mode=wire.MODE_READ_ONLY, from_kind=wire.FROM_OFFSET, from_=k)
            check(att.start <= k, "offset %d still retained (ATTACHED %r)" % (k, att))
            rest, exit_msg = read_stream(c, sid, k)
        got = bytes(first[:k]) + bytes(rest)
        check_eq(len(got), len(full), "length of the two halves together")
        check(got == full, "the two halves are the sequence (first difference at %d)"
              % next((i for i in range(len(full)) if got[i] != full[i]), -1))
        check_eq(exit_msg.code, 0, "seq status")
        # The same through the CLI.
        out = d.ok("output", "--from", str(k), str(sid))
        check(out == full[k:], "`output --from %d` (%d bytes, want %d)" % (k, len(out),
                                                                            len(full) - k))


def test_resized_tells_the_other_attached_clients():
    # When one interactive client resizes a session, every other client attached to it
    # that speaks version 2 gets RESIZED at once; a version 1 client gets nothing new
    # (it learns the size from ATTACHED or LIST, as before).
    with Daemon() as d:
        a = d.conn()
        b = d.conn()
        old = wire.Conn.unix(d.sock, timeout=60, version=1)
        try:
            check(a.welcome.flags & wire.WELCOME_F_RESIZED, "WELCOME announces RESIZED")
            check_eq(old.welcome.flags, 0, "no capability bits for a version 1 client")
            sid = a.create(["cat"])
            a.attach(sid)
            b.attach(sid, mode=wire.MODE_READ_ONLY)
            old.attach(sid, mode=wire.MODE_READ_ONLY)
            a.send(wire.resize(sid, 123, 45))
            m = b.recv_until(lambda m: m.type == wire.RESIZED, timeout=60)
            check_eq((m.sid, m.cols, m.rows), (sid, 123, 45), "RESIZED to the other client")
            m = a.recv_until(lambda m: m.type == wire.RESIZED, timeout=60)
            check_eq((m.cols, m.rows), (123, 45), "RESIZED to the resizing client too")
            rows = {e.sid: e for e in old.list(timeout=60)}
            check_eq((rows[sid].cols, rows[sid].rows), (123, 45), "LIST has the new size")
            old.send(wire.list_(99))
            seen = []
            old.recv_until(lambda m: m.type == wire.LIST_REPLY and m.req == 99, timeout=60,
                           keep=seen)
            check(not [m for m in seen if m.type == wire.RESIZED],
                  "a version 1 client gets no RESIZED: %r" % seen)
        finally:
            a.close()
            b.close()
            old.close()
