"""Handler registration: ``@router.on("BootNotification")`` and ``@router.after(...)``."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from ._messages import describe_class
from ._versions import ALL_VERSIONS, normalize_version

if TYPE_CHECKING:
    from ._session import ChargePoint

Handler = Callable[["ChargePoint", Any], Awaitable[Any]]
AfterHook = Callable[["ChargePoint", Any, Any], Awaitable[None]]
Guard = Callable[["ChargePoint", str, Any], Awaitable[None]]
#: ``async def fallback(cp, action, payload)``: answers every action no route handles.
FallbackHandler = Callable[["ChargePoint", str, Any], Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])
F = TypeVar("F", bound=FallbackHandler)

__all__ = ["Route", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved handler for one (version, action)."""

    action: str
    handler: Handler
    typed: bool
    """Whether the handler wants the generated message object instead of a dict."""


def _action_name(action: str | Enum) -> str:
    return str(action.value) if isinstance(action, Enum) else str(action)


def _versions(version: str | Iterable[str] | None) -> tuple[str | None, ...]:
    if version is None:
        return (None,)
    if isinstance(version, str):
        return (normalize_version(version),)
    return tuple(normalize_version(v) for v in version)


def _require_async(fn: object, what: str) -> None:
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{what} {getattr(fn, '__qualname__', fn)} must be an async function")


def _bind_action(fallback: FallbackHandler, action: str) -> Handler:
    """A route handler ``(cp, payload)`` that calls ``fallback(cp, action, payload)``."""

    async def handler(cp: ChargePoint, payload: Any) -> Any:
        return await fallback(cp, action, payload)

    handler.__qualname__ = f"{getattr(fallback, '__qualname__', 'fallback')}[{action}]"
    return handler


def _payload_annotation(handler: Callable[..., Any]) -> type[Any] | None:
    """The generated message class the payload parameter is annotated with, if any."""
    params = list(inspect.signature(handler).parameters.values())
    if len(params) < 2:
        raise TypeError(f"handler {handler.__qualname__} must accept (charge_point, payload)")
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # unresolvable forward references: treat as untyped
        return None
    annotation = hints.get(params[1].name)
    return annotation if isinstance(annotation, type) and hasattr(annotation, "from_wire") else None


