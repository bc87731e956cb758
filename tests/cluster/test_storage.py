"""``ValkeyStorage`` behaves like ``MemoryStorage`` (the ``Storage`` protocol), shared by nodes."""

from __future__ import annotations

from typing import Any

import pytest
import trio

pytest.importorskip("glide", reason="cluster mode needs valkey-glide (the `cluster` extra)")

from ocpp_router import MemoryStorage, Storage
from ocpp_router.cluster import ValkeyStorage


async def exercise(storage: Storage) -> list[Any]:
    """The same operations on any storage; the results must be equal."""
    seen: list[Any] = []
    seen.append(await storage.get("ns", "CP/1", "missing"))
    await storage.set("ns", "CP/1", "state", {"status": "Accepted", "list": [1, 2.5, None, True]})
    seen.append(await storage.get("ns", "CP/1", "state"))
    seen.append(await storage.set_if_absent("ns", "CP/1", "state", {"other": 1}))
    seen.append(await storage.set_if_absent("ns", "CP:2", "version", 7))
    seen.append(await storage.get("ns", "CP:2", "version"))
    await storage.set("other", "CP/1", "k", "v")
    seen.append(await storage.items("ns", "CP/1"))
    seen.append(await storage.identities("ns"))
    await storage.delete("ns", "CP:2", "version")
    await storage.delete("ns", "CP:2", "never-there")
    seen.append(await storage.identities("ns"))
    seen.append(await storage.items("ns", "CP:2"))
    seen.append([await storage.next_id("transaction") for _ in range(3)])
    seen.append(await storage.next_id("other"))
    value = {"nested": {"a": [1]}}
    await storage.set("ns", "CP/1", "copy", value)
    value["nested"]["a"].append(2)  # stored values are copies
    seen.append(await storage.get("ns", "CP/1", "copy"))
    return seen


async def test_valkey_storage_matches_memory_storage(engine: Any) -> None:
    async with ValkeyStorage.open(engine.url, prefix="test:") as storage:
        assert await exercise(storage) == await exercise(MemoryStorage())


async def test_next_id_is_unique_across_clients(engine: Any) -> None:
    ids: list[int] = []
    async with ValkeyStorage.open(engine.url) as first, ValkeyStorage.open(engine.url) as second:

        async def allocate(storage: ValkeyStorage) -> None:
            for _ in range(50):
                ids.append(await storage.next_id("transaction"))

        async with trio.open_nursery() as nursery:
            for storage in (first, second, first, second):
                nursery.start_soon(allocate, storage)
    assert sorted(ids) == list(range(1, 201))


async def test_unconnected_storage_says_so() -> None:
    with pytest.raises(RuntimeError, match="not connected"):
        await ValkeyStorage().get("ns", "CP", "k")
