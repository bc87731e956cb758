"""The plugin mechanism: a bundle of handlers, state and typed helpers installed on a server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ._router import Router

if TYPE_CHECKING:
    from ._server import Server
    from ._storage import Storage

__all__ = ["Plugin"]


class Plugin:
    """Base class of feature plugins (OCPP 1.6 profiles, 2.0.1 functional blocks).

    A plugin declares the actions it handles by registering default handlers on
    ``self.router``; ``server.install(plugin)`` serves them *below* the app's own routes, so
    an app overrides any default with its own ``@router.on``. State goes through
    ``self.storage`` (namespace = ``self.name``), CSMS-initiated operations are typed async
    helpers that call ``self.call``.
    """

    name: ClassVar[str] = "plugin"
    #: OCPP versions the plugin serves.
    versions: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.router = Router()
        self._server: Server | None = None

    def attach(self, server: Server) -> None:
        """Called by ``Server.install``; override to add hooks (call super)."""
        self._server = server

    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError(f"plugin {self.name!r} is not installed on a server")
        return self._server

    @property
    def storage(self) -> Storage:
        return self.server.storage

    def actions(self, version: str) -> set[str]:
        """Actions this plugin answers for ``version``."""
        return self.router.actions(version)

    async def call(self, identity: str, action: Any, payload: Any = None, *, timeout: float | None = None) -> Any:
        """``server.call`` (raises ``NotConnectedError``, ``CallError``, ``CallTimeoutError``, ...)."""
        return await self.server.call(identity, action, payload, timeout=timeout)

    # State helpers in this plugin's namespace.
    async def load(self, identity: str, key: str, default: Any = None) -> Any:
        value = await self.storage.get(self.name, identity, key)
        return default if value is None else value

    async def save(self, identity: str, key: str, value: Any) -> None:
        await self.storage.set(self.name, identity, key, value)
