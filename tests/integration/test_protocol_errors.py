"""test_protocol_errors: bad input on the raw socket. Each kind gets an ERROR with its
code (wire.h enum wire_err); the connection is closed exactly for the codes after which
wire_err_closes() says the server closes; and afterwards the daemon still serves other
clients and an existing session is still running."""

import socket
import struct

import wire
from harness import Daemon, check, check_eq, fd_count, pid_alive, wait_for


def _session(d):
    """An existing session that must survive whatever happens to other connections."""
    sid = d.new("sleep", "1000")
    pid = next(e["pid"] for e in d.ls_json() if e["id"] == sid)
    return sid, pid


def _still_fine(d, sid, pid):
    with d.conn() as c:
        entry = next((e for e in c.list() if e.sid == sid), None)
        check(entry is not None and entry.state == wire.STATE_RUNNING,
              "session %d listed and running after the bad input: %r" % (sid, entry))
    check(pid_alive(pid), "session %d's process %d is alive" % (sid, pid))


def _expect_error(c, code, req=None):
    m = c.recv()
    check(m.type == wire.ERROR, "expected ERROR %s, got %r" % (code, m))
    check_eq(m.code, code, "ERROR code (message %r)" % m.message)
    if req is not None:
        check_eq(m.req, req, "ERROR req")
    check(m.message, "the ERROR carries a message")
    return m


def _expect_closed(c, code):
    check(wire.closed_by_peer(c), "the daemon closes the connection after ERROR %d" % code)


def _expect_open(c):
    """The connection still works: a LIST gets its reply."""
    c.list()


def _case(send, code, closes, handshake=True):
    with Daemon() as d:
        sid, pid = _session(d)
        base_fds = fd_count(d.pid)
        with d.conn(handshake=handshake) as c:
            send(c)
            _expect_error(c, code)
            check_eq(code in wire.CLOSING_ERRORS, closes, "wire_err_closes(%d)" % code)
            if closes:
                _expect_closed(c, code)
            else:
                _expect_open(c)
        _still_fine(d, sid, pid)
        wait_for(lambda: fd_count(d.pid) <= base_fds + 1,
                 "the daemon's fd count to come back to %d (now %d)" % (base_fds,
                                                                        fd_count(d.pid)))


def test_garbage_bytes_first():
    # An HTTP request on the socket: its first 4 bytes read as a huge length.
    _case(lambda c: c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.ERR_TOO_LARGE,
          True, handshake=False)


def test_malformed_body():
    # An ATTACH cut short inside a correctly framed body.
    _case(lambda c: c.send(bytes([wire.ATTACH]) + b"\x01\x00\x00"), wire.ERR_BAD_FRAME, True)


def test_zero_length_frame():
    _case(lambda c: c.send_raw(b"\x00\x00\x00\x00"), wire.ERR_BAD_FRAME, True)


def test_frame_declaring_2_gib():
    _case(lambda c: c.send_raw(struct.pack("<I", 2 << 30) + b"\x05" * 64), wire.ERR_TOO_LARGE,
          True)


def test_unknown_type():
    _case(lambda c: c.send(b"\x77junk"), wire.ERR_UNKNOWN_TYPE, False)


def test_attach_unknown_session():
    def send(c):
        c.send(wire.attach(42, 99999))
    with Daemon() as d:
        sid, pid = _session(d)
        with d.conn() as c:
            send(c)
            _expect_error(c, wire.ERR_NO_SUCH_SESSION, req=42)
            _expect_open(c)
        _still_fine(d, sid, pid)


def test_first_message_not_hello():
    _case(lambda c: c.send(wire.list_(1)), wire.ERR_NOT_HELLO, True, handshake=False)


def test_wrong_version():
    # Version 0 is below every version the server speaks; a higher one than the server's
    # is answered with the highest common version instead (test_version_negotiation).
    _case(lambda c: c.send(wire.hello(version=0)), wire.ERR_VERSION, True, handshake=False)


def test_version_negotiation():
    # A client names the highest version it speaks; WELCOME carries the highest common
    # one, so a future client can fall back, and a version 1 client keeps version 1.
    with Daemon() as d:
        for asked, want in ((1, 1), (2, 2), (3, wire.SERVER_VERSION), (7, wire.SERVER_VERSION),
                            (65535, wire.SERVER_VERSION)):
            with wire.Conn.unix(d.sock, handshake=False, timeout=60) as c:
                c.send(wire.hello(version=asked))
                m = c.recv()
                check_eq((m.type, m.version), (wire.WELCOME, want), "WELCOME for HELLO %d" % asked)
                check_eq(bool(m.flags & wire.WELCOME_F_WRITE), want >= 2,
                         "the WRITE capability bit for version %d" % want)


def test_bad_argument_keeps_the_connection():
    # Well formed, out of range: size 0x5, and an env entry without '='.
    def send(c):
        c.send(wire.create(7, ["true"], cols=0, rows=5))
    _case(send, wire.ERR_BAD_ARGUMENT, False)
    _case(lambda c: c.send(wire.create(8, ["true"], env=["NOEQUALS"])), wire.ERR_BAD_ARGUMENT,
          False)


def test_truncated_frame_then_close():
    with Daemon() as d:
        sid, pid = _session(d)
        base_fds = fd_count(d.pid)
        with d.conn() as c:
            # 16 bytes declared, 2 sent, then our side of the stream ends.
            c.send_raw(b"\x10\x00\x00\x00" + bytes([wire.LIST]) + b"\x01")
            c.owner.shutdown(socket.SHUT_WR)
            got = c.wait_closed()
            check(all(m.type == wire.ERROR and m.code == wire.ERR_BAD_FRAME for m in got),
                  "at most an ERROR bad_frame before the close, got %r" % got)
        _still_fine(d, sid, pid)
        wait_for(lambda: fd_count(d.pid) <= base_fds + 1,
                 "the daemon's fd count to come back to %d (now %d)" % (base_fds,
                                                                        fd_count(d.pid)))
        # Many at once, and closed abruptly mid-frame.
        for _ in range(50):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            s.sendall(wire.frame(wire.hello()) + b"\xff\xff\x00\x00\x05")
            s.close()
        _still_fine(d, sid, pid)
        wait_for(lambda: fd_count(d.pid) <= base_fds + 1,
                 "the daemon's fd count to come back to %d after 50 aborted clients (now %d)"
                 % (base_fds, fd_count(d.pid)))
