"""The blocking client. One thread, no background reader: the connection is read while
a call waits for its reply and while the caller asks for events."""

from __future__ import annotations

import time
from typing import (Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from . import codec
from ._common import Core, Event, Opened, WritePlan, event_mask
from .codec import Attached, Exit, Gap, Output, Screen, SessionEvent, SessionInfo, Waited
from .errors import ConnectionClosed, LostOutput, ProtocolViolation, PtyhubError
from .transport import StdioTransport, Transport, UnixTransport, WebSocketTransport

Env = Union[Mapping[str, str], Sequence[str], None]


def mode_arg(mode: Union[str, int]) -> int:
    if isinstance(mode, str):
        try:
            return {"interactive": codec.MODE_INTERACTIVE, "read_only": codec.MODE_READ_ONLY}[mode]
        except KeyError:
            raise ValueError("mode is 'interactive' or 'read_only', not %r" % mode)
    return int(mode)


def attach_args(mode: Union[str, int], from_offset: int, tail: Optional[int],
                live: bool, snapshot: bool = False) -> Tuple[int, int, int]:
    m = mode_arg(mode)
    if snapshot:
        return m, codec.FROM_SNAPSHOT, 0
    if live:
        return m, codec.FROM_LIVE, 0
    if tail is not None:
        return m, codec.FROM_TAIL, int(tail)
    return m, codec.FROM_OFFSET, int(from_offset)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def wait_args(text: Optional[str], idle_ms: Optional[int]) -> Tuple[int, bytes]:
    """WAIT's flags and regex for wait(text=..., idle_ms=...)."""
    flags = 0
    if text is not None:
        if not text:
            raise ValueError("text must be a non-empty regular expression")
        flags |= codec.WAIT_F_TEXT
    if idle_ms is not None:
        if idle_ms < 1:
            raise ValueError("idle_ms must be at least 1")
        flags |= codec.WAIT_F_IDLE
    if not flags:
        raise ValueError("wait for text=REGEX, idle_ms=N, or both")
    return flags, (text or "").encode("utf-8")


def need_terminal(welcome: Optional[codec.Welcome]) -> None:
    """SCREEN and WAIT need terminal state (WELCOME flag TERMINAL): without it the
    server would answer `unavailable`, so the client says so without asking."""
    if welcome is None or not welcome.flags & codec.WELCOME_F_TERMINAL:
        raise PtyhubError.from_code(codec.ERROR_CODES["unavailable"],
                                    "this server keeps no terminal state (start it with "
                                    "--terminal-state on)")


def need_flag(welcome: Optional[codec.Welcome], flag: int, what: str) -> None:
    """Raises PtyhubError(unknown_type) when the server did not announce `flag`."""
    if welcome is None or not welcome.flags & flag:
        raise PtyhubError.from_code(codec.ERROR_CODES["unknown_type"],
                                    "this server does not support %s (WELCOME version %s, "
                                    "flags 0x%x)" % (what, welcome and welcome.version,
                                                     welcome.flags if welcome else 0))


class Client:
    """A connection to ptyhub. Make one with connect_unix(), spawn_stdio() or
    connect_ws(); use it as a context manager or call close().

    The client says it is ACK-paced (HELLO flag bit 0): the server sends at most its
    window (2 MiB) of unacknowledged output per attached session, and the client
    acknowledges output only once the caller has taken it from events() (auto_ack) or
    when the caller calls ack() (auto_ack=False). So memory stays bounded, and a caller
    that stops taking events pauses only the sessions it is attached to interactively
    (their programs block in write(), as on a slow terminal); read-only attachments
    get a GAP instead.

    `timeout` (seconds, None = wait forever) is the default for every request."""

    def __init__(self, transport: Transport, auto_ack: bool = True,
                 timeout: Optional[float] = None) -> None:
        self._t = transport
        self.timeout = timeout
        self._core = Core(auto_ack, self._send)
        try:
            self._send(codec.encode_hello(codec.VERSION, codec.HELLO_F_ACK))
            deadline = _deadline(timeout)
            while self._core.welcome is None:
                if not self._pump(deadline):
                    raise TimeoutError("no WELCOME from the server")
        except BaseException:
            transport.close()
            raise

    # -- constructors --

    @classmethod
    def connect_unix(cls, path: Optional[str] = None, **kw) -> "Client":
        """Connects to the daemon's Unix socket: path, else $PTYHUB_SOCKET, else
        $XDG_RUNTIME_DIR/ptyhub/sock, else /tmp/ptyhub-$UID/sock."""
        return cls(UnixTransport(path), **kw)

    @classmethod
    def spawn_stdio(cls, ptyhub: str = "ptyhub", args: Sequence[str] = (),
                    stderr: Optional[int] = None, **kw) -> "Client":
        """Starts `ptyhub stdio ARGS` as a child and talks over its pipes. Its sessions
        end when the client is closed."""
        return cls(StdioTransport(ptyhub, args, stderr=stderr), **kw)

    @classmethod
    def connect_ws(cls, url: str, token: Optional[str] = None,
                   socket_path: Optional[str] = None, **kw) -> "Client":
        """Connects to ws://HOST:PORT/ws with `Authorization: Bearer TOKEN`; the token
        defaults to the `token` file beside the (default, or given) socket."""
        return cls(WebSocketTransport(url, token, socket_path), **kw)

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- information --

    @property
    def welcome(self) -> codec.Welcome:
        assert self._core.welcome is not None
        return self._core.welcome

    @property
    def write_refusals(self) -> int:
        """How many WRITEs the server refused with `limit` so far (each was resent)."""
        return self._core.write_refusals

    @property
    def can_write(self) -> bool:
        """The server accepts WRITE (acknowledged input)."""
        return self._core.can_write

    @property
    def transport(self) -> Transport:
        return self._t

    # -- plumbing --

    def _send(self, body: bytes) -> None:
        if self._core.fatal is not None:
            raise self._core.fatal
        self._t.send(body)

    def _pump(self, deadline: Optional[float]) -> bool:
        """Reads and handles one message; False if the deadline passed first."""
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            body = self._t.recv(left)
        except ConnectionClosed as e:
            if self._core.fatal is not None:
                raise self._core.fatal
            self._core.fatal = e
            raise
        if body is None:
            return False
        self._core.handle(body)
        return True

    def _wait(self, req: int, timeout: Optional[float]) -> object:
        deadline = _deadline(self.timeout if timeout is None else timeout)
        try:
            while not self._core.has_reply(req):
                if not self._pump(deadline):
                    raise TimeoutError("no reply to request %d" % req)
        except BaseException:
            self._core.forget(req)
            raise
        return self._core.take(req)

    def _request(self, make: Callable[[int], bytes], info: Tuple = (),
                 timeout: Optional[float] = None) -> object:
        req = self._core.new_req(info)
        try:
            self._send(make(req))
        except BaseException:
            self._core.forget(req)
            raise
        return self._wait(req, timeout)

    # -- requests --

    def create(self, argv: Sequence[str], name: Optional[str] = None,
               cwd: Optional[str] = None, env: Env = None, cols: int = 0, rows: int = 0,
               timeout: Optional[float] = None) -> int:
        """Starts argv in a new session; returns its id (its pid is then last_pid). env
        (a mapping or a list of "KEY=VALUE") is added to the daemon's environment,
        overriding it; cols/rows 0 means the server's default size."""
        msg = self._request(lambda r: codec.encode_create(r, argv, name, cwd, env, cols, rows),
                            timeout=timeout)
        assert isinstance(msg, codec.Created)
        self.last_pid = msg.pid
        return msg.sid

    def open(self, argv: Sequence[str], name: Optional[str] = None, cwd: Optional[str] = None,
             env: Env = None, cols: int = 0, rows: int = 0, attach: bool = True,
             hold: bool = False, mode: Union[str, int] = "interactive",
             timeout: Optional[float] = None) -> Opened:
        """Creates a session and, with attach (the default), attaches this client to it
        from offset 0 before any of its output is read, in one request (OPEN): nothing
        is lost however fast it writes. With hold (and attach=False) its output is not
        read until someone attaches. Needs a version 3 server."""
        need_flag(self._core.welcome, codec.WELCOME_F_OPEN, "OPEN")
        flags = (codec.OPEN_F_ATTACH if attach else 0) | (codec.OPEN_F_HOLD if hold else 0)
        m = mode_arg(mode)
        msg = self._request(lambda r: codec.encode_open(r, argv, flags, m, name, cwd, env, cols,
                                                         rows), ("open", attach), timeout)
        if isinstance(msg, codec.Created):
            msg = Opened(msg.sid, msg.pid, None)
        assert isinstance(msg, Opened)
        self.last_pid = msg.pid
        return msg

    def attach(self, sid: int, mode: Union[str, int] = "interactive", from_offset: int = 0,
               tail: Optional[int] = None, live: bool = False, cols: int = 0, rows: int = 0,
               snapshot: bool = False, timeout: Optional[float] = None) -> Attached:
        """Subscribes to a session's output, from an absolute offset (default 0), the
        last `tail` bytes, the live edge, or (snapshot=True, version 3 with terminal
        state) a Snapshot event that redraws the screen, then output from exactly its
        offset. Events follow in events(); what was still queued from an earlier
        attachment to the same session is dropped."""
        m, kind, frm = attach_args(mode, from_offset, tail, live, snapshot)
        msg = self._request(lambda r: codec.encode_attach(r, sid, m, kind, frm, cols, rows),
                            ("attach", kind, frm), timeout)
        assert isinstance(msg, Attached)
        return msg

    def detach(self, sid: int, timeout: Optional[float] = None) -> None:
        """Ends the subscription; events of sid not yet taken are dropped."""
        self._request(lambda r: codec.encode_detach(r, sid), ("detach", sid), timeout)

    def signal(self, sid: int, signo: int = 0, timeout: Optional[float] = None) -> None:
        """Sends signal signo (0: SIGHUP to the process group, then SIGKILL)."""
        self._request(lambda r: codec.encode_signal(r, sid, signo), timeout=timeout)

    def remove(self, sid: int, timeout: Optional[float] = None) -> None:
        """Forgets an exited session."""
        self._request(lambda r: codec.encode_remove(r, sid), timeout=timeout)

    def list(self, timeout: Optional[float] = None) -> List[SessionInfo]:
        msg = self._request(codec.encode_list, timeout=timeout)
        assert isinstance(msg, codec.ListReply)
        return msg.sessions

    def input(self, sid: int, data: Union[bytes, str]) -> None:
        """Fire-and-forget input (INPUT). A failure arrives later as a Failed event."""
        self._send(codec.encode_input(sid, _bytes(data)))

    def resize(self, sid: int, cols: int, rows: int) -> None:
        """Resizes (needs an interactive attachment). Failures arrive as Failed events."""
        self._send(codec.encode_resize(sid, cols, rows))

    def ack(self, sid: int, offset: int) -> None:
        """Every output byte of sid below offset has been consumed (for auto_ack=False)."""
        self._send(codec.encode_ack(sid, offset))

    def write(self, sid: int, data: Union[bytes, str], timeout: Optional[float] = None,
              on_ack: Optional[Callable[[int], None]] = None) -> None:
        """Acknowledged input: returns once every byte has been written to the
        session's terminal. Data goes in WRITEs of at most 64 KiB with at most 256 KiB
        unacknowledged; a WRITE refused with `limit` (the program is not reading) is
        resent with RESUME until it fits, so this waits as long as the program does not
        read (up to timeout). on_ack(n) is called as the first n bytes are acknowledged.
        Raises PtyhubError (exited, no_such_session, read_only, ...)."""
        if not self.can_write:
            raise PtyhubError.from_code(codec.ERROR_CODES["unknown_type"],
                                        "this server does not accept WRITE (WELCOME flags)",
                                        0, sid)
        core = self._core
        plan = WritePlan(_bytes(data), resume_first=sid in core.write_abandoned)
        core.write_abandoned.discard(sid)
        deadline = _deadline(self.timeout if timeout is None else timeout)
        retry_at: Optional[float] = None
        try:
            while not plan.finished:
                for req, flags, chunk in plan.to_send(core.new_req):
                    self._send(codec.encode_write(req, sid, chunk, flags))
                progressed = False
                for req in sorted(plan.inflight, key=lambda r: plan.inflight[r]):
                    if not core.has_reply(req):
                        continue
                    progressed = True
                    try:
                        msg = core.take(req)
                    except PtyhubError as e:
                        if e.code != codec.ERROR_CODES["limit"]:
                            raise
                        retry_at = time.monotonic() + plan.on_limit(req)
                        core.write_refusals += 1
                        continue
                    assert isinstance(msg, codec.Ok)
                    n = plan.on_ok(req)
                    if on_ack:
                        on_ack(n)
                if progressed:
                    continue
                now = time.monotonic()
                if plan.refused and not plan.retry_ready and retry_at is not None:
                    if now >= retry_at:
                        plan.retry_ready = True
                        continue
                    wake = retry_at if deadline is None else min(retry_at, deadline)
                else:
                    wake = deadline
                if not self._pump(wake) and deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("write to session %d: %d of %d bytes acknowledged"
                                       % (sid, plan.acked_bytes, len(data)))
        finally:
            for req in list(plan.inflight):
                core.forget(req)
            if not plan.finished:
                core.write_abandoned.add(sid)

    def paste(self, sid: int, text: Union[bytes, str], enter: bool = False,
              timeout: Optional[float] = None) -> None:
        """Pastes text as one unit (PASTE): line endings become CR, bracketed when the
        program enabled bracketed paste, then Enter if asked. Returns once every byte
        was written to the session's terminal. Refused with `limit` while its input
        queue is full: resent (with RESUME) until it fits or timeout. Version 3."""
        need_flag(self._core.welcome, codec.WELCOME_F_PASTE, "PASTE")
        core = self._core
        resume = sid in core.write_abandoned
        deadline = _deadline(self.timeout if timeout is None else timeout)
        delay = 0.01
        while True:
            flags = (codec.PASTE_F_ENTER if enter else 0) | (codec.PASTE_F_RESUME if resume
                                                              else 0)
            try:
                self._request(lambda r: codec.encode_paste(r, sid, _bytes(text), flags),
                              timeout=None if deadline is None
                              else max(0.0, deadline - time.monotonic()))
                core.write_abandoned.discard(sid)
                return
            except PtyhubError as e:
                if e.code != codec.ERROR_CODES["limit"]:
                    raise
                core.write_refusals += 1
                core.write_abandoned.add(sid)
                resume = True
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise TimeoutError("paste to session %d: its input queue stayed full" % sid)
            self._pump(time.monotonic() + delay)
            delay = min(delay * 2, 0.5)

    def screen(self, sid: int, ansi: bool = False, timeout: Optional[float] = None) -> Screen:
        """The session's screen now (SCREEN): text, cursor, modes, title, and the output
        offset it represents; ansi=True gives the snapshot bytes instead of text. Raises
        PtyhubError(unavailable) when the server keeps no terminal state."""
        need_terminal(self._core.welcome)
        msg = self._request(lambda r: codec.encode_screen(r, sid, codec.SCREEN_F_ANSI if ansi
                                                          else 0), timeout=timeout)
        assert isinstance(msg, Screen)
        return msg

    def wait(self, sid: int, text: Optional[str] = None, idle_ms: Optional[int] = None,
             timeout_ms: int = 0, after: int = 0, timeout: Optional[float] = None) -> Waited:
        """Waits on the server (WAIT) until the screen matches the POSIX extended regex
        `text`, or no output came for idle_ms, or timeout_ms passed (0: no limit), or the
        session exited. Only screen states after output offset `after` count. Returns a
        Waited whose .reason is "text", "idle", "timeout" or "exited"."""
        need_terminal(self._core.welcome)
        flags, regex = wait_args(text, idle_ms)
        msg = self._request(lambda r: codec.encode_wait(r, sid, flags, after, idle_ms or 0,
                                                        timeout_ms, regex), timeout=timeout)
        assert isinstance(msg, Waited)
        return msg

    # -- lifecycle events (EVENTS) --

    def subscribe(self, kinds: Optional[Iterable[Union[str, int]]] = None,
                  callback: Optional[Callable[[SessionEvent], None]] = None,
                  timeout: Optional[float] = None) -> None:
        """Subscribes to lifecycle events of every session (EVENTS): kinds is None (all)
        or names among created, exited, removed, resized, title (dropped always comes).
        Events are then taken with session_events(), or handed to callback as they are
        read (during any call that reads the connection). Version 3."""
        need_flag(self._core.welcome, codec.WELCOME_F_EVENTS, "EVENTS")
        mask = event_mask(kinds)
        self._core.on_session_event = callback
        self._request(lambda r: codec.encode_events(r, mask), timeout=timeout)

    def unsubscribe(self, timeout: Optional[float] = None) -> None:
        self._request(lambda r: codec.encode_events(r, 0), timeout=timeout)

    def next_session_event(self, timeout: Optional[float] = None) -> Optional[SessionEvent]:
        """The next lifecycle event, or None if none arrives within timeout."""
        deadline = _deadline(timeout)
        while True:
            ev = self._core.pop_session_event()
            if ev is not None:
                return ev
            if not self._pump(deadline):
                return None

    def session_events(self, timeout: Optional[float] = None) -> Iterator[SessionEvent]:
        """Lifecycle events in order; stops when none arrives within timeout (None:
        never). A "dropped" event (count) means some were lost: re-read list()."""
        while True:
            ev = self.next_session_event(timeout)
            if ev is None:
                return
            yield ev

    # -- events --

    def next_event(self, timeout: Optional[float] = None,
                   sid: Optional[int] = None) -> Optional[Event]:
        """The next event (of one session, when sid is given; others stay queued), or
        None if none arrives within timeout seconds (None: wait forever)."""
        deadline = _deadline(timeout)
        while True:
            ev = self._core.events.pop(sid)
            if ev is not None:
                return ev
            if not self._pump(deadline):
                return None

    def events(self, timeout: Optional[float] = None,
               sid: Optional[int] = None) -> Iterator[Event]:
        """Output, Gap, Exit (and Failed, for a failed INPUT/RESIZE) events in order.
        Stops when none arrives within timeout seconds (None: never)."""
        while True:
            ev = self.next_event(timeout, sid)
            if ev is None:
                return
            yield ev

    def output_until_exit(self, sid: int, timeout: Optional[float] = None
                          ) -> Tuple[bytes, Exit]:
        """Takes sid's events until its EXIT; returns every output byte and the exit.
        Checks that offsets are contiguous; raises LostOutput on a GAP and TimeoutError
        if no event comes within timeout seconds. Other sessions' events stay queued."""
        out = bytearray()
        expect: Optional[int] = None
        while True:
            ev = self.next_event(timeout if timeout is not None else self.timeout, sid)
            if ev is None:
                raise TimeoutError("session %d: no EXIT yet" % sid)
            if isinstance(ev, Gap):
                raise LostOutput(sid, ev.start, ev.end)
            if isinstance(ev, Output):
                if expect is not None and ev.offset != expect:
                    raise ProtocolViolation("session %d: OUTPUT at %d, want %d"
                                            % (sid, ev.offset, expect))
                out += ev.data
                expect = ev.end
            elif isinstance(ev, Exit):
                if expect is not None and ev.end != expect:
                    raise ProtocolViolation("session %d: EXIT at %d after output up to %d"
                                            % (sid, ev.end, expect))
                return bytes(out), ev


def _bytes(data: Union[bytes, str]) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
