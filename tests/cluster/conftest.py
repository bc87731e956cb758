"""Fixtures for the cluster tests: a real Valkey/Redis server and node processes.

Every process started here is killed in a ``finally``; every wait is bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))
from _engine import Engine, find_engine_binary
from _harness import HERE, Node, NodeFactory, ready_within


@pytest.fixture(scope="session")
def engine_binary() -> str:
    binary, why = find_engine_binary()
    if binary is None:
        pytest.skip(why)
    return binary


@pytest.fixture
def engine(engine_binary: str) -> Iterator[Engine]:
    server = Engine(engine_binary)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
async def start_nodes(engine: Engine, tmp_path: Path) -> AsyncIterator[NodeFactory]:
    """``await start_nodes("n1", "n2", events=True)``: node processes joined to ``engine``."""
    nodes: list[Node] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    async def start(*names: str, events: bool = False) -> list[Node]:
        started: list[Node] = []
        async with trio.open_nursery() as nursery:
            for name in names:
                log_path = tmp_path / f"{name}.log"
                command = [sys.executable, str(HERE / "node_app.py"), "--cluster-url", engine.url, "--node-id", name]
                if events:
                    command.append("--events")
                with log_path.open("wb") as log_file:
                    process = await trio.lowlevel.open_process(
                        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file, env=env
                    )
                node = Node(name, process, log_path)
                nodes.append(node)
                started.append(node)
                assert process.stdout is not None
                nursery.start_soon(ready_within, node, process.stdout)
        return started

    try:
        yield start
    finally:
        with trio.CancelScope(shield=True):
            for node in nodes:
                node.kill()
            for node in nodes:
                with trio.move_on_after(5):
                    await node.process.wait()
