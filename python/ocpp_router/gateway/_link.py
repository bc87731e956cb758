"""One wallbox's relay: its local session, its upstream connection, its queue.

Message ids: each leg has its own. A wallbox CALL is answered by the local session (the
core replies to the wallbox's id); the relay makes a fresh ``call()`` upstream (the core
assigns our id there and keeps the one-outstanding-call rule), and the coroutine that waits
for that call's outcome is what maps the upstream's answer back to the wallbox's id. The
same holds for CSMS-initiated calls in the other direction.

Transaction messages always go through the durable queue, even while the upstream is
connected, so they reach the CSMS in the order the wallbox sent them, replay or not: the
handler enqueues, then waits (up to ``upstream_timeout``) for the delivery task to bring
back the upstream's answer; if the upstream is unreachable or too slow the wallbox gets a
local answer and the message stays queued. The delivery task sends the queue head, and
removes it only once the upstream answered (at-least-once: a message whose answer was lost
with the connection is sent again; OCPP CSMSs deduplicate such resends).
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

import trio

from .._client import ConnectError, connect
from .._router import Router
from .._time import utc_now
from .._tls import client_ssl_context
from ..errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    GenericError,
    InternalError,
    LocalProtocolError,
    NotConnectedError,
    OcppError,
    RemoteProtocolError,
    error_class_for_code,
)
from ._codec import Codec, Outbound, Passthrough, empty_answer_allowed
from ._config import COMPATIBLE
from ._intercept import Answer, Relayed, decided

if TYPE_CHECKING:
    import ssl

    from .._session import ChargePoint
    from ._config import WallboxConfig
    from ._gateway import Gateway
    from ._store import GatewayStore, QueuedMessage

__all__ = ["Link"]

log = logging.getLogger("ocpp_router.gateway")


class _Waiter:
    """A wallbox handler waiting for the delivery of its queued message."""

    __slots__ = ("done", "event", "outcome")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.done = False
        self.outcome: dict[str, Any] | OcppError | None = None

    def settle(self, outcome: dict[str, Any] | OcppError) -> None:
        if not self.done:
            self.done, self.outcome = True, outcome
            self.event.set()


def _relayed_error(exc: CallError) -> OcppError:
    """A CALLERROR from one leg, to be answered on the other (same code, description, details)."""
    return error_class_for_code(exc.code)(exc.description, exc.details)


class Link:
    """The relay between one local wallbox and its upstream charge-point connection."""

    def __init__(self, gateway: Gateway, config: WallboxConfig) -> None:
        self.gateway = gateway
        self.config = config
        self.identity = config.identity
        self.version = config.version
        """The upstream's OCPP version."""
        self.local: ChargePoint | None = None
        self.upstream: ChargePoint | None = None
        self.codec: Codec = Passthrough(self, config.version, config.version)
        #: the wallbox's transactionId -> the upstream's (text), and back
        self.tx_up: dict[int, str] = {}
        self.tx_down: dict[str, int] = {}
        self.queued = 0
        self.connects = 0
        """Upstream connections made so far (for monitoring and tests)."""
        self._unsynced: set[str] = set()  # state keys to re-send upstream: "boot", "status:<key>"
        self._waiters: dict[int, _Waiter] = {}
        self._answered_locally: set[int] = set()
        self._changed = trio.Event()
        self._queue_event = trio.Event()
        self._kick = trio.Event()
        self._connecting = False
        self._fresh = False  # no connection attempt failed since the wallbox connected
        self._attempt_done = trio.Event()
        self._sync_lock = trio.Lock()
        self.router = Router()
        self.router.fallback(self.from_csms)
        self._ssl: ssl.SSLContext | None = None
        if config.upstream_url.startswith("wss://"):
            tls = config.tls
            self._ssl = client_ssl_context(tls.ca, certfile=tls.cert, keyfile=tls.key)

    def __repr__(self) -> str:
        state = "online" if self.online else "offline"
        return f"<Link {self.identity!r} -> {self.config.upstream_url} ({self.config.upstream_id}) {state}>"

    @property
    def store(self) -> GatewayStore:
        return self.gateway.store

    @property
    def online(self) -> bool:
        """Whether the upstream connection is open."""
        up = self.upstream
        return up is not None and not up.closed

    @property
    def wanted(self) -> bool:
        """Whether the upstream connection should be open: the wallbox is connected, or
        something still has to be delivered."""
        local = self.local
        return (local is not None and not local.closed) or self.queued > 0 or bool(self._unsynced)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _wake_delivery(self) -> None:
        self._queue_event.set()
        self._queue_event = trio.Event()

    # -- lifecycle ------------------------------------------------------------------------

    async def load(self) -> None:
        """Read this wallbox's durable state (queue length, id map, pending re-sends)."""
        store = self.store
        self.tx_up = await store.transaction_ids(self.identity)
        self.tx_down = {upstream: local for local, upstream in self.tx_up.items()}
        self.queued = await store.count(self.identity)
        self._unsynced = set(await store.items(self.identity, "status:"))
        if await store.get(self.identity, "boot") is not None:
            self._unsynced.add("boot")
        wallbox_version = await store.get(self.identity, "wallbox_version", self.version)
        try:
            self.codec = self.gateway.make_codec(self, wallbox_version)
        except ValueError:  # the configuration changed since: relay as the upstream's version
            log.warning("%s: last seen speaking OCPP %s, which %s cannot relay", self.identity, wallbox_version, self)
            self.codec = Passthrough(self, self.version, self.version)
        if self.queued or self._unsynced:
            log.info(
                "%s: %d queued message(s) and %d re-send(s) pending", self.identity, self.queued, len(self._unsynced)
            )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the upstream connection open while it is wanted, reconnecting with back-off."""
        await self.load()
        task_status.started()
        policy = self.gateway.config.reconnect
        rng = random.Random()
        attempt = 0
        while True:
            while not self.wanted:
                await self._changed.wait()
            started = trio.current_time()
            self._connecting = True
            try:
                await self._connect_and_serve()
            except ConnectError as exc:
                log.warning("%s: upstream unreachable: %s", self.identity, exc.description)
            except Exception:
                log.exception("%s: upstream connection failed", self.identity)
            finally:
                if self._connecting:  # the attempt failed: answer offline at once from now on
                    self._fresh = False
                    self._attempt_finished()
            if trio.current_time() - started >= policy.stable_after:
                attempt = 0
            if not self.wanted:
                continue
            delay = policy.delay(attempt, rng.random())
            attempt += 1
            log.debug("%s: reconnecting upstream in %.2f s", self.identity, delay)
            self._kick = trio.Event()
            with trio.move_on_after(delay):
                await self._kick.wait()  # a wallbox (re)connecting cuts the wait short

    async def _connect_and_serve(self) -> None:
        config = self.config
        gateway = self.gateway
        async with connect(
            config.upstream_url,
            config.upstream_id,
            self.router,
            versions=[self.version],
            password=config.password,
            ssl_context=self._ssl,
            options=gateway.upstream_options,
            connect_timeout=gateway.config.upstream_timeout,
        ) as up:
            self.connects += 1
            log.info("%s: connected upstream as %s (OCPP %s)", self.identity, config.upstream_id, up.version)
            self.upstream = up
            self._attempt_finished()
            self._notify()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._synchronise, up)
                    nursery.start_soon(self._close_when_unwanted, up)
                    await up.wait_closed()
                    nursery.cancel_scope.cancel()
            finally:
                self.upstream = None
                self._notify()
                for waiter in self._waiters.values():
                    waiter.event.set()  # stop waiting for a delivery that will not come now
                log.info("%s: upstream connection closed (%s)", self.identity, up.close_code)

    def _attempt_finished(self) -> None:
        self._connecting = False
        self._attempt_done.set()
        self._attempt_done = trio.Event()

    async def until_online(self) -> bool:
        """Whether the upstream is connected, after waiting for the connection attempt a
        wallbox's arrival started (its first messages usually come while the link opens).
        Once an attempt failed, messages are answered offline without waiting."""
        if not self.online and self._connecting and self._fresh:
            with trio.move_on_after(self.gateway.config.upstream_timeout):
                await self._attempt_done.wait()
        return self.online

    async def _close_when_unwanted(self, up: ChargePoint) -> None:
        while self.wanted:
            await self._changed.wait()
        log.info("%s: wallbox gone and nothing left to deliver; closing upstream", self.identity)
        await up.close()

    def attach_local(self, cp: ChargePoint) -> None:
        self.local = cp
        if not self.online:
            self._connecting = self._fresh = True  # the link loop connects now (woken, or its back-off cut short)
        self._kick.set()
        self._notify()

    def detach_local(self, cp: ChargePoint) -> None:
        if self.local is cp:
            self.local = None
            self._notify()

    async def wallbox_connected(self, cp: ChargePoint) -> bool:
        """A wallbox session started; False when its version cannot be relayed upstream."""
        if self.version not in COMPATIBLE.get(cp.version, ()):
            log.warning(
                "%s: connected with OCPP %s, which cannot be relayed to its OCPP %s upstream",
                self.identity,
                cp.version,
                self.version,
            )
            return False
        if cp.version != self.codec.wallbox_version:
            await self.store.set(self.identity, "wallbox_version", cp.version)
            self.codec = self.gateway.make_codec(self, cp.version)
        self.attach_local(cp)
        return True

    # -- wallbox → CSMS -------------------------------------------------------------------

    async def from_wallbox(self, cp: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The local router's fallback: relay one wallbox CALL and return the answer."""
        message = Relayed(self, "to_csms", action, payload, cp.version)
        answer = await self.gateway.intercept_request(message)
        if answer is not None:
            return await self._respond(message, answer, local=True)
        outbound = await self.codec.up(message.action, message.payload)
        if isinstance(outbound, Answer):
            return await self._respond(message, dict(outbound.payload), local=True)
        if outbound.kind == "transaction":
            answer, local = await self._transaction(outbound, message)
            return await self._respond(message, answer, local=local)
        up = self.upstream if await self.until_online() else None
        if up is not None and not up.closed:
            try:
                result = await self._relay_up(up, outbound)
            except (ConnectionClosedError, NotConnectedError):
                pass  # lost the upstream meanwhile: answer as offline
            else:
                return await self._respond(message, self.codec.decode(outbound, action, result), local=False)
        answer = await self._offline(message, outbound)
        return await self._respond(message, answer, local=True)

    async def _respond(self, message: Relayed, answer: dict[str, Any], *, local: bool) -> dict[str, Any]:
        message.answered_locally = local
        return await self.gateway.intercept_response(message, answer)

    async def _relay_up(self, up: ChargePoint, outbound: Outbound) -> dict[str, Any]:
        """Call the upstream; its CALLERROR/time-out become the wallbox's CALLERROR."""
        if outbound.kind in ("boot", "status"):
            async with self._sync_lock:  # never overtaken by a re-send of an older one
                result = await self._call_upstream(up, outbound.action, outbound.payload)
                await self._synced(outbound, result)
            return result
        return await self._call_upstream(up, outbound.action, outbound.payload)

    async def _call_upstream(self, up: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        timeout = self.gateway.config.upstream_timeout
        try:
            result: dict[str, Any] = await up.call(action, payload, timeout=timeout)
        except CallError as exc:
            raise _relayed_error(exc) from None
        except CallTimeoutError:
            raise InternalError(f"the upstream CSMS did not answer {action} within {timeout:g} s") from None
        except RemoteProtocolError as exc:
            raise InternalError(f"the upstream CSMS answered {action} with an invalid message") from exc
        except LocalProtocolError as exc:
            raise InternalError(f"{action} cannot be relayed upstream: {exc.description}") from None
        return result

    async def _synced(self, outbound: Outbound, result: dict[str, Any]) -> None:
        """A boot/status reached the upstream: what was kept for a re-send is stale now."""
        if outbound.kind == "boot":
            interval = result.get("interval")
            if isinstance(interval, int) and interval > 0:
                await self.store.set(self.identity, "interval", interval)
            key = "boot"
        else:
            key = f"status:{outbound.status_key}"
        if key in self._unsynced:
            self._unsynced.discard(key)
            await self.store.delete(self.identity, key)
            self._notify()

    async def _offline(self, message: Relayed, outbound: Outbound) -> dict[str, Any]:
        """The answer to a wallbox CALL that cannot reach the upstream CSMS now."""
        for interceptor in self.gateway.interceptors:
            answer = decided(await interceptor.offline(message))
            if answer is not None:
                return answer
        store = self.store
        if outbound.kind == "boot":
            await store.set(self.identity, "boot", {"action": outbound.action, "payload": outbound.payload})
            self._unsynced.add("boot")
            self._notify()
            interval = await store.get(self.identity, "interval", self.gateway.config.heartbeat_interval)
            log.info("%s: upstream unreachable; BootNotification accepted locally", self.identity)
            return {"status": "Accepted", "currentTime": utc_now(), "interval": interval}
        if outbound.kind == "heartbeat":
            return {"currentTime": utc_now()}
        if outbound.kind == "status":
            key = f"status:{outbound.status_key}"
            await store.set(self.identity, key, {"action": outbound.action, "payload": outbound.payload})
            self._unsynced.add(key)
            self._notify()
            return {}
        if empty_answer_allowed(message.version, message.action):
            # A notification whose answer carries nothing (FirmwareStatusNotification, MeterValues
            # outside transactions, NotifyEvent, ...): acknowledged, not kept (logged).
            log.info("%s: upstream unreachable; %s acknowledged locally and dropped", self.identity, message.action)
            return {}
        raise InternalError(f"the upstream CSMS is unreachable; {message.action} cannot be relayed now")

    # -- the transaction queue ------------------------------------------------------------

    async def _transaction(self, outbound: Outbound, message: Relayed) -> tuple[dict[str, Any], bool]:
        """Queue a transaction message; the upstream's answer if it comes in time, else the
        local answer (the message stays queued). Returns (answer, answered locally)."""
        config = self.gateway.config
        queued = await self.store.enqueue(
            self.identity,
            outbound.action,
            outbound.payload,
            local_action=message.action,
            local_answer=outbound.local_answer or {},
            queued_at=utc_now(),
            provisional_from=config.provisional_id_base if outbound.provisional else None,
        )
        waiter = self._waiters[queued.seq] = _Waiter()
        self.queued += 1
        self._notify()
        self._wake_delivery()
        try:
            if await self.until_online():
                with trio.move_on_after(config.upstream_timeout):
                    await waiter.event.wait()
            if waiter.done:
                if isinstance(waiter.outcome, OcppError):
                    raise waiter.outcome
                assert waiter.outcome is not None
                return self.codec.decode(outbound, message.action, waiter.outcome), False
            # Decided here, before any await: a delivery finishing now records the id mapping.
            self._answered_locally.add(queued.seq)
            await self.store.mark_answered_locally(queued.seq)
            log.info(
                "%s: %s queued (#%d) and answered locally: %s",
                self.identity,
                message.action,
                queued.seq,
                queued.local_answer,
            )
            return queued.local_answer, True
        finally:
            self._waiters.pop(queued.seq, None)

    async def _synchronise(self, up: ChargePoint) -> None:
        """After connecting: the BootNotification taken offline, the queue in order, then
        the latest status of each connector that changed while offline."""
        try:
            await self._resend_boot(up)
            await self._deliver(up)
        except (ConnectionClosedError, NotConnectedError):
            return  # the connection loop reconnects

    async def _resend(self, up: ChargePoint, what: str, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send a message kept while offline: its answer, ``{}`` when the upstream refused it
        (it is not sent again), None when it got no answer (kept for the next connection)."""
        try:
            result: dict[str, Any] = await up.call(action, payload, timeout=self.gateway.config.upstream_timeout)
        except CallTimeoutError:
            log.warning("%s: no answer to the re-sent %s; kept for the next connection", self.identity, what)
            return None
        except (CallError, RemoteProtocolError, LocalProtocolError) as exc:
            log.warning("%s: upstream refused the re-sent %s: %s", self.identity, what, exc)
            return {}
        return result

    async def _resend_boot(self, up: ChargePoint) -> None:
        if "boot" not in self._unsynced:
            return
        async with self._sync_lock:
            boot = await self.store.get(self.identity, "boot")
            if boot is None:
                self._unsynced.discard("boot")
                return
            result = await self._resend(up, "BootNotification", boot["action"], boot["payload"])
            if result is None:
                return
            if result and result.get("status") != "Accepted":
                log.warning("%s: upstream answered the re-sent BootNotification %s", self.identity, result)
            await self._synced(Outbound(boot["action"], boot["payload"], "boot"), result)

    async def _resend_statuses(self, up: ChargePoint) -> None:
        for key in sorted(k for k in self._unsynced if k.startswith("status:")):
            async with self._sync_lock:
                status = await self.store.get(self.identity, key)  # the latest, read under the lock
                if status is not None and await self._resend(up, key, status["action"], status["payload"]) is None:
                    continue
                self._unsynced.discard(key)
                await self.store.delete(self.identity, key)
        self._notify()

    async def _deliver(self, up: ChargePoint) -> None:
        """Send the queue head by head, for as long as the connection lasts."""
        statuses_sent = False
        while True:
            wakeup = self._queue_event
            queued = await self.store.head(self.identity) if self.queued > 0 else None
            if queued is None:
                if not statuses_sent:
                    statuses_sent = True
                    await self._resend_statuses(up)
                    continue
                await wakeup.wait()
                continue
            await self._deliver_one(up, queued)

    async def _deliver_one(self, up: ChargePoint, queued: QueuedMessage) -> None:
        seq = queued.seq
        payload = self.codec.prepare(queued, queued.answered_locally or seq in self._answered_locally)
        config = self.gateway.config
        try:
            result: dict[str, Any] = await up.call(queued.action, payload, timeout=config.upstream_timeout)
        except CallTimeoutError:
            attempts = await self.store.count_attempt(seq)
            if attempts < config.delivery_attempts:
                log.warning("%s: no answer to queued %s #%d (attempt %d)", self.identity, queued.action, seq, attempts)
                await trio.sleep(config.reconnect.initial)
                return
            await self._dead(queued, f"no answer after {attempts} attempts")
            return
        except (CallError, RemoteProtocolError, LocalProtocolError) as exc:
            code = exc.code if isinstance(exc, CallError) else "InternalError"
            await self._dead(queued, f"{code}: {exc.description}")
            waiter = self._waiters.get(seq)
            if waiter is not None:
                waiter.settle(_relayed_error(exc) if isinstance(exc, CallError) else InternalError(exc.description))
            return
        # Decide synchronously who the answer is for: the waiting wallbox handler, or (it
        # was answered locally) nobody, and then a provisional id needs its mapping.
        answered_locally = queued.answered_locally or seq in self._answered_locally
        waiter = self._waiters.get(seq)
        if waiter is not None and not answered_locally:
            waiter.settle(result)
        mapping = self.codec.delivered(queued, result, answered_locally)
        await self.store.delivered(queued, mapping)
        if mapping is not None:
            local_id, upstream_id = mapping
            self.tx_up[local_id] = upstream_id
            self.tx_down[upstream_id] = local_id
            log.info("%s: provisional transactionId %d is %s upstream", self.identity, local_id, upstream_id)
        self._answered_locally.discard(seq)
        self.queued -= 1
        self._notify()
        log.debug("%s: delivered queued %s #%d", self.identity, queued.action, seq)

    async def _dead(self, queued: QueuedMessage, error: str) -> None:
        log.error(
            "%s: upstream refused queued %s #%d (%s); moved to dead letters",
            self.identity,
            queued.action,
            queued.seq,
            error,
        )
        await self.store.dead_letter(queued, error)
        self._answered_locally.discard(queued.seq)
        self.queued -= 1
        self._notify()

    # -- CSMS → wallbox -------------------------------------------------------------------

    async def from_csms(self, up: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The upstream router's fallback: relay one CSMS CALL to the wallbox."""
        message = Relayed(self, "to_wallbox", action, payload, up.version)
        answer = await self.gateway.intercept_request(message)
        if answer is not None:
            return await self._respond(message, answer, local=True)
        result = await self.call_wallbox(message.action, message.payload)
        return await self._respond(message, result, local=False)

    async def call_wallbox(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call the wallbox with a CSMS message (translated, ids mapped); errors and
        time-outs become the CALLERROR the CSMS gets."""
        wallbox_action, wallbox_payload = await self.codec.down(action, payload)
        local = self.local
        if local is None or local.closed:
            raise GenericError(f"charge point {self.identity} is not connected to the gateway")
        timeout = self.gateway.config.wallbox_timeout
        try:
            result: dict[str, Any] = await local.call(wallbox_action, wallbox_payload, timeout=timeout)
        except CallError as exc:
            raise _relayed_error(exc) from None
        except CallTimeoutError:
            raise InternalError(f"the charge point did not answer {wallbox_action} within {timeout:g} s") from None
        except ConnectionClosedError:
            raise GenericError(f"the charge point disconnected before answering {wallbox_action}") from None
        except RemoteProtocolError as exc:
            raise InternalError(f"the charge point answered {wallbox_action} with an invalid message") from exc
        except LocalProtocolError as exc:
            raise InternalError(f"{action} cannot be relayed to the charge point: {exc.description}") from None
        return await self.codec.encode(action, wallbox_action, result)
