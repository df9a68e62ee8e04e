"""test_ws: the session protocol over WebSocket (/ws), as a browser or a program using a
WebSocket library sees it. The upgrade and its refusals; one binary message per body;
RFC 6455 rules enforced with the right close codes (unmasked 1002, text 1003, too big
1009, a bad protocol body ERROR then 1008); ping/pong and the close handshake; fragmented
messages with control frames in between. Output: two clients of one session get the
same bytes, a client that reconnects from its offset misses nothing, an ACK-paced client
is sent at most its window until it acknowledges, input is echoed, and the per-session
client limit holds."""

import hashlib
import socket
import struct
import threading

import wire
import wsclient
from harness import Daemon, check, check_eq, wait_for, TIMEOUT
from wsclient import Http, WsConn, call, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT

MIB = 1 << 20
ACK_WINDOW = 2 * MIB  # the server's window for ACK-paced clients (conn.c)

# Raw, no echo; says READY, waits for a line, then floods: whoever attached before the
# line gets every byte.
GATED_SEQ = "stty raw -echo; printf READY; read x; exec seq 1 %d"


def _seq_bytes(n):
    return b"READY" + b"".join(b"%d\n" % i for i in range(1, n + 1))


def _ws(d, **kw):
    c = WsConn.connect(d, **kw)
    c.handshake()
    return c


def _refused(d, req, status, closes=True):
    """Sends an upgrade request; returns the response after checking its status and,
    when closes, that the daemon then closes the connection."""
    with Http.to(d) as h:
        h.send(req)
        resp = h.read_response()
        check_eq(resp.status, status, "status of %r" % resp)
        if closes:
            check(h.closed_by_server(), "the daemon closes after a refused upgrade")
        else:
            check_eq(h.request("GET", "/healthz").status, 200, "/healthz after the %d" % status)
    return resp


def _expect_close(c, code, what):
    """The next thing from the server (after any messages) is a close frame with code,
    then the end of the TCP connection."""
    got, _ = c.wait_close(TIMEOUT)
    check_eq(got, code, "close code after %s" % what)
    check(c.tcp_closed(TIMEOUT), "the TCP connection is closed after %s" % what)


def _round_trip(c):
    """A request the server must answer (ATTACH of a session that does not exist); returns
    what came before the answer. The server handles a connection's messages in order, so
    everything sent before has been handled."""
    keep = []
    req = c.req()
    c.send(wire.attach(req, 0xFFFFFFF0))
    m = c.recv_until(lambda m: getattr(m, "req", None) == req, keep=keep)
    check(m.type == wire.ERROR and m.code == wire.ERR_NO_SUCH_SESSION,
          "ATTACH of no session: %r" % m)
    return keep


def _still_serving(d):
    with _ws(d) as c:
        _round_trip(c)
    check_eq(wsclient.get(d, "/healthz").status, 200, "/healthz")


def _read_output(c, sid, pos, stop_at=None, timeout=TIMEOUT):
    """Reads sid's OUTPUT from offset pos, contiguous, until EXIT (returns (data, exit)) or
    until stop_at bytes are in (returns (data, None))."""
    data = bytearray()
    while stop_at is None or pos < stop_at:
        m = c.recv(timeout)
        if m.type == wire.OUTPUT and m.sid == sid:
            check_eq(m.offset, pos, "offset of the next OUTPUT (contiguous)")
            data += m.data
            pos += len(m.data)
        elif m.type == wire.EXIT and m.sid == sid:
            check_eq(m.end, pos, "EXIT.end (every byte arrived before EXIT)")
            return bytes(data), m
        elif m.type in (wire.GAP, wire.ERROR):
            raise AssertionError("unexpected %r" % m)
    return bytes(data), None


def test_ws_handshake_refusals():
    with Daemon() as d:
        auth = d.http_addr
        tok = d.auth_header()  # built by hand: the token is added explicitly
        req, _ = wsclient.upgrade_request(auth, headers=[("Sec-WebSocket-Key", None)] + tok)
        _refused(d, req, 400)
        req, _ = wsclient.upgrade_request(auth, headers=[("Sec-WebSocket-Key", "short")] + tok)
        _refused(d, req, 400)
        req, _ = wsclient.upgrade_request(auth, headers=[("Sec-WebSocket-Version", "8")] + tok)
        resp = _refused(d, req, 426)
        check_eq(resp.header("Sec-WebSocket-Version"), "13", "426 names the version to use")
        req, _ = wsclient.upgrade_request(auth, headers=[("Upgrade", None)] + tok)
        _refused(d, req, 400)
        post = wsclient.upgrade_request(auth, headers=tok)[0].replace(b"GET ", b"POST ", 1)
        _refused(d, post, 405, closes=False)
        # A plain GET of /ws is not an upgrade.
        with Http.to(d) as h:
            check_eq(h.request("GET", "/ws").status, 400, "GET /ws without Upgrade")
        _still_serving(d)


