"""The gateway: a local ``Server`` for the wallboxes, and one ``Link`` per wallbox."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from .._auth import PasswordStore
from .._hooks import Hooks, Refuse
from .._router import Router
from .._server import Server
from .._session import SessionOptions
from .._tls import server_ssl_context
from .._versions import VERSION_OF_SUBPROTOCOL
from ..errors import InternalError
from ._codec import Codec, Passthrough
from ._config import COMPATIBLE, GatewayConfig
from ._intercept import AllowList, FunctionInterceptor, Interceptor, LocalCap, decided
from ._link import Link
from ._store import GatewayStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from .._session import ChargePoint
    from .._transport import Handshake
    from ._intercept import Decision, Relayed

__all__ = ["Gateway"]

log = logging.getLogger("ocpp_router.gateway")


class _LocalPasswords:
    """Basic auth on the local endpoint for the wallboxes that have a ``local_password``."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self._store = PasswordStore()
        for identity, password in passwords.items():
            self._store.set(identity, password, check_rules=False)

    def credentials_required(self, identity: str) -> bool:
        return identity in self._store

    async def __call__(self, identity: str, password: bytes, handshake: Handshake) -> bool:
        return await self._store(identity, password, handshake)


class _LocalServer(Server):
    """The wallboxes' endpoint: per wallbox, it picks a version its upstream can be relayed
    to (the upstream's own version first, then one the gateway translates from), instead of
    simply the wallbox's first choice."""

    def __init__(self, gateway: Gateway, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gateway = gateway

    def _choose_version(self, identity: str, offered: tuple[str, ...]) -> str | None:
        link = self._gateway.links.get(identity)
        if link is None:
            return super()._choose_version(identity, offered)
        usable = [
            version
            for token in offered
            if (version := VERSION_OF_SUBPROTOCOL.get(token)) in self.versions
            and link.version in COMPATIBLE.get(version or "", ())
        ]
        if not usable:
            return None
        return link.version if link.version in usable else usable[0]


class Gateway:
    """A local controller: wallboxes connect to it, it relays each to the upstream CSMS as
    that wallbox's own charge-point connection (see docs/gateway.md).

    Start it with ``gateway = await nursery.start(Gateway(config).run)``; the reported object
    is the gateway with ``.port`` set (``port = 0`` picks a free one). ``interceptors`` are
    added after the built-in policies the configuration asks for (``allow_list``,
    ``local_cap``); ``allow_list``/``local_cap`` objects replace the configured ones.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        interceptors: Iterable[Interceptor | Callable[[Relayed], Awaitable[Decision | None]]] = (),
        allow_list: AllowList | None = None,
        local_cap: LocalCap | None = None,
        local_options: SessionOptions | None = None,
        upstream_options: SessionOptions | None = None,
    ) -> None:
        self.config = config
        # Timestamps are relayed as sent: many 1.6 wallboxes and CSMSs omit the UTC offset.
        self.local_options = local_options or SessionOptions(call_timeout=config.wallbox_timeout, date_time="lenient")
        self.upstream_options = upstream_options or SessionOptions(
            call_timeout=config.upstream_timeout, date_time="lenient"
        )
        self.links: dict[str, Link] = {w.identity: Link(self, w) for w in config.wallboxes}
        self.interceptors: list[Interceptor] = []
        if allow_list is None and config.allow_list is not None:
            allow_list = AllowList(config.allow_list.id_tags, mode=config.allow_list.mode)
        if local_cap is None and config.local_cap is not None:
            cap = config.local_cap
            local_cap = LocalCap(cap.amps, cap.watts, voltage=cap.voltage, phases=cap.phases)
        self.allow_list = allow_list
        self.local_cap = local_cap
        for builtin in (allow_list, local_cap):
            if builtin is not None:
                self.intercept(builtin)
        for interceptor in interceptors:
            self.intercept(interceptor)
        self.router = Router()
        self.router.fallback(self._from_wallbox)
        local = config.local
        ssl_context = None
        if local.tls.cert is not None:
            ssl_context = server_ssl_context(local.tls.cert, local.tls.key, client_ca=local.tls.ca)
        passwords = {w.identity: w.local_password for w in config.wallboxes if w.local_password}
        self.server: Server = _LocalServer(
            self,
            self.router,
            versions=local.versions,
            options=self.local_options,
            hooks=Hooks(
                on_connect=self._on_connect,
                on_connected=self._on_connected,
                on_disconnected=self._on_disconnected,
            ),
            ssl_context=ssl_context,
            authenticate=_LocalPasswords(passwords) if passwords else None,
        )
        self._store: GatewayStore | None = None
        self._nursery: trio.Nursery | None = None

    @property
    def store(self) -> GatewayStore:
        if self._store is None:
            raise RuntimeError("the gateway is not running")
        return self._store

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def intercept(
        self, interceptor: Interceptor | Callable[[Relayed], Awaitable[Decision | None]]
    ) -> Interceptor | Callable[[Relayed], Awaitable[Decision | None]]:
        """Add an interceptor (an ``Interceptor``, or ``async fn(message)`` as its request
        stage); usable as a decorator. Interceptors run in the order they were added."""
        wrapped = interceptor if isinstance(interceptor, Interceptor) else FunctionInterceptor(interceptor)
        wrapped.attach(self)
        self.interceptors.append(wrapped)
        return interceptor

    def make_codec(self, link: Link, wallbox_version: str) -> Codec:
        """The codec for a wallbox speaking ``wallbox_version`` to ``link``'s upstream."""
        if wallbox_version == link.version:
            return Passthrough(link, wallbox_version, link.version)
        if (wallbox_version, link.version) == ("1.6", "2.0.1"):
            from ._translate import V16ToV201

            return V16ToV201(link)
        raise ValueError(f"OCPP {wallbox_version} cannot be relayed as {link.version}")

    # -- the run --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the queue file, start every link and the local endpoint; run until cancelled."""
        self._store = await GatewayStore.open(self.config.queue_path)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for link in self.links.values():
                    await nursery.start(link.run)
                local = self.config.local
                await nursery.start(partial(self.server.serve, local.host, local.port))
                log.info(
                    "gateway listening on %s://%s:%d/<identity> for %d wallbox(es)",
                    "wss" if self.server.ssl_context is not None else "ws",
                    self.server.host,
                    self.server.port,
                    len(self.links),
                )
                task_status.started(self)
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                await self._store.close()
            self._store = None

    async def aclose(self, grace_period: float = 2.0) -> None:
        """Stop: close the wallbox sessions (handlers get ``grace_period`` to finish), then
        the upstream connections. The queue file keeps whatever was not delivered."""
        await self.server.aclose(grace_period=grace_period)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # -- the local endpoint ---------------------------------------------------------------

    async def _on_connect(self, handshake: Handshake, identity: str) -> bool | None:
        link = self.links.get(identity)
        if link is None:
            return False  # 404: not a wallbox of this site
        offered = [VERSION_OF_SUBPROTOCOL.get(p) for p in handshake.subprotocols]
        if handshake.subprotocols and not any(link.version in COMPATIBLE.get(v or "", ()) for v in offered):
            raise Refuse(400, f"{identity} is relayed as OCPP {link.version}; none of the offered versions fits")
        return None

    async def _on_connected(self, cp: ChargePoint) -> None:
        link = self.links[cp.id]
        if not await link.wallbox_connected(cp):
            await cp.close(1002, f"OCPP {cp.version} cannot be relayed to this wallbox's upstream")
            return
        log.info("%s connected locally (OCPP %s)", cp.id, cp.version)

    async def _on_disconnected(self, cp: ChargePoint) -> None:
        link = self.links.get(cp.id)
        if link is not None:
            link.detach_local(cp)
        log.info("%s disconnected locally (%s)", cp.id, cp.close_code)

    async def _from_wallbox(self, cp: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        link = self.links.get(cp.id)
        if link is None:  # pragma: no cover - refused at the handshake
            raise InternalError("unknown wallbox")
        return await link.from_wallbox(cp, action, payload)

    # -- interception ---------------------------------------------------------------------

    async def intercept_request(self, message: Relayed) -> dict[str, Any] | None:
        """Run the request stages; the local answer if one of them decided."""
        for interceptor in self.interceptors:
            answer = decided(await interceptor.request(message))
            if answer is not None:
                return answer
        return None

    async def intercept_response(self, message: Relayed, response: dict[str, Any]) -> dict[str, Any]:
        for interceptor in self.interceptors:
            replaced = await interceptor.response(message, response)
            if replaced is not None:
                response = replaced
        return response
