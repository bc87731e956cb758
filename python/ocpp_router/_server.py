"""The CSMS side: accept charge points on one endpoint for every enabled OCPP version."""

from __future__ import annotations

import logging
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import trio

from . import _core, _transport_trio_ws
from ._auth import Authenticator, FailureLimiter, parse_basic_auth
from ._hooks import Hooks, Refuse
from ._identity import identity_from_path
from ._router import Router
from ._security import Limits, ProxyHeaders, SecurityEvent, SecurityEventKind, report
from ._session import ChargePoint, SessionOptions
from ._storage import MemoryStorage, Storage
from ._tls import CertificateBinding, certificate_from_pem, cn_equals_identity
from ._transport import CloseCode, Handshake, PendingHandshake, Transport
from ._validation_rules import ValidationRule, ValidationRules
from ._versions import ALL_VERSIONS, SUBPROTOCOLS, VERSION_OF_SUBPROTOCOL, normalize_version
from .errors import CallError, CallTimeoutError, ConnectionClosedError, NotConnectedError, RemoteProtocolError

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ._plugin import Plugin
    from .cluster import Cluster, ClusterConfig

__all__ = ["Server", "serve"]

_CHALLENGE = [("WWW-Authenticate", 'Basic realm="OCPP", charset="UTF-8"')]

log = logging.getLogger("ocpp_router")


