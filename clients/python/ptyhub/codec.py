"""The ptyhub session protocol (docs/protocol.md, version 3) as pure functions: no I/O.

Client -> server: ``encode_*`` functions return a message **body** (type byte first);
``frame()`` adds the 4-byte length prefix used on byte streams (Unix socket, stdio).
Over WebSocket one binary message is one body.

Server -> client: ``decode(body)`` returns one of the message classes below, or ``None``
for a message type this client does not know (the protocol says to ignore those).
``FrameSplitter`` cuts a byte stream into bodies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple, Union

VERSION = 3
MAGIC = 0x48595450  # "PTYH"
MAX_BODY = 1048576
OUTPUT_MAX = MAX_BODY - 13

HELLO_F_ACK = 0x0001
WELCOME_F_WRITE = 0x0001
WELCOME_F_RESIZED = 0x0002
WELCOME_F_TERMINAL = 0x0004  # version 3: SCREEN, WAIT, snapshots, PASTE bracketing
WELCOME_F_OPEN = 0x0008
WELCOME_F_EVENTS = 0x0010
WELCOME_F_PASTE = 0x0020
WRITE_F_RESUME = 0x01
LIST_F_MORE = 0x01
LIST_F_EXT = 0x02  # version 3: entries carry class, bells, last_output_ms, title, cwd
OPEN_F_ATTACH, OPEN_F_HOLD = 0x01, 0x02
PASTE_F_ENTER, PASTE_F_RESUME = 0x01, 0x02
SCREEN_F_ANSI = 0x01
WAIT_F_TEXT, WAIT_F_IDLE = 0x01, 0x02

# client -> server
T_HELLO, T_CREATE, T_ATTACH, T_DETACH, T_INPUT = 0x01, 0x02, 0x03, 0x04, 0x05
T_RESIZE, T_SIGNAL, T_LIST, T_ACK, T_REMOVE, T_WRITE = 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B
T_SCREEN, T_WAIT, T_OPEN, T_EVENTS, T_PASTE = 0x0C, 0x0D, 0x0E, 0x0F, 0x10  # version 3
# server -> client
T_WELCOME, T_CREATED, T_ATTACHED, T_OK, T_LIST_REPLY = 0x81, 0x82, 0x83, 0x84, 0x85
T_OUTPUT, T_EXIT, T_GAP, T_ERROR = 0x90, 0x91, 0x92, 0xE0
T_RESIZED = 0x93
T_SCREEN_REPLY, T_WAITED, T_SNAPSHOT, T_EVENT = 0x86, 0x87, 0x94, 0x95  # version 3

MODE_INTERACTIVE, MODE_READ_ONLY = 0, 1
FROM_OFFSET, FROM_TAIL, FROM_LIVE, FROM_SNAPSHOT = 0, 1, 2, 3
STATE_RUNNING, STATE_EXITED = 0, 1
LEVELS = ("none", "light", "moderate", "heavy", "blocked")
CLASSES = ("interactive", "bulk")

# EVENT kinds; EVENTS' mask has bit k for kind k.
EV_CREATED, EV_EXITED, EV_REMOVED, EV_RESIZED, EV_TITLE, EV_DROPPED = 1, 2, 3, 4, 5, 6
EVENT_KINDS = {1: "created", 2: "exited", 3: "removed", 4: "resized", 5: "title", 6: "dropped"}
EVENT_KIND_CODES = {v: k for k, v in EVENT_KINDS.items()}
# WAITED reasons.
WAIT_REASONS = {1: "text", 2: "idle", 3: "timeout", 4: "exited"}

ERROR_NAMES = {
    1: "bad_frame", 2: "too_large", 3: "unknown_type", 4: "version", 5: "not_hello",
    6: "no_such_session", 7: "spawn_failed", 8: "bad_argument", 9: "limit",
    10: "not_attached", 11: "read_only", 12: "exited", 13: "internal", 14: "auth",
    15: "unavailable",
}
ERROR_CODES = {v: k for k, v in ERROR_NAMES.items()}
# Errors after which the server closes the connection.
ERRORS_CLOSING = frozenset((1, 2, 4, 5, 14))


class DecodeError(ValueError):
    """A server message that does not match its documented layout."""


Text = Union[str, bytes]


def _b(s: Text) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _str16(s: Optional[Text]) -> bytes:
    v = _b(s) if s else b""
    if len(v) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("<H", len(v)) + v


def _block(items: Sequence[Text]) -> Tuple[int, bytes]:
    parts = []
    for it in items:
        v = _b(it)
        if b"\0" in v:
            raise ValueError("NUL inside %r" % (it,))
        parts.append(v + b"\0")
    return len(parts), b"".join(parts)


# ---- client -> server ----

def frame(body: bytes) -> bytes:
    """A body with its u32 length prefix, as sent on a byte stream."""
    if not body or len(body) > MAX_BODY:
        raise ValueError("body length %d out of range 1..%d" % (len(body), MAX_BODY))
    return struct.pack("<I", len(body)) + body


def encode_hello(version: int = VERSION, flags: int = 0) -> bytes:
    return struct.pack("<BIHH", T_HELLO, MAGIC, version, flags)


def encode_create(req: int, argv: Sequence[Text], name: Optional[Text] = None,
                  cwd: Optional[Text] = None,
                  env: Union[Mapping[str, str], Sequence[Text], None] = None,
                  cols: int = 0, rows: int = 0) -> bytes:
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv is a sequence of strings, not one string")
    argc, ablock = _block(argv)
    if isinstance(env, Mapping):
        env_items: Sequence[Text] = ["%s=%s" % kv for kv in env.items()]
    else:
        env_items = list(env or ())
    envc, eblock = _block(env_items)
    return (struct.pack("<BIHH", T_CREATE, req, cols, rows) + _str16(name) + _str16(cwd)
            + struct.pack("<HI", argc, len(ablock)) + ablock
            + struct.pack("<HI", envc, len(eblock)) + eblock)


def encode_attach(req: int, sid: int, mode: int = MODE_INTERACTIVE,
                  from_kind: int = FROM_OFFSET, from_: int = 0,
                  cols: int = 0, rows: int = 0) -> bytes:
    return struct.pack("<BIIBBHQHH", T_ATTACH, req, sid, mode, from_kind, 0, from_, cols, rows)


def encode_detach(req: int, sid: int) -> bytes:
    return struct.pack("<BII", T_DETACH, req, sid)


def encode_input(sid: int, data: bytes) -> bytes:
    return struct.pack("<BI", T_INPUT, sid) + bytes(data)


def encode_resize(sid: int, cols: int, rows: int) -> bytes:
    return struct.pack("<BIHH", T_RESIZE, sid, cols, rows)


def encode_signal(req: int, sid: int, signo: int = 0) -> bytes:
    return struct.pack("<BIIB", T_SIGNAL, req, sid, signo)


def encode_list(req: int) -> bytes:
    return struct.pack("<BI", T_LIST, req)


def encode_ack(sid: int, offset: int) -> bytes:
    return struct.pack("<BIQ", T_ACK, sid, offset)


def encode_remove(req: int, sid: int) -> bytes:
    return struct.pack("<BII", T_REMOVE, req, sid)


def encode_write(req: int, sid: int, data: bytes, flags: int = 0) -> bytes:
    return struct.pack("<BIIB", T_WRITE, req, sid, flags) + bytes(data)


def encode_open(req: int, argv: Sequence[Text], flags: int = OPEN_F_ATTACH,
                mode: int = MODE_INTERACTIVE, name: Optional[Text] = None,
                cwd: Optional[Text] = None,
                env: Union[Mapping[str, str], Sequence[Text], None] = None,
                cols: int = 0, rows: int = 0) -> bytes:
    """OPEN (version 3): CREATE's payload after u8 flags, u8 mode."""
    create = encode_create(req, argv, name, cwd, env, cols, rows)
    return struct.pack("<BIBB", T_OPEN, req, flags, mode) + create[5:]


