"""wire: a small client for the ptyhub session protocol (docs/protocol.md, src/proto/wire.h),
for protocol-level integration tests.

On byte streams (the Unix socket, stdio) every body is framed as `u32 body_len` + body, and
a body is `u8 type` + payload, integers little-endian. The encoders below return bodies;
`frame()` adds the length prefix. `decode()` turns a body into a `Msg` whose attributes are
named as in wire.h. `Conn` moves frames over a socket or a pair of pipe fds with timeouts.
"""

import errno
import os
import select
import socket
import struct
import time

VERSION = 2  # the version this client says in HELLO by default (version=3 for terminal state)
VERSION_MIN = 1  # the lowest version a server still serves
SERVER_VERSION = 3  # the highest version the server speaks (WIRE_VERSION)
MAGIC = 0x48595450
MAX_BODY = 1 << 20

# Message types.
HELLO, CREATE, ATTACH, DETACH, INPUT, RESIZE, SIGNAL, LIST, ACK, REMOVE, WRITE = range(1, 12)
WELCOME, CREATED, ATTACHED, OK, LIST_REPLY = 0x81, 0x82, 0x83, 0x84, 0x85
OUTPUT, EXIT, GAP, RESIZED, ERROR = 0x90, 0x91, 0x92, 0x93, 0xE0
OPEN, EVENTS, PASTE, EVENT = 0x0E, 0x0F, 0x10, 0x95  # version 3
# Version 3: terminal state.
SCREEN, WAIT = 0x0C, 0x0D
SCREEN_REPLY, WAITED, SNAPSHOT = 0x86, 0x87, 0x94

TYPE_NAMES = {
    HELLO: "hello", CREATE: "create", ATTACH: "attach", DETACH: "detach", INPUT: "input",
    RESIZE: "resize", SIGNAL: "signal", LIST: "list", ACK: "ack", REMOVE: "remove",
    WRITE: "write",
    WELCOME: "welcome", CREATED: "created", ATTACHED: "attached", OK: "ok",
    LIST_REPLY: "list_reply", OUTPUT: "output", EXIT: "exit", GAP: "gap", RESIZED: "resized",
    ERROR: "error", OPEN: "open", EVENTS: "events", PASTE: "paste", EVENT: "event",
    SCREEN: "screen", WAIT: "wait", SCREEN_REPLY: "screen_reply", WAITED: "waited",
    SNAPSHOT: "snapshot",
}

# ERROR codes (enum wire_err).
ERR_BAD_FRAME = 1
ERR_TOO_LARGE = 2
ERR_UNKNOWN_TYPE = 3
ERR_VERSION = 4
ERR_NOT_HELLO = 5
ERR_NO_SUCH_SESSION = 6
ERR_SPAWN_FAILED = 7
ERR_BAD_ARGUMENT = 8
ERR_LIMIT = 9
ERR_NOT_ATTACHED = 10
ERR_READ_ONLY = 11
ERR_EXITED = 12
ERR_INTERNAL = 13
ERR_AUTH = 14
ERR_UNAVAILABLE = 15

# Codes after which the server closes the connection (wire_err_closes()).
CLOSING_ERRORS = {ERR_BAD_FRAME, ERR_TOO_LARGE, ERR_VERSION, ERR_NOT_HELLO, ERR_AUTH}

HELLO_F_ACK = 1
HELLO_F_HOLD = 2  # version 2: hold the program by the acknowledged offset (renderers)
WELCOME_F_WRITE = 1  # WELCOME flags: the server accepts WRITE
WELCOME_F_RESIZED = 2  # ... and tells attached clients of size changes (RESIZED)
WELCOME_F_TERMINAL, WELCOME_F_OPEN, WELCOME_F_EVENTS, WELCOME_F_PASTE = 4, 8, 16, 32  # v3
OPEN_F_ATTACH, OPEN_F_HOLD = 1, 2
PASTE_F_ENTER, PASTE_F_RESUME = 1, 2
EV_CREATED, EV_EXITED, EV_REMOVED, EV_RESIZED, EV_TITLE, EV_DROPPED = range(1, 7)
EV_NAMES = {1: "created", 2: "exited", 3: "removed", 4: "resized", 5: "title", 6: "dropped"}
LIST_F_MORE = 1
LIST_F_EXT = 2  # version 3: entries carry class, bells, last_output_ms, title, cwd
MODE_INTERACTIVE, MODE_READ_ONLY = 0, 1
FROM_OFFSET, FROM_TAIL, FROM_LIVE, FROM_SNAPSHOT = 0, 1, 2, 3
SCREEN_F_ANSI = 1
WAIT_F_TEXT, WAIT_F_IDLE = 1, 2
WAITED_REASONS = {1: "text", 2: "idle", 3: "timeout", 4: "exited"}
STATE_RUNNING, STATE_EXITED = 0, 1
LEVELS = ["none", "light", "moderate", "heavy", "blocked"]