class Router:
    """Maps actions to async handlers, optionally per OCPP version.

    A handler is ``async def handler(cp, payload)`` and returns the response payload
    (a dict or a generated response object; ``None`` means ``{}``). It receives a dict, or
    the generated request object when its payload parameter is annotated with one.
    Routers can include other routers (plugins); a router's own routes win over included ones.
    A ``fallback`` handler answers the actions no route (own or included) handles; without
    one they get ``NotSupported``.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str | None, str], Route] = {}
        self._after: dict[tuple[str | None, str], list[AfterHook]] = {}
        self._included: list[Router] = []
        self._guards: list[Guard] = []
        self._guard_cache: list[Guard] | None = None
        self._after_cache: dict[tuple[str, str], list[AfterHook]] = {}
        self._cache: dict[tuple[str, str], Route | None] = {}
        self._parents: list[Router] = []
        self._fallback: FallbackHandler | None = None

    def on(
        self,
        action: str | Enum,
        *,
        version: str | Iterable[str] | None = None,
        typed: bool | None = None,
    ) -> Callable[[H], H]:
        """Register the handler for ``action`` (all versions unless ``version`` is given)."""
        name = _action_name(action)

        def register(handler: H) -> H:
            _require_async(handler, "handler")
            versions = _versions(version)
            cls = _payload_annotation(handler)
            described = describe_class(cls) if cls is not None else None
            if described is not None:
                # A version's message class only fits that version's connections.
                cls_version = described[0]
                if version is None:
                    versions = (cls_version,)
                elif versions != (cls_version,):
                    raise TypeError(
                        f"handler {handler.__qualname__} takes an OCPP {cls_version} message "
                        f"but is registered for {', '.join(v or 'all' for v in versions)}"
                    )
            route = Route(name, handler, cls is not None if typed is None else typed)
            for v in versions:
                self._routes[(v, name)] = route
            self._invalidate()
            return handler

        return register

    def after(self, action: str | Enum, *, version: str | Iterable[str] | None = None) -> Callable[[H], H]:
        """Register ``async def hook(cp, request, response)``, run after the answer was sent."""
        name = _action_name(action)

        def register(hook: H) -> H:
            _require_async(hook, "hook")
            for v in _versions(version):
                self._after.setdefault((v, name), []).append(hook)
            self._invalidate()
            return hook

        return register

    def guard(self, guard: Guard) -> Guard:
        """Register ``async def guard(cp, action, payload)``, run before *every* incoming
        CALL (handled or not). Raising an ``OcppError`` answers the CALL with that error;
        used e.g. for the "not yet accepted → SecurityError" rule of BootNotification."""
        _require_async(guard, "guard")
        self._guards.append(guard)
        self._invalidate()
        return guard

    def fallback(self, handler: F) -> F:
        """Register ``async def handler(cp, action, payload)`` for every action that has no
        route in this router or any included one (a proxy's catch-all, e.g. the gateway's
        relay). It gets the payload as a dict and returns the response like a handler; its
        errors are answered like a handler's. Without a fallback such actions are answered
        ``NotSupported``. Setting it again replaces it. When several routers of a tree have
        one, the outermost wins (this router's own, then included ones in inclusion order).
        """
        _require_async(handler, "fallback")
        self._fallback = handler
        self._invalidate()
        return handler

    def _find_fallback(self) -> FallbackHandler | None:
        if self._fallback is not None:
            return self._fallback
        for child in self._included:
            found = child._find_fallback()
            if found is not None:
                return found
        return None

    def guards(self) -> list[Guard]:
        """Guards of this router and every included one, outermost first."""
        cached = self._guard_cache
        if cached is None:
            cached = list(self._guards)
            for child in self._included:
                cached.extend(child.guards())
            self._guard_cache = cached
        return cached

    def include(self, other: Router) -> None:
        """Serve ``other``'s routes too, below this router's own."""
        if other is self:
            raise ValueError("a router cannot include itself")
        self._included.append(other)
        other._parents.append(self)
        self._invalidate()

    def _invalidate(self) -> None:
        self._cache.clear()
        self._after_cache.clear()
        self._guard_cache = None
        for parent in self._parents:
            parent._invalidate()

    def _lookup(self, version: str, action: str) -> Route | None:
        route = self._routes.get((version, action)) or self._routes.get((None, action))
        if route is not None:
            return route
        for child in self._included:
            route = child._lookup(version, action)
            if route is not None:
                return route
        return None

    def resolve(self, version: str, action: str) -> Route | None:
        """The handler for ``action`` on a ``version`` connection (the fallback when no route
        matches), or None."""
        key = (version, action)
        try:
            return self._cache[key]
        except KeyError:
            route = self._lookup(version, action)
            if route is None and (fallback := self._find_fallback()) is not None:
                route = Route(action, _bind_action(fallback, action), typed=False)
            self._cache[key] = route
            return route

    def after_hooks(self, version: str, action: str) -> list[AfterHook]:
        """After-hooks for ``action`` on a ``version`` connection (cached: hot path)."""
        key = (version, action)
        cached = self._after_cache.get(key)
        if cached is None:
            cached = list(self._after.get(key, ())) + list(self._after.get((None, action), ()))
            for child in self._included:
                cached.extend(child.after_hooks(version, action))
            self._after_cache[key] = cached
        return cached

    def actions(self, version: str) -> set[str]:
        """Every action this router (with included ones) handles for ``version``."""
        names = {a for (v, a) in self._routes if v in (None, version)}
        for child in self._included:
            names |= child.actions(version)
        return names

    @staticmethod
    def versions() -> tuple[str, ...]:
        return ALL_VERSIONS
