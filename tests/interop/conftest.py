"""Run the asyncio-based ``ocpp`` peer next to our trio code.

The peer gets its own event loop in a worker thread. ``run_peer(async_fn, *args)`` returns
the coroutine's result (or raises its exception) and is bounded twice: the peer's own
``PEER_TIMEOUT`` and, if the trio side is cancelled (``fail_after``, a failing sibling task),
the peer's main task is cancelled and its thread joined, so no thread outlives the test.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ocpp_router.testing import run_asyncio

PEER_TIMEOUT = 30.0
RunPeer = Callable[..., Awaitable[Any]]


async def run_asyncio_peer(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return await run_asyncio(async_fn, *args, timeout=PEER_TIMEOUT)


@pytest.fixture
def run_peer() -> RunPeer:
    return run_asyncio_peer