def encode_events(req: int, mask: int) -> bytes:
    """EVENTS (version 3): bit k of mask subscribes to event kind k; 0 unsubscribes."""
    return struct.pack("<BII", T_EVENTS, req, mask)


def encode_paste(req: int, sid: int, text: bytes, flags: int = 0) -> bytes:
    """PASTE (version 3): text typed as one paste, acknowledged like WRITE."""
    return struct.pack("<BIIB", T_PASTE, req, sid, flags) + bytes(text)


def encode_screen(req: int, sid: int, flags: int = 0) -> bytes:
    """SCREEN (version 3): the screen now, as text (or the ANSI snapshot)."""
    return struct.pack("<BIIB", T_SCREEN, req, sid, flags)


def encode_wait(req: int, sid: int, flags: int, after: int = 0, idle_ms: int = 0,
                timeout_ms: int = 0, regex: Text = b"") -> bytes:
    """WAIT (version 3): for text on the screen (flag TEXT) or for quiet (flag IDLE)."""
    return struct.pack("<BIIBQII", T_WAIT, req, sid, flags, after, idle_ms,
                       timeout_ms) + _b(regex)


# ---- server -> client ----

@dataclass(frozen=True)
class Welcome:
    version: int
    flags: int
    server_pid: int
    server_version: str


