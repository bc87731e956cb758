"""The reference CSMS: a ``Server`` with every OCPP 1.6 and 2.0.1 plugin, the operator's
records (``OperatorStore``) wired into authentication, BootNotification and authorisation,
an optional ``wss://`` listener and an optional admin HTTP API, all in one trio nursery.

Wiring:

* **Authentication** (``RegistryAuthenticator``, ``Server(authenticate=...)``): a registered
  charge point with a password must send it (HTTP Basic); one without a password connects
  without; its ``security_profile`` (when set) is the only profile it may use. Unknown
  identities are let through to ``Hooks.on_connect``, which refuses them with 404 unless
  unknown charge points are accepted.
* **BootNotification**: the registry's ``boot_status`` (Accepted / Pending / Rejected) is
  the boot policy of the 1.6 ``CorePlugin`` and the 2.0.1 ``ProvisioningPlugin``; unknown
  (accepted) charge points are Accepted.
* **Authorisation**: the id-token table answers Authorize and the transaction messages of
  both versions (``Expired`` past the expiry date, a blocked parent/group blocks its
  members); unknown tokens get the ``unknown_id_tokens`` status (Invalid by default).
* **Frames**: the last frames of each charge point come from an observability
  ``AuditLog`` (``audit=``, e.g. the one ``--audit-log`` writes; by default one that keeps
  only the in-memory rings), attached to the server's hooks.

Plugins that do not exist yet plug in by name: ``Csms.v201`` is whatever
``ocpp_router.v201.plugins.plugins()`` returns, and helpers look for their plugin there
(``getattr(csms.v201, "smart_charging", None)``) before falling back to raw calls.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from .. import v16, v201
from .._core import SchemaRegistry
from .._defaults import DefaultHandlers
from .._hooks import Hooks, compose_hooks
from .._router import Router
from .._security import Limits
from .._server import Server
from .._session import ChargePoint, SessionOptions
from .._tls import server_ssl_context
from .._versions import V16
from ..errors import NotConnectedError
from ..observability.audit import AuditLog
from ..v16._base import parse_time
from ..v16.plugins import V16Plugins
from ..v16.plugins import plugins as v16_plugins
from ..v16.smart_charging import charging_profile
from ..v201.plugins import V201Plugins
from ..v201.plugins import plugins as v201_plugins
from .store import OperatorStore, utc_text

if TYPE_CHECKING:
    from .._storage import Storage
    from .._transport import Handshake
    from ..observability.metrics import Metrics
    from .config import CsmsConfig

__all__ = ["Csms", "Presence", "RegistryAuthenticator"]

log = logging.getLogger("ocpp_router.csms")

_ENERGY = "Energy.Active.Import.Register"
_MAX_TRACKED = 10_000


@dataclass(slots=True)
class Presence:
    """What the CSMS saw of a charge point's connections (this process only)."""

    version: str
    security_profile: int
    remote: str | None
    connected_since: str
    disconnected_at: str | None = None
    close_code: int | None = None


class RegistryAuthenticator:
    """``Server(authenticate=...)`` over the registry (see the module docs)."""

    def __init__(self, store: OperatorStore) -> None:
        self.store = store

    def credentials_required(self, identity: str) -> bool:
        record = self.store.charge_point(identity)
        return record is not None and record.has_password

    def security_profile(self, identity: str) -> int | None:
        record = self.store.charge_point(identity)
        return record.security_profile if record is not None else None

    async def __call__(self, identity: str, password: bytes, handshake: Handshake) -> bool:
        record = self.store.charge_point(identity)
        if record is None:
            # Not in the registry: nothing to check; on_connect accepts or refuses (404) it.
            return True
        return await trio.to_thread.run_sync(record.check_password, password)


