"""State shared by the blocking and the asyncio client: the event store, automatic ACKs,
the WRITE pipeline, default paths and WebSocket framing. No I/O here."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from . import codec
from .codec import Exit, Gap, Output, SessionEvent, Snapshot
from .errors import ConnectionClosed, ProtocolViolation, PtyhubError

WRITE_CHUNK = 64 * 1024          # bytes in one WRITE
WRITE_WINDOW = 256 * 1024        # unacknowledged WRITE bytes per write() call
ACK_EVERY = 32 * 1024            # consumed bytes between automatic ACKs
SESSION_EVENTS_MAX = 4096        # lifecycle events kept for the caller at most


@dataclass(frozen=True)
class Failed:
    """An ERROR not tied to a request (req 0): a failed INPUT, RESIZE or ACK. Delivered
    in the event stream, in order with the session's other events."""
    sid: int
    error: PtyhubError


Event = Union[Output, Gap, Exit, Failed, Snapshot]


@dataclass(frozen=True)
class Opened:
    """What OPEN returns: the new session's id and pid, and its ATTACHED (None when the
    session was only created or held)."""
    sid: int
    pid: int
    attached: Optional[codec.Attached]


def event_mask(kinds: Optional[object]) -> int:
    """EVENTS' mask for an iterable of kind names ("created", "exited", ...) or numbers;
    None means every kind."""
    if kinds is None:
        return 0xFFFFFFFF
    mask = 1 << codec.EV_DROPPED  # a subscriber is always told what it lost
    for k in kinds:  # type: ignore[attr-defined]
        if isinstance(k, str):
            if k not in codec.EVENT_KIND_CODES:
                raise ValueError("unknown event kind %r (known: %s)"
                                 % (k, ", ".join(codec.EVENT_KIND_CODES)))
            k = codec.EVENT_KIND_CODES[k]
        mask |= 1 << int(k)
    return mask


def default_socket_path() -> str:
    """$PTYHUB_SOCKET, else $XDG_RUNTIME_DIR/ptyhub/sock, else /tmp/ptyhub-$UID/sock."""
    p = os.environ.get("PTYHUB_SOCKET")
    if p:
        return p
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "ptyhub", "sock")
    return "/tmp/ptyhub-%d/sock" % os.getuid()


def default_token(socket_path: Optional[str] = None) -> Optional[str]:
    """The token in the `token` file beside the socket, or None when there is none."""
    path = os.path.join(os.path.dirname(socket_path or default_socket_path()), "token")
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


# ---- events and automatic ACKs ----