def test_ws_hello_welcome_in_binary_messages():
    with Daemon() as d:
        c = WsConn.connect(d)
        with c:
            check_eq(c.response.header("Upgrade").lower(), "websocket", "101's Upgrade header")
            c.send(wire.hello())
            fin, op, body = c.next_frame(TIMEOUT)
            check_eq((fin, op), (True, OP_BINARY), "WELCOME comes as one binary frame")
            m = wire.decode(body)
            check_eq(m.type, wire.WELCOME, "first message")
            check_eq((m.version, m.server_pid), (wire.VERSION, d.pid), "WELCOME version and pid")
            check(m.server_version.startswith(b"ptyhub "), "version string %r" % m.server_version)
            sid = c.create(["sh", "-c", "printf hi"])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            data, ex = _read_output(c, sid, 0)
            check_eq((data, ex.code), (b"hi", 0), "a session's output and exit")


def test_ws_list():
    with Daemon() as d:
        with _ws(d) as c:
            # The reply is one binary message, framed like every other (FIN + binary:
            # first byte 0x82), not with the byte streams' u32 length prefix.
            c.send(wire.list_(c.req()))
            while len(c.buf) < 8 and not c.eof:
                c.fill(TIMEOUT)
            check_eq(c.buf[:1], b"\x82", "first byte of the LIST_REPLY frame (raw bytes %r)"
                     % bytes(c.buf[:16]))
            check_eq(wire.decode(c.next_frame(TIMEOUT)[2]).entries, [], "LIST of no sessions")
            sids = [c.create(["sleep", "100"], name="s%d" % i) for i in range(3)]
            got = c.list()
            check_eq(sorted(e.sid for e in got), sorted(sids), "LIST over WebSocket")
            check_eq(sorted(e.name for e in got), [b"s0", b"s1", b"s2"], "names")
            for sid in sids:
                c.send(wire.signal_(c.req(), sid, 0))


def test_ws_unmasked_frame_closes_1002():
    with Daemon() as d:
        with WsConn.connect(d) as c:
            c.send_frame(OP_BINARY, wire.hello(), mask=False)
            _expect_close(c, 1002, "an unmasked client frame")
        with _ws(d) as c:
            c.send_frame(OP_PING, b"x" * 126)  # control frames carry at most 125 bytes
            _expect_close(c, 1002, "a 126-byte ping")
        with _ws(d) as c:
            c.send_frame(OP_BINARY, wire.list_(1), rsv=4)
            _expect_close(c, 1002, "a frame with RSV1 set (no extension was agreed)")
        _still_serving(d)


def test_ws_text_frame_closes_1003():
    with Daemon() as d:
        with _ws(d) as c:
            c.send_frame(OP_TEXT, b'{"type":"hello"}')
            _expect_close(c, 1003, "a text message")
        with _ws(d) as c:
            c.send_frame(OP_TEXT, b"\xff\xfe not utf-8")
            _expect_close(c, 1007, "a text message that is not UTF-8")
        _still_serving(d)


def test_ws_ping_gets_pong_with_the_same_payload():
    with Daemon() as d:
        with WsConn.connect(d) as c:
            c.ping(b"before hello")
            check_eq(c.next_frame(TIMEOUT), (True, OP_PONG, b"before hello"), "pong")
            c.handshake()
            payload = bytes(range(125))
            c.ping(payload)
            check_eq(c.next_frame(TIMEOUT), (True, OP_PONG, payload), "pong of 125 bytes")
            c.ping(b"")
            check_eq(c.next_frame(TIMEOUT), (True, OP_PONG, b""), "pong of an empty ping")
            # An unsolicited pong is fine (§5.5.3): the connection goes on.
            c.send_frame(OP_PONG, b"unsolicited")
            _round_trip(c)


