"""A cluster node for the tests: ``Server(cluster=...)`` plus a local control port.

    python tests/cluster/node_app.py --cluster-url redis://127.0.0.1:PORT --node-id n1 [--events]

Prints ``READY node=<id> ws=<port> control=<port>`` once it listens. The control port takes
one JSON request per line and answers one JSON line, so the test process can make this node
issue calls (``{"op": "call", "identity": ..., "action": ..., "payload": ..., "timeout": ...}``)
the way an application on the node would: through ``server.call``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from typing import Any

import orjson
import trio
from ocpp_router import Server, default_router
from ocpp_router.cluster import ClusterConfig
from ocpp_router.errors import CallError, NotConnectedError, OcppError

# Short times so that the tests see expiry within seconds.
TIMES = {
    "node_ttl": 1.5,
    "heartbeat_interval": 0.4,
    "registry_ttl": 4.0,
    "refresh_interval": 1.0,
    "liveness_interval": 0.5,
    "reply_grace": 2.0,
    "command_timeout": 1.0,
    "connect_timeout": 10.0,
}


def error_data(exc: BaseException) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, OcppError):
        data.update(code=exc.code, description=exc.description, details=exc.details)
    if isinstance(exc, CallError):
        data["action"] = exc.action
    if isinstance(exc, NotConnectedError):
        data["identity"] = exc.identity
    return data


async def control(server: Server, stream: trio.SocketStream) -> None:
    buffer = b""
    async with stream:
        async for chunk in stream:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = orjson.loads(line)
                try:
                    answer = {"ok": await handle(server, request)}
                except Exception as exc:
                    answer = {"error": error_data(exc)}
                await stream.send_all(orjson.dumps(answer) + b"\n")


async def handle(server: Server, request: dict[str, Any]) -> Any:
    op = request["op"]
    cluster = server.cluster
    assert cluster is not None
    if op == "call":
        return await server.call(
            request["identity"], request["action"], request.get("payload"), timeout=request.get("timeout")
        )
    if op == "local":
        return sorted(server.charge_points)
    if op == "locate":
        return await cluster.locate(request["identity"])
    if op == "next_id":
        return await server.storage.next_id(request["counter"])
    if op == "storage_set":
        await server.storage.set(request["namespace"], request["identity"], request["key"], request["value"])
        return None
    if op == "storage_get":
        return await server.storage.get(request["namespace"], request["identity"], request["key"])
    if op == "events":
        return {"published": cluster.events.published if cluster.events else 0}
    raise ValueError(f"unknown op {op!r}")


async def main(args: argparse.Namespace) -> None:
    config = ClusterConfig(url=args.cluster_url, node_id=args.node_id, events=args.events, **TIMES)
    server = Server(default_router(), cluster=config, versions=["1.6", "2.0.1"])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, "127.0.0.1", 0)
        serve_control = partial(trio.serve_tcp, partial(control, server), 0, host="127.0.0.1")
        listeners = await nursery.start(serve_control)
        port = listeners[0].socket.getsockname()[1]
        print(f"READY node={args.node_id} ws={server.port} control={port}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cluster-url", required=True)
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--events", action="store_true")
    parsed = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    trio.run(main, parsed)