class EventStore:
    """Events per session, in arrival order overall. Its size is bounded by the server:
    the client says it is ACK-paced, so at most the server's window (2 MiB) of OUTPUT per
    attached session is ever unacknowledged, and ACKs are sent only for consumed events."""

    def __init__(self, auto_ack: bool, send_ack: Callable[[int, int], None]) -> None:
        self.auto_ack = auto_ack
        self._send_ack = send_ack
        self._q: Dict[int, Deque[Tuple[int, Event]]] = {}
        self._seq = 0
        self.buffered_bytes = 0
        self._consumed: Dict[int, int] = {}
        self._acked: Dict[int, int] = {}
        self._last: Dict[int, int] = {}   # where the next OUTPUT/GAP of a session starts
        self._ended: set = set()           # sessions whose EXIT arrived: no more ACKs

    def __len__(self) -> int:
        return sum(len(q) for q in self._q.values())

    def attached(self, sid: int, position: int) -> None:
        """A new ATTACHED: drop what is left of the previous attachment's stream."""
        for _, ev in self._q.pop(sid, ()):
            if isinstance(ev, Output):
                self.buffered_bytes -= len(ev.data)
        self._consumed[sid] = self._acked[sid] = position
        self._last[sid] = position
        self._ended.discard(sid)

    def detached(self, sid: int) -> None:
        self.attached(sid, 0)
        for d in (self._consumed, self._acked, self._last):
            d.pop(sid, None)
        self._ended.add(sid)

    def tracking(self, sid: int) -> bool:
        """True while sid is attached and has not ended (its events are expected)."""
        return sid in self._last and sid not in self._ended

    def push(self, ev: Event) -> None:
        sid = ev.sid
        if isinstance(ev, (Output, Gap)):
            start = ev.offset if isinstance(ev, Output) else ev.start
            last = self._last.get(sid)
            if last is not None and start != last:
                raise ProtocolViolation("session %d: %s starts at %d, want %d"
                                        % (sid, type(ev).__name__.upper(), start, last))
            self._last[sid] = ev.end
        elif isinstance(ev, Exit):
            self._ended.add(sid)
        if isinstance(ev, Output):
            self.buffered_bytes += len(ev.data)
        self._seq += 1
        self._q.setdefault(sid, deque()).append((self._seq, ev))

    def pop(self, sid: Optional[int] = None) -> Optional[Event]:
        """The oldest event (of one session when sid is given), or None."""
        if sid is not None:
            q = self._q.get(sid)
            if not q:
                return None
        else:
            best = None
            for s, qq in self._q.items():
                if qq and (best is None or qq[0][0] < self._q[best][0][0]):
                    best = s
            if best is None:
                return None
            sid, q = best, self._q[best]
        _, ev = q.popleft()
        if not q:
            del self._q[sid]
        if isinstance(ev, Output):
            self.buffered_bytes -= len(ev.data)
            self._consumed_to(sid, ev.end)
        elif isinstance(ev, Gap):
            self._consumed_to(sid, ev.end)
        return ev

    def _consumed_to(self, sid: int, off: int) -> None:
        self._consumed[sid] = off
        if not self.auto_ack or sid in self._ended:
            return
        acked = self._acked.get(sid, 0)
        if off - acked >= ACK_EVERY or (off > acked and sid not in self._q):
            self._acked[sid] = off
            self._send_ack(sid, off)


# ---- WRITE: chunks, a window, refusals resent with RESUME ----