@dataclass(frozen=True)
class Created:
    req: int
    sid: int
    pid: int


@dataclass(frozen=True)
class Attached:
    """ATTACHED: [start, end) is retained; live output begins at end."""
    req: int
    sid: int
    start: int
    end: int
    cols: int
    rows: int
    state: int

    @property
    def exited(self) -> bool:
        return self.state == STATE_EXITED


@dataclass(frozen=True)
class Ok:
    req: int


@dataclass(frozen=True)
class SessionInfo:
    """One LIST_REPLY entry."""
    sid: int
    pid: int
    state: int
    level: int
    clients: int
    exit_code: int
    exit_signal: int
    cols: int
    rows: int
    bytes_out: int
    created_ms: int
    name: str
    command: str
    # Version 3 (LIST_REPLY flag EXT); defaults on older servers.
    cls: int = 0
    bells: int = 0
    last_output_ms: int = 0
    title: str = ""
    cwd: str = ""

    @property
    def class_name(self) -> str:
        return CLASSES[self.cls] if self.cls < len(CLASSES) else str(self.cls)

    @property
    def running(self) -> bool:
        return self.state == STATE_RUNNING

    @property
    def level_name(self) -> str:
        return LEVELS[self.level] if self.level < len(LEVELS) else str(self.level)


@dataclass(frozen=True)
class ListReply:
    req: int
    more: bool
    sessions: List[SessionInfo] = field(default_factory=list)


@dataclass(frozen=True)
class Output:
    """OUTPUT: data is the session's bytes [offset, offset + len(data))."""
    sid: int
    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class Exit:
    """EXIT: the session ended; end is its final offset. code is -1 when killed by signal."""
    sid: int
    end: int
    code: int
    signal: int


@dataclass(frozen=True)
class Gap:
    """GAP: bytes [start, end) will not be sent."""
    sid: int
    start: int
    end: int


@dataclass(frozen=True)
class Error:
    req: int
    sid: int
    code: int
    message: str

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, "error_%d" % self.code)


@dataclass(frozen=True)
class Resized:
    """RESIZED (version 2): an attached session's size changed."""
    sid: int
    cols: int
    rows: int


@dataclass(frozen=True)
class SessionEvent:
    """EVENT (version 3): a lifecycle event of any session (subscribe with EVENTS).
    kind_name is created, exited, removed, resized, title or dropped; the fields that do
    not apply to the kind are left at their defaults."""
    kind: int
    sid: int
    time_ms: int
    pid: int = 0
    cols: int = 0
    rows: int = 0
    name: str = ""
    command: str = ""
    code: int = 0
    signal: int = 0
    end: int = 0
    title: str = ""
    count: int = 0

    @property
    def kind_name(self) -> str:
        return EVENT_KINDS.get(self.kind, "kind_%d" % self.kind)


@dataclass(frozen=True)
class Screen:
    """SCREEN_REPLY (version 3): the screen at output offset `offset`. data is the text
    (rows joined by newlines) or, when asked with ansi=True, the snapshot bytes."""
    req: int
    sid: int
    offset: int
    cols: int
    rows: int
    cursor_col: int
    cursor_row: int
    flags: int
    modes: int
    title: str
    data: bytes

    @property
    def cursor_visible(self) -> bool:
        return bool(self.flags & 1)

    @property
    def alt_screen(self) -> bool:
        return bool(self.flags & 2)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(frozen=True)
