"""wsclient: small HTTP/1.1 and WebSocket (RFC 6455) clients for the integration tests,
stdlib only, written to send exactly the bytes a test asks for, wrong ones included.

`Http` is one TCP connection: send raw bytes or a request, read responses in order
(Content-Length bodies, keep-alive, pipelining), and notice when the server closes.
`WsConn` is a WebSocket connection after the handshake, and a `wire.Conn`: each binary
message is one session-protocol body (docs/protocol.md), so handshake(), create(),
attach(), list() and recv() work as on the Unix socket. Frames go out masked unless a
test says otherwise; control frames from the server are kept for the test to look at
(pings are answered), and a close frame ends recv() with `WsClosed`.

Authentication: the helpers that take a harness.Daemon (Http.to, get, call,
WsConn.connect(daemon)) send `Authorization: Bearer TOKEN` when the daemon has a token
(daemon.token, read from its token file) and the caller passed no Authorization or Cookie
header of its own; auth=False sends nothing (to test the refusals). Bytes sent with
Http.send() are sent as they are: add daemon.auth_header() to those by hand.
"""

import base64
import errno
import hashlib
import os
import select
import socket
import struct
import time

import wire

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class Response:
    """One HTTP response: status, reason, headers (a list of (name, value) in order),
    body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        """The first value of a header (case-insensitive name), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return "<HTTP %d %s %r %r>" % (self.status, self.reason, self.headers, body)


class Http:
    """One HTTP/1.1 connection to host:port, with a deadline on every wait."""

    def __init__(self, host, port, timeout=60, auth=()):
        self.host, self.port, self.timeout = host, port, timeout
        self.auth = list(auth)  # headers request_bytes() adds unless the caller has its own
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.eof = False

    @classmethod
    def to(cls, daemon, timeout=60, auth=True):
        """A connection to a harness.Daemon's HTTP address; its requests carry the daemon's
        token (when it has one) unless auth is False."""
        return cls(daemon.http_host, daemon.http_port, timeout, _daemon_auth(daemon, auth))

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def authority(self):
        return "%s:%d" % (self.host, self.port)

    def send(self, data):
        self.sock.sendall(data)

    def request_bytes(self, method, path, headers=(), body=b""):
        """The bytes of a request: Host first, Content-Length when there is a body, and
        the connection's auth headers unless headers has Authorization or Cookie."""
        if isinstance(body, str):
            body = body.encode()
        headers = list(headers)
        names = {k.lower() for k, _ in headers}
        lines = ["%s %s HTTP/1.1" % (method, path)]
        if "host" not in names:
            lines.append("Host: %s" % self.authority)
        lines += ["%s: %s" % (k, v) for k, v in headers]
        if not names & {"authorization", "cookie"}:
            lines += ["%s: %s" % (k, v) for k, v in self.auth]
        if body and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def request(self, method, path, headers=(), body=b""):
        """Sends one request and returns its response."""
        self.send(self.request_bytes(method, path, list(headers), body))
        return self.read_response(head_only=method == "HEAD")

    def _fill(self, deadline):
        """Reads what arrives before the deadline; False at end of stream."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data from the server within %ss" % self.timeout)
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("no data from the server within %ss" % self.timeout)
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_head(self, deadline=None):
        """Reads a response head; returns (status, reason, headers), raises wire.Closed
        when the server closes before a whole head arrived."""
        deadline = deadline or time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise wire.Closed("the server closed the connection (%d bytes of a response "
                                  "head: %r)" % (len(self.buf), bytes(self.buf[:200])))
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end + 4]
        lines = head.split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        if not version.startswith("HTTP/1."):
            raise wire.ProtocolError("not an HTTP response: %r" % lines[0])
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k, v.strip()))
        return int(status), reason, headers

    def read_response(self, head_only=False):
        """Reads one whole response (the body by Content-Length, or to end of stream)."""
        deadline = time.monotonic() + self.timeout
        status, reason, headers = self.read_head(deadline)
        resp = Response(status, reason, headers, b"")
        if head_only or status in (101, 204, 304) or 100 <= status < 200:
            return resp
        clen = resp.header("Content-Length")
        if clen is None:
            while self._fill(deadline):
                pass
            resp.body = bytes(self.buf)
            self.buf.clear()
            return resp
        n = int(clen)
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise wire.Closed("the server closed the connection %d bytes into a %d-byte "
                                  "body" % (len(self.buf), n))
        resp.body = bytes(self.buf[:n])
        del self.buf[:n]
        return resp

    def closed_by_server(self, timeout=None):
        """True when the server closes the connection (a FIN or a reset) before sending
        anything more within timeout; False when it is still open then. Raises when bytes
        arrive instead."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        if self.buf:
            raise AssertionError("unexpected bytes from the server: %r" % bytes(self.buf[:200]))
        try:
            while self._fill(deadline):
                raise AssertionError("unexpected bytes from the server: %r"
                                     % bytes(self.buf[:200]))
        except TimeoutError:
            return False
        return True


