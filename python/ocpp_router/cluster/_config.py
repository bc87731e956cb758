"""Cluster settings and the engine connection they describe."""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

    from glide import GlideClient

__all__ = ["ClusterConfig", "EngineAddress", "open_client", "parse_url"]

_NODE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SCHEMES = {"redis": False, "valkey": False, "rediss": True, "valkeys": True}


def _default_node_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40] or "node"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class EngineAddress:
    """Where the Valkey/Redis server is, parsed from ``redis://[user:password@]host:port[/db]``."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    database: int = 0


def parse_url(url: str) -> EngineAddress:
    """Parse ``redis://``, ``rediss://`` (TLS), ``valkey://`` or ``valkeys://`` URLs."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"cluster URL must start with redis://, rediss://, valkey:// or valkeys://: {url!r}")
    if not parts.hostname:
        raise ValueError(f"cluster URL has no host: {url!r}")
    path = parts.path.strip("/")
    try:
        database = int(path) if path else 0
    except ValueError:
        raise ValueError(f"cluster URL path must be a database number: {url!r}") from None
    return EngineAddress(
        host=parts.hostname,
        port=parts.port or 6379,
        tls=_SCHEMES[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
    )


@dataclass(slots=True)
class ClusterConfig:
    """How a node joins the cluster: ``Server(router, cluster=ClusterConfig(url=..., node_id=...))``.

    Times are in seconds. A node's heartbeat key lives ``node_ttl`` seconds and is renewed
    every ``heartbeat_interval``; a charge point's registry entry lives ``registry_ttl``
    seconds and is renewed (in batches) every ``refresh_interval``.
    """

    url: str = "redis://127.0.0.1:6379"
    """The Valkey / Redis OSS 7+ server (standalone, optionally with replicas)."""
    node_id: str = ""
    """Unique per running node (letters, digits, ``.``, ``_``, ``-``); default: host-pid-random."""
    prefix: str = "ocpp:"
    """Prefix of every key and channel; lets several clusters share one engine."""
    node_ttl: float = 5.0
    heartbeat_interval: float = 0.0
    """0 = ``node_ttl / 3``."""
    registry_ttl: float = 30.0
    refresh_interval: float = 0.0
    """0 = ``registry_ttl / 3``."""
    reply_grace: float = 5.0
    """A cross-node call waits for its answer up to its timeout plus this (transit, queueing)."""
    liveness_interval: float = 1.0
    """While a cross-node call waits, the owner node's liveness is checked this often."""
    command_timeout: float = 2.0
    """Time limit of one engine command (glide's ``request_timeout``)."""
    connect_timeout: float = 10.0
    """How long a starting node keeps trying to reach the engine before giving up."""
    shared_storage: bool = True
    """Use ``ValkeyStorage`` as ``server.storage`` (unless the app passed its own storage)."""
    events: bool = False
    """Publish every incoming charge-point message to the event stream."""
    events_stream: str = "events"
    """Stream key (below ``prefix``)."""
    events_maxlen: int = 100_000
    """Approximate cap of the stream (``XADD MAXLEN ~``)."""
    events_buffer: int = 10_000
    """Events a node buffers while the engine is slow or away; beyond it they are dropped."""
    refresh_batch: int = 500
    """Registry entries renewed per script call."""

    def __post_init__(self) -> None:
        parse_url(self.url)  # fail early on a bad URL
        if not self.node_id:
            self.node_id = _default_node_id()
        if not _NODE_ID.match(self.node_id):
            raise ValueError(f"node_id must match {_NODE_ID.pattern}: {self.node_id!r}")
        if self.node_ttl <= 0 or self.registry_ttl <= 0:
            raise ValueError("node_ttl and registry_ttl must be positive")
        if self.heartbeat_interval <= 0:
            self.heartbeat_interval = self.node_ttl / 3
        if self.refresh_interval <= 0:
            self.refresh_interval = self.registry_ttl / 3
        if self.heartbeat_interval >= self.node_ttl or self.refresh_interval >= self.registry_ttl:
            raise ValueError("renew keys more often than they expire (interval < ttl)")

    @property
    def address(self) -> EngineAddress:
        return parse_url(self.url)

    @property
    def safe_url(self) -> str:
        """The URL without credentials (for logs)."""
        a = self.address
        scheme = "rediss" if a.tls else "redis"
        return f"{scheme}://{a.host}:{a.port}" + (f"/{a.database}" if a.database else "")


async def open_client(
    url: str,
    *,
    command_timeout: float = 2.0,
    connect_timeout: float = 2.0,
    client_name: str | None = None,
    channels: set[str] | None = None,
    on_message: Callable[[Any, Any], None] | None = None,
) -> GlideClient:
    """A glide client for ``url`` (``channels`` + ``on_message(msg, context)``: a subscriber).

    glide reconnects by itself after the engine restarts and re-subscribes its channels.
    """
    from glide import (
        AdvancedGlideClientConfiguration,
        BackoffStrategy,
        GlideClient,
        GlideClientConfiguration,
        NodeAddress,
        ServerCredentials,
    )

    address = parse_url(url)
    credentials = None
    if address.password is not None or address.username is not None:
        credentials = ServerCredentials(password=address.password, username=address.username)
    subscriptions = None
    if channels:
        modes = GlideClientConfiguration.PubSubChannelModes
        subscriptions = GlideClientConfiguration.PubSubSubscriptions(
            channels_and_patterns={modes.Exact: set(channels)},
            callback=on_message,
            context=None,
        )
    config = GlideClientConfiguration(
        [NodeAddress(address.host, address.port)],
        use_tls=address.tls,
        credentials=credentials,
        request_timeout=max(1, int(command_timeout * 1000)),
        # Reconnect quickly (50, 100, 200, 400 ms, then every 400 ms) after an engine restart.
        reconnect_strategy=BackoffStrategy(num_of_retries=4, factor=50, exponent_base=2),
        database_id=address.database or None,
        client_name=client_name,
        pubsub_subscriptions=subscriptions,
        advanced_config=AdvancedGlideClientConfiguration(
            connection_timeout=max(1, int(connect_timeout * 1000)),
            pubsub_reconciliation_interval=500,
        ),
        lib_name="ocpp-router",
    )
    return await GlideClient.create(config)