class ProtocolError(Exception):
    pass


class Closed(Exception):
    """The peer closed the stream."""


# ---- encoding ----

def frame(body):
    return struct.pack("<I", len(body)) + body


def _str16(b):
    b = _bytes(b)
    return struct.pack("<H", len(b)) + b


def _bytes(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def _block(strs):
    data = b"".join(_bytes(s) + b"\0" for s in strs)
    return struct.pack("<HI", len(strs), len(data)) + data


def hello(version=VERSION, flags=0):
    """HELLO offering `version` (any u16: hello(version=1) speaks as a version 1 client)."""
    return struct.pack("<BIHH", HELLO, MAGIC, version, flags)


def create(req, argv, name="", cwd="", env=(), cols=0, rows=0):
    return (struct.pack("<BIHH", CREATE, req, cols, rows) + _str16(name) + _str16(cwd)
            + _block(argv) + _block(env))


def attach(req, sid, mode=MODE_INTERACTIVE, from_kind=FROM_OFFSET, from_=0, cols=0, rows=0):
    return struct.pack("<BIIBBHQHH", ATTACH, req, sid, mode, from_kind, 0, from_, cols, rows)


def detach(req, sid):
    return struct.pack("<BII", DETACH, req, sid)


def input_(sid, data):
    return struct.pack("<BI", INPUT, sid) + _bytes(data)


def write(req, sid, data, flags=0):
    """WRITE: acknowledged input, queued all or nothing, answered OK once it reached the PTY."""
    return struct.pack("<BIIB", WRITE, req, sid, flags) + _bytes(data)


def resize(sid, cols, rows):
    return struct.pack("<BIHH", RESIZE, sid, cols, rows)


def signal_(req, sid, signo):
    return struct.pack("<BIIB", SIGNAL, req, sid, signo)


def screen(req, sid, ansi=False):
    """SCREEN (version 3): the screen now, as text or (ansi) snapshot bytes."""
    return struct.pack("<BIIB", SCREEN, req, sid, SCREEN_F_ANSI if ansi else 0)


def wait(req, sid, text=None, idle_ms=0, timeout_ms=0, after=0):
    """WAIT (version 3): for a regex on the screen text and/or idle_ms of quiet."""
    flags = (WAIT_F_TEXT if text is not None else 0) | (WAIT_F_IDLE if idle_ms else 0)
    rx = text.encode() if isinstance(text, str) else (text or b"")
    return struct.pack("<BIIBQII", WAIT, req, sid, flags, after, idle_ms, timeout_ms) + rx


def list_(req):
    return struct.pack("<BI", LIST, req)


def ack(sid, offset):
    return struct.pack("<BIQ", ACK, sid, offset)


def remove(req, sid):
    return struct.pack("<BII", REMOVE, req, sid)


def open_(req, argv, flags=OPEN_F_ATTACH, mode=MODE_INTERACTIVE, name="", cwd="", env=(),
          cols=0, rows=0):
    """OPEN (version 3): CREATE's payload after u8 flags, u8 mode."""
    return (struct.pack("<BIBBHH", OPEN, req, flags, mode, cols, rows) + _str16(name)
            + _str16(cwd) + _block(argv) + _block(env))


def events(req, mask):
    """EVENTS (version 3): mask bit k subscribes to event kind k; 0 unsubscribes."""
    return struct.pack("<BII", EVENTS, req, mask)


def paste(req, sid, data, flags=0):
    """PASTE (version 3): text as one acknowledged unit."""
    return struct.pack("<BIIB", PASTE, req, sid, flags) + _bytes(data)


# ---- decoding ----

class Msg:
    """A decoded message: `type`, `name`, and the fields of its wire.h struct."""

    def __init__(self, type_, **fields):
        self.type = type_
        self.name = TYPE_NAMES.get(type_, "unknown")
        self.__dict__.update(fields)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("type", "name")}
        if isinstance(fields.get("data"), bytes) and len(fields["data"]) > 40:
            fields["data"] = fields["data"][:40] + b"..."
        return "%s%r" % (self.name.upper(), fields)


class _Reader:
    def __init__(self, body):
        self.b = body
        self.pos = 1

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.b):
            raise ProtocolError("truncated %s" % TYPE_NAMES.get(self.b[0], "message"))
        vals = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def str16(self):
        n = self.take("<H")
        if self.pos + n > len(self.b):
            raise ProtocolError("truncated string")
        s = self.b[self.pos:self.pos + n]
        self.pos += n
        return s

    def rest(self):
        s = self.b[self.pos:]
        self.pos = len(self.b)
        return s