class WritePlan:
    """The state of one write() call (docs/protocol.md, WRITE): data in chunks of at
    most 64 KiB, at most 256 KiB unacknowledged; a chunk refused with `limit` is resent
    with RESUME, one at a time, oldest first, and nothing new is sent until no refused
    chunk is left. The server refuses every WRITE after a refused one until a RESUME, so
    chunks in flight behind a refusal come back refused too, and input is never
    reordered."""

    RETRY_MIN, RETRY_MAX = 0.005, 0.25

    def __init__(self, data: bytes, chunk: int = WRITE_CHUNK, window: int = WRITE_WINDOW,
                 resume_first: bool = False) -> None:
        mv = memoryview(bytes(data))
        # An earlier write() to the session was abandoned (timeout, cancellation) and
        # may have left the server's refusal latch set: the first chunk clears it.
        self.first_flags = codec.WRITE_F_RESUME if resume_first else 0
        self.refusals = 0
        self.chunks: List[bytes] = [bytes(mv[i:i + chunk]) for i in range(0, len(mv), chunk)] or [b""]
        self.window = window
        self.next = 0                       # first chunk never sent
        self.inflight: Dict[int, int] = {}  # req -> chunk index
        self.inflight_bytes = 0
        self.refused: List[int] = []        # chunk indexes, sorted
        self.resending: Optional[int] = None  # req of the RESUME in flight
        self.done = 0                       # chunks acknowledged
        self.acked_bytes = 0                # bytes acknowledged (in order)
        self.retry_delay = self.RETRY_MIN
        self.retry_ready = True             # a refused chunk may be resent now

    @property
    def finished(self) -> bool:
        return self.done == len(self.chunks)

    def to_send(self, new_req: Callable[[], int]) -> List[Tuple[int, int, bytes]]:
        """[(req, flags, chunk)] to send now."""
        out = []
        if self.refused:
            if self.resending is None and self.retry_ready:
                idx = self.refused.pop(0)
                req = new_req()
                self.resending = req
                self.inflight[req] = idx
                self.inflight_bytes += len(self.chunks[idx])
                self.retry_ready = False
                out.append((req, codec.WRITE_F_RESUME, self.chunks[idx]))
            return out
        if self.resending is not None:
            return out
        while self.next < len(self.chunks) and (
                not self.inflight or self.inflight_bytes + len(self.chunks[self.next]) <= self.window):
            idx = self.next
            self.next += 1
            req = new_req()
            self.inflight[req] = idx
            self.inflight_bytes += len(self.chunks[idx])
            out.append((req, self.first_flags if idx == 0 else 0, self.chunks[idx]))
        return out

    def owns(self, req: int) -> bool:
        return req in self.inflight

    def on_ok(self, req: int) -> int:
        """An OK: returns how many bytes of the data are now acknowledged in all."""
        idx = self.inflight.pop(req)
        self.inflight_bytes -= len(self.chunks[idx])
        if any(i < idx for i in self.inflight.values()):
            raise ProtocolViolation("WRITE acknowledged out of order: chunk %d before %d"
                                    % (idx, min(self.inflight.values())))
        if req == self.resending:
            self.resending = None
        self.done += 1
        self.acked_bytes += len(self.chunks[idx])
        self.retry_delay = self.RETRY_MIN
        self.retry_ready = True   # the program read something: worth trying again now
        return self.acked_bytes

    def on_limit(self, req: int) -> float:
        """A `limit` refusal: returns the delay before the oldest refused chunk may be
        resent (unless an OK comes first)."""
        idx = self.inflight.pop(req)
        self.inflight_bytes -= len(self.chunks[idx])
        if req == self.resending:
            self.resending = None
        self.refused.append(idx)
        self.refused.sort()
        self.refusals += 1
        self.retry_ready = False
        delay = self.retry_delay
        self.retry_delay = min(self.retry_delay * 2, self.RETRY_MAX)
        return delay


# ---- WebSocket (RFC 6455), client side ----

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0, 1, 2, 8, 9, 10


def ws_parse_url(url: str) -> Tuple[str, int, str]:
    """(host, port, path) of a ws:// URL. Only ws:// (plain TCP) is supported."""
    u = urlsplit(url)
    if u.scheme != "ws":
        raise ValueError("only ws:// URLs are supported, not %r" % url)
    host = u.hostname or "127.0.0.1"
    path = u.path or "/ws"
    if u.query:
        path += "?" + u.query
    return host, u.port or 80, path


def ws_handshake_request(host: str, port: int, path: str, token: Optional[str]) -> Tuple[bytes, str]:
    """The upgrade request and the Sec-WebSocket-Accept value to expect."""
    key = base64.b64encode(os.urandom(16)).decode()
    hostport = ("[%s]" % host if ":" in host else host) + ":%d" % port
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % hostport, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
    if token:
        lines.append("Authorization: Bearer %s" % token)
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


