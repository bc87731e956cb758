"""``ValkeyStorage``: the plugins' ``Storage`` in Valkey/Redis, shared by every node.

Each (namespace, identity) is one hash of key -> JSON value; a set per namespace lists the
identities that have state; ``next_id`` is an INCR counter, so ids are unique cluster-wide.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson

from ._config import open_client
from ._keys import Keys, script

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from glide import GlideClient

__all__ = ["ValkeyStorage"]

# KEYS: hash, identity set. ARGV: field, JSON value, identity.
_SET = script(
    """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
)
_SET_IF_ABSENT = script(
    """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('SADD', KEYS[2], ARGV[3])
end
return redis.call('HGET', KEYS[1], ARGV[1])
"""
)
_DELETE = script(
    """
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 1
"""
)


def _loads(raw: Any) -> Any:
    return None if raw is None else orjson.loads(raw)


class ValkeyStorage:
    """``Storage`` on a Valkey/Redis server; values are JSON (orjson).

    In cluster mode the server creates and connects one (``server.storage``). Elsewhere::

        async with ValkeyStorage.open("redis://host:6379") as storage:
            server = Server(router, storage=storage)
    """

    def __init__(self, client: GlideClient | None = None, *, prefix: str = "ocpp:") -> None:
        self.client = client
        self.keys = Keys(prefix)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, prefix: str = "ocpp:", command_timeout: float = 2.0
    ) -> AsyncIterator[ValkeyStorage]:
        client = await open_client(url, command_timeout=command_timeout, client_name="ocpp-router:storage")
        try:
            yield cls(client, prefix=prefix)
        finally:
            await client.close()

    def _client(self) -> GlideClient:
        if self.client is None:
            raise RuntimeError("ValkeyStorage is not connected (cluster mode connects it in Server.serve)")
        return self.client

    async def get(self, namespace: str, identity: str, key: str) -> Any | None:
        return _loads(await self._client().hget(self.keys.state(namespace, identity), key))

    async def set(self, namespace: str, identity: str, key: str, value: Any) -> None:
        await self._client().invoke_script(
            _SET,
            keys=[self.keys.state(namespace, identity), self.keys.state_identities(namespace)],
            args=[key, orjson.dumps(value), identity],
        )

    async def set_if_absent(self, namespace: str, identity: str, key: str, value: Any) -> Any:
        stored = await self._client().invoke_script(
            _SET_IF_ABSENT,
            keys=[self.keys.state(namespace, identity), self.keys.state_identities(namespace)],
            args=[key, orjson.dumps(value), identity],
        )
        return _loads(stored)

    async def delete(self, namespace: str, identity: str, key: str) -> None:
        await self._client().invoke_script(
            _DELETE,
            keys=[self.keys.state(namespace, identity), self.keys.state_identities(namespace)],
            args=[key, identity],
        )

    async def items(self, namespace: str, identity: str) -> dict[str, Any]:
        raw = await self._client().hgetall(self.keys.state(namespace, identity))
        return {name.decode(): orjson.loads(value) for name, value in raw.items()}

    async def identities(self, namespace: str) -> list[str]:
        members = await self._client().smembers(self.keys.state_identities(namespace))
        return sorted(member.decode() for member in members)

    async def next_id(self, counter: str) -> int:
        return await self._client().incr(self.keys.counter(counter))