def _entry(r, ext=False):
    (sid, pid, state, level, clients, exit_code, exit_signal, cols, rows, bytes_out,
     created_ms) = r.take("<IiBBHiiHHQQ")
    name = r.str16()
    command = r.str16()
    e = Msg(0, sid=sid, pid=pid, state=state, level=level, clients=clients,
            exit_code=exit_code, exit_signal=exit_signal, cols=cols, rows=rows,
            bytes_out=bytes_out, created_ms=created_ms, name=name, command=command)
    if ext:  # version 3 (LIST_F_EXT)
        e.cls, e.bells, e.last_output_ms = r.take("<BIQ")
        e.title, e.cwd = r.str16(), r.str16()
    return e


def decode(body):
    """Decodes one server→client body (client→server types too, for completeness)."""
    if not body:
        raise ProtocolError("empty body")
    t = body[0]
    r = _Reader(body)
    if t == WELCOME:
        version, flags, pid = r.take("<HHI")
        m = Msg(t, version=version, flags=flags, server_pid=pid, server_version=r.rest())
    elif t == CREATED:
        req, sid, pid = r.take("<IIi")
        m = Msg(t, req=req, sid=sid, pid=pid)
    elif t == ATTACHED:
        req, sid, start, end, cols, rows, state = r.take("<IIQQHHB")
        m = Msg(t, req=req, sid=sid, start=start, end=end, cols=cols, rows=rows, state=state)
    elif t == OK:
        m = Msg(t, req=r.take("<I"))
    elif t == LIST_REPLY:
        req, flags, count = r.take("<IBH")
        entries = [_entry(r, flags & LIST_F_EXT) for _ in range(count)]
        m = Msg(t, req=req, flags=flags, entries=entries)
    elif t == OUTPUT:
        sid, offset = r.take("<IQ")
        m = Msg(t, sid=sid, offset=offset, data=r.rest())
    elif t == EXIT:
        sid, end, code, sig = r.take("<IQii")
        m = Msg(t, sid=sid, end=end, code=code, signal=sig)
    elif t == GAP:
        sid, from_, to = r.take("<IQQ")
        m = Msg(t, sid=sid, from_=from_, to=to)
    elif t == RESIZED:
        sid, cols, rows = r.take("<IHH")
        m = Msg(t, sid=sid, cols=cols, rows=rows)
    elif t == SCREEN_REPLY:
        req, sid, off, cols, rows, ccol, crow, flags, modes = r.take("<IIQHHHHBI")
        title = r.str16()
        m = Msg(t, req=req, sid=sid, offset=off, cols=cols, rows=rows, cursor=(ccol, crow),
                flags=flags, modes=modes, title=title, data=r.rest())
    elif t == WAITED:
        req, sid, reason, off = r.take("<IIBQ")
        m = Msg(t, req=req, sid=sid, reason=WAITED_REASONS.get(reason, reason), offset=off)
    elif t == SNAPSHOT:
        sid, off = r.take("<IQ")
        m = Msg(t, sid=sid, offset=off, data=r.rest())
    elif t == WRITE:
        req, sid, flags = r.take("<IIB")
        m = Msg(t, req=req, sid=sid, flags=flags, data=r.rest())
    elif t == EVENT:
        kind, sid, time_ms = r.take("<BIQ")
        m = Msg(t, kind=kind, kind_name=EV_NAMES.get(kind, "unknown"), sid=sid, time_ms=time_ms)
        if kind == EV_CREATED:
            m.pid, m.cols, m.rows = r.take("<iHH")
            m.session_name, m.command = r.str16(), r.str16()
        elif kind == EV_EXITED:
            m.code, m.signal, m.end = r.take("<iiQ")
        elif kind == EV_RESIZED:
            m.cols, m.rows = r.take("<HH")
        elif kind == EV_TITLE:
            m.title = r.str16()
        elif kind == EV_DROPPED:
            m.count = r.take("<I")
        elif kind != EV_REMOVED:
            m.rest = r.rest()
    elif t == ERROR:
        req, sid, code = r.take("<IIH")
        m = Msg(t, req=req, sid=sid, code=code, message=r.rest().decode("utf-8", "replace"))
    else:
        raise ProtocolError("unexpected message type 0x%02x" % t)
    if r.pos != len(body):
        raise ProtocolError("%d trailing bytes in %s" % (len(body) - r.pos, m.name))
    return m


# ---- connections ----

