"""The seam between OCPP sessions and the WebSocket library.

Sessions, the router and plugins only see these types: a ``PendingHandshake`` to accept or
refuse, then a ``Transport`` that exchanges text frames and closes with a code. The
trio-websocket implementation lives in ``_transport_trio_ws``; a faster one can replace it
without touching anything above this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CloseCode",
    "Handshake",
    "PendingHandshake",
    "Transport",
    "TransportClosed",
]


class CloseCode:
    """WebSocket close codes (RFC 6455 §7.4.1) the library uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    #: Application range: the identity connected again elsewhere and replaced this socket.
    REPLACED = 4000


class TransportClosed(Exception):
    """The WebSocket is closed (by either side); ``code`` is the close code if known."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the server knows about a connection before the upgrade."""

    path: str
    """Request target as sent (path and query, still percent-encoded)."""
    headers: tuple[tuple[str, str], ...]
    """Request headers, names lower-cased."""
    subprotocols: tuple[str, ...]
    """Subprotocols the client offered, in its order of preference."""
    remote: tuple[str, int] | None = None
    """(host, port) of the peer."""
    peer_certificate: dict[str, object] | None = field(default=None)
    """The verified TLS client certificate (``ssl.SSLSocket.getpeercert()`` form), if any."""
    secure: bool = False
    """Whether the connection arrived over TLS."""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Transport(Protocol):
    """One open WebSocket connection carrying OCPP-J text frames."""

    @property
    def subprotocol(self) -> str | None: ...

    async def receive(self) -> str:
        """The next text frame. Raises ``TransportClosed`` when the connection is gone."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame. Raises ``TransportClosed`` when the connection is gone."""
        ...

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the connection (idempotent)."""
        ...

    async def ping(self) -> None:
        """Send a WebSocket ping and wait for its pong. Raises ``TransportClosed``."""
        ...


class PendingHandshake(Protocol):
    """A connection waiting for the server's decision."""

    @property
    def handshake(self) -> Handshake: ...

    async def accept(self, subprotocol: str | None) -> Transport: ...

    async def reject(self, status_code: int, body: str = "", headers: list[tuple[str, str]] | None = None) -> None: ...


HandshakeHandler = Callable[[PendingHandshake], Awaitable[None]]