def ws_check_response(head: bytes, accept: str) -> None:
    """Raises unless head (the response up to the blank line) accepts the upgrade."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        status = parts[1] if len(parts) > 1 else "?"
        if status == "401":
            raise PtyhubError.from_code(codec.ERROR_CODES["auth"],
                                        "WebSocket upgrade refused: %s (missing or wrong token)"
                                        % lines[0])
        raise ConnectionClosed("WebSocket upgrade refused: %s" % lines[0])
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("sec-websocket-accept") != accept:
        raise ProtocolViolation("WebSocket upgrade: wrong Sec-WebSocket-Accept")


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + ws_mask(payload, mask)


def ws_mask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ m).to_bytes(n, "little")


class WsReader:
    """Reassembles server frames into messages. feed() bytes; next() returns
    ("message", body) for a binary message, ("ping", data), ("close", payload), or
    None when more bytes are needed."""

    def __init__(self, max_message: int = codec.MAX_BODY) -> None:
        self._buf = bytearray()
        self._frag = bytearray()
        self._frag_op: Optional[int] = None
        self.max_message = max_message

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next(self) -> Optional[Tuple[str, bytes]]:
        while True:
            buf = self._buf
            if len(buf) < 2:
                return None
            b0, b1 = buf[0], buf[1]
            fin, op, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return None
                n = struct.unpack_from("!H", buf, 2)[0]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return None
                n = struct.unpack_from("!Q", buf, 2)[0]
                pos = 10
            if n > self.max_message + 16:
                raise ProtocolViolation("WebSocket frame of %d bytes" % n)
            mask = b""
            if masked:
                if len(buf) < pos + 4:
                    return None
                mask = bytes(buf[pos:pos + 4])
                pos += 4
            if len(buf) < pos + n:
                return None
            payload = bytes(buf[pos:pos + n])
            del buf[:pos + n]
            if masked:
                payload = ws_mask(payload, mask)
            if op == WS_PING:
                return ("ping", payload)
            if op == WS_PONG:
                continue
            if op == WS_CLOSE:
                return ("close", payload)
            if op in (WS_BINARY, WS_TEXT):
                if self._frag_op is not None:
                    raise ProtocolViolation("WebSocket: new message inside a fragmented one")
                if fin:
                    if op == WS_TEXT:
                        raise ProtocolViolation("WebSocket: text message from the server")
                    return ("message", payload)
                self._frag_op = op
                self._frag = bytearray(payload)
            elif op == WS_CONT:
                if self._frag_op is None:
                    raise ProtocolViolation("WebSocket: continuation without a message")
                self._frag += payload
                if len(self._frag) > self.max_message:
                    raise ProtocolViolation("WebSocket message over %d bytes" % self.max_message)
                if fin:
                    body = bytes(self._frag)
                    self._frag_op, self._frag = None, bytearray()
                    return ("message", body)
            else:
                raise ProtocolViolation("WebSocket: unknown opcode %d" % op)


def ws_close_reason(payload: bytes) -> str:
    if len(payload) >= 2:
        code = struct.unpack_from("!H", payload)[0]
        return "WebSocket closed by the server: %d %s" % (
            code, payload[2:].decode("utf-8", "replace"))
    return "WebSocket closed by the server"


# ---- the connection's state: requests, replies, events ----

_WAITING = object()


class Core:
    """Everything a connection knows, fed with server bodies by handle(). `send` sends a
    body (used for automatic ACKs)."""

    def __init__(self, auto_ack: bool, send: Callable[[bytes], None]) -> None:
        self.events = EventStore(auto_ack, lambda sid, off: send(codec.encode_ack(sid, off)))
        self._req = 0
        self._pending: Dict[int, object] = {}
        self._info: Dict[int, Tuple] = {}
        self._lists: Dict[int, List[codec.SessionInfo]] = {}
        self.welcome: Optional[codec.Welcome] = None
        self.fatal: Optional[ConnectionClosed] = None
        self.write_refusals = 0              # WRITEs refused with `limit` (and resent)
        self.write_abandoned: set = set()    # sids whose last write() did not finish
        # Lifecycle events (EVENTS): kept for session_events(), bounded; beyond, they
        # are counted and the caller gets one DROPPED, as the server does.
        self.session_events: Deque[SessionEvent] = deque()
        self.session_events_dropped = 0
        self.on_session_event: Optional[Callable[[SessionEvent], None]] = None
        self._opened: Dict[int, codec.Created] = {}

    def push_session_event(self, ev: SessionEvent) -> None:
        if self.on_session_event is not None:
            self.on_session_event(ev)
            return
        if self.session_events_dropped or len(self.session_events) >= SESSION_EVENTS_MAX:
            self.session_events_dropped += ev.count if ev.kind == codec.EV_DROPPED else 1
            return
        self.session_events.append(ev)

    def pop_session_event(self) -> Optional[SessionEvent]:
        if self.session_events:
            return self.session_events.popleft()
        if self.session_events_dropped:
            n, self.session_events_dropped = self.session_events_dropped, 0
            return SessionEvent(codec.EV_DROPPED, 0, 0, count=n)
        return None

    @property
    def can_write(self) -> bool:
        return bool(self.welcome and self.welcome.flags & codec.WELCOME_F_WRITE)

    def new_req(self, info: Tuple = ()) -> int:
        self._req = self._req % 0xFFFFFFFF + 1
        self._pending[self._req] = _WAITING
        if info:
            self._info[self._req] = info
        return self._req

    def has_reply(self, req: int) -> bool:
        return self._pending.get(req, _WAITING) is not _WAITING

    def take(self, req: int) -> object:
        """The reply to req; raises PtyhubError for an ERROR."""
        msg = self._pending.pop(req)
        self._info.pop(req, None)
        self._opened.pop(req, None)
        if isinstance(msg, codec.Error):
            raise PtyhubError.from_code(msg.code, msg.message, msg.req, msg.sid)
        return msg

    def forget(self, req: int) -> None:
        """Stop waiting for req; its reply, if it still comes, is dropped."""
        self._opened.pop(req, None)
        self._pending.pop(req, None)
        self._info.pop(req, None)
        self._lists.pop(req, None)

    def handle(self, body: bytes) -> Optional[int]:
        """Takes one server body. Returns the req whose reply is now complete, if any."""
        try:
            msg = codec.decode(body)
        except codec.DecodeError as e:
            raise ProtocolViolation(str(e))
        if msg is None or isinstance(msg, codec.Resized):
            return None  # an unknown type: ignored, as the protocol says
        if isinstance(msg, SessionEvent):
            self.push_session_event(msg)
            return None
        if isinstance(msg, (Output, Gap, Exit, Snapshot)):
            if self.events.tracking(msg.sid):
                self.events.push(msg)
            return None
        if isinstance(msg, codec.Welcome):
            self.welcome = msg
            return None
        if isinstance(msg, codec.Error):
            err = PtyhubError.from_code(msg.code, msg.message, msg.req, msg.sid)
            if err.closes:
                self.fatal = ConnectionClosed("the server closed the connection: %s" % err, err)
            if msg.req == 0:
                if not err.closes and not (err.name == "not_attached"
                                           and not self.events.tracking(msg.sid)):
                    self.events.push(Failed(msg.sid, err))
                return None
        req = msg.req
        if req not in self._pending:
            return None  # a reply nobody waits for any more
        info = self._info.get(req, ())
        if isinstance(msg, codec.ListReply):
            acc = self._lists.setdefault(req, [])
            acc.extend(msg.sessions)
            if msg.more:
                return None
            msg = codec.ListReply(req, False, self._lists.pop(req))
        elif isinstance(msg, codec.Created) and info and info[0] == "open" and info[1]:
            self._opened[req] = msg  # OPEN with ATTACH: ATTACHED follows with the same req
            return None
        elif isinstance(msg, codec.Attached) and info and info[0] == "open":
            self.events.attached(msg.sid, 0)
            created = self._opened.pop(req)
            msg = Opened(created.sid, created.pid, msg)
        elif isinstance(msg, codec.Attached) and info and info[0] == "attach":
            _, kind, frm = info
            if kind == codec.FROM_OFFSET:
                pos = frm
            elif kind == codec.FROM_TAIL:
                pos = max(msg.start, msg.end - frm)
            else:  # the live edge, or the snapshot's offset
                pos = msg.end
            self.events.attached(msg.sid, pos)
        elif isinstance(msg, codec.Ok) and info and info[0] == "detach":
            self.events.detached(info[1])
        self._pending[req] = msg
        return req
