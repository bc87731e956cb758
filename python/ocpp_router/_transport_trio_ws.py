"""trio-websocket behind the transport seam.

trio-websocket has no API for WebSocket extensions, so ``accept`` sends wsproto's
``AcceptConnection`` itself with permessage-deflate (RFC 7692) offered back when, and only
when, the client asked for it (OCPP 2.x requires a CSMS to support it).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

from ._transport import CloseCode, Handshake, HandshakeHandler, TransportClosed

__all__ = ["TrioWebSocketTransport", "serve"]

log = logging.getLogger("ocpp_router")


_original_close_handler = trio_websocket.WebSocketConnection._handle_close_connection_event


async def _close_with_code(self: Any, event: CloseConnection) -> None:
    """wsproto reports a frame it cannot parse (invalid UTF-8 → 1007, bad framing → 1002) as
    a CloseConnection event while the connection is still OPEN; trio-websocket then drops
    the TCP connection without telling the peer why. Send the close frame first."""
    if self._wsproto.state == ConnectionState.OPEN:
        with contextlib.suppress(trio_websocket.ConnectionClosed, LocalProtocolError):
            await self._send(CloseConnection(code=event.code, reason=event.reason))
    await _original_close_handler(self, event)


trio_websocket.WebSocketConnection._handle_close_connection_event = _close_with_code  # type: ignore[method-assign]

_original_ping_handler = trio_websocket.WebSocketConnection._handle_ping_event


async def _pong_unless_closing(self: Any, event: Ping) -> None:
    """A ping that crosses our own close frame: wsproto refuses to send the pong once the
    close is out (LOCAL_CLOSING) and trio-websocket's reader task then dies with
    ``LocalProtocolError``, taking the session down with an unexpected error. Such a ping
    needs no answer. (Seen with thousands of simulated charge points closing while the
    CSMS's keep-alive pings were under way.)"""
    if self._wsproto.state != ConnectionState.OPEN:
        return
    await _original_ping_handler(self, event)


trio_websocket.WebSocketConnection._handle_ping_event = _pong_unless_closing  # type: ignore[method-assign]


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

    async def ping(self) -> None:
        try:
            await self._ws.ping()
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            raise TransportClosed(reason.code if reason else None) from None


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

    async def reject(self, status_code: int, body: str = "", headers: list[tuple[str, str]] | None = None) -> None:
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or [])]
        await self._request.reject(status_code, extra_headers=extra, body=body.encode() if body else None)


def _handshake(request: trio_websocket.WebSocketRequest) -> Handshake:
    remote = request.remote
    peer = (str(remote.address), int(remote.port)) if isinstance(remote, trio_websocket.Endpoint) else None
    headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers)
    cert = None
    stream: Any = getattr(request._connection, "_stream", None)
    secure = isinstance(stream, _PromptSSLStream)
    if isinstance(stream, _PromptSSLStream):
        stream = stream.ssl_stream
        with contextlib.suppress(OSError):
            host, port = stream.transport_stream.socket.getpeername()[:2]
            peer = (str(host), int(port))
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
        secure=secure,
    )


class _PromptSSLStream(trio.abc.Stream):
    """An ``SSLStream`` that drops the TCP connection as soon as the TLS handshake fails,
    so a refused client (e.g. TLS 1.1) learns at once instead of waiting for the handshake
    timeout. (trio's ``SSLStream`` is final, hence a wrapper.)"""

    def __init__(self, ssl_stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.ssl_stream = ssl_stream

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            return await self.ssl_stream.receive_some(max_bytes)
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(self.ssl_stream.transport_stream)
            raise

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.ssl_stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.ssl_stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.ssl_stream.aclose()


class _PromptSSLListener(trio.abc.Listener[_PromptSSLStream]):
    def __init__(self, transport: trio.SocketListener, context: ssl.SSLContext) -> None:
        self.transport_listener = transport
        self._context = context

    async def accept(self) -> _PromptSSLStream:
        stream = await self.transport_listener.accept()
        return _PromptSSLStream(trio.SSLStream(stream, self._context, server_side=True, https_compatible=True))

    async def aclose(self) -> None:
        await self.transport_listener.aclose()


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
        # One connection's failure must never reach the server's nursery (it would take
        # every other connection down with it).
        handshake: Handshake | None = None
        try:
            handshake = _handshake(request)
            await on_handshake(_Pending(request, handshake, compression))
        except (trio_websocket.ConnectionClosed, TransportClosed, trio.BrokenResourceError):
            pass  # the peer left during the handshake or the session
        except Exception:
            # The address from the handshake: the socket may be closed by now (getpeername
            # would raise here and take the whole listener down).
            log.exception("connection from %s failed", handshake.remote if handshake is not None else "?")

    tcp_listeners = await trio.open_tcp_listeners(port, host=host)
    listeners: list[Any] = (
        list(tcp_listeners) if ssl_context is None else [_PromptSSLListener(t, ssl_context) for t in tcp_listeners]
    )
    server = trio_websocket.WebSocketServer(
        handler,
        listeners,
        handler_nursery=handler_nursery,
        message_queue_size=4,
        max_message_size=max_message_size,
        connect_timeout=handshake_timeout,
        disconnect_timeout=disconnect_timeout,
    )
    addresses = [tuple(listener.socket.getsockname()[:2]) for listener in tcp_listeners]
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        task_status.started([(str(host), int(port)) for host, port in addresses])


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
        if isinstance(stream, trio.SSLStream):
            # Fail fast on a refused TLS handshake: trio-websocket would wait for the HTTP
            # upgrade until the connect timeout.
            await stream.do_handshake()
        async with trio.open_nursery() as inner:
            # What trio_websocket.wrap_client_stream does, plus: stop waiting when the server
            # drops the connection before answering the upgrade (it would wait forever).
            ws: Any = trio_websocket.WebSocketConnection(
                stream,
                WSConnection(ConnectionType.CLIENT),
                host=host_header,
                path=resource,
                client_subprotocols=subprotocols,
                client_extra_headers=extra_headers,
                message_queue_size=4,
                max_message_size=max_message_size,
            )
            reader_done = trio.Event()

            async def read() -> None:
                try:
                    await ws._reader_task()
                finally:
                    reader_done.set()

            inner.start_soon(read)
            async with trio.open_nursery() as race:

                async def first(event: trio.Event) -> None:
                    await event.wait()
                    race.cancel_scope.cancel()

                race.start_soon(first, ws._open_handshake)
                race.start_soon(first, reader_done)
            if ws._open_handshake.is_set():
                started = True
                task_status.started(ws)
            else:
                inner.cancel_scope.cancel()
        if not started:
            raise trio_websocket.HandshakeError("connection closed before the upgrade was answered")
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
    local_address: str | None = None,
    nursery: trio.Nursery,
) -> TrioWebSocketTransport:
    """Open a client connection (the charge-point role); it lives in ``nursery``.

    ``local_address`` binds the source IP (e.g. one of 127.0.0.0/8, to open more loopback
    connections than one address has ephemeral ports).

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
        tcp = await trio.open_tcp_stream(parts.hostname, port, local_address=local_address)
        if secure:
            # What trio.open_ssl_over_tcp_stream does (it cannot bind a source address).
            context = ssl_context or ssl.create_default_context()
            stream = trio.SSLStream(tcp, context, server_hostname=parts.hostname, https_compatible=True)
        else:
            stream = tcp
        ws = await nursery.start(
            _client_connection, stream, host_header, resource, subprotocols, extra, max_message_size
        )
    return TrioWebSocketTransport(ws)
