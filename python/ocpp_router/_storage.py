"""Where plugins keep per-charge-point state: a small async interface, in memory by default.

State is keyed by (namespace, identity, key) so it survives reconnects of a charge point
(stations do not always resend BootNotification). Values must be JSON-compatible (dicts,
lists, str, int, float, bool, None) so that a shared store (the cluster mode's Redis/Valkey
implementation) can hold the same data.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

__all__ = ["MemoryStorage", "Storage"]


class Storage(Protocol):
    """The storage interface plugins use."""

    async def get(self, namespace: str, identity: str, key: str) -> Any | None:
        """The stored value, or None."""
        ...

    async def set(self, namespace: str, identity: str, key: str, value: Any) -> None: ...

    async def set_if_absent(self, namespace: str, identity: str, key: str, value: Any) -> Any:
        """Store ``value`` unless the key exists; return what is stored afterwards."""
        ...

    async def delete(self, namespace: str, identity: str, key: str) -> None: ...

    async def items(self, namespace: str, identity: str) -> dict[str, Any]:
        """Every key of one charge point in a namespace."""
        ...

    async def identities(self, namespace: str) -> list[str]:
        """Charge points with at least one key in the namespace."""
        ...

    async def next_id(self, counter: str) -> int:
        """A number unique for ``counter`` (1, 2, 3, ...): e.g. 1.6 transaction ids."""
        ...


class MemoryStorage:
    """``Storage`` in a dict; values are deep-copied in and out like a real store would."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        self._counters: dict[str, int] = {}

    async def get(self, namespace: str, identity: str, key: str) -> Any | None:
        value = self._data.get(namespace, {}).get(identity, {}).get(key)
        return copy.deepcopy(value)

    async def set(self, namespace: str, identity: str, key: str, value: Any) -> None:
        self._data.setdefault(namespace, {}).setdefault(identity, {})[key] = copy.deepcopy(value)

    async def set_if_absent(self, namespace: str, identity: str, key: str, value: Any) -> Any:
        bucket = self._data.setdefault(namespace, {}).setdefault(identity, {})
        if key not in bucket:
            bucket[key] = copy.deepcopy(value)
        return copy.deepcopy(bucket[key])

    async def delete(self, namespace: str, identity: str, key: str) -> None:
        self._data.get(namespace, {}).get(identity, {}).pop(key, None)

    async def items(self, namespace: str, identity: str) -> dict[str, Any]:
        return copy.deepcopy(self._data.get(namespace, {}).get(identity, {}))

    async def identities(self, namespace: str) -> list[str]:
        return sorted(identity for identity, keys in self._data.get(namespace, {}).items() if keys)

    async def next_id(self, counter: str) -> int:
        value = self._counters.get(counter, 0) + 1
        self._counters[counter] = value
        return value
