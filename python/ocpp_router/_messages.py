"""Find the generated message classes for a (version, action) and the other way round."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._versions import V16, V21, V201

if TYPE_CHECKING:
    from collections.abc import Mapping

_PACKAGES = {V16: "ocpp_router.v16", V201: "ocpp_router.v201", V21: "ocpp_router.v21"}


@runtime_checkable
class Message(Protocol):
    """Any generated payload class: it knows its wire form."""

    def to_wire(self) -> dict[str, object]: ...


class _Registries:
    __slots__ = ("requests", "responses", "sends")

    def __init__(self, module: Any) -> None:
        self.requests: Mapping[str, type[Any]] = module.REQUESTS
        self.responses: Mapping[str, type[Any]] = module.RESPONSES
        self.sends: Mapping[str, type[Any]] = module.SENDS


@cache
def _registries(version: str) -> _Registries:
    # Imported on first use: the 2.1 module is large and many apps never need it.
    return _Registries(importlib.import_module(_PACKAGES[version] + "._generated_messages"))


def request_class(version: str, action: str) -> type[Any] | None:
    return _registries(version).requests.get(action) or _registries(version).sends.get(action)


def response_class(version: str, action: str) -> type[Any] | None:
    return _registries(version).responses.get(action)


_DESCRIBED: dict[object, tuple[str, str, str] | None] = {}


def describe_class(cls: object) -> tuple[str, str, str] | None:
    """(version, action, kind) of a generated class; kind is request, response or send."""
    try:
        return _DESCRIBED[cls]
    except KeyError:
        found = _DESCRIBED[cls] = _describe(cls)
        return found


def _describe(cls: object) -> tuple[str, str, str] | None:
    module = getattr(cls, "__module__", "")
    for version, package in _PACKAGES.items():
        if module.startswith(package + "."):
            reg = _registries(version)
            for kind, table in (("request", reg.requests), ("response", reg.responses), ("send", reg.sends)):
                for action, candidate in table.items():
                    if candidate is cls:
                        return version, action, kind
    return None


def to_payload(value: object) -> object:
    """A handler's or caller's payload as plain JSON data (typed messages → dict, None → {})."""
    if value is None:
        return {}
    to_wire = getattr(value, "to_wire", None)
    if to_wire is not None:
        return to_wire()
    return value