class Server:
    """Serves charge points over WebSockets: ``ws://host:port/<any/prefix>/<identity>``.

    Start it with ``server = await nursery.start(Server(router).serve, host, port)``; the
    reported object is the server itself, with ``.port`` set (port 0 picks a free one).
    ``await server.call(identity, action, payload)`` reaches any connected charge point.

    Args:
        router: the handlers for charge-point-initiated messages.
        versions: the OCPP versions served on the endpoint.
        prefer: ``"client"`` honours the charge point's order of subprotocols, ``"server"``
            the order of ``versions``.
        on_duplicate: ``"replace"`` closes the older connection of an identity that
            connects again (the default); ``"reject"`` refuses the newcomer with 409.
        fallback_version: for stations that offer no subprotocol at all: a version, or a
            function ``identity -> version | None``. Off by default (the specs say to close).
        identity_resolver: replaces the default "last path segment" rule.
        cluster: join a cluster of nodes sharing a Valkey/Redis server
            (``ocpp_router.cluster.ClusterConfig``; needs the ``cluster`` extra): calls reach
            charge points on any node, state is shared. Started and stopped by ``serve``.
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        versions: Iterable[str] = ALL_VERSIONS,
        prefer: Literal["client", "server"] = "client",
        options: SessionOptions | None = None,
        hooks: Hooks | None = None,
        on_duplicate: Literal["replace", "reject"] = "replace",
        fallback_version: str | Callable[[str], str | None] | None = None,
        identity_resolver: Callable[[str], str | None] = identity_from_path,
        ssl_context: ssl.SSLContext | None = None,
        compression: bool = True,
        limits: Limits | None = None,
        authenticate: Authenticator | None = None,
        minimum_security_profile: int = 0,
        certificate_binding: CertificateBinding = cn_equals_identity,
        trusted_proxy: ProxyHeaders | None = None,
        registries: Mapping[str, _core.SchemaRegistry] | None = None,
        storage: Storage | None = None,
        cluster: ClusterConfig | None = None,
        validation_rules: Sequence[ValidationRule] = (),
    ) -> None:
        self.router = router or Router()
        self.versions = tuple(normalize_version(v) for v in versions)
        if not self.versions:
            raise ValueError("enable at least one OCPP version")
        self.prefer = prefer
        self.options = options or SessionOptions()
        self.hooks = hooks or Hooks()
        self.on_duplicate = on_duplicate
        self.fallback_version = fallback_version
        self.identity_resolver = identity_resolver
        self.ssl_context = ssl_context
        self.compression = compression
        self.limits = limits or Limits()
        self.authenticate = authenticate
        self.minimum_security_profile = minimum_security_profile
        self.certificate_binding = certificate_binding
        self.trusted_proxy = trusted_proxy
        self.auth_failures = FailureLimiter()
        self._handler_limiter = trio.CapacityLimiter(self.limits.max_concurrent_handlers)
        self._opening = 0
        self.registries = {normalize_version(k): v for k, v in (registries or {}).items()}
        self.charge_points: dict[str, ChargePoint] = {}
        self.cluster: Cluster | None = None
        if cluster is not None:
            from .cluster import Cluster  # imports the engine client only in cluster mode

            self.cluster = Cluster(self, cluster)
            if storage is None and cluster.shared_storage:
                storage = self.cluster.storage
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.plugins: dict[str, Plugin] = {}
        self.validation_rules = ValidationRules(validation_rules, self.registries) if validation_rules else None
        if self.validation_rules is not None:
            self.router.guard(self._validation_on_boot)
        self.host = ""
        self.port = 0
        self.addresses: list[tuple[str, int]] = []
        self._listen_scope: trio.CancelScope | None = None
        self._sessions_nursery: trio.Nursery | None = None
        self._stopping = False

    # -- public API -----------------------------------------------------------------------

    def install(self, *plugins: Plugin) -> None:
        """Serve the plugins' handlers below the app's own routes (the app can override them)."""
        for plugin in plugins:
            if plugin.name in self.plugins:
                raise ValueError(f"a plugin named {plugin.name!r} is already installed")
            plugin.attach(self)
            self.router.include(plugin.router)
            self.plugins[plugin.name] = plugin

    async def _validation_on_boot(self, cp: ChargePoint, action: str, payload: Any) -> None:
        # A guard, so the rules are in force before the next message is read.
        if action == "BootNotification" and self.validation_rules is not None and isinstance(payload, dict):
            await self.validation_rules.on_boot(cp, payload, self.storage)

    def get(self, identity: str) -> ChargePoint | None:
        return self.charge_points.get(identity)

    async def call(self, identity: str, action: Any, payload: Any = None, *, timeout: float | None = None) -> Any:
        """``ChargePoint.call`` on the charge point ``identity``; ``NotConnectedError`` if absent.

        In cluster mode a charge point connected to another node is called through it.
        """
        cp = self.charge_points.get(identity)
        if cp is None or cp.closed:
            if self.cluster is not None:
                return await self._cluster_call(identity, action, payload, timeout)
            raise NotConnectedError(identity)
        return await cp.call(action, payload, timeout=timeout)

    async def _cluster_call(self, identity: str, action: Any, payload: Any, timeout: float | None) -> Any:
        assert self.cluster is not None
        report = self.hooks.on_cluster_call_done
        if report is None:
            return await self.cluster.call(identity, action, payload, timeout=timeout)
        started = trio.current_time()
        outcome = "cancelled"
        name = str(getattr(action, "value", action)) if isinstance(action, str | Enum) else type(action).__name__
        try:
            result = await self.cluster.call(identity, action, payload, timeout=timeout)
            outcome = "result"
            return result
        except CallError as exc:
            outcome = exc.code
            raise
        except NotConnectedError:
            outcome = "not_connected"
            raise
        except CallTimeoutError:
            outcome = "timeout"
            raise
        except RemoteProtocolError:
            outcome = "protocol_violation"
            raise
        except ConnectionClosedError:
            outcome = "closed"
            raise
        finally:
            report(identity, name.removesuffix("Request"), trio.current_time() - started, outcome)

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled or ``aclose()``d (in cluster mode: first join the cluster)."""
        cluster = self.cluster
        if cluster is not None:
            await cluster.connect()
        try:
            await self._serve(host, port, task_status)
        finally:
            if cluster is not None:
                await cluster.close()

    async def _serve(self, host: str, port: int, task_status: trio.TaskStatus[Server]) -> None:
        async with trio.open_nursery() as sessions:
            self._sessions_nursery = sessions
            if self.cluster is not None:
                await sessions.start(self.cluster.run)
            with trio.CancelScope() as listen_scope:
                self._listen_scope = listen_scope
                listen = partial(
                    _transport_trio_ws.serve,
                    self._on_handshake,
                    host,
                    port,
                    ssl_context=self.ssl_context,
                    compression=self.compression,
                    max_message_size=self.limits.max_message_size,
                    handshake_timeout=self.limits.handshake_timeout,
                    handler_nursery=sessions,
                )
                async with trio.open_nursery() as listener:
                    self.addresses = await listener.start(listen)
                    self.host, self.port = self.addresses[0]
                    task_status.started(self)
            # Listening stopped by aclose(): it closes the sessions, then this nursery ends.

    async def listen(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """One more listener for the running server (start ``serve`` first): e.g. ``wss://``
        with ``ssl_context`` next to the plain ``ws://`` port, feeding the same handlers,
        sessions and ``call()``. Reports its addresses; listens until cancelled. After
        ``aclose()`` its handshakes are refused (503) and its sessions are closed too."""
        if self._sessions_nursery is None:
            raise RuntimeError("call serve() before adding a listener")
        await _transport_trio_ws.serve(
            self._on_handshake,
            host,
            port,
            ssl_context=ssl_context if ssl_context is not None else self.ssl_context,
            compression=self.compression,
            max_message_size=self.limits.max_message_size,
            handshake_timeout=self.limits.handshake_timeout,
            handler_nursery=self._sessions_nursery,
            task_status=task_status,
        )

    async def aclose(self, grace_period: float = 5.0) -> None:
        """Graceful shutdown: stop accepting, let running handlers finish (up to
        ``grace_period`` seconds), close every socket with 1001, fail pending calls."""
        self._stopping = True
        if self._listen_scope is not None:
            self._listen_scope.cancel()
        with trio.move_on_after(grace_period):
            while any(cp.connection.calls_in_progress for cp in self.charge_points.values()):  # noqa: ASYNC110 - shutdown only
                await trio.sleep(0.01)
        async with trio.open_nursery() as closing:
            for cp in list(self.charge_points.values()):
                closing.start_soon(cp.close, CloseCode.GOING_AWAY, "server shutting down")
        if self._sessions_nursery is not None:
            self._sessions_nursery.cancel_scope.cancel()

    # -- connection handling --------------------------------------------------------------

    def _choose_version(self, identity: str, offered: tuple[str, ...]) -> str | None:
        offered_versions = [VERSION_OF_SUBPROTOCOL[p] for p in offered if p in VERSION_OF_SUBPROTOCOL]
        enabled = [v for v in offered_versions if v in self.versions]
        if not enabled:
            return None
        if self.prefer == "server":
            return min(enabled, key=self.versions.index)
        return enabled[0]

    def _fallback(self, identity: str) -> str | None:
        fallback = self.fallback_version
        version = fallback(identity) if callable(fallback) else fallback
        return normalize_version(version) if version is not None else None

    def _security_event(self, kind: SecurityEventKind, identity: str | None, remote: Any, detail: str) -> None:
        event = SecurityEvent(kind, identity, remote, detail)
        report(event)
        if self.hooks.on_security_event is not None:
            self.hooks.on_security_event(event)

    def _peer(self, handshake: Handshake) -> tuple[tuple[str, int] | None, dict[str, Any] | None, bool]:
        """(remote address, client certificate, TLS?) — from a trusted proxy if configured."""
        remote, certificate, secure = handshake.remote, handshake.peer_certificate, handshake.secure
        proxy = self.trusted_proxy
        if proxy is not None:
            secure = secure or proxy.tls
            if proxy.real_ip and (forwarded := handshake.header(proxy.real_ip)):
                remote = (forwarded.split(",")[0].strip(), 0)
            if proxy.client_certificate and (pem := handshake.header(proxy.client_certificate)):
                certificate = certificate_from_pem(unquote(pem))
        return remote, certificate, secure

    async def _authorize(self, pending: PendingHandshake, identity: str) -> int | None:
        """The connection's security profile (0-3), or None when it was refused."""
        handshake = pending.handshake
        remote, certificate, secure = self._peer(handshake)
        source = remote[0] if remote else "?"
        profile: int
        if certificate:
            if not self.certificate_binding(certificate, identity):
                self._security_event(
                    "certificate_mismatch", identity, remote, "client certificate is for another identity"
                )
                await pending.reject(403, "client certificate does not match the charge point identity")
                return None
            profile = 3
        else:
            credentials = parse_basic_auth(handshake.header("authorization"))
            if credentials is None:
                # An authenticator may waive Basic auth per identity (``credentials_required``),
                # e.g. a registry with profile-0 stations next to profile-1/2 ones.
                waiver = getattr(self.authenticate, "credentials_required", None)
                if self.authenticate is not None and (not callable(waiver) or waiver(identity)):
                    self._security_event("auth_failed", identity, remote, "no basic-auth credentials")
                    await pending.reject(401, "authentication required", _CHALLENGE)
                    return None
                profile = 0
            else:
                user, password = credentials
                keys = (f"id:{identity}", f"ip:{source}")
                if self.auth_failures.blocked(*keys):
                    self._security_event("auth_rate_limited", identity, remote, "too many failed attempts")
                    await pending.reject(401, "too many failed attempts; retry later", _CHALLENGE)
                    return None
                ok = user == identity and self.authenticate is not None
                if ok and self.authenticate is not None:
                    ok = await self.authenticate(identity, password, handshake)
                if not ok:
                    self.auth_failures.failed(*keys)
                    why = "user name differs from identity" if user != identity else "wrong password"
                    self._security_event("auth_failed", identity, remote, why)
                    await pending.reject(401, "invalid credentials", _CHALLENGE)
                    return None
                profile = 2 if secure else 1
        pinned = getattr(self.authenticate, "security_profile", None)
        required = pinned(identity) if callable(pinned) else None
        if profile < self.minimum_security_profile or (required is not None and profile != required):
            wanted = required if required is not None else f">= {self.minimum_security_profile}"
            self._security_event("security_profile_mismatch", identity, remote, f"profile {profile}, wanted {wanted}")
            await pending.reject(401, "security profile not allowed for this charge point", _CHALLENGE)
            return None
        return profile

    async def _on_handshake(self, pending: PendingHandshake) -> None:
        handshake = pending.handshake
        identity = self.identity_resolver(handshake.path)
        if identity is None:
            await pending.reject(404, "no charge point identity in the URL path")
            return
        if self._stopping:
            await pending.reject(503, "server shutting down")
            return
        if len(self.charge_points) + self._opening >= self.limits.max_connections:
            self._security_event("connection_limit", identity, handshake.remote, "max_connections reached")
            await pending.reject(503, "server is full")
            return
        self._opening += 1
        try:
            profile = await self._authorize(pending, identity)
            if profile is None:
                return
            if self.hooks.on_connect is not None:
                try:
                    allowed = await self.hooks.on_connect(handshake, identity)
                except Refuse as refusal:
                    await pending.reject(refusal.status_code, refusal.reason)
                    return
                if allowed is False:
                    await pending.reject(404, "unknown charge point")
                    return
            if self.on_duplicate == "reject" and (
                identity in self.charge_points
                or (self.cluster is not None and await self.cluster.connected_elsewhere(identity))
            ):
                await pending.reject(409, "this charge point is already connected")
                return
            version = self._choose_version(identity, handshake.subprotocols)
            subprotocol = SUBPROTOCOLS[version] if version is not None else None
            if version is None and not handshake.subprotocols:
                version = self._fallback(identity)
            if version is None:
                # The specs: finish the handshake without a subprotocol, then close at once.
                transport = await pending.accept(None)
                await transport.close(CloseCode.PROTOCOL_ERROR, "no supported OCPP subprotocol offered")
                offered = ", ".join(handshake.subprotocols) or "none"
                log.info("%s offered no supported subprotocol: %s", identity, offered)
                return
            transport = await pending.accept(subprotocol)
        finally:
            self._opening -= 1
        await self.attach(identity, version, transport, handshake, security_profile=profile)

    async def attach(
        self,
        identity: str,
        version: str,
        transport: Transport,
        handshake: Handshake,
        *,
        security_profile: int = 0,
    ) -> None:
        """Run an OCPP session on an accepted transport (also used by ``ocpp_router.testing``)."""
        cp = ChargePoint(
            identity,
            version,
            transport,
            self.router,
            options=self.options,
            hooks=self.hooks,
            path=handshake.path,
            remote=handshake.remote,
            headers=handshake.headers,
            peer_certificate=handshake.peer_certificate,
            registry=self.registries.get(version),
            handler_limiter=self._handler_limiter,
            security_profile=security_profile,
        )
        previous = self.charge_points.get(identity)
        self.charge_points[identity] = cp
        try:
            if self.cluster is not None:
                await self.cluster.register(cp)  # newest connection wins across nodes too
            if previous is not None:
                log.info("%s connected again; closing the older connection", identity)
                await previous.close(CloseCode.REPLACED, "replaced by a newer connection")
            if self.validation_rules is not None:
                await self.validation_rules.on_session_start(cp, self.storage)
            if self.hooks.on_connected is not None:
                await self.hooks.on_connected(cp)
            await cp.run()
        finally:
            if self.charge_points.get(identity) is cp:
                del self.charge_points[identity]
            if self.cluster is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await self.cluster.unregister(cp)
            if self.hooks.on_disconnected is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await self.hooks.on_disconnected(cp)


async def serve(
    router: Router,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Shortcut for ``Server(router, **options).serve(host, port)``."""
    await Server(router, **options).serve(host, port, task_status=task_status)
