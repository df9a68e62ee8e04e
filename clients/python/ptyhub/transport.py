"""Blocking transports: each carries session-protocol bodies. ``send(body)`` sends one;
``recv(timeout)`` returns the next body, None when timeout seconds pass first, and
raises ConnectionClosed at the end of the stream."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from typing import Optional, Sequence

from . import codec
from ._common import (WS_BINARY, WS_CLOSE, WS_PONG, WsReader, default_socket_path,
                      default_token, ws_check_response, ws_close_reason, ws_frame,
                      ws_handshake_request, ws_parse_url)
from .errors import ConnectionClosed, ProtocolViolation

READ_SIZE = 256 * 1024


class Transport:
    def send(self, body: bytes) -> None:
        raise NotImplementedError

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _wait_readable(fd: int, timeout: Optional[float]) -> bool:
    if timeout is not None and timeout <= 0:
        r, _, _ = select.select([fd], [], [], 0)
    else:
        r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


class StreamTransport(Transport):
    """Length-prefixed frames over a byte stream: a connected socket, or a pair of pipes."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._rfd, self._wfd = read_fd, write_fd
        self._split = codec.FrameSplitter()
        self._eof = False

    def send(self, body: bytes) -> None:
        data = memoryview(codec.frame(body))
        while data:
            try:
                n = os.write(self._wfd, data)
            except (BrokenPipeError, ConnectionResetError) as e:
                raise ConnectionClosed("the server closed the connection (%s)" % e)
            data = data[n:]

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                body = self._split.next_body()
            except codec.DecodeError as e:
                raise ProtocolViolation(str(e))
            if body is not None:
                return body
            if self._eof:
                raise ConnectionClosed("the server closed the connection")
            left = None if deadline is None else deadline - time.monotonic()
            if not _wait_readable(self._rfd, left):
                return None
            try:
                chunk = os.read(self._rfd, max(READ_SIZE, self._split.wanted()))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self._eof = True
                if self._split.buffered:
                    raise ConnectionClosed("the server closed the connection mid-frame")
            self._split.feed(chunk)


class UnixTransport(StreamTransport):
    def __init__(self, path: Optional[str] = None) -> None:
        self.path = path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(self.path)
        except OSError:
            self.sock.close()
            raise
        super().__init__(self.sock.fileno(), self.sock.fileno())

    def close(self) -> None:
        self.sock.close()


def stdio_env() -> dict:
    """The environment of a `ptyhub stdio` child: ours without $PTYHUB_SOCKET."""
    env = dict(os.environ)
    env.pop("PTYHUB_SOCKET", None)
    return env


class StdioTransport(StreamTransport):
    """Runs `ptyhub stdio ARGS` as a child process and talks over its stdin/stdout.
    Closing ends it: stdin is closed, which ends every session, and the child is waited
    for (killed after `grace` seconds)."""

    def __init__(self, ptyhub: str = "ptyhub", args: Sequence[str] = (),
                 stderr: Optional[int] = None, grace: float = 10.0) -> None:
        self.proc = subprocess.Popen([ptyhub, "stdio"] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=stderr, env=stdio_env())
        self.grace = grace
        assert self.proc.stdin is not None and self.proc.stdout is not None
        super().__init__(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def close(self) -> None:
        p = self.proc
        if p.stdin and not p.stdin.closed:
            try:
                p.stdin.close()
            except OSError:
                pass
        try:
            p.wait(self.grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdout:
            p.stdout.close()


class WebSocketTransport(Transport):
    """The protocol over WebSocket (`GET /ws`): one binary message per body. The token
    goes in `Authorization: Bearer`; by default it is read from the `token` file beside
    the default socket (or beside socket_path)."""

    def __init__(self, url: str, token: Optional[str] = None,
                 socket_path: Optional[str] = None, connect_timeout: float = 30.0) -> None:
        host, port, path = ws_parse_url(url)
        if token is None:
            token = default_token(socket_path)
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            req, accept = ws_handshake_request(host, port, path, token)
            self.sock.sendall(req)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionClosed("the server closed the connection during the "
                                           "WebSocket upgrade")
                buf += chunk
                if len(buf) > 65536:
                    raise ProtocolViolation("WebSocket upgrade: response head too long")
            head, rest = buf.split(b"\r\n\r\n", 1)
            ws_check_response(head, accept)
        except BaseException:
            self.sock.close()
            raise
        self.sock.settimeout(None)
        self._reader = WsReader()
        self._reader.feed(rest)
        self._closed = False

    def send(self, body: bytes) -> None:
        try:
            self.sock.sendall(ws_frame(WS_BINARY, body))
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ConnectionClosed("the server closed the connection (%s)" % e)

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            m = self._reader.next()
            if m is not None:
                kind, payload = m
                if kind == "message":
                    return payload
                if kind == "ping":
                    self.sock.sendall(ws_frame(WS_PONG, payload))
                    continue
                if not self._closed:
                    self._closed = True
                    try:
                        self.sock.sendall(ws_frame(WS_CLOSE, payload[:2]))
                    except OSError:
                        pass
                raise ConnectionClosed(ws_close_reason(payload))
            left = None if deadline is None else deadline - time.monotonic()
            if not _wait_readable(self.sock.fileno(), left):
                return None
            try:
                chunk = self.sock.recv(READ_SIZE)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed("the server closed the connection")
            self._reader.feed(chunk)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.sock.sendall(ws_frame(WS_CLOSE, b"\x03\xe8"))
            except OSError:
                pass
        self.sock.close()
