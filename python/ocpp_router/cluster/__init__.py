"""Cluster mode: many nodes behind a load balancer, sharing a Valkey / Redis OSS 7+ server.

A charge point's socket lives on one node; ``server.call(identity, ...)`` works on every
node (the request travels over the engine to the node holding the socket and the answer
comes back), other services read the charge-point event stream, and plugins share state::

    from ocpp_router import Server
    from ocpp_router.cluster import ClusterConfig

    server = Server(router, cluster=ClusterConfig(url="redis://valkey:6379", node_id="n1"))

Needs the ``cluster`` extra (``pip install "ocpp-router[cluster]"``: the ``valkey-glide``
client). See ``docs/cluster.md`` for the design and the delivery guarantees.
"""

from __future__ import annotations

from ._config import ClusterConfig as ClusterConfig
from ._config import open_client as open_client
from ._events import ClusterEvent as ClusterEvent
from ._events import EventConsumer as EventConsumer
from ._node import Cluster as Cluster
from ._storage import ValkeyStorage as ValkeyStorage
from ._wire import ClusterUnavailableError as ClusterUnavailableError

__all__ = [
    "Cluster",
    "ClusterConfig",
    "ClusterEvent",
    "ClusterUnavailableError",
    "EventConsumer",
    "ValkeyStorage",
    "open_client",
]