def test_ws_close_handshake():
    with Daemon() as d:
        with _ws(d) as c:
            c.send_close(1000, "bye")
            fin, op, payload = c.next_frame(TIMEOUT)
            check_eq((fin, op), (True, OP_CLOSE), "the server answers with a close frame")
            check_eq(struct.unpack("!H", payload[:2])[0], 1000, "its code")
            check(c.tcp_closed(TIMEOUT), "then the server closes the TCP connection")
            check_eq(bytes(c.buf), b"", "nothing after the close frame")
        with _ws(d) as c:
            c.send_frame(OP_CLOSE, b"")  # no status code (§7.1.5: 1005)
            check(c.wait_close(TIMEOUT)[0] in (None, 1000), "close code for a bare close")
            check(c.tcp_closed(TIMEOUT), "closed after a bare close")
        with _ws(d) as c:
            c.send_close(1001, "going away")
            c.wait_close(TIMEOUT)
            check(c.tcp_closed(TIMEOUT), "closed after a 1001 close")
        _still_serving(d)


def test_ws_fragmented_message_with_a_ping_between():
    with Daemon() as d:
        with WsConn.connect(d) as c:
            hello = wire.hello()
            c.send_frame(OP_BINARY, hello[:3], fin=False)
            c.send_frame(OP_PING, b"mid-message")
            c.send_frame(OP_CONT, hello[3:6], fin=False)
            c.send_frame(OP_CONT, hello[6:], fin=True)
            check_eq(c.next_frame(TIMEOUT), (True, OP_PONG, b"mid-message"),
                     "the ping inside the message is answered at once")
            m = c.recv(TIMEOUT)
            check_eq(m.type, wire.WELCOME, "a HELLO in three fragments gets WELCOME")
            # A fragmented CREATE, then an ordinary message: both work.
            body = wire.create(7, ["sh", "-c", "printf frag"])
            c.send_frame(OP_BINARY, body[:1], fin=False)
            c.send_frame(OP_CONT, b"", fin=False)
            c.send_frame(OP_CONT, body[1:], fin=True)
            created = c.recv_until(lambda m: getattr(m, "req", None) == 7)
            check_eq(created.type, wire.CREATED, "a fragmented CREATE: %r" % created)
            c.attach(created.sid, from_kind=wire.FROM_OFFSET, from_=0)
            data, ex = _read_output(c, created.sid, 0)
            check_eq((data, ex.code), (b"frag", 0), "its output and status")
        with _ws(d) as c:
            # A continuation with no message started, and a new message inside one.
            c.send_frame(OP_CONT, b"x", fin=True)
            _expect_close(c, 1002, "a stray continuation frame")
        with _ws(d) as c:
            c.send_frame(OP_BINARY, b"\x08", fin=False)
            c.send_frame(OP_BINARY, b"\x08", fin=True)
            _expect_close(c, 1002, "a new message inside a fragmented one")


def test_ws_message_over_1mib_closes_1009():
    with Daemon() as d:
        with _ws(d) as c:
            # A header declaring 1 MiB + 1: refused without waiting for the payload.
            c.send_raw(wsclient.frame_bytes(OP_BINARY, b"", declared_len=MIB + 1)[:14])
            _expect_close(c, 1009, "a frame declaring 1 MiB + 1")
        with _ws(d) as c:
            # Fragments adding up to 1 MiB + 1.
            c.send_frame(OP_BINARY, b"\x05" + b"\0" * (MIB - 1), fin=False)
            c.send_frame(OP_CONT, b"!", fin=True)
            _expect_close(c, 1009, "fragments adding up to 1 MiB + 1")
        _still_serving(d)


def test_ws_message_of_exactly_1mib_is_accepted():
    with Daemon() as d:
        with _ws(d) as c:
            n = MIB - 5  # INPUT: type, sid, then the bytes
            sid = c.create(["sh", "-c", "stty raw -echo; printf R; head -c %d | wc -c" % n])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            data, _ = _read_output(c, sid, 0, stop_at=1)
            check_eq(data, b"R", "the session is ready")
            c.send(wire.input_(sid, b"i" * n))
            data, ex = _read_output(c, sid, 1)
            check_eq((data.strip(), ex.code), (b"%d" % n, 0), "all %d bytes arrived" % n)


