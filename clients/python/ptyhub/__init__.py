"""ptyhub: a client for the ptyhub session protocol (docs/protocol.md, version 3).

Blocking: ``Client.connect_unix()``, ``Client.spawn_stdio()``, ``Client.connect_ws()``.
asyncio: ``AsyncClient`` with the same methods, awaited.
"""

from __future__ import annotations

from . import codec
from ._common import Event, Failed, Opened, default_socket_path, default_token
from .aio import AsyncClient
from .client import Client
from .codec import (Attached, Exit, Gap, Output, Screen, SessionEvent, SessionInfo, Snapshot,
                    Waited, Welcome)
from .errors import ConnectionClosed, LostOutput, ProtocolViolation, PtyhubError, codes

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "Attached", "Client", "ConnectionClosed", "Event", "Exit", "Failed",
    "Gap", "LostOutput", "Opened", "Output", "ProtocolViolation", "PtyhubError", "Screen",
    "SessionEvent", "SessionInfo", "Snapshot", "Waited", "Welcome", "codec", "codes",
    "default_socket_path", "default_token",
]
