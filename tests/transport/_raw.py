"""A bare WebSocket client for handshake tests: exact path and subprotocols, nothing added."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio_websocket
from ocpp_router._groups import single_error
from ocpp_router._transport_trio_ws import TrioWebSocketTransport, connect


@asynccontextmanager
async def raw_connect(
    port: int, path: str, subprotocols: list[str]
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Yields the trio-websocket connection; closes its socket even when refused."""
    with single_error():
        async with trio.open_nursery() as nursery:
            transport: TrioWebSocketTransport = await connect(
                f"ws://127.0.0.1:{port}{path}", subprotocols, nursery=nursery, connect_timeout=5
            )
            try:
                yield transport._ws
            finally:
                await transport._ws.aclose()
