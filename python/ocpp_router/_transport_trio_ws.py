"""trio-websocket behind the transport seam.

trio-websocket has no API for WebSocket extensions, so ``accept`` sends wsproto's
``AcceptConnection`` itself with permessage-deflate (RFC 7692) offered back when, and only
when, the client asked for it (OCPP 2.x requires a CSMS to support it).
"""

from __future__ import annotations

import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket
from wsproto.events import AcceptConnection
from wsproto.extensions import PerMessageDeflate

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

from ._transport import CloseCode, Handshake, HandshakeHandler, TransportClosed

__all__ = ["TrioWebSocketTransport", "serve"]


class TrioWebSocketTransport:
    """A ``Transport`` over a ``trio_websocket.WebSocketConnection``."""

    __slots__ = ("_ws",)

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    @property
    def extensions(self) -> list[str]:
        """Names of the negotiated extensions (e.g. ``permessage-deflate``)."""
        ws: Any = self._ws
        return [ext.name for ext in ws._wsproto._proto.extensions] if ws._wsproto._proto else []

    async def receive(self) -> str:
        try:
            message = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            raise TransportClosed(reason.code if reason else None, (reason.reason or "") if reason else "") from None
        if isinstance(message, bytes):
            # OCPP-J is text only; a binary frame is a protocol violation.
            await self.close(CloseCode.UNSUPPORTED_DATA, "OCPP-J uses text frames only")
            raise TransportClosed(CloseCode.UNSUPPORTED_DATA, "binary frame received")
        return message

    async def send(self, text: str) -> None:
        try:
            await self._ws.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            raise TransportClosed(reason.code if reason else None) from None

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        await self._ws.aclose(code, reason or None)


class _Pending:
    __slots__ = ("_request", "compression", "handshake")

    def __init__(self, request: trio_websocket.WebSocketRequest, handshake: Handshake, compression: bool) -> None:
        self._request = request
        self.handshake = handshake
        self.compression = compression

    async def accept(self, subprotocol: str | None) -> TrioWebSocketTransport:
        request: Any = self._request
        if not self.compression:
            return TrioWebSocketTransport(await self._request.accept(subprotocol=subprotocol))
        # Same steps as WebSocketConnection._accept, plus the extension list.
        connection = request._connection
        connection._subprotocol = subprotocol
        connection._path = request._event.target
        await connection._send(
            AcceptConnection(subprotocol=subprotocol, extra_headers=[], extensions=[PerMessageDeflate()])
        )
        connection._open_handshake.set()
        return TrioWebSocketTransport(connection)

    async def reject(self, status_code: int, body: str = "") -> None:
        await self._request.reject(status_code, body=body.encode() if body else None)


def _handshake(request: trio_websocket.WebSocketRequest) -> Handshake:
    remote = request.remote
    peer = (str(remote.address), int(remote.port)) if isinstance(remote, trio_websocket.Endpoint) else None
    headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers)
    cert = None
    stream: Any = getattr(request._connection, "_stream", None)
    if isinstance(stream, trio.SSLStream):
        try:
            cert = stream.getpeercert()
        except (ValueError, ssl.SSLError):
            cert = None
    return Handshake(
        path=request.path,
        headers=headers,
        subprotocols=tuple(request.proposed_subprotocols),
        remote=peer,
        peer_certificate=cert or None,
    )


async def serve(
    on_handshake: HandshakeHandler,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    compression: bool = True,
    max_message_size: int = 1 << 20,
    handshake_timeout: float = 10.0,
    disconnect_timeout: float = 5.0,
    handler_nursery: trio.Nursery | None = None,
    task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept WebSocket connections and hand each one to ``on_handshake``."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        await on_handshake(_Pending(request, _handshake(request), compression))

    async def run(task_status: trio.TaskStatus[trio_websocket.WebSocketServer]) -> None:
        await trio_websocket.serve_websocket(
            handler,
            host,
            port,
            ssl_context,
            handler_nursery=handler_nursery,
            message_queue_size=4,
            max_message_size=max_message_size,
            connect_timeout=handshake_timeout,
            disconnect_timeout=disconnect_timeout,
            task_status=task_status,
        )

    async with trio.open_nursery() as nursery:
        server = await nursery.start(run)
        addresses: list[tuple[str, int]] = []
        for listener in server.listeners:
            addresses.append((str(listener.address), int(listener.port)))
        task_status.started(addresses)


def _rejection(group: BaseExceptionGroup[BaseException]) -> trio_websocket.ConnectionRejected | None:
    for exc in group.exceptions:
        if isinstance(exc, trio_websocket.ConnectionRejected):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _rejection(exc)
            if found is not None:
                return found
    return None


async def _client_connection(
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
    host_header: str,
    resource: str,
    subprotocols: list[str],
    extra_headers: list[tuple[bytes, bytes]],
    max_message_size: int,
    *,
    task_status: trio.TaskStatus[trio_websocket.WebSocketConnection],
) -> None:
    # The reader task lives in this inner nursery, so a refused upgrade surfaces from
    # nursery.start() as a plain ConnectionRejected and the socket is always closed.
    started = False
    try:
        async with trio.open_nursery() as inner:
            ws = await trio_websocket.wrap_client_stream(
                inner,
                stream,
                host_header,
                resource,
                subprotocols=subprotocols,
                extra_headers=extra_headers,
                message_queue_size=4,
                max_message_size=max_message_size,
            )
            started = True
            task_status.started(ws)
    except BaseExceptionGroup as group:
        rejected = None if started else _rejection(group)
        if rejected is not None:
            raise rejected from None
        raise
    finally:
        # Also after a clean close: trio-websocket's client leaves the socket open when
        # the server ends TCP after the closing handshake.
        await trio.aclose_forcefully(stream)


async def connect(
    url: str,
    subprotocols: list[str],
    *,
    headers: list[tuple[str, str]] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    max_message_size: int = 1 << 20,
    connect_timeout: float = 10.0,
    nursery: trio.Nursery,
) -> TrioWebSocketTransport:
    """Open a client connection (the charge-point role); it lives in ``nursery``.

    Raises ``trio_websocket.ConnectionRejected`` when the server refuses the upgrade,
    ``OSError`` or ``trio.TooSlowError`` when it cannot be reached in time.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if port in (80, 443) else f"{parts.hostname}:{port}"
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or [])]
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    with trio.fail_after(connect_timeout):
        if secure:
            context = ssl_context or ssl.create_default_context()
            stream = await trio.open_ssl_over_tcp_stream(
                parts.hostname, port, ssl_context=context, https_compatible=True
            )
        else:
            stream = await trio.open_tcp_stream(parts.hostname, port)
        ws = await nursery.start(
            _client_connection, stream, host_header, resource, subprotocols, extra, max_message_size
        )
    return TrioWebSocketTransport(ws)
