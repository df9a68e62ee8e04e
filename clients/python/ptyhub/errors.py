"""Exceptions raised by the ptyhub client."""

from __future__ import annotations

from typing import Optional

from .codec import ERROR_CODES, ERROR_NAMES, ERRORS_CLOSING


class PtyhubError(Exception):
    """An ERROR from the server. ``code`` is the protocol's stable number and ``name``
    its name (``"no_such_session"``, ``"limit"``, ...); ``req`` is the request it
    answers (0 when none) and ``sid`` the session concerned (0 when none)."""

    def __init__(self, code: int, name: str, message: str, req: int = 0, sid: int = 0) -> None:
        super().__init__("%s (%d): %s" % (name, code, message))
        self.code = code
        self.name = name
        self.message = message
        self.req = req
        self.sid = sid

    @classmethod
    def from_code(cls, code: int, message: str, req: int = 0, sid: int = 0) -> "PtyhubError":
        return cls(code, ERROR_NAMES.get(code, "error_%d" % code), message, req, sid)

    @property
    def closes(self) -> bool:
        """True for the errors after which the server closes the connection."""
        return self.code in ERRORS_CLOSING

    def __reduce__(self) -> tuple:  # picklable despite the custom __init__
        return (type(self), (self.code, self.name, self.message, self.req, self.sid))


# Codes by name, for `except PtyhubError as e: if e.code == codes.LIMIT`.
class codes:
    BAD_FRAME = ERROR_CODES["bad_frame"]
    TOO_LARGE = ERROR_CODES["too_large"]
    UNKNOWN_TYPE = ERROR_CODES["unknown_type"]
    VERSION = ERROR_CODES["version"]
    NOT_HELLO = ERROR_CODES["not_hello"]
    NO_SUCH_SESSION = ERROR_CODES["no_such_session"]
    SPAWN_FAILED = ERROR_CODES["spawn_failed"]
    BAD_ARGUMENT = ERROR_CODES["bad_argument"]
    LIMIT = ERROR_CODES["limit"]
    NOT_ATTACHED = ERROR_CODES["not_attached"]
    READ_ONLY = ERROR_CODES["read_only"]
    EXITED = ERROR_CODES["exited"]
    INTERNAL = ERROR_CODES["internal"]
    AUTH = ERROR_CODES["auth"]
    UNAVAILABLE = ERROR_CODES["unavailable"]


class ConnectionClosed(Exception):
    """The connection ended (end of stream, WebSocket close, or a closing ERROR, which is
    then ``cause``)."""

    def __init__(self, message: str = "connection closed", cause: Optional[PtyhubError] = None) -> None:
        super().__init__(message)
        self.cause = cause


class ProtocolViolation(Exception):
    """The server sent something the protocol does not allow (a malformed message, an
    OUTPUT that does not continue where the last one ended, ...)."""


class LostOutput(Exception):
    """output_until_exit() met a GAP: bytes [start, end) of the session are gone."""

    def __init__(self, sid: int, start: int, end: int) -> None:
        super().__init__("session %d: bytes [%d, %d) were not retained" % (sid, start, end))
        self.sid, self.start, self.end = sid, start, end
