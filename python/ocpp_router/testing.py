"""Test your handlers in-process: a charge point wired to your server without sockets.

Example (pytest with pytest-trio)::

    async def test_boot(nursery):
        server = Server(router)
        async with testing.connect(server, "CP1", "1.6", nursery=nursery) as cp:
            reply = await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            assert reply["status"] == "Accepted"

Time: use trio's ``MockClock`` (pytest-trio's ``autojump_clock`` fixture) to make call
time-outs and heartbeats instant and deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import trio
import trio.lowlevel
from trio.testing import MockClock

from ._groups import single_error
from ._router import Router
from ._session import ChargePoint, SessionOptions
from ._transport import CloseCode, Handshake, TransportClosed
from ._versions import SUBPROTOCOLS, normalize_version

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ._server import Server

__all__ = ["MemoryTransport", "MockClock", "connect", "memory_transport_pair", "run_asyncio"]

_CLOSE = object()
T = TypeVar("T")


class MemoryTransport:
    """A ``Transport`` over trio memory channels (one end of a pair)."""

    def __init__(
        self,
        outgoing: trio.MemorySendChannel[object],
        incoming: trio.MemoryReceiveChannel[object],
        subprotocol: str | None,
    ) -> None:
        self._out = outgoing
        self._in = incoming
        self._subprotocol = subprotocol
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    async def receive(self) -> str:
        if self.close_code is not None:
            raise TransportClosed(self.close_code, self.close_reason)
        try:
            item = await self._in.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise TransportClosed(self.close_code or CloseCode.GOING_AWAY) from None
        if isinstance(item, tuple):
            self.close_code, self.close_reason = item
            raise TransportClosed(*item)
        if not isinstance(item, str):
            raise TransportClosed(CloseCode.UNSUPPORTED_DATA, "binary frame received")
        return item

    async def send(self, text: str) -> None:
        if self.close_code is not None:
            raise TransportClosed(self.close_code, self.close_reason)
        try:
            await self._out.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise TransportClosed(CloseCode.GOING_AWAY) from None

    async def ping(self) -> None:
        if self.close_code is not None:
            raise TransportClosed(self.close_code, self.close_reason)
        await trio.lowlevel.checkpoint()

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        with suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._out.send_nowait((code, reason))
        await self._out.aclose()
        await trio.lowlevel.checkpoint()


def memory_transport_pair(subprotocol: str | None) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports: (client end, server end)."""
    a_send, a_recv = trio.open_memory_channel[object](math.inf)
    b_send, b_recv = trio.open_memory_channel[object](math.inf)
    return MemoryTransport(a_send, b_recv, subprotocol), MemoryTransport(b_send, a_recv, subprotocol)


@asynccontextmanager
async def connect(
    server: Server,
    identity: str,
    version: str,
    *,
    router: Router | None = None,
    options: SessionOptions | None = None,
    path: str | None = None,
) -> AsyncIterator[ChargePoint]:
    """An in-memory charge point (client role) attached to ``server``'s handlers.

    ``router`` answers the server's calls to the charge point. The server-side session
    is registered in ``server.charge_points`` as with a real socket.
    """
    version = normalize_version(version)
    subprotocol = SUBPROTOCOLS[version]
    client_end, server_end = memory_transport_pair(subprotocol)
    handshake = Handshake(path=path or f"/ocpp/{identity}", headers=(), subprotocols=(subprotocol,))
    with single_error():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.attach, identity, version, server_end, handshake)
            cp = ChargePoint(identity, version, client_end, router or Router(), options=options)
            nursery.start_soon(cp.run)
            # Let the server register the session before the test talks to it.
            while server.charge_points.get(identity) is None:
                await trio.lowlevel.checkpoint()
            try:
                yield cp
            finally:
                with trio.CancelScope(shield=True):
                    await cp.close(CloseCode.NORMAL)
                nursery.cancel_scope.cancel()


async def run_asyncio(async_fn: Callable[..., Awaitable[T]], *args: object, timeout: float = 60.0) -> T:
    """Run ``await async_fn(*args)`` on a fresh asyncio loop in a worker thread; its result.

    For testing against asyncio peers (e.g. the PyPI ``ocpp`` package's charge points or
    CSMS on ``websockets``) from trio. Bounded twice: ``timeout`` inside the loop, and a
    trio-side cancellation cancels the asyncio task and joins the thread, so nothing
    outlives the caller.
    """
    started, finished = threading.Event(), threading.Event()
    handle: dict[str, Any] = {}

    async def main() -> T:
        handle["loop"], handle["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await asyncio.wait_for(async_fn(*args), timeout)

    def in_thread() -> T:
        try:
            return asyncio.run(main())
        finally:
            finished.set()

    try:
        return await trio.to_thread.run_sync(in_thread, abandon_on_cancel=True)
    except trio.Cancelled:
        with trio.CancelScope(shield=True):
            if await trio.to_thread.run_sync(started.wait, 5) and not finished.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    handle["loop"].call_soon_threadsafe(handle["task"].cancel)
            await trio.to_thread.run_sync(finished.wait, 10)
        raise
