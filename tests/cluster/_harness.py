"""Helpers for the cluster tests: node processes, an in-test node, charge points behind a
"load balancer". Every wait is bounded by the caller's ``trio.fail_after``.
"""

from __future__ import annotations

import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio
from ocpp_router import ChargePoint, Router, Server, connect
from ocpp_router.errors import PropertyConstraintViolationError

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
READY = re.compile(rb"READY node=(\S+) ws=(\d+) control=(\d+)")

#: The in-test node's times (the node processes use node_app.TIMES).
FAST = {
    "node_ttl": 1.5,
    "heartbeat_interval": 0.4,
    "registry_ttl": 4.0,
    "refresh_interval": 1.0,
    "liveness_interval": 0.5,
    "reply_grace": 2.0,
    "command_timeout": 1.0,
}


# -- node processes ----------------------------------------------------------------------------


class Node:
    """``tests/cluster/node_app.py`` (or the real CLI) in a subprocess."""

    def __init__(self, name: str, process: trio.Process, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.ws_port = 0
        self.control_port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ocpp"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """One control request: ``{"ok": value}`` or ``{"error": {"type": ..., ...}}``."""
        stream = await trio.open_tcp_stream("127.0.0.1", self.control_port)
        async with stream:
            await stream.send_all(orjson.dumps({"op": op, **fields}) + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = await stream.receive_some()
                if not chunk:
                    raise ConnectionError(f"node {self.name} closed the control connection")
                data += chunk
        answer: dict[str, Any] = orjson.loads(data)
        return answer

    async def call(self, identity: str, action: str, payload: Any, timeout: float = 5.0) -> dict[str, Any]:
        return await self.request("call", identity=identity, action=action, payload=payload, timeout=timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.returncode is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass


NodeFactory = Callable[..., Awaitable[list[Node]]]
"""The ``start_nodes`` fixture: ``await start_nodes("n1", "n2", events=True)``."""


async def _read_ready(node: Node, stdout: trio.abc.ReceiveStream) -> None:
    data = b""
    while (match := READY.search(data)) is None:
        chunk = await stdout.receive_some()
        if not chunk:
            raise RuntimeError(f"node {node.name} exited before it was ready:\n{node.log()}")
        data += chunk
    node.ws_port, node.control_port = int(match[2]), int(match[3])


async def ready_within(node: Node, stdout: trio.abc.ReceiveStream) -> None:
    with trio.fail_after(20):
        await _read_ready(node, stdout)


@asynccontextmanager
async def in_test_node(engine: Any, node_id: str = "t0", **options: Any) -> AsyncIterator[Server]:
    """A node in the test process (no charge points of its own): calls from here go cross-node."""
    from ocpp_router.cluster import ClusterConfig

    server = Server(cluster=ClusterConfig(url=engine.url, node_id=node_id, **{**FAST, **options}))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, "127.0.0.1", 0)
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await server.aclose(grace_period=0)
            nursery.cancel_scope.cancel()


# -- charge points behind a "load balancer" ---------------------------------------------------------


def charge_point_router() -> Router:
    """What the simulated charge points answer to the CSMS's calls."""
    router = Router()

    @router.on("Reset")
    async def reset(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    @router.on("DataTransfer")
    async def data_transfer(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        vendor = payload.get("vendorId")
        if vendor == "fail":
            raise PropertyConstraintViolationError("refused by test", {"identity": cp.id})
        if vendor == "slow":
            await trio.sleep(float(payload.get("data", "1")))
        return {"status": "Accepted", "data": cp.id}

    return router


class Balancer:
    """Chooses a node per connection attempt, like a load balancer with health checks."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {node.name: node for node in nodes}
        self.down: set[str] = set()
        self.open = trio.Event()
        self.open.set()

    def alive(self) -> list[Node]:
        return [node for name, node in sorted(self.nodes.items()) if name not in self.down]

    def pick(self, identity: str, preferred: str | None) -> Node:
        alive = self.alive()
        for node in alive:
            if node.name == preferred:
                return node
        return alive[sum(identity.encode()) % len(alive)]

    def hold(self) -> None:
        """Reconnection attempts wait until ``release()``."""
        self.open = trio.Event()

    def release(self) -> None:
        self.open.set()


class SimulatedChargePoint:
    """An OCPP 1.6 charge point (``ocpp_router.connect``) that reconnects through the balancer."""

    def __init__(self, identity: str, balancer: Balancer, preferred: str | None = None) -> None:
        self.identity = identity
        self.balancer = balancer
        self.preferred = preferred
        self.node: str | None = None
        self.session: ChargePoint | None = None
        self.connected = trio.Event()
        self.connections = 0
        self.stopped = False

    async def run(self) -> None:
        router = charge_point_router()
        while not self.stopped:
            await self.balancer.open.wait()
            node = self.balancer.pick(self.identity, self.preferred)
            try:
                async with connect(node.url, self.identity, router, versions=["1.6"], connect_timeout=2) as cp:
                    if self.stopped:
                        return
                    self.session, self.node = cp, node.name
                    self.connections += 1
                    self.connected.set()
                    await cp.wait_closed()
            except Exception:
                pass
            self.session, self.node = None, None
            self.connected = trio.Event()
            self.preferred = None
            await trio.sleep(0.05)

    async def wait_connected(self, timeout: float = 10.0) -> str:
        with trio.fail_after(timeout):
            while self.session is None or self.session.closed:
                await self.connected.wait()
                await trio.sleep(0.01)
        assert self.node is not None
        return self.node