class Waited:
    """WAITED (version 3): why a WAIT ended (text, idle, timeout, exited) and the output
    offset of the screen state that ended it."""
    req: int
    sid: int
    reason_code: int
    offset: int

    @property
    def reason(self) -> str:
        return WAIT_REASONS.get(self.reason_code, "reason_%d" % self.reason_code)


@dataclass(frozen=True)
class Snapshot:
    """SNAPSHOT (version 3): bytes that redraw the screen at `offset` (after ATTACH
    from a snapshot); OUTPUT continues from exactly that offset."""
    sid: int
    offset: int
    data: bytes


ServerMessage = Union[Welcome, Created, Attached, Ok, ListReply, Output, Exit, Gap, Error,
                      Resized, SessionEvent, Screen, Waited, Snapshot]


def _need(body: bytes, n: int, exact: bool = True) -> None:
    if (len(body) != n) if exact else (len(body) < n):
        raise DecodeError("message type 0x%02x: body of %d bytes, want %s%d"
                          % (body[0], len(body), "" if exact else ">= ", n))


def _str_at(body: bytes, pos: int, what: str) -> Tuple[str, int]:
    """A str16 at pos: (text, position after it)."""
    if pos + 2 > len(body):
        raise DecodeError("%s: truncated string" % what)
    (n,) = struct.unpack_from("<H", body, pos)
    if pos + 2 + n > len(body):
        raise DecodeError("%s: truncated string" % what)
    return body[pos + 2:pos + 2 + n].decode("utf-8", "replace"), pos + 2 + n


def _decode_list(body: bytes) -> ListReply:
    _need(body, 8, exact=False)
    req, flags, count = struct.unpack_from("<IBH", body, 1)
    pos, out = 8, []
    for _ in range(count):
        if pos + 44 > len(body):
            raise DecodeError("LIST_REPLY: truncated entry")
        (sid, pid, state, level, clients, code, sig, cols, rows, bytes_out,
         created) = struct.unpack_from("<IiBBHiiHHQQ", body, pos)
        pos += 40
        name, pos = _str_at(body, pos, "LIST_REPLY")
        command, pos = _str_at(body, pos, "LIST_REPLY")
        ext: Tuple = ()
        if flags & LIST_F_EXT:  # version 3: u8 class, u32 bells, u64 last_output_ms, 2 str16
            if pos + 13 > len(body):
                raise DecodeError("LIST_REPLY: truncated entry")
            cls, bells, last = struct.unpack_from("<BIQ", body, pos)
            title, pos = _str_at(body, pos + 13, "LIST_REPLY")
            cwd, pos = _str_at(body, pos, "LIST_REPLY")
            ext = (cls, bells, last, title, cwd)
        out.append(SessionInfo(sid, pid, state, level, clients, code, sig, cols, rows,
                               bytes_out, created, name, command, *ext))
    if pos != len(body):
        raise DecodeError("LIST_REPLY: %d trailing bytes" % (len(body) - pos))
    return ListReply(req, bool(flags & LIST_F_MORE), out)