def test_ws_large_inputs_are_delivered_whole():
    # Sixteen 1 MiB WRITE messages to a program that reads as fast as it can, each sent
    # once the previous one's OK says it reached the PTY: the input queue (1 MiB) fills
    # and drains many times, and not a byte may be lost or stuck.
    n, count = MIB - 10, 16
    with Daemon() as d:
        with _ws(d) as c:
            sid = c.create(["sh", "-c", "stty raw -echo; printf R; head -c %d | wc -c"
                            % (n * count)])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            data, _ = _read_output(c, sid, 0, stop_at=1)
            for i in range(count):
                c.send(wire.write(100 + i, sid, b"%c" % (65 + i) * n))
                while True:
                    m = c.recv()
                    if m.type == wire.OK and m.req == 100 + i:
                        break
                    check(m.type in (wire.OUTPUT, wire.OK), "unexpected %r" % m)
            data, ex = _read_output(c, sid, 1)
            check_eq((data.strip(), ex.code), (b"%d" % (n * count), 0),
                     "all %d bytes arrived" % (n * count))


def test_ws_bad_protocol_body_gets_error_then_1008():
    cases = [
        (True, b"\x03\x01\x02", wire.ERR_BAD_FRAME, "a truncated ATTACH"),
        (True, wire.hello() + b"x", wire.ERR_BAD_FRAME, "a second HELLO with a trailing byte"),
        (False, wire.list_(1), wire.ERR_NOT_HELLO, "LIST before HELLO"),
        (False, b"\x01XXXX\x01\x00\x00\x00", wire.ERR_BAD_FRAME, "HELLO with bad magic"),
        (False, wire.hello(version=0), wire.ERR_VERSION, "HELLO version 0"),
    ]
    with Daemon() as d:
        for hello_first, body, code, what in cases:
            c = _ws(d) if hello_first else WsConn.connect(d)
            with c:
                c.send(body)
                m = c.recv(TIMEOUT)
                check(m.type == wire.ERROR and m.code == code,
                      "%s: ERROR %d expected, got %r" % (what, code, m))
                check(m.message, "the ERROR explains itself")
                _expect_close(c, 1008, what)
        # An unknown type is answered and the connection kept.
        with _ws(d) as c:
            c.send(b"\x77junk")
            m = c.recv(TIMEOUT)
            check(m.type == wire.ERROR and m.code == wire.ERR_UNKNOWN_TYPE, "got %r" % m)
            _round_trip(c)
        _still_serving(d)


def test_ws_empty_message_is_a_bad_frame():
    # An empty message is malformed (docs/protocol.md, Framing): ERROR bad_frame, close
    # 1008 — whether it comes in one frame or as empty fragments — and the daemon lives.
    with Daemon() as d:
        for frames, what in (([(OP_BINARY, True)], "an empty message"),
                             ([(OP_BINARY, False), (OP_CONT, True)], "two empty fragments"),
                             ([(OP_BINARY, False), (OP_CONT, False), (OP_CONT, True)],
                              "three empty fragments")):
            with _ws(d) as c:
                for op, fin in frames:
                    c.send_frame(op, b"", fin=fin)
                try:
                    m = c.recv(TIMEOUT)
                except wire.Closed:
                    m = "the end of the connection"
                check(d.proc.poll() is None, "the daemon is alive after %s (exit status %s)"
                      % (what, d.proc.returncode))
                check(getattr(m, "type", None) == wire.ERROR and m.code == wire.ERR_BAD_FRAME,
                      "%s: ERROR bad_frame expected, got %r" % (what, m))
                _expect_close(c, 1008, what)
        _still_serving(d)


def test_ws_two_clients_get_identical_bytes():
    n = 300000
    want = _seq_bytes(n)
    with Daemon("--threads", "2") as d:
        sid = call(d, "POST", "/api/sessions", {"argv": ["sh", "-c", GATED_SEQ % n]}).json()["id"]
        clients = [_ws(d), _ws(d)]
        for c in clients:
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            head, _ = _read_output(c, sid, 0, stop_at=5)
            check_eq(head, b"READY", "the first bytes")
        results = [None, None]

        def reader(i):
            try:
                results[i] = _read_output(clients[i], sid, 5)
            except BaseException as e:  # reported by the main thread
                results[i] = e
        threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        clients[0].send(wire.input_(sid, b"\n"))
        for t in threads:
            t.join(TIMEOUT * 3)
            check(not t.is_alive(), "a reader finished within %ss" % (TIMEOUT * 3))
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                raise AssertionError("client %d: %r" % (i, r))
        hashes = [hashlib.sha256(b"READY" + r[0]).hexdigest() for r in results]
        check_eq(hashes[0], hashes[1], "sha256 of what the two clients received")
        check_eq(len(results[0][0]) + 5, len(want), "bytes received")
        check_eq(hashes[0], hashlib.sha256(want).hexdigest(), "sha256 of seq 1 %d" % n)
        check_eq([r[1].code for r in results], [0, 0], "exit codes")
        for c in clients:
            c.close()