def _daemon_auth(daemon, auth=True):
    """The headers that authenticate to daemon: its bearer token, when it has one."""
    if not auth:
        return []
    fn = getattr(daemon, "auth_header", None)
    return list(fn()) if fn else []


def _has_auth(headers):
    return any(k.lower() in ("authorization", "cookie") for k, _ in headers)


def get(daemon, path, headers=(), timeout=60, auth=True):
    """One GET on a fresh connection; returns the Response."""
    with Http.to(daemon, timeout, auth) as h:
        return h.request("GET", path, headers)


def call(daemon, method, path, body=b"", headers=(), timeout=60, auth=True):
    """One request on a fresh connection; a dict or list body is sent as JSON."""
    import json
    hdrs = list(headers)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.append(("Content-Type", "application/json"))
    with Http.to(daemon, timeout, auth) as h:
        return h.request(method, path, hdrs, body)


# ---- WebSocket ----

def mask_payload(payload, key):
    """XORs payload with the 4-byte masking key (RFC 6455 §5.3)."""
    n = len(payload)
    if n == 0:
        return b""
    reps = key * (n // 4 + 1)
    x = int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")
    return x.to_bytes(n, "big")


def frame_bytes(opcode, payload=b"", fin=True, mask=True, rsv=0, declared_len=None):
    """The bytes of one client frame. declared_len states a different payload length in
    the header than the bytes that follow (to send a header alone, say)."""
    payload = bytes(payload)
    n = len(payload) if declared_len is None else declared_len
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_payload(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + (reason.encode() if isinstance(reason, str) else reason)


def parse_frame(buf):
    """Parses one server frame at the start of buf: (fin, opcode, payload, size) or None
    when incomplete. Server frames must not be masked (§5.1)."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    if b1 & 0x80:
        raise wire.ProtocolError("the server sent a masked frame")
    if b0 & 0x70:
        raise wire.ProtocolError("the server set RSV bits: 0x%02x" % b0)
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        (n,) = struct.unpack_from("!H", buf, 2)
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        (n,) = struct.unpack_from("!Q", buf, 2)
        pos = 10
    if len(buf) < pos + n:
        return None
    return bool(b0 & 0x80), b0 & 0x0F, bytes(buf[pos:pos + n]), pos + n


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, response):
        Exception.__init__(self, "WebSocket upgrade refused: %r" % response)
        self.response = response


class WsClosed(wire.Closed):
    """The server sent a close frame: code (None when it had no payload) and reason."""

    def __init__(self, code, reason):
        wire.Closed.__init__(self, "the server sent close %s %r" % (code, reason))
        self.code, self.reason = code, reason


def upgrade_request(authority, path="/ws", headers=(), key=None):
    """The bytes of an upgrade request. headers are (name, value) pairs added after the
    defaults; a default whose name appears with value None is left out."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    defaults = [("Host", authority), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    override = {k.lower() for k, _ in headers}
    lines = ["GET %s HTTP/1.1" % path]
    lines += ["%s: %s" % (k, v) for k, v in defaults if k.lower() not in override]
    lines += ["%s: %s" % (k, v) for k, v in headers if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


class WsConn(wire.Conn):
    """A WebSocket connection speaking the session protocol in binary messages."""

    def __init__(self, sock, leftover=b""):
        wire.Conn.__init__(self, sock.fileno(), sock.fileno(), owner=sock)
        self.sock = sock
        self.buf = bytearray(leftover)
        self.controls = []      # (opcode, payload) of pongs and pings received
        self.close_frame = None  # (code, reason) once the server's close frame arrived
        self.frag = None         # (opcode, bytearray) of a fragmented message
        self.auto_pong = True

    @classmethod
    def connect(cls, daemon_or_host, port=None, path="/ws", headers=(), timeout=60,
                auth=True):
        """Opens a TCP connection and upgrades it; raises HandshakeRefused with the
        response when the status is not 101, and checks Sec-WebSocket-Accept. Given a
        Daemon, the upgrade carries its token (unless auth is False, or headers has
        Authorization or Cookie)."""
        headers = list(headers)
        if port is None:
            host, port = daemon_or_host.http_host, daemon_or_host.http_port
            if not _has_auth(headers):
                headers += _daemon_auth(daemon_or_host, auth)
        else:
            host = daemon_or_host
        h = Http(host, port, timeout)
        req, key = upgrade_request(h.authority, path, headers)
        h.send(req)
        status, reason, hdrs = h.read_head()
        resp = Response(status, reason, hdrs, b"")
        if status != 101:
            clen = resp.header("Content-Length")
            deadline = time.monotonic() + timeout
            while clen is not None and len(h.buf) < int(clen) and h._fill(deadline):
                pass
            resp.body = bytes(h.buf)
            h.close()
            raise HandshakeRefused(resp)
        if resp.header("Sec-WebSocket-Accept") != accept_for(key):
            h.close()
            raise wire.ProtocolError("Sec-WebSocket-Accept %r, want %r"
                                     % (resp.header("Sec-WebSocket-Accept"), accept_for(key)))
        h.sock.setblocking(True)
        h.sock.settimeout(None)
        c = cls(h.sock, bytes(h.buf))
        c.response = resp
        return c

    def close(self):
        self.sock = None
        wire.Conn.close(self)

    # -- sending --

    def send_frame(self, opcode, payload=b"", **kw):
        self.send_raw(frame_bytes(opcode, payload, **kw))

    def send(self, body, timeout=60):
        """One protocol body as one masked binary message."""
        self.send_raw(frame_bytes(OP_BINARY, body), timeout)

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # -- receiving --

    def next_frame(self, timeout=60):
        """The next raw frame (fin, opcode, payload) from the server, controls included."""
        deadline = time.monotonic() + timeout
        while True:
            f = parse_frame(self.buf)
            if f is not None:
                del self.buf[:f[3]]
                return f[:3]
            if self.eof:
                raise wire.Closed("the server closed the TCP connection (%d bytes of a frame "
                                  "left)" % len(self.buf))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the server within %ss" % timeout)
            self.fill(left)

    def _split(self):
        """The next complete binary message (for wire.Conn.recv); handles controls."""
        while True:
            if self.close_frame is not None:
                raise WsClosed(*self.close_frame)
            f = parse_frame(self.buf)
            if f is None:
                return None
            fin, op, payload, size = f
            del self.buf[:size]
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_frame = (code, payload[2:])
                continue
            if op in (OP_PING, OP_PONG):
                self.controls.append((op, payload))
                if op == OP_PING and self.auto_pong:
                    self.send_frame(OP_PONG, payload)
                continue
            if op == OP_TEXT:
                raise wire.ProtocolError("the server sent a text message: %r" % payload[:100])
            if op == OP_CONT:
                if self.frag is None:
                    raise wire.ProtocolError("continuation frame outside a message")
                self.frag[1].extend(payload)
            elif self.frag is not None:
                raise wire.ProtocolError("new message inside a fragmented one")
            else:
                self.frag = (op, bytearray(payload))
            if fin:
                body = bytes(self.frag[1])
                self.frag = None
                if not body:
                    raise wire.ProtocolError("the server sent an empty binary message")
                return body

    def wait_close(self, timeout=60):
        """Reads (and drops) messages until the server's close frame; returns its
        (code, reason)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(max(deadline - time.monotonic(), 0.001))
            except WsClosed as e:
                return e.code, e.reason

    def tcp_closed(self, timeout=60):
        """True when the server closes the TCP connection within timeout after what is
        already buffered; bytes that still arrive are dropped."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.fill(left)
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE):
                    return True
                raise
        return True
