"""One node of a cluster: the registry entries of its sockets, its inbox, cross-node calls.

See ``docs/cluster.md`` for the design; ``_keys.py`` lists every key and channel.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any

import orjson
import trio
from glide import GlideError

from .._messages import describe_class, response_class, to_payload
from .._transport import CloseCode
from ..errors import CallTimeoutError, ConnectionClosedError, LocalProtocolError, NotConnectedError
from ._config import ClusterConfig, open_client
from ._events import EventPublisher
from ._keys import CLAIM, REFRESH, RELEASE, ROUTE, Keys
from ._storage import ValkeyStorage
from ._wire import ClusterUnavailableError, error_from_wire, error_to_wire

if TYPE_CHECKING:
    from glide import GlideClient

    from .._server import Server
    from .._session import ChargePoint

__all__ = ["Cluster"]

log = logging.getLogger("ocpp_router.cluster")

#: Status codes of the ROUTE script.
_SENT = 3
_ROUTE_FAILURES = {
    0: "not registered on any node",
    1: "its node stopped sending heartbeats",
    2: "its node does not listen on the engine",
    4: "registered on this node, but the socket is gone",
}
_NOT_SUBSCRIBED = 5


class _Owned:
    """A socket of this node and the generation the registry gave it (None: not yet)."""

    __slots__ = ("cp", "gen", "seq")

    def __init__(self, cp: ChargePoint, seq: int) -> None:
        self.cp = cp
        self.gen: int | None = None
        self.seq = seq


class _Waiter:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.reply: dict[str, Any] | None = None


def _normalize(action: Any, payload: Any) -> tuple[str, object, str | None]:
    """(action, JSON payload, version of a typed request) — the same rules as ``ChargePoint.call``."""
    if not isinstance(action, str):
        if hasattr(action, "value") and isinstance(action.value, str):
            action = action.value  # an Action enum member
        else:
            payload, action = action, None
    typed_version: str | None = None
    if payload is not None and hasattr(payload, "to_wire"):
        described = describe_class(type(payload))
        if described is None or described[2] != "request":
            raise LocalProtocolError(f"{type(payload).__name__} is not a request message")
        typed_version, msg_action, _ = described
        if action is not None and action != msg_action:
            raise LocalProtocolError(f"{type(payload).__name__} is not a {action} request")
        action = msg_action
    if action is None:
        raise TypeError("call() needs an action name or a generated request object")
    return action, to_payload(payload), typed_version


class Cluster:
    """The cluster machinery of one ``Server`` (``server.cluster``); started by ``Server.serve``.

    ``server.call(identity, ...)`` uses the local socket when there is one and ``call`` here
    otherwise. The node's charge points are registered while connected (``register`` /
    ``unregister`` from ``Server.attach``).
    """

    def __init__(self, server: Server, config: ClusterConfig) -> None:
        self.server = server
        self.config = config
        self.node_id = config.node_id
        self.keys = Keys(config.prefix)
        self.channel = self.keys.channel(self.node_id)
        self.client: GlideClient | None = None
        self._subscriber: GlideClient | None = None
        self.storage = ValkeyStorage(prefix=config.prefix)
        self.events: EventPublisher | None = None
        if config.events:
            self.events = EventPublisher(
                self.keys.stream(config.events_stream), config.events_maxlen, config.events_buffer, self.node_id
            )
            user_hook = server.hooks.on_message
            publish = self.events.frame

            async def on_message(cp: ChargePoint, direction: str, text: str) -> None:
                if user_hook is not None:
                    await user_hook(cp, direction, text)
                if direction == "in":
                    publish(cp, text, self._connection_id(cp))

            server.hooks = dataclasses.replace(server.hooks, on_message=on_message)
        self._owned: dict[str, _Owned] = {}
        self._connection_ids: dict[int, str] = {}  # id(cp) -> "<node>.<n>" while connected
        self._seq = itertools.count(1)
        self._pending: dict[str, _Waiter] = {}
        self._request_ids = itertools.count(1)
        self._inbox_send, self._inbox_recv = trio.open_memory_channel[bytes](math.inf)
        self._token: trio.lowlevel.TrioToken | None = None
        self._refresh_now = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.started_at = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the engine connections (a command client and the inbox subscriber).

        Retries for ``connect_timeout`` seconds, then raises ``ClusterUnavailableError``.
        Raises ``ValueError`` when a running node already uses this node id (both would
        receive the same call requests).
        """
        self._token = trio.lowlevel.current_trio_token()
        client = await self._connect()
        try:
            listeners = await client.pubsub_numsub([self.channel])
            if any(count > 0 for count in listeners.values()):
                raise ValueError(f"node id {self.node_id!r} is in use by a running node")
            self._subscriber = await self._connect(channels={self.channel})
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await client.close()
            raise
        self.client = client
        self.storage.client = client

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Heartbeats, registry renewal and the inbox, until cancelled; then leave the cluster."""
        client = self.client
        if client is None:
            raise RuntimeError("Cluster.connect() first")
        self.started_at = time.time()
        try:
            await self._heartbeat(first=True)
        except GlideError as exc:
            log.warning("first heartbeat failed: %s", exc)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._inbox_loop)
                nursery.start_soon(self._heartbeat_loop)
                nursery.start_soon(self._refresh_loop)
                if self.events is not None:
                    nursery.start_soon(self.events.run, client)
                log.info("node %s joined the cluster at %s", self.node_id, self.config.safe_url)
                task_status.started()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                if self.events is not None:
                    with trio.move_on_after(2):
                        await self.events.flush(client)
                with trio.move_on_after(2):
                    await self._leave(client)

    async def close(self) -> None:
        """Close the engine connections."""
        clients = [self._subscriber, self.client]
        self.client = None
        self.storage.client = None
        self._subscriber = None
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            for each in clients:
                if each is not None:
                    await each.close()

    async def _connect(self, channels: set[str] | None = None) -> GlideClient:
        config = self.config
        deadline = trio.current_time() + config.connect_timeout
        while True:
            try:
                return await open_client(
                    config.url,
                    command_timeout=config.command_timeout,
                    connect_timeout=min(2.0, config.connect_timeout),
                    client_name=f"ocpp-router:{self.node_id}",
                    channels=channels,
                    on_message=self._on_pubsub if channels else None,
                )
            except GlideError as exc:
                if trio.current_time() >= deadline:
                    raise ClusterUnavailableError("", f"cannot reach {config.safe_url}: {exc}") from exc
                log.warning("cluster engine %s not reachable yet: %s", config.safe_url, exc)
                await trio.sleep(0.5)

    async def _leave(self, client: GlideClient) -> None:
        """Graceful exit: drop the heartbeat and the registry records that are still ours."""
        try:
            await client.delete([self.keys.node(self.node_id)])
            for identity, owned in list(self._owned.items()):
                if owned.gen is not None:
                    await client.invoke_script(
                        RELEASE, keys=[self.keys.owner(identity)], args=[f"{self.node_id}|{owned.gen}"]
                    )
        except GlideError as exc:
            log.warning("node %s could not deregister: %s", self.node_id, exc)

    # -- registry ---------------------------------------------------------------------------

    def _connection_id(self, cp: ChargePoint) -> str:
        """Unique per session cluster-wide: ``<node>.<n>`` (part of the events' dedup keys)."""
        return self._connection_ids.get(id(cp)) or f"{self.node_id}.x{id(cp):x}"

    async def register(self, cp: ChargePoint) -> None:
        """A charge point connected here: this node owns it now (newest connection wins)."""
        owned = self._owned[cp.id] = _Owned(cp, next(self._seq))
        self._connection_ids[id(cp)] = f"{self.node_id}.{owned.seq}"
        await self._claim(owned)
        if self.events is not None:
            self.events.lifecycle(cp, "connected", self._connection_id(cp), owned.gen)

    async def unregister(self, cp: ChargePoint) -> None:
        """A charge point's socket closed: delete its record if no newer connection took it."""
        owned = self._owned.get(cp.id)
        mine = owned is not None and owned.cp is cp
        if self.events is not None:
            self.events.lifecycle(cp, "disconnected", self._connection_id(cp), owned.gen if mine and owned else None)
        self._connection_ids.pop(id(cp), None)
        if not mine or owned is None:
            return  # replaced by a newer connection (here or elsewhere): its record is not ours
        del self._owned[cp.id]
        client = self.client
        if client is None or owned.gen is None:
            return
        try:
            await client.invoke_script(RELEASE, keys=[self.keys.owner(cp.id)], args=[f"{self.node_id}|{owned.gen}"])
        except GlideError as exc:
            log.warning("could not release %s: %s (its record expires by itself)", cp.id, exc)

    async def _claim(self, owned: _Owned) -> None:
        client = self.client
        if client is None:
            return
        identity = owned.cp.id
        try:
            result = await client.invoke_script(
                CLAIM,
                keys=[self.keys.owner(identity), self.keys.generation(identity)],
                args=[self.node_id, str(self._ttl_ms()), self.config.prefix, identity],
            )
        except GlideError as exc:
            log.warning("could not register %s: %s (retried with the next renewal)", identity, exc)
            self._refresh_now.set()
            return
        gen, previous = result
        owned.gen = int(gen)
        if previous and previous != self.node_id.encode():
            log.info("%s moved here from node %s", identity, previous.decode())

    def _ttl_ms(self) -> int:
        return max(1, int(self.config.registry_ttl * 1000))

    async def _refresh_loop(self) -> None:
        while True:
            with trio.move_on_after(self.config.refresh_interval):
                await self._refresh_now.wait()
            self._refresh_now = trio.Event()
            try:
                await self.refresh()
            except GlideError as exc:
                log.warning("registry renewal failed: %s", exc)
            except Exception:
                log.exception("registry renewal failed")

    async def refresh(self) -> None:
        """Renew this node's registry records now (also writes back records the engine lost)."""
        client = self.client
        if client is None:
            return
        unclaimed = [owned for owned in self._owned.values() if owned.gen is None and not owned.cp.closed]
        for owned in unclaimed:
            await self._claim(owned)
        claimed = [owned for owned in self._owned.values() if owned.gen is not None and not owned.cp.closed]
        batch = self.config.refresh_batch
        for start in range(0, len(claimed), batch):
            chunk = claimed[start : start + batch]
            keys: list[str | bytes] = []
            args: list[str | bytes] = [self.node_id, str(self._ttl_ms())]
            for owned in chunk:
                keys += [self.keys.owner(owned.cp.id), self.keys.generation(owned.cp.id)]
                args.append(str(owned.gen))
            lost = await client.invoke_script(REFRESH, keys=keys, args=args)
            for position in lost or []:
                owned = chunk[int(position) - 1]
                self._replaced(owned, "a newer connection is registered on another node")

    def _replaced(self, owned: _Owned, why: str) -> None:
        cp = owned.cp
        if self._owned.get(cp.id) is owned:
            del self._owned[cp.id]
        if not cp.closed and self._nursery is not None:
            log.info("closing %s: %s", cp.id, why)
            self._nursery.start_soon(cp.close, CloseCode.REPLACED, "replaced by a newer connection")

    async def _heartbeat_loop(self) -> None:
        while True:
            await trio.sleep(self.config.heartbeat_interval)
            try:
                await self._heartbeat()
            except GlideError as exc:
                log.warning("heartbeat failed: %s", exc)
            except Exception:
                log.exception("heartbeat failed")

    async def _heartbeat(self, first: bool = False) -> None:
        client = self.client
        if client is None:
            return
        info = orjson.dumps(
            {
                "node": self.node_id,
                "pid": os.getpid(),
                "host": self.server.host,
                "port": self.server.port,
                "started": self.started_at,
                "charge_points": len(self._owned),
            }
        )
        ttl = str(max(1, int(self.config.node_ttl * 1000)))
        previous = await client.custom_command(["SET", self.keys.node(self.node_id), info, "PX", ttl, "GET"])
        if previous is None and not first:
            # Our heartbeat had vanished: the engine restarted (or we were paused past the
            # TTL). Write the registry back now instead of at the next renewal.
            log.warning(
                "node %s: heartbeat key was gone; re-registering %d charge points", self.node_id, len(self._owned)
            )
            self._refresh_now.set()

    # -- queries ----------------------------------------------------------------------------

    async def locate(self, identity: str) -> str | None:
        """The node that holds ``identity`` according to the registry (None: nowhere)."""
        client = self._require(identity)
        record = await client.get(self.keys.owner(identity))
        if record is None:
            return None
        return record.decode().rpartition("|")[0] or None

    async def connected_elsewhere(self, identity: str) -> bool:
        """Whether another live node holds ``identity`` (for ``on_duplicate="reject"``)."""
        try:
            node = await self.locate(identity)
            if node is None or node == self.node_id:
                return False
            return await self._node_alive(node)
        except (GlideError, NotConnectedError):
            return False

    async def nodes(self) -> dict[str, dict[str, Any]]:
        """Live nodes (heartbeat present) and what they report."""
        client = self._require("*")
        found: dict[str, dict[str, Any]] = {}
        cursor: str | bytes = "0"
        pattern = self.keys.node("*")
        while True:
            cursor_reply, names = await client.scan(cursor, match=pattern, count=200)
            for name in names:
                raw = await client.get(name)
                if raw is not None:
                    info = orjson.loads(raw)
                    found[str(info.get("node"))] = info
            cursor = cursor_reply if isinstance(cursor_reply, bytes) else b"0"
            if cursor == b"0":
                return found

    def _require(self, identity: str) -> GlideClient:
        client = self.client
        if client is None:
            raise ClusterUnavailableError(identity, "the cluster is not running (Server.serve starts it)")
        return client

    # -- calls to charge points on other nodes -----------------------------------------------

    async def call(self, identity: str, action: Any, payload: Any = None, *, timeout: float | None = None) -> Any:
        """``ChargePoint.call`` on a charge point connected to another node.

        At most once: a request lost in transit (e.g. the owner dies) is never resent. Raises
        what a local call raises (``CallError``, ``CallTimeoutError``, ``RemoteProtocolError``,
        ``ConnectionClosedError``, ``LocalProtocolError``), ``NotConnectedError`` when no live
        node holds the charge point, ``ClusterUnavailableError`` (a ``NotConnectedError``)
        when the engine cannot be reached.
        """
        action_name, data, typed_version = _normalize(action, payload)
        timeout = self.server.options.call_timeout if timeout is None else timeout
        client = self._require(identity)
        request_id = f"{self.node_id}:{next(self._request_ids)}"
        message = orjson.dumps(
            {
                "t": "call",
                "id": request_id,
                "from": self.node_id,
                "cp": identity,
                "action": action_name,
                "payload": data,
                "timeout": timeout,
            }
        )
        waiter = self._pending[request_id] = _Waiter()
        try:
            try:
                routed = await client.invoke_script(
                    ROUTE, keys=[self.keys.owner(identity)], args=[self.config.prefix, self.node_id, message]
                )
            except GlideError as exc:
                raise ClusterUnavailableError(identity, str(exc)) from None
            status, node_raw = routed
            node = node_raw.decode() if isinstance(node_raw, bytes) else str(node_raw)
            if status == _NOT_SUBSCRIBED:
                raise ClusterUnavailableError(identity, "this node is not subscribed to its channel (reconnecting)")
            if status != _SENT:
                log.debug("%s: %s", identity, _ROUTE_FAILURES.get(int(status), status))
                raise NotConnectedError(identity)
            await self._wait(waiter, identity, action_name, node, timeout + self.config.reply_grace)
        finally:
            self._pending.pop(request_id, None)
        reply = waiter.reply
        assert reply is not None
        error = reply.get("err")
        if error is not None:
            raise error_from_wire(error, identity)
        result = reply.get("ok")
        if typed_version is not None:
            cls = response_class(str(reply.get("v", typed_version)), action_name) or response_class(
                typed_version, action_name
            )
            if cls is not None:
                return cls.from_wire(result)
        return result

    async def _wait(self, waiter: _Waiter, identity: str, action: str, node: str, limit: float) -> None:
        """Wait for the reply; give up when the owner node died or at the end-to-end deadline."""
        deadline = trio.current_time() + limit
        check = self.config.liveness_interval
        while True:
            with trio.move_on_at(min(deadline, trio.current_time() + check)):
                await waiter.event.wait()
                return
            if trio.current_time() >= deadline:
                raise CallTimeoutError(f"{action} to {identity!r} on node {node} got no answer in time", action=action)
            owner_alive, listening = await self._liveness(node)
            if not owner_alive:
                raise ConnectionClosedError(
                    f"node {node} holding {identity!r} stopped before {action} was answered (it may have been sent)"
                )
            if not listening:
                raise ConnectionClosedError(
                    f"this node lost its engine subscription while {action} to {identity!r} was pending "
                    "(the answer cannot arrive; the call may have been sent)"
                )

    async def _node_alive(self, node: str) -> bool:
        return (await self._liveness(node))[0]

    async def _liveness(self, node: str) -> tuple[bool, bool]:
        """(owner node alive, this node listening on its channel); (True, True) when unknown."""
        client = self.client
        if client is None:
            return False, False
        try:
            listeners = await client.pubsub_numsub([self.keys.channel(node), self.channel])
            beating = await client.exists([self.keys.node(node)])
        except GlideError:
            return True, True  # unknown: the end-to-end deadline still bounds the wait
        owner = listeners.get(self.keys.channel(node).encode(), 0)
        mine = listeners.get(self.channel.encode(), 0)
        return bool(beating) and owner > 0, mine > 0

    # -- the inbox ----------------------------------------------------------------------------

    def _on_pubsub(self, message: Any, context: object) -> None:
        """glide's subscription callback (runs in its reader task, on the trio thread)."""
        payload = message.message
        if trio.lowlevel.in_trio_run():
            self._inbox_send.send_nowait(payload)
        elif self._token is not None:
            self._token.run_sync_soon(self._inbox_send.send_nowait, payload)

    async def _inbox_loop(self) -> None:
        async with trio.open_nursery() as handlers:
            async for raw in self._inbox_recv:
                try:
                    message = orjson.loads(raw)
                    kind = message.get("t")
                except (orjson.JSONDecodeError, AttributeError):
                    log.warning("node %s: unreadable message on its channel", self.node_id)
                    continue
                if kind == "reply":
                    waiter = self._pending.get(str(message.get("id")))
                    if waiter is not None and waiter.reply is None:
                        waiter.reply = message
                        waiter.event.set()
                elif kind == "call":
                    handlers.start_soon(self._serve_call, message)
                elif kind == "evict":
                    self._on_evict(message)

    def _on_evict(self, message: dict[str, Any]) -> None:
        identity = str(message.get("cp"))
        owned = self._owned.get(identity)
        newer = message.get("gen")
        if owned is None or not isinstance(newer, int):
            return
        if owned.gen is not None and owned.gen < newer:
            self._replaced(owned, f"connected again on node {message.get('by')}")

    async def _serve_call(self, message: dict[str, Any]) -> None:
        identity = str(message.get("cp"))
        reply: dict[str, Any] = {"t": "reply", "id": message.get("id")}
        cp = self.server.charge_points.get(identity)
        if cp is None or cp.closed:
            reply["err"] = error_to_wire(NotConnectedError(identity), identity)
        else:
            try:
                timeout = message.get("timeout")
                result = await cp.call(
                    str(message.get("action")),
                    message.get("payload"),
                    timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
                )
                reply["ok"] = result
                reply["v"] = cp.version
            except Exception as exc:
                if not isinstance(exc, (NotConnectedError, ConnectionClosedError)) and not hasattr(exc, "code"):
                    log.exception("%s: cross-node %s failed", identity, message.get("action"))
                reply["err"] = error_to_wire(exc, identity)
        client = self.client
        if client is None:
            return
        try:
            await client.publish(orjson.dumps(reply), self.keys.channel(str(message.get("from"))))
        except GlideError as exc:
            log.warning("could not answer node %s about %s: %s", message.get("from"), identity, exc)