test_ws_two_clients_get_identical_bytes.timeout = 600


def test_ws_reconnect_from_the_last_offset():
    n = 300000
    want = _seq_bytes(n)
    with Daemon("--scrollback", "4M") as d:
        sid = call(d, "POST", "/api/sessions", {"argv": ["sh", "-c", GATED_SEQ % n]}).json()["id"]
        first = _ws(d)
        first.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
        head, _ = _read_output(first, sid, 0, stop_at=5)
        first.send(wire.input_(sid, b"\n"))
        part, _ = _read_output(first, sid, 5, stop_at=len(want) // 3)
        got = head + part
        # Gone without a goodbye: the TCP connection just ends.
        first.owner.shutdown(socket.SHUT_RDWR)
        first.close()
        with _ws(d) as again:
            att = again.attach(sid, from_kind=wire.FROM_OFFSET, from_=len(got))
            check(att.start <= len(got) <= att.end or att.state == wire.STATE_EXITED,
                  "ATTACHED [%d, %d) covers offset %d" % (att.start, att.end, len(got)))
            rest, ex = _read_output(again, sid, len(got))
        check_eq(len(got) + len(rest), len(want), "bytes received in all")
        check(got + rest == want, "the two parts put together are exactly the output")
        check_eq(ex.code, 0, "exit code")


test_ws_reconnect_from_the_last_offset.timeout = 600


def _ack_paced_flood(d):
    """An ACK-paced client attached to `yes` from the live edge that never ACKs: reads
    until nothing more comes; returns (conn, sid, start offset, bytes received)."""
    c = WsConn.connect(d)
    c.handshake(flags=wire.HELLO_F_ACK)
    sid = c.create(["yes"])
    att = c.attach(sid, from_kind=wire.FROM_LIVE)
    start = pos = att.end
    while True:
        try:
            m = c.recv(3)
        except TimeoutError:
            break  # nothing for a while: the window is presumably full
        if m.type == wire.OUTPUT:
            check_eq(m.offset, pos, "contiguous OUTPUT")
            check(set(m.data) <= set(b"y\r\n"), "`yes` output")
            pos += len(m.data)
            check(pos - start <= ACK_WINDOW + 64 * 1024,
                  "an ACK-paced client that never ACKs got %d bytes (window ~%d)"
                  % (pos - start, ACK_WINDOW))
        elif m.type in (wire.GAP, wire.EXIT, wire.ERROR):
            raise AssertionError("unexpected %r" % m)
    check(pos - start >= 64 * 1024, "the client got output before stopping: %d bytes"
          % (pos - start))
    return c, sid, start, pos - start


def test_ws_ack_paced_client_gets_a_window_then_more_after_ack():
    with Daemon() as d:
        c, sid, start, got = _ack_paced_flood(d)
        # Nothing more: a request round trip brings no OUTPUT with it, nor does a pause.
        check_eq(_round_trip(c), [], "messages before the reply to a request")
        entry = wait_for(lambda: next((e for e in d.ls_json() if e["id"] == sid and
                                       e["level"] in ("heavy", "blocked")), None),
                         "the unacknowledging interactive client to hold `yes` back")
        try:
            m = c.recv(2)
            raise AssertionError("got %r after the window was full" % m)
        except TimeoutError:
            pass
        check(entry["bytes_out"] < start + got + 8 * MIB,
              "`yes` is held back: %d bytes out" % entry["bytes_out"])
        # ACK what was received: more comes, from exactly where it stopped.
        c.send(wire.ack(sid, start + got))
        more, _ = _read_output(c, sid, start + got, stop_at=start + got + 64 * 1024)
        check(len(more) >= 64 * 1024, "more output after the ACK")
        # And again: each ACK opens the window by what it acknowledges.
        pos = start + got + len(more)
        for _ in range(20):
            c.send(wire.ack(sid, pos))
            data, _ = _read_output(c, sid, pos, stop_at=pos + MIB)
            pos += len(data)
        check(pos - start > 10 * MIB, "a client that keeps ACKing keeps receiving")
        c.send(wire.signal_(1, sid, 0))
        c.close()


def test_ws_ack_beyond_what_was_sent_counts_as_everything_sent():
    # docs/protocol.md, Flow control: "an offset beyond what was sent counts as
    # everything sent".
    with Daemon() as d:
        c, sid, start, got = _ack_paced_flood(d)
        c.send(wire.ack(sid, start + got + 100 * MIB))
        more, _ = _read_output(c, sid, start + got, stop_at=start + got + 64 * 1024)
        check(len(more) >= 64 * 1024, "more output after an ACK beyond what was sent")
        c.send(wire.signal_(1, sid, 0))
        c.close()


def test_ws_input_is_echoed():
    with Daemon() as d:
        with _ws(d) as c:
            sid = c.create(["cat"])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            c.send(wire.input_(sid, "héllo over ws\n"))
            want = "héllo over ws\r\n".encode() * 2  # the terminal's echo, then cat's copy
            data = bytearray()
            while len(data) < len(want):
                m = c.recv(TIMEOUT)
                if m.type == wire.OUTPUT:
                    data += m.data
                elif m.type in (wire.ERROR, wire.EXIT, wire.GAP):
                    raise AssertionError("unexpected %r" % m)
            check_eq(bytes(data), want, "echo and cat's output")
            c.send(wire.resize(sid, 100, 40))
            _round_trip(c)
            entry = next(e for e in d.ls_json() if e["id"] == sid)
            check_eq((entry["cols"], entry["rows"]), (100, 40), "resized over ws")
            c.send(wire.signal_(9, sid, 0))


def test_ws_sessions_on_other_reactors():
    # A WebSocket client is handed to the reactor of the session it attaches to.
    with Daemon("--threads", "4") as d:
        sids = [call(d, "POST", "/api/sessions",
                     {"argv": ["sh", "-c", "printf 'I am %d'" % i]}).json()["id"]
                for i in range(6)]
        for i, sid in enumerate(sids):
            with _ws(d) as c:
                c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
                data, ex = _read_output(c, sid, 0)
                check_eq((data, ex.code), (b"I am %d" % i, 0), "session %d over ws" % sid)


def test_ws_max_session_clients():
    with Daemon("--max-session-clients", "2") as d:
        sid = call(d, "POST", "/api/sessions", {"argv": ["sleep", "1000"]}).json()["id"]
        a, b, c = _ws(d), _ws(d), _ws(d)
        a.attach(sid, from_kind=wire.FROM_LIVE)
        b.attach(sid, from_kind=wire.FROM_LIVE, mode=wire.MODE_READ_ONLY)
        m = c.call(lambda req: wire.attach(req, sid, from_kind=wire.FROM_LIVE), wire.ATTACHED)
        check(m.type == wire.ERROR and m.code == wire.ERR_LIMIT,
              "a third client of a session limited to 2 gets ERROR limit, got %r" % m)
        b.close()
        wait_for(lambda: next(e for e in d.ls_json() if e["id"] == sid)["clients"] == 1,
                 "the session to count one client")
        c.attach(sid, from_kind=wire.FROM_LIVE)
        for x in (a, c):
            x.close()
        d.ok("kill", str(sid))


def test_ws_coalesced_output_is_complete():
    n = 50000
    with Daemon("--coalesce-ms", "20") as d:
        with _ws(d) as c:
            sid = c.create(["sh", "-c", GATED_SEQ % n])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            head, _ = _read_output(c, sid, 0, stop_at=5)
            c.send(wire.input_(sid, b"\n"))
            rest, ex = _read_output(c, sid, 5)
            check(head + rest == _seq_bytes(n), "every byte, in order, with --coalesce-ms 20")
            check_eq(ex.code, 0, "exit code")


def test_ws_subprotocol_ptyhub_v1():
    # A client that names the subprotocol gets it back (browser tools show the messages as
    # ptyhub.v1); one that offers others as well still gets ours; one that names none is
    # served as before, without the header.
    with Daemon() as d:
        for offered, want in (("ptyhub.v1", "ptyhub.v1"), ("chat, ptyhub.v1", "ptyhub.v1"),
                              (None, None), ("chat", None)):
            headers = [("Sec-WebSocket-Protocol", offered)] if offered else []
            c = WsConn.connect(d, headers=headers)
            try:
                check_eq(c.response.header("Sec-WebSocket-Protocol"), want,
                         "subprotocol selected for %r" % offered)
                c.handshake()
                check_eq(c.welcome.version, wire.VERSION, "WELCOME over %r" % offered)
            finally:
                c.close()