def decode(body: bytes) -> Optional[ServerMessage]:
    """Decodes one server body; None for an unknown message type (to be ignored)."""
    if not body:
        raise DecodeError("empty body")
    t = body[0]
    if t == T_OUTPUT:
        _need(body, 13, exact=False)
        sid, off = struct.unpack_from("<IQ", body, 1)
        return Output(sid, off, bytes(body[13:]))
    if t == T_OK:
        _need(body, 5)
        return Ok(struct.unpack_from("<I", body, 1)[0])
    if t == T_WELCOME:
        _need(body, 9, exact=False)
        v, fl, pid = struct.unpack_from("<HHI", body, 1)
        return Welcome(v, fl, pid, bytes(body[9:]).decode("utf-8", "replace"))
    if t == T_CREATED:
        _need(body, 13)
        return Created(*struct.unpack_from("<IIi", body, 1))
    if t == T_ATTACHED:
        _need(body, 30)
        return Attached(*struct.unpack_from("<IIQQHHB", body, 1))
    if t == T_LIST_REPLY:
        return _decode_list(body)
    if t == T_EXIT:
        _need(body, 21)
        return Exit(*struct.unpack_from("<IQii", body, 1))
    if t == T_GAP:
        _need(body, 21)
        return Gap(*struct.unpack_from("<IQQ", body, 1))
    if t == T_EVENT:
        return _decode_event(body)
    if t == T_RESIZED:
        _need(body, 9)
        return Resized(*struct.unpack_from("<IHH", body, 1))
    if t == T_SCREEN_REPLY:
        _need(body, 30, exact=False)
        (req, sid, off, cols, rows, ccol, crow, fl,
         modes) = struct.unpack_from("<IIQHHHHBI", body, 1)
        title, pos = _str_at(body, 30, "SCREEN_REPLY")
        return Screen(req, sid, off, cols, rows, ccol, crow, fl, modes, title,
                      bytes(body[pos:]))
    if t == T_WAITED:
        _need(body, 18)
        return Waited(*struct.unpack_from("<IIBQ", body, 1))
    if t == T_SNAPSHOT:
        _need(body, 13, exact=False)
        sid, off = struct.unpack_from("<IQ", body, 1)
        return Snapshot(sid, off, bytes(body[13:]))
    if t == T_ERROR:
        _need(body, 11, exact=False)
        req, sid, code = struct.unpack_from("<IIH", body, 1)
        return Error(req, sid, code, bytes(body[11:]).decode("utf-8", "replace"))
    return None


def _decode_event(body: bytes) -> SessionEvent:
    _need(body, 14, exact=False)
    kind, sid, time_ms = struct.unpack_from("<BIQ", body, 1)
    rest = body[14:]
    if kind == EV_CREATED:
        _need(body, 14 + 12, exact=False)
        pid, cols, rows = struct.unpack_from("<iHH", body, 14)
        name, pos = _str_at(body, 22, "EVENT")
        command, pos = _str_at(body, pos, "EVENT")
        if pos != len(body):
            raise DecodeError("EVENT created: %d trailing bytes" % (len(body) - pos))
        return SessionEvent(kind, sid, time_ms, pid=pid, cols=cols, rows=rows, name=name,
                            command=command)
    if kind == EV_EXITED:
        _need(body, 14 + 16)
        code, sig, end = struct.unpack_from("<iiQ", body, 14)
        return SessionEvent(kind, sid, time_ms, code=code, signal=sig, end=end)
    if kind == EV_REMOVED:
        _need(body, 14)
        return SessionEvent(kind, sid, time_ms)
    if kind == EV_RESIZED:
        _need(body, 18)
        cols, rows = struct.unpack_from("<HH", body, 14)
        return SessionEvent(kind, sid, time_ms, cols=cols, rows=rows)
    if kind == EV_TITLE:
        title, pos = _str_at(body, 14, "EVENT")
        if pos != len(body):
            raise DecodeError("EVENT title: %d trailing bytes" % (len(body) - pos))
        return SessionEvent(kind, sid, time_ms, title=title)
    if kind == EV_DROPPED:
        _need(body, 18)
        return SessionEvent(kind, sid, time_ms, count=struct.unpack_from("<I", body, 14)[0])
    del rest  # a kind from a later version: its fields are skipped
    return SessionEvent(kind, sid, time_ms)


class FrameSplitter:
    """Cuts a byte stream into bodies: feed() bytes as they arrive, then iterate
    bodies(). A frame may be split across any number of feeds."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def bodies(self) -> Iterator[bytes]:
        while True:
            body = self.next_body()
            if body is None:
                return
            yield body

    def next_body(self) -> Optional[bytes]:
        """The next complete body, or None until more bytes are fed."""
        buf = self._buf
        if len(buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", buf, 0)
        if n == 0 or n > MAX_BODY:
            raise DecodeError("frame length %d out of range 1..%d" % (n, MAX_BODY))
        if len(buf) < 4 + n:
            return None
        body = bytes(buf[4:4 + n])
        del buf[:4 + n]
        return body

    def wanted(self) -> int:
        """How many more bytes complete the frame being read (at least 1)."""
        if len(self._buf) < 4:
            return 4 - len(self._buf)
        (n,) = struct.unpack_from("<I", self._buf, 0)
        return max(1, 4 + n - len(self._buf))

    @property
    def buffered(self) -> int:
        return len(self._buf)