class Conn:
    """One protocol connection over a socket, or over a (read fd, write fd) pair."""

    def __init__(self, rfd, wfd, owner=None):
        self.rfd, self.wfd = rfd, wfd
        self.owner = owner  # keeps a socket object alive
        self.buf = bytearray()
        self.eof = False
        self.next_req = 1
        self.welcome = None

    @classmethod
    def unix(cls, path, handshake=True, timeout=30, version=VERSION):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        s.setblocking(True)
        c = cls(s.fileno(), s.fileno(), owner=s)
        if handshake:
            c.handshake(timeout=timeout, version=version)
        return c

    def close(self):
        if self.owner is not None:
            self.owner.close()
            self.owner = None
        self.rfd = self.wfd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def req(self):
        r = self.next_req
        self.next_req += 1
        return r

    # -- raw bytes --

    def send_raw(self, data, timeout=60):
        """Writes all of data (blocking, bounded by timeout)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("write to the daemon blocked for %ss" % timeout)
            _, w, _ = select.select([], [self.wfd], [], left)
            if not w:
                continue
            try:
                n = os.write(self.wfd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def send(self, body, timeout=60):
        self.send_raw(frame(body), timeout)

    def fill(self, timeout):
        """Reads what is available within timeout. Returns bytes read (0 on timeout);
        sets eof at end of stream."""
        if self.eof:
            return 0
        r, _, _ = select.select([self.rfd], [], [], max(timeout, 0))
        if not r:
            return 0
        try:
            data = os.read(self.rfd, 1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return 0
        self.buf += data
        return len(data)

    def _split(self):
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self.buf)
        if n == 0 or n > MAX_BODY:
            raise ProtocolError("bad frame length %d" % n)
        if len(self.buf) < 4 + n:
            return None
        body = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return body

    def recv(self, timeout=60):
        """Returns the next message. Raises Closed at end of stream, TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            body = self._split()
            if body is not None:
                return decode(body)
            if self.eof:
                raise Closed("the daemon closed the connection (%d bytes of a frame left)"
                             % len(self.buf))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the daemon within %ss" % timeout)
            self.fill(left)

    def recv_until(self, pred, timeout=60, keep=None):
        """Returns the first message for which pred(m) is true; others go to keep (a list)
        when given, else are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(deadline - time.monotonic(), 0.001))
            if pred(m):
                return m
            if keep is not None:
                keep.append(m)

    def wait_closed(self, timeout=30):
        """Reads and drops messages until the daemon closes the stream; returns them."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got.append(self.recv(max(deadline - time.monotonic(), 0.001)))
            except Closed:
                return got

    # -- requests --

    def handshake(self, flags=0, timeout=30, version=VERSION):
        self.send(hello(version=version, flags=flags))
        m = self.recv(timeout)
        if m.type != WELCOME:
            raise ProtocolError("expected WELCOME, got %r" % m)
        self.welcome = m
        return m

    def call(self, body_fn, want, timeout=60, keep=None):
        """Sends body_fn(req) and returns the reply with that req (want or ERROR)."""
        req = self.req()
        self.send(body_fn(req))
        m = self.recv_until(lambda m: getattr(m, "req", None) == req
                            and m.type in (want, ERROR), timeout, keep)
        return m

    def create(self, argv, timeout=60, **kw):
        m = self.call(lambda req: create(req, argv, **kw), CREATED, timeout)
        if m.type != CREATED:
            raise ProtocolError("CREATE %r failed: %r" % (argv, m))
        return m.sid

    def attach(self, sid, timeout=60, keep=None, **kw):
        m = self.call(lambda req: attach(req, sid, **kw), ATTACHED, timeout, keep)
        if m.type != ATTACHED:
            raise ProtocolError("ATTACH %d failed: %r" % (sid, m))
        return m

    def write(self, sid, data, timeout=60, keep=None):
        """Sends WRITE and returns its reply: OK once every byte reached the PTY, or ERROR
        (`limit` when the input queue could not take all of it; nothing was queued)."""
        return self.call(lambda req: write(req, sid, data), OK, timeout, keep)

    def list(self, timeout=60):
        req = self.req()
        self.send(list_(req))
        entries = []
        while True:
            m = self.recv_until(lambda m: getattr(m, "req", None) == req, timeout)
            if m.type == ERROR:
                raise ProtocolError("LIST failed: %r" % m)
            entries += m.entries
            if not m.flags & LIST_F_MORE:
                return entries


def closed_by_peer(conn, timeout=30):
    """True when the peer closes the connection within timeout (messages before it are
    dropped)."""
    try:
        conn.wait_closed(timeout)
        return True
    except TimeoutError:
        return False
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE)