def _record(value: Any) -> Any:
    """A plugin record (dataclass) as JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def _wire(value: Any) -> Any:
    return value.to_wire() if hasattr(value, "to_wire") else value


def _text(value: Any) -> Any:
    return getattr(value, "value", value)


class Csms:
    """The reference CSMS. ``await nursery.start(csms.run)`` starts every listener; it reports
    itself once they listen; ``await csms.aclose()`` stops it gracefully.

    ``storage`` replaces the in-memory plugin state, ``hooks`` run after the CSMS's own,
    ``audit`` supplies the recent frames (its writer task is the caller's to run),
    ``metrics`` (an observability ``Metrics``) is served on the admin API's ``/metrics``,
    ``server_options`` go to ``Server`` (e.g. ``cluster=``).
    """

    def __init__(
        self,
        config: CsmsConfig,
        *,
        storage: Storage | None = None,
        hooks: Hooks | None = None,
        audit: AuditLog | None = None,
        metrics: Metrics | None = None,
        server_options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.store = OperatorStore(config.db)
        self.accept_unknown_charge_points = config.accept_unknown_charge_points
        self.unknown_id_tokens = config.unknown_id_tokens
        self.audit = audit if audit is not None else AuditLog(None, ring_size=config.frames_per_charge_point)
        self.metrics = metrics
        self.presence: OrderedDict[str, Presence] = OrderedDict()
        self.v16: V16Plugins = v16_plugins(
            boot_policy=self._boot_policy,
            heartbeat_interval=config.heartbeat_interval,
            authorizer=self._authorize_v16,
        )
        self.v201: V201Plugins = v201_plugins(
            boot_policy=self._boot_policy,
            heartbeat_interval=config.heartbeat_interval,
            authorizer=self._authorize_v201,
        )
        self.defaults = DefaultHandlers(config.heartbeat_interval)
        registries = None
        if config.relaxations:
            relaxed = list(config.relaxations)
            registries = {v: SchemaRegistry.bundled(v).relaxed(relaxed) for v in config.versions}
        self.server = Server(
            Router(),
            versions=config.versions,
            options=SessionOptions(
                call_timeout=config.call_timeout,
                incoming_validation=config.validation,  # type: ignore[arg-type]  # checked by the config
                date_time=config.date_time,  # type: ignore[arg-type]
                ping_interval=config.ping_interval,
                idle_timeout=config.idle_timeout,
                max_messages_per_second=config.max_messages_per_second,
                message_burst=config.message_burst,
            ),
            hooks=compose_hooks(self._hooks(), hooks),
            limits=Limits(
                max_message_size=config.max_message_size,
                handshake_timeout=config.handshake_timeout,
                max_connections=config.max_connections,
                max_concurrent_handlers=config.max_concurrent_handlers,
            ),
            authenticate=RegistryAuthenticator(self.store),
            minimum_security_profile=config.security_profile,
            registries=registries,
            storage=storage,
            **(server_options or {}),
        )
        self.audit.attach(self.server)
        if metrics is not None:
            metrics.attach(self.server)
        self.server.install(*self.v16, *self.v201)
        # Below the plugins: answers for everything no plugin handles (2.0.1 blocks not there yet,
        # 2.1 additions, MeterValues outside transactions, ...), recorded per charge point.
        self.server.router.include(self.defaults.router())
        self.tls_context = (
            server_ssl_context(config.tls_cert, config.tls_key, client_ca=config.client_ca)
            if config.tls_port is not None and config.tls_cert is not None
            else None
        )
        self.tls_addresses: list[tuple[str, int]] = []
        self.admin_url: str | None = None
        self.ready = False
        self.started_at: str | None = None
        self._tls_scope = trio.CancelScope()
        self._admin_scope = trio.CancelScope()
        self._admin_stop = trio.Event()
        self._stopped = trio.Event()
        self._tariffed: set[str] = set()

    # -- hooks ----------------------------------------------------------------------------

    def _hooks(self) -> Hooks:
        async def on_connect(handshake: Handshake, identity: str) -> bool | None:
            if not self.accept_unknown_charge_points and self.store.charge_point(identity) is None:
                log.info("refused unknown charge point %r", identity)
                return False
            return None

        async def on_connected(cp: ChargePoint) -> None:
            remote = f"{cp.remote[0]}:{cp.remote[1]}" if cp.remote else None
            self.presence[cp.id] = Presence(cp.version, cp.security_profile, remote, utc_text())
            self.presence.move_to_end(cp.id)
            while len(self.presence) > _MAX_TRACKED:
                self.presence.popitem(last=False)

        async def on_disconnected(cp: ChargePoint) -> None:
            presence = self.presence.get(cp.id)
            if presence is not None and self.server.get(cp.id) is None:
                presence.disconnected_at = utc_text()
                presence.close_code = cp.close_code

        return Hooks(on_connect=on_connect, on_connected=on_connected, on_disconnected=on_disconnected)

    # -- policies -------------------------------------------------------------------------

    async def _boot_policy(self, cp: ChargePoint, request: Any) -> str:
        record = self.store.charge_point(cp.id)
        return record.boot_status if record is not None else "Accepted"

    def token_verdict(self, id_token: str, token_type: str | None = None) -> tuple[str, dict[str, Any]]:
        """(status, the token's record or {}) for an id tag / IdToken presented now."""
        record = self.store.id_token(id_token)
        if record is None or (record.type is not None and token_type is not None and record.type != token_type):
            return self.unknown_id_tokens, {}
        status = record.status
        expiry = parse_time(record.expiry_date)
        if status == "Accepted" and expiry is not None and expiry <= datetime.now(timezone.utc):
            status = "Expired"
        if status == "Accepted" and record.parent_id_tag:
            parent = self.store.id_token(record.parent_id_tag)
            if parent is not None and parent.status != "Accepted":
                status = parent.status  # a blocked group blocks its members
        return status, record.public()

    async def _authorize_v16(self, cp: ChargePoint, id_tag: str) -> v16.IdTagInfo:
        status, record = self.token_verdict(id_tag)
        parent = record.get("parent_id_tag")
        return v16.IdTagInfo(
            status=v16.AuthorizationStatus(status),
            expiry_date=record.get("expiry_date"),
            parent_id_tag=parent if parent is not None and len(parent) <= 20 else None,  # 1.6: CiString20
        )

    async def _authorize_v201(self, cp: ChargePoint, id_token: v201.IdTokenType) -> v201.IdTokenInfoType:
        status, record = self.token_verdict(id_token.id_token, str(_text(id_token.type)))
        parent = record.get("parent_id_tag")
        info = v201.IdTokenInfoType(
            status=v201.AuthorizationStatusEnumType(status),
            cache_expiry_date_time=record.get("expiry_date") if status == "Accepted" else None,
            group_id_token=v201.IdTokenType(id_token=parent, type=v201.IdTokenEnumType.Central) if parent else None,
        )
        if status == "Accepted":
            message = await self._tariff_message(cp.id)
            if message is not None:
                info.personal_message = v201.MessageContentType(format=v201.MessageFormatEnumType.UTF8, content=message)
        return info

    # -- tariffs --------------------------------------------------------------------------

    def tariff_plugin(self) -> Any:
        """The 2.0.1 Tariff and Cost plugin (block I) once ``v201.plugins()`` has it, else None."""
        return getattr(self.v201, "tariff_and_cost", None)

    async def add_tariff(self, charge_point: str | None, body: dict[str, Any]) -> dict[str, Any]:
        record = await self.store.add_tariff(charge_point, body)
        await self.sync_tariffs()
        return record

    async def delete_tariff(self, tariff_id: int) -> bool:
        found = await self.store.delete_tariff(tariff_id)
        await self.sync_tariffs()
        return found

    async def sync_tariffs(self) -> None:
        """Hand the stored tariffs to the Tariff and Cost plugin (the newest per charge point,
        the newest general one as its default), which then prices 2.x transactions."""
        plugin = self.tariff_plugin()
        if plugin is None:
            return
        from ..v201 import tariff_and_cost

        def tariff(record: dict[str, Any]) -> Any:
            return tariff_and_cost.Tariff(
                currency=record["currency"],
                energy_price=record.get("price_kwh") or 0.0,
                time_price=record.get("price_hour") or 0.0,
                session_fee=record.get("price_session") or 0.0,
                text=record.get("display_text"),
            )

        newest: dict[str | None, dict[str, Any]] = {t["charge_point"]: t for t in await self.store.tariffs()}
        general = newest.pop(None, None)
        plugin.default_tariff = tariff(general) if general is not None else None
        own = {identity: record for identity, record in newest.items() if identity is not None}
        for gone in self._tariffed - set(own):
            await plugin.set_tariff(gone, None)
        for identity, record in own.items():
            await plugin.set_tariff(identity, tariff(record))
        self._tariffed = set(own)

    async def _tariff_message(self, identity: str) -> str | None:
        """The display text of the tariff for this charge point (its own, else the general
        one; the newest wins): shown to the driver after Authorize (2.0.1 I01). Left to the
        Tariff and Cost plugin when it is there."""
        if self.tariff_plugin() is not None:
            return None
        tariffs = [t for t in await self.store.tariffs(identity) if t.get("display_text")]
        own = [t for t in tariffs if t["charge_point"] == identity]
        chosen = (own or tariffs)[-1:] if tariffs else []
        return str(chosen[0]["display_text"])[:512] if chosen else None

    # -- running --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Csms] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the store, listen (OCPP, TLS, admin), report ``self``; until ``aclose``."""
        await self.store.open()
        try:
            await self._seed()
            await self.sync_tariffs()
            async with trio.open_nursery() as nursery:
                config = self.config
                await nursery.start(self.server.serve, config.host, config.port)
                if self.tls_context is not None and config.tls_port is not None:
                    host = config.tls_host or config.host
                    self.tls_addresses = await nursery.start(self._listen_tls, host, config.tls_port)
                if config.admin_port is not None:
                    self.admin_url = await nursery.start(self._serve_admin)
                self.ready = True
                self.started_at = utc_text()
                task_status.started(self)
        finally:
            self.ready = False
            with trio.CancelScope(shield=True):
                await self.store.close()
            self._stopped.set()

    async def _listen_tls(self, host: str, port: int, *, task_status: trio.TaskStatus[Any]) -> None:
        with self._tls_scope:
            await self.server.listen(host, port, ssl_context=self.tls_context, task_status=task_status)

    async def _serve_admin(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        from hypercorn.config import Config
        from hypercorn.trio import serve

        from .admin import create_app

        config = Config()
        host, port = self.config.admin_host, self.config.admin_port
        config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("ocpp_router.admin")  # no handler of its own: one log format
        config.graceful_timeout = 5.0
        app: Any = create_app(self)  # an ASGI app (FastAPI's type is not hypercorn's)
        with self._admin_scope:
            async with trio.open_nursery() as nursery:
                binds: list[str] = await nursery.start(
                    partial(serve, app, config, shutdown_trigger=self._admin_stop.wait)
                )
                task_status.started(binds[0])

    async def aclose(self, grace_period: float = 5.0) -> None:
        """Stop accepting, let running handlers finish, close sessions (1001), stop the admin
        API, close the store; returns when everything stopped (bounded)."""
        self.ready = False
        self._tls_scope.cancel()
        await self.server.aclose(grace_period=grace_period)
        self._admin_stop.set()
        with trio.move_on_after(grace_period + 6):
            await self._stopped.wait()
            return
        self._admin_scope.cancel()
        with trio.move_on_after(2):
            await self._stopped.wait()

    async def _seed(self) -> None:
        """The configured charge points, id tokens and settings win at start-up."""
        for entry in self.config.charge_points:
            await self.store.put_charge_point(
                entry.identity,
                security_profile=entry.security_profile,
                boot_status=entry.boot_status,
                description=entry.description,
                **({"password": entry.password} if entry.password is not None else {}),
            )
        for token in self.config.id_tokens:
            await self.store.put_id_token(
                token.id_token,
                status=token.status,
                expiry_date=token.expiry_date,
                parent_id_tag=token.parent_id_tag,
                type=token.type,
            )
        await self.store.set_setting("accept_unknown_charge_points", self.accept_unknown_charge_points)
        await self.store.set_setting("unknown_id_tokens", self.unknown_id_tokens)

    async def update_settings(
        self, *, accept_unknown_charge_points: bool | None = None, unknown_id_tokens: str | None = None
    ) -> dict[str, Any]:
        if accept_unknown_charge_points is not None:
            self.accept_unknown_charge_points = accept_unknown_charge_points
            await self.store.set_setting("accept_unknown_charge_points", accept_unknown_charge_points)
        if unknown_id_tokens is not None:
            self.unknown_id_tokens = unknown_id_tokens
            await self.store.set_setting("unknown_id_tokens", unknown_id_tokens)
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return {
            "accept_unknown_charge_points": self.accept_unknown_charge_points,
            "unknown_id_tokens": self.unknown_id_tokens,
        }

    # -- charge point state ---------------------------------------------------------------

    def connected(self, identity: str) -> ChargePoint:
        cp = self.server.get(identity)
        if cp is None or cp.closed:
            raise NotConnectedError(identity)
        return cp

    def version_of(self, identity: str) -> str | None:
        """The version of the current (else the last) connection."""
        cp = self.server.get(identity)
        if cp is not None:
            return cp.version
        presence = self.presence.get(identity)
        return presence.version if presence is not None else None

    async def known_identities(self) -> list[str]:
        storage = self.server.storage
        names = set(self.server.charge_points) | set(self.presence)
        names |= {record.identity for record in self.store.charge_points()}
        for namespace in ("v16.core", "v201.provisioning"):
            names |= set(await storage.identities(namespace))
        return sorted(names)

    async def charge_point_state(self, identity: str, *, detail: bool = True) -> dict[str, Any]:
        cp = self.server.get(identity)
        presence = self.presence.get(identity)
        record = self.store.charge_point(identity)
        version = self.version_of(identity)
        connected = cp is not None and not cp.closed
        state: dict[str, Any] = {
            "identity": identity,
            "connected": connected,
            "version": version,
            "connected_since": presence.connected_since if presence is not None and connected else None,
            "disconnected_at": presence.disconnected_at if presence is not None and not connected else None,
            "security_profile": presence.security_profile if presence is not None else None,
            "remote": presence.remote if presence is not None else None,
            "registry": record.public() if record is not None else None,
        }
        registration: Any = None
        if version in (None, V16):
            registration = await self.v16.core.registration(identity)
        if registration is None and version != V16:
            registration = await self.v201.provisioning.registration(identity)
        state["registration"] = _record(registration)
        if not detail:
            return state
        connectors: list[dict[str, Any]] = []
        active: list[dict[str, Any]] = []
        meters: list[dict[str, Any]] = []
        if version in (None, V16):
            connectors += [asdict(c) for c in (await self.v16.core.connectors(identity)).values()]
            active += [_transaction_v16(identity, tx) for tx in await self.v16.core.transactions(identity, active=True)]
            latest: dict[tuple[Any, ...], Any] = {}
            for sample in await self.v16.core.meter_values(identity):
                latest[(sample.connector_id, sample.measurand, sample.phase, sample.location)] = sample
            meters += [asdict(s) for s in latest.values()]
        if version != V16:
            connectors += [asdict(c) for c in (await self.v201.availability.connectors(identity)).values()]
            transactions = self.v201.transactions
            for tx in await transactions.transactions(identity, active=True):
                active.append(await _transaction_v201(identity, version, tx, transactions))
                latest_201: dict[tuple[Any, ...], Any] = {}
                for sample201 in await transactions.meter_values(identity, tx.transaction_id):
                    latest_201[(sample201.measurand, sample201.phase, sample201.location)] = sample201
                meters += [asdict(s) for s in latest_201.values()]
        state["connectors"] = connectors
        state["active_transactions"] = active
        state["last_meter_values"] = meters
        state["last_meter_values_message"] = self.defaults.last.get(identity, {}).get("MeterValues")
        return state

    # -- transactions ---------------------------------------------------------------------

    async def transactions(
        self, *, charge_point: str | None = None, id_tag: str | None = None, active: bool | None = None
    ) -> list[dict[str, Any]]:
        """Transactions of both versions as one list (start time order)."""
        storage = self.server.storage
        found: list[dict[str, Any]] = []
        identities_16 = [charge_point] if charge_point else await storage.identities("v16.core.transactions")
        for identity in identities_16:
            for tx16 in await self.v16.core.transactions(identity, active=active):
                found.append(_transaction_v16(identity, tx16))
        transactions = self.v201.transactions
        identities_201 = [charge_point] if charge_point else await storage.identities(transactions.name)
        for identity in identities_201:
            version = self.version_of(identity)
            for tx in await transactions.transactions(identity, active=active):
                found.append(await _transaction_v201(identity, version, tx, transactions))
        if id_tag is not None:
            wanted = id_tag.casefold()
            found = [t for t in found if str(t.get("id_tag") or "").casefold() == wanted]
        return sorted(found, key=lambda t: (str(t.get("start_time") or ""), t["charge_point"]))

    async def transaction(self, identity: str, transaction_id: str) -> dict[str, Any] | None:
        if transaction_id.isdigit():
            tx16 = await self.v16.core.transaction(identity, int(transaction_id))
            if tx16 is not None:
                return _transaction_v16(identity, tx16)
        transactions = self.v201.transactions
        tx = await transactions.transaction(identity, transaction_id)
        if tx is None:
            return None
        data = await _transaction_v201(identity, self.version_of(identity), tx, transactions)
        data["events"] = [asdict(tx.events[n]) for n in sorted(tx.events)]
        return data

    # -- operations (version-aware) -------------------------------------------------------

    async def remote_start(
        self,
        identity: str,
        id_tag: str,
        *,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        token_type: str | None = None,
        group_id_tag: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        cp = self.connected(identity)
        if cp.version == V16:
            profile = None if charging_profile is None else _v16_profile(charging_profile)
            answer = await self.v16.core.remote_start_transaction(
                identity, id_tag, connector_id=connector_id, charging_profile=profile, timeout=timeout
            )
            return {"status": _text(answer.status)}
        start = await self.v201.remote_control.request_start_transaction(
            identity,
            id_tag,
            token_type=token_type or v201.IdTokenEnumType.Central,
            evse_id=connector_id,
            group_id_token=group_id_tag,
            charging_profile=charging_profile,
            timeout=timeout,
        )
        return {
            "status": start.status,
            "remote_start_id": start.remote_start_id,
            "transaction_id": start.transaction_id,
        }

    async def remote_stop(self, identity: str, transaction_id: str | int, *, timeout: float | None = None) -> Any:
        cp = self.connected(identity)
        if cp.version == V16:
            try:
                number = int(transaction_id)
            except (TypeError, ValueError):
                raise ValueError(f"an OCPP 1.6 transaction id is an integer, not {transaction_id!r}") from None
            answer16 = await self.v16.core.remote_stop_transaction(identity, number, timeout=timeout)
            return {"status": _text(answer16.status)}
        answer = await self.v201.remote_control.request_stop_transaction(identity, str(transaction_id), timeout=timeout)
        return {"status": _text(answer.status)}

    async def reset(
        self, identity: str, type: str | None = None, *, evse_id: int | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        cp = self.connected(identity)
        try:
            if cp.version == V16:
                answer16 = await self.v16.core.reset(identity, type or "Soft", timeout=timeout)
                return {"status": _text(answer16.status)}
            answer = await self.v201.provisioning.reset(
                identity, v201.ResetEnumType(type or "Immediate"), evse_id=evse_id, timeout=timeout
            )
        except ValueError as exc:
            raise ValueError(f"invalid reset type {type!r} for OCPP {cp.version}: {exc}") from None
        return {"status": _text(answer.status)}

    async def trigger(
        self,
        identity: str,
        message: str,
        *,
        connector_id: int | None = None,
        evse_id: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        cp = self.connected(identity)
        if cp.version == V16:
            try:
                trigger16 = v16.MessageTrigger(message)
            except ValueError:
                raise ValueError(f"{message!r} cannot be triggered in OCPP 1.6") from None
            answer16 = await self.v16.remote_trigger.trigger_message(
                identity, trigger16, connector_id=connector_id, timeout=timeout
            )
            return {"status": _text(answer16.status)}
        answer = await self.v201.remote_control.trigger_message(
            identity, message, evse_id=evse_id, connector_id=connector_id, timeout=timeout
        )
        return {"status": _text(answer.status)}

    async def set_charging_profile(
        self,
        identity: str,
        location: int,
        *,
        profile: dict[str, Any] | None = None,
        builder: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a profile (``profile``: wire form, or ``builder``: keyword arguments of the
        1.6 ``charging_profile`` builder, also used to build 2.x profiles) to a connector
        (1.6) / EVSE (2.x); the outcome is recorded."""
        cp = self.connected(identity)
        if (profile is None) == (builder is None):
            raise ValueError("give either a profile (wire form) or the builder fields (purpose, periods, ...)")
        storage = self.server.storage
        if builder is not None and builder.get("profile_id") is None:
            builder = {**builder, "profile_id": await storage.next_id("csms.charging_profile")}
        if cp.version == V16:
            if builder is not None:
                built = charging_profile(**builder, connector_id=location)
            else:
                built = _v16_profile(profile or {})
            answer16 = await self.v16.smart_charging.set_charging_profile(identity, location, built, timeout=timeout)
            status, sent = str(_text(answer16.status)), built.to_wire()
        else:
            sent = profile if profile is not None else _v2_profile(builder or {})
            smart = getattr(self.v201, "smart_charging", None)
            setter = getattr(smart, "set_charging_profile", None)
            if setter is not None:  # the 2.0.1 block K plugin, once it exists
                answer = await setter(identity, location, sent, timeout=timeout)
                status = str(_text(getattr(answer, "status", None) or answer.get("status")))
            else:
                await self.v201.provisioning.check_callable(identity, "SetChargingProfile")
                reply = await self.server.call(
                    identity, "SetChargingProfile", {"evseId": location, "chargingProfile": sent}, timeout=timeout
                )
                status = str(reply.get("status"))
        return await self.store.add_charging_profile(identity, cp.version, location, _wire(sent), status)

    # -- reservations ---------------------------------------------------------------------

    async def reserve(
        self,
        identity: str,
        id_tag: str,
        *,
        expiry: datetime | timedelta,
        connector_id: int | None = None,
        parent_id_tag: str | None = None,
        token_type: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        cp = self.connected(identity)
        if cp.version == V16:
            record16 = await self.v16.reservation.reserve_now(
                identity, connector_id or 0, id_tag, expiry, parent_id_tag=parent_id_tag, timeout=timeout
            )
            return {"charge_point": identity, "version": cp.version, **asdict(record16)}
        record = await self.v201.reservation.reserve_now(
            identity,
            id_tag,
            expiry,
            token_type=token_type or v201.IdTokenEnumType.ISO14443,
            evse_id=connector_id,
            group_id_token=parent_id_tag,
            timeout=timeout,
        )
        return {"charge_point": identity, "version": cp.version, **asdict(record)}

    async def cancel_reservation(
        self, identity: str, reservation_id: int, *, timeout: float | None = None
    ) -> dict[str, Any]:
        cp = self.connected(identity)
        plugin: Any = self.v16.reservation if cp.version == V16 else self.v201.reservation
        answer = await plugin.cancel_reservation(identity, reservation_id, timeout=timeout)
        record = await plugin.reservation(identity, reservation_id)
        return {
            "status": _text(answer.status),
            "reservation": None
            if record is None
            else {"charge_point": identity, "version": cp.version, **asdict(record)},
        }

    async def reservations(self, *, charge_point: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        storage = self.server.storage
        found: list[dict[str, Any]] = []
        for version, plugin in ((V16, self.v16.reservation), (None, self.v201.reservation)):
            identities = [charge_point] if charge_point else await storage.identities(plugin.name)
            for identity in identities:
                shown = version or self.version_of(identity) or "2.0.1"
                for record in await plugin.reservations(identity):
                    if state is None or record.state == state:
                        found.append({"charge_point": identity, "version": shown, **asdict(record)})
        return sorted(found, key=lambda r: (r["created_at"], r["charge_point"], r["id"]))

    # -- frames ---------------------------------------------------------------------------

    def recent_frames(self, identity: str, limit: int) -> list[dict[str, str]]:
        """The charge point's last ``limit`` frames, oldest first."""
        return [frame.to_dict() for frame in self.audit.recent_frames(identity, limit)]


# -- record shapes -----------------------------------------------------------------------------


def _transaction_v16(identity: str, tx: Any) -> dict[str, Any]:
    return {
        "charge_point": identity,
        "version": V16,
        "transaction_id": tx.id,
        "connector_id": tx.connector_id,
        "evse_id": None,
        "id_tag": tx.id_tag,
        "id_tag_status": tx.id_tag_status,
        "active": tx.active,
        "start_time": tx.start_time,
        "stop_time": tx.stop_time,
        "meter_start": tx.meter_start,
        "meter_stop": tx.meter_stop,
        "energy_wh": tx.energy_wh,
        "stop_reason": tx.stop_reason,
        "stop_id_tag": tx.stop_id_tag,
        "reservation_id": tx.reservation_id,
        "remote_start_id": None,
    }


async def _transaction_v201(identity: str, version: str | None, tx: Any, plugin: Any) -> dict[str, Any]:
    readings = [
        s
        for s in await plugin.meter_values(identity, tx.transaction_id, measurand=_ENERGY)
        if s.phase is None and s.location == "Outlet" and s.wh is not None
    ]
    id_token = tx.id_token or {}
    info = tx.id_token_info or {}
    return {
        "charge_point": identity,
        "version": version if version not in (None, V16) else "2.0.1",
        "transaction_id": tx.transaction_id,
        "connector_id": tx.connector_id,
        "evse_id": tx.evse_id,
        "id_tag": id_token.get("idToken"),
        "id_tag_status": info.get("status"),
        "active": tx.active,
        "start_time": tx.started_at,
        "stop_time": tx.ended_at,
        "meter_start": readings[0].wh if readings else None,
        "meter_stop": readings[-1].wh if readings and tx.ended else None,
        "energy_wh": await plugin.energy_wh(identity, tx.transaction_id),
        "stop_reason": tx.stopped_reason,
        "stop_id_tag": (tx.stop_id_token or {}).get("idToken"),
        "reservation_id": tx.reservation_id,
        "remote_start_id": tx.remote_start_id,
    }


def _v16_profile(data: dict[str, Any]) -> v16.ChargingProfile:
    try:
        return v16.ChargingProfile.from_wire(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an OCPP 1.6 ChargingProfile: {exc!r}") from None


_V2_PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def _v2_profile(builder: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 ChargingProfileType from the builder fields (same names as the 1.6 builder)."""
    known = {
        "profile_id",
        "purpose",
        "periods",
        "unit",
        "stack_level",
        "kind",
        "transaction_id",
        "recurrency_kind",
        "start_schedule",
        "duration",
        "min_charging_rate",
        "valid_from",
        "valid_to",
    }
    unknown = sorted(set(builder) - known)
    if unknown:
        raise ValueError(f"unknown charging profile fields: {', '.join(unknown)}")
    if not builder.get("purpose") or not builder.get("periods"):
        raise ValueError("a charging profile needs a purpose and periods")
    purpose = _V2_PURPOSES.get(builder["purpose"], builder["purpose"])
    kind = builder.get("kind")
    start = builder.get("start_schedule")
    if kind is None:
        if builder.get("recurrency_kind"):
            kind = "Recurring"
        elif start is not None or purpose == "ChargingStationMaxProfile":
            kind = "Absolute"
        else:
            kind = "Relative"
    if kind == "Absolute" and start is None:
        start = utc_text()
    periods = []
    for period in builder["periods"]:
        if not isinstance(period, (list, tuple)) or len(period) not in (2, 3):
            raise ValueError(f"a period is [start_period, limit(, number_phases)], not {period!r}")
        item: dict[str, Any] = {"startPeriod": period[0], "limit": period[1]}
        if len(period) == 3:
            item["numberPhases"] = period[2]
        periods.append(item)
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": builder.get("unit") or "A",
        "chargingSchedulePeriod": periods,
    }
    for source, target in (("duration", "duration"), ("min_charging_rate", "minChargingRate")):
        if builder.get(source) is not None:
            schedule[target] = builder[source]
    if start is not None:
        schedule["startSchedule"] = start
    profile: dict[str, Any] = {
        "id": builder["profile_id"],
        "stackLevel": builder.get("stack_level") or 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
    }
    for source, target in (
        ("transaction_id", "transactionId"),
        ("recurrency_kind", "recurrencyKind"),
        ("valid_from", "validFrom"),
        ("valid_to", "validTo"),
    ):
        if builder.get(source) is not None:
            profile[target] = str(builder[source]) if source == "transaction_id" else builder[source]
    return profile
