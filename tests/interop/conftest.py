"""Run the asyncio-based ``ocpp`` peer next to our trio code.

The peer gets its own event loop in a worker thread. ``run_peer(async_fn, *args)`` returns
the coroutine's result (or raises its exception) and is bounded twice: the peer's own
``PEER_TIMEOUT`` and, if the trio side is cancelled (``fail_after``, a failing sibling task),
the peer's main task is cancelled and its thread joined, so no thread outlives the test.
"""

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

PEER_TIMEOUT = 30.0
RunPeer = Callable[..., Awaitable[Any]]


async def run_asyncio_peer(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    started = threading.Event()
    finished = threading.Event()
    handle: dict[str, Any] = {}

    async def main() -> Any:
        handle["loop"] = asyncio.get_running_loop()
        handle["task"] = asyncio.current_task()
        started.set()
        return await asyncio.wait_for(async_fn(*args), PEER_TIMEOUT)

    def in_thread() -> Any:
        try:
            return asyncio.run(main())
        finally:
            finished.set()

    try:
        return await trio.to_thread.run_sync(in_thread, abandon_on_cancel=True)
    except trio.Cancelled:
        with trio.CancelScope(shield=True):
            if await trio.to_thread.run_sync(started.wait, 5) and not finished.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed in the meantime
                    handle["loop"].call_soon_threadsafe(handle["task"].cancel)
            await trio.to_thread.run_sync(finished.wait, 10)
        raise


@pytest.fixture
def run_peer() -> RunPeer:
    return run_asyncio_peer
