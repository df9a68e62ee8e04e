"""The asyncio client: the same calls as the blocking Client, awaited. One reader task
per connection takes every message; replies complete their request's future, events
are queued (bounded by the server's ACK window per attached session, see Client)."""

from __future__ import annotations

import asyncio
import time
from typing import (AsyncIterator, Callable, Dict, Iterable, List, Optional, Sequence, Tuple,
                    Union)

from . import codec
from ._common import (WS_BINARY, WS_CLOSE, WS_PONG, Core, Event, Opened, WritePlan, WsReader,
                      event_mask,
                      default_socket_path, default_token, ws_check_response,
                      ws_close_reason, ws_frame, ws_handshake_request, ws_parse_url)
from .client import Env, _bytes, attach_args, mode_arg, need_flag, need_terminal, wait_args
from .transport import stdio_env
from .codec import Attached, Exit, Gap, Output, Screen, SessionEvent, SessionInfo, Waited
from .errors import ConnectionClosed, LostOutput, ProtocolViolation, PtyhubError

READ_SIZE = 256 * 1024


class AsyncTransport:
    def send(self, body: bytes) -> None:
        """Queues one body (never blocks; see drain)."""
        raise NotImplementedError

    async def drain(self) -> None:
        raise NotImplementedError

    async def recv(self) -> bytes:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class AsyncStreamTransport(AsyncTransport):
    """Length-prefixed frames over asyncio streams (a Unix socket, or a child's pipes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 proc: Optional[asyncio.subprocess.Process] = None, grace: float = 10.0) -> None:
        self._r, self._w, self.proc, self.grace = reader, writer, proc, grace
        self._drain_lock = asyncio.Lock()

    def send(self, body: bytes) -> None:
        if self._w.is_closing():
            raise ConnectionClosed("the connection is closed")
        self._w.write(codec.frame(body))

    async def drain(self) -> None:
        # One drain at a time: Python before 3.10 does not allow concurrent drains.
        async with self._drain_lock:
            try:
                await self._w.drain()
            except (BrokenPipeError, ConnectionResetError) as e:
                raise ConnectionClosed("the server closed the connection (%s)" % e)

    async def recv(self) -> bytes:
        try:
            head = await self._r.readexactly(4)
            n = int.from_bytes(head, "little")
            if n == 0 or n > codec.MAX_BODY:
                raise ProtocolViolation("frame length %d out of range" % n)
            return await self._r.readexactly(n)
        except asyncio.IncompleteReadError:
            raise ConnectionClosed("the server closed the connection")
        except ConnectionResetError:
            raise ConnectionClosed("the server reset the connection")

    async def close(self) -> None:
        self._w.close()
        try:
            await self._w.wait_closed()
        except (OSError, ConnectionError):
            pass
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), self.grace)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class AsyncWebSocketTransport(AsyncTransport):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 rest: bytes) -> None:
        self._r, self._w = reader, writer
        self._drain_lock = asyncio.Lock()
        self._ws = WsReader()
        self._ws.feed(rest)
        self._closed = False

    @classmethod
    async def open(cls, url: str, token: Optional[str] = None,
                   socket_path: Optional[str] = None) -> "AsyncWebSocketTransport":
        host, port, path = ws_parse_url(url)
        if token is None:
            token = default_token(socket_path)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            req, accept = ws_handshake_request(host, port, path, token)
            writer.write(req)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                raise ConnectionClosed("the server closed the connection during the "
                                       "WebSocket upgrade")
            ws_check_response(head[:-4], accept)
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, b"")

    def send(self, body: bytes) -> None:
        if self._w.is_closing():
            raise ConnectionClosed("the connection is closed")
        self._w.write(ws_frame(WS_BINARY, body))

    async def drain(self) -> None:
        # One drain at a time: Python before 3.10 does not allow concurrent drains.
        async with self._drain_lock:
            try:
                await self._w.drain()
            except (BrokenPipeError, ConnectionResetError) as e:
                raise ConnectionClosed("the server closed the connection (%s)" % e)

    async def recv(self) -> bytes:
        while True:
            m = self._ws.next()
            if m is not None:
                kind, payload = m
                if kind == "message":
                    return payload
                if kind == "ping":
                    self._w.write(ws_frame(WS_PONG, payload))
                    continue
                if not self._closed:
                    self._closed = True
                    self._w.write(ws_frame(WS_CLOSE, payload[:2]))
                raise ConnectionClosed(ws_close_reason(payload))
            try:
                chunk = await self._r.read(READ_SIZE)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed("the server closed the connection")
            self._ws.feed(chunk)

    async def close(self) -> None:
        if not self._closed and not self._w.is_closing():
            self._closed = True
            self._w.write(ws_frame(WS_CLOSE, b"\x03\xe8"))
        self._w.close()
        try:
            await self._w.wait_closed()
        except (OSError, ConnectionError):
            pass


class AsyncClient:
    """The asyncio twin of Client. Make one with ``await AsyncClient.connect_unix()``,
    ``spawn_stdio()`` or ``connect_ws()``; ``async with`` closes it."""

    def __init__(self, transport: AsyncTransport, auto_ack: bool = True,
                 timeout: Optional[float] = None) -> None:
        self._t = transport
        self.timeout = timeout
        self._core = Core(auto_ack, self._send)
        self._futs: Dict[int, asyncio.Future] = {}
        self._wake = asyncio.Event()
        self._welcome = asyncio.get_running_loop().create_future()
        self._wlocks: Dict[int, asyncio.Lock] = {}
        self._reader: Optional[asyncio.Task] = None

    async def _start(self) -> "AsyncClient":
        try:
            self._send(codec.encode_hello(codec.VERSION, codec.HELLO_F_ACK))
            self._reader = asyncio.ensure_future(self._read_loop())
            await asyncio.wait_for(asyncio.shield(self._welcome), self.timeout)
        except BaseException:
            await self.close()
            raise
        return self

    @classmethod
    async def connect_unix(cls, path: Optional[str] = None, **kw) -> "AsyncClient":
        reader, writer = await asyncio.open_unix_connection(path or default_socket_path())
        return await cls(AsyncStreamTransport(reader, writer), **kw)._start()

    @classmethod
    async def spawn_stdio(cls, ptyhub: str = "ptyhub", args: Sequence[str] = (),
                          stderr: Optional[int] = None, **kw) -> "AsyncClient":
        proc = await asyncio.create_subprocess_exec(
            ptyhub, "stdio", *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=stderr, env=stdio_env())
        assert proc.stdout is not None and proc.stdin is not None
        return await cls(AsyncStreamTransport(proc.stdout, proc.stdin, proc), **kw)._start()

    @classmethod
    async def connect_ws(cls, url: str, token: Optional[str] = None,
                         socket_path: Optional[str] = None, **kw) -> "AsyncClient":
        t = await AsyncWebSocketTransport.open(url, token, socket_path)
        return await cls(t, **kw)._start()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except BaseException:
                pass
        await self._t.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        return self._core.can_write

    # -- plumbing --

    def _send(self, body: bytes) -> None:
        if self._core.fatal is not None:
            raise self._core.fatal
        self._t.send(body)

    async def _read_loop(self) -> None:
        core = self._core
        try:
            while True:
                body = await self._t.recv()
                req = core.handle(body)
                if core.welcome is not None and not self._welcome.done():
                    self._welcome.set_result(core.welcome)
                if req is not None:
                    fut = self._futs.pop(req, None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                self._wake.set()
        except asyncio.CancelledError:
            err: BaseException = ConnectionClosed("the client was closed")
            if core.fatal is None:
                core.fatal = ConnectionClosed("the client was closed")
        except (ConnectionClosed, ProtocolViolation) as e:
            if core.fatal is None:
                core.fatal = e if isinstance(e, ConnectionClosed) else ConnectionClosed(str(e))
            err = core.fatal if isinstance(e, ConnectionClosed) else e
        except BaseException as e:  # a bug: do not leave callers waiting
            core.fatal = ConnectionClosed("reader failed: %r" % e)
            err = e
        # Requests still waiting: a closing ERROR may have answered some of them.
        for req, fut in list(self._futs.items()):
            if not fut.done():
                if core.has_reply(req):
                    fut.set_result(None)
                else:
                    fut.set_exception(core.fatal or err)
                    fut.exception()  # retrieved: a caller that gave up must not be warned
        self._futs.clear()
        if not self._welcome.done():
            self._welcome.set_exception(core.fatal or err)
        self._wake.set()

    def _new_req(self, info: Tuple = ()) -> int:
        if self._core.fatal is not None:
            raise self._core.fatal
        req = self._core.new_req(info)
        self._futs[req] = asyncio.get_running_loop().create_future()
        return req

    async def _wait(self, req: int, timeout: Optional[float]) -> object:
        fut = self._futs.get(req)
        try:
            if fut is not None:
                await asyncio.wait_for(asyncio.shield(fut),
                                       self.timeout if timeout is None else timeout)
        except BaseException:
            self._futs.pop(req, None)
            self._core.forget(req)
            raise
        return self._core.take(req)

    async def _request(self, make: Callable[[int], bytes], info: Tuple = (),
                       timeout: Optional[float] = None) -> object:
        req = self._new_req(info)
        try:
            self._send(make(req))
            await self._t.drain()
        except BaseException:
            self._futs.pop(req, None)
            self._core.forget(req)
            raise
        return await self._wait(req, timeout)

    # -- requests --

    async def create(self, argv: Sequence[str], name: Optional[str] = None,
                     cwd: Optional[str] = None, env: Env = None, cols: int = 0,
                     rows: int = 0, timeout: Optional[float] = None) -> int:
        msg = await self._request(
            lambda r: codec.encode_create(r, argv, name, cwd, env, cols, rows), timeout=timeout)
        assert isinstance(msg, codec.Created)
        self.last_pid = msg.pid
        return msg.sid

    async def open(self, argv: Sequence[str], name: Optional[str] = None,
                   cwd: Optional[str] = None, env: Env = None, cols: int = 0, rows: int = 0,
                   attach: bool = True, hold: bool = False,
                   mode: Union[str, int] = "interactive",
                   timeout: Optional[float] = None) -> Opened:
        """As Client.open: create and attach from offset 0 (or hold) in one request."""
        need_flag(self._core.welcome, codec.WELCOME_F_OPEN, "OPEN")
        flags = (codec.OPEN_F_ATTACH if attach else 0) | (codec.OPEN_F_HOLD if hold else 0)
        m = mode_arg(mode)
        msg = await self._request(
            lambda r: codec.encode_open(r, argv, flags, m, name, cwd, env, cols, rows),
            ("open", attach), timeout)
        if isinstance(msg, codec.Created):
            msg = Opened(msg.sid, msg.pid, None)
        assert isinstance(msg, Opened)
        self.last_pid = msg.pid
        return msg

    async def attach(self, sid: int, mode: Union[str, int] = "interactive",
                     from_offset: int = 0, tail: Optional[int] = None, live: bool = False,
                     cols: int = 0, rows: int = 0, snapshot: bool = False,
                     timeout: Optional[float] = None) -> Attached:
        m, kind, frm = attach_args(mode, from_offset, tail, live, snapshot)
        msg = await self._request(
            lambda r: codec.encode_attach(r, sid, m, kind, frm, cols, rows),
            ("attach", kind, frm), timeout)
        assert isinstance(msg, Attached)
        return msg

    async def detach(self, sid: int, timeout: Optional[float] = None) -> None:
        await self._request(lambda r: codec.encode_detach(r, sid), ("detach", sid), timeout)

    async def signal(self, sid: int, signo: int = 0, timeout: Optional[float] = None) -> None:
        await self._request(lambda r: codec.encode_signal(r, sid, signo), timeout=timeout)

    async def remove(self, sid: int, timeout: Optional[float] = None) -> None:
        await self._request(lambda r: codec.encode_remove(r, sid), timeout=timeout)

    async def list(self, timeout: Optional[float] = None) -> List[SessionInfo]:
        msg = await self._request(codec.encode_list, timeout=timeout)
        assert isinstance(msg, codec.ListReply)
        return msg.sessions

    async def input(self, sid: int, data: Union[bytes, str]) -> None:
        self._send(codec.encode_input(sid, _bytes(data)))
        await self._t.drain()

    async def resize(self, sid: int, cols: int, rows: int) -> None:
        self._send(codec.encode_resize(sid, cols, rows))
        await self._t.drain()

    async def ack(self, sid: int, offset: int) -> None:
        self._send(codec.encode_ack(sid, offset))
        await self._t.drain()

    async def write(self, sid: int, data: Union[bytes, str], timeout: Optional[float] = None,
                    on_ack: Optional[Callable[[int], None]] = None) -> None:
        """As Client.write. Concurrent writes to one session are sent one after the
        other, in call order; writes to different sessions run side by side."""
        if not self.can_write:
            raise PtyhubError.from_code(codec.ERROR_CODES["unknown_type"],
                                        "this server does not accept WRITE (WELCOME flags)",
                                        0, sid)
        lock = self._wlocks.setdefault(sid, asyncio.Lock())
        t = self.timeout if timeout is None else timeout
        async with lock:
            if t is None:
                await self._write(sid, _bytes(data), on_ack)
            else:
                await asyncio.wait_for(self._write(sid, _bytes(data), on_ack), t)

    async def _write(self, sid: int, data: bytes,
                     on_ack: Optional[Callable[[int], None]]) -> None:
        core = self._core
        plan = WritePlan(data, resume_first=sid in core.write_abandoned)
        core.write_abandoned.discard(sid)
        retry_at: Optional[float] = None
        try:
            while not plan.finished:
                for req, flags, chunk in plan.to_send(self._new_req):
                    self._send(codec.encode_write(req, sid, chunk, flags))
                await self._t.drain()
                progressed = False
                for req in sorted(plan.inflight, key=lambda r: plan.inflight[r]):
                    if not core.has_reply(req):
                        continue
                    progressed = True
                    self._futs.pop(req, None)
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
                wait: Optional[float] = None
                if plan.refused and not plan.retry_ready and retry_at is not None:
                    wait = retry_at - time.monotonic()
                    if wait <= 0:
                        plan.retry_ready = True
                        continue
                futs = [self._futs[r] for r in plan.inflight if r in self._futs]
                if core.fatal is not None and not any(core.has_reply(r) for r in plan.inflight):
                    raise core.fatal
                if futs:
                    done, _ = await asyncio.wait(futs, timeout=wait,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    for f in done:
                        if f.exception() is not None:
                            raise f.exception()  # type: ignore[misc]
                elif wait is not None:
                    await asyncio.sleep(wait)
        finally:
            for req in list(plan.inflight):
                self._futs.pop(req, None)
                core.forget(req)
            if not plan.finished:
                core.write_abandoned.add(sid)

    async def paste(self, sid: int, text: Union[bytes, str], enter: bool = False,
                    timeout: Optional[float] = None) -> None:
        """As Client.paste: one acknowledged paste, resent with RESUME while refused."""
        need_flag(self._core.welcome, codec.WELCOME_F_PASTE, "PASTE")
        lock = self._wlocks.setdefault(sid, asyncio.Lock())
        t = self.timeout if timeout is None else timeout
        async with lock:
            if t is None:
                await self._paste(sid, _bytes(text), enter)
            else:
                await asyncio.wait_for(self._paste(sid, _bytes(text), enter), t)

    async def _paste(self, sid: int, data: bytes, enter: bool) -> None:
        core = self._core
        resume = sid in core.write_abandoned
        delay = 0.01
        while True:
            flags = (codec.PASTE_F_ENTER if enter else 0) | (codec.PASTE_F_RESUME if resume
                                                              else 0)
            try:
                await self._request(lambda r: codec.encode_paste(r, sid, data, flags))
                core.write_abandoned.discard(sid)
                return
            except PtyhubError as e:
                if e.code != codec.ERROR_CODES["limit"]:
                    raise
                core.write_refusals += 1
                core.write_abandoned.add(sid)
                resume = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def screen(self, sid: int, ansi: bool = False,
                     timeout: Optional[float] = None) -> Screen:
        """As Client.screen."""
        need_terminal(self._core.welcome)
        msg = await self._request(
            lambda r: codec.encode_screen(r, sid, codec.SCREEN_F_ANSI if ansi else 0),
            timeout=timeout)
        assert isinstance(msg, Screen)
        return msg

    async def wait(self, sid: int, text: Optional[str] = None, idle_ms: Optional[int] = None,
                   timeout_ms: int = 0, after: int = 0,
                   timeout: Optional[float] = None) -> Waited:
        """As Client.wait (the waiting is done by the server; nothing polls)."""
        need_terminal(self._core.welcome)
        flags, regex = wait_args(text, idle_ms)
        msg = await self._request(
            lambda r: codec.encode_wait(r, sid, flags, after, idle_ms or 0, timeout_ms, regex),
            timeout=timeout)
        assert isinstance(msg, Waited)
        return msg

    # -- lifecycle events (EVENTS) --

    async def subscribe(self, kinds: Optional[Iterable[Union[str, int]]] = None,
                        callback: Optional[Callable[[SessionEvent], None]] = None,
                        timeout: Optional[float] = None) -> None:
        """As Client.subscribe; callback runs in the reader task (it must not block)."""
        need_flag(self._core.welcome, codec.WELCOME_F_EVENTS, "EVENTS")
        mask = event_mask(kinds)
        self._core.on_session_event = callback
        await self._request(lambda r: codec.encode_events(r, mask), timeout=timeout)

    async def unsubscribe(self, timeout: Optional[float] = None) -> None:
        await self._request(lambda r: codec.encode_events(r, 0), timeout=timeout)

    async def _pop_within(self, pop, timeout: Optional[float]):
        """pop()'s first non-None result, waiting for the reader between tries; None after
        timeout seconds (None: wait forever). A dead connection raises its error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ev = pop()
            if ev is not None:
                return ev
            if self._core.fatal is not None and (self._reader is None or self._reader.done()):
                raise self._core.fatal
            self._wake.clear()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                return None

    async def next_session_event(self, timeout: Optional[float] = None
                                 ) -> Optional[SessionEvent]:
        """The next lifecycle event, or None after timeout."""
        return await self._pop_within(self._core.pop_session_event, timeout)

    async def session_events(self, timeout: Optional[float] = None
                             ) -> AsyncIterator[SessionEvent]:
        """``async for ev in client.session_events()``: lifecycle events in order."""
        while True:
            ev = await self.next_session_event(timeout)
            if ev is None:
                return
            yield ev

    # -- events --

    async def next_event(self, timeout: Optional[float] = None,
                         sid: Optional[int] = None) -> Optional[Event]:
        """The next event (of one session when sid is given), or None after timeout."""
        return await self._pop_within(lambda: self._core.events.pop(sid), timeout)

    async def events(self, timeout: Optional[float] = None,
                     sid: Optional[int] = None) -> AsyncIterator[Event]:
        """``async for ev in client.events()``: Output, Gap, Exit, Failed in order;
        ends when none arrives within timeout seconds (None: never)."""
        while True:
            ev = await self.next_event(timeout, sid)
            if ev is None:
                return
            yield ev

    async def output_until_exit(self, sid: int, timeout: Optional[float] = None
                                ) -> Tuple[bytes, Exit]:
        out = bytearray()
        expect: Optional[int] = None
        while True:
            ev = await self.next_event(timeout if timeout is not None else self.timeout, sid)
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
