"""ptyhub: a client for the ptyhub session protocol (docs/protocol.md, version 2).

Blocking: ``Client.connect_unix()``, ``Client.spawn_stdio()``, ``Client.connect_ws()``.
asyncio: ``AsyncClient`` with the same methods, awaited.
"""

from __future__ import annotations

from . import codec
from ._common import Event, Failed, default_socket_path, default_token
from .aio import AsyncClient
from .client import Client
from .codec import Attached, Exit, Gap, Output, SessionInfo, Welcome
from .errors import ConnectionClosed, LostOutput, ProtocolViolation, PtyhubError, codes

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "Attached", "Client", "ConnectionClosed", "Event", "Exit", "Failed",
    "Gap", "LostOutput", "Output", "ProtocolViolation", "PtyhubError", "SessionInfo",
    "Welcome", "codec", "codes", "default_socket_path", "default_token",
]
