"""Three node processes on one Valkey/Redis server, charge points spread over them.

Calls issued on every node reach charge points on every other node; a killed node's charge
points fail fast and come back on other nodes; an engine restart heals without restarting
nodes; the event stream gives every event exactly once after deduplication.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import orjson
import pytest
import trio

pytest.importorskip("glide", reason="cluster mode needs valkey-glide (the `cluster` extra)")

from _harness import ROOT, Balancer, Node, NodeFactory, SimulatedChargePoint, in_test_node
from ocpp_router import Hooks, Router, connect, v16
from ocpp_router.cluster import ClusterUnavailableError, EventConsumer
from ocpp_router.errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    NotConnectedError,
)
from ocpp_router.observability.metrics import Metrics


def spread(balancer: Balancer, count: int) -> list[SimulatedChargePoint]:
    names = sorted(balancer.nodes)
    return [SimulatedChargePoint(f"CP{i}", balancer, preferred=names[i % len(names)]) for i in range(count)]


async def connect_all(cps: list[SimulatedChargePoint], nursery: trio.Nursery) -> dict[str, str]:
    """Start the charge points; return where each is, once the registry says so too."""
    for cp in cps:
        nursery.start_soon(cp.run)
    placement = {cp.identity: await cp.wait_connected() for cp in cps}
    for identity, node in placement.items():
        await registered(cps[0].balancer.nodes[node], identity, node)
    return placement


async def registered(node: Node, identity: str, expected: str) -> None:
    """The client sees its socket open slightly before the node has registered it."""
    with trio.fail_after(5):
        while (await node.request("locate", identity=identity)).get("ok") != expected:
            await trio.sleep(0.02)


def ok(answer: dict[str, Any]) -> Any:
    assert "ok" in answer, answer
    return answer["ok"]


async def stop_all(cps: list[SimulatedChargePoint], nodes: list[Node]) -> None:
    """End of a test: kill the nodes, so the charge points see their sockets drop at once.

    (Closing many ``connect`` sessions from one process towards a server in another waits
    out the 5 s close timeout for all but one of them, with or without cluster mode.)
    """
    for cp in cps:
        cp.stopped = True
    for node in nodes:
        node.kill()
    with trio.fail_after(5):
        while any(cp.session is not None for cp in cps):
            await trio.sleep(0.02)


async def every_node_calls_every_cp(nodes: list[Node], identities: list[str]) -> dict[tuple[str, str], Any]:
    answers: dict[tuple[str, str], Any] = {}

    async def one(node: Node, identity: str) -> None:
        answers[node.name, identity] = await node.call(identity, "DataTransfer", {"vendorId": "x"})

    async with trio.open_nursery() as calls:
        for node in nodes:
            for identity in identities:
                calls.start_soon(one, node, identity)
    return answers


async def test_calls_reach_charge_points_on_every_other_node(engine: Any, start_nodes: NodeFactory) -> None:
    with trio.fail_after(40):
        nodes = await start_nodes("n1", "n2", "n3")
        balancer = Balancer(nodes)
        cps = spread(balancer, 6)
        async with trio.open_nursery() as nursery:
            placement = await connect_all(cps, nursery)
            assert sorted(set(placement.values())) == ["n1", "n2", "n3"]
            on = {node: sorted(i for i, n in placement.items() if n == node) for node in ("n1", "n2", "n3")}

            # Every node calls every charge point (most of them cross-node), concurrently.
            answers = await every_node_calls_every_cp(nodes, list(placement))
            assert len(answers) == 18
            for (_, identity), answer in answers.items():
                assert answer == {"ok": {"status": "Accepted", "data": identity}}

            n1, n2, n3 = nodes
            # A CALLERROR comes back as CallError with code, description and details.
            answer = await n1.call(on["n2"][0], "DataTransfer", {"vendorId": "fail"})
            assert answer["error"]["type"] == "CallError"
            assert answer["error"]["code"] == "PropertyConstraintViolation"
            assert answer["error"]["description"] == "refused by test"
            assert answer["error"]["details"] == {"identity": on["n2"][0]}
            assert answer["error"]["action"] == "DataTransfer"
            # An invalid payload is refused by the owning node's core: LocalProtocolError.
            answer = await n2.call(on["n3"][0], "Reset", {"type": "Bogus"})
            assert answer["error"]["type"] == "LocalProtocolError"
            # The charge point's answer is late: CallTimeoutError, after the call's own timeout.
            start = trio.current_time()
            answer = await n3.call(on["n1"][0], "DataTransfer", {"vendorId": "slow", "data": "3"}, timeout=0.5)
            assert answer["error"]["type"] == "CallTimeoutError"
            assert trio.current_time() - start < 2.0
            # Nobody holds this identity.
            answer = await n1.call("NOBODY", "Reset", {"type": "Soft"})
            assert answer["error"] == {
                "type": "NotConnectedError",
                "message": "charge point 'NOBODY' is not connected",
                "code": "GenericError",
                "description": "charge point 'NOBODY' is not connected",
                "details": {},
                "identity": "NOBODY",
            }

            # A 4th node in this process, without sockets: typed requests and exceptions.
            async with in_test_node(engine) as t0:
                target = on["n2"][1]
                typed = await t0.call(target, v16.DataTransferRequest(vendor_id="x"))
                assert isinstance(typed, v16.DataTransferResponse)
                assert typed.data == target
                with pytest.raises(CallError) as failed:
                    await t0.call(target, "DataTransfer", {"vendorId": "fail"})
                assert (failed.value.code, failed.value.details) == (
                    "PropertyConstraintViolation",
                    {"identity": target},
                )
                with pytest.raises(CallTimeoutError):
                    await t0.call(target, "DataTransfer", {"vendorId": "slow", "data": "2"}, timeout=0.3)
                with pytest.raises(LocalProtocolError):
                    await t0.call(target, "Reset", {"type": "Bogus"})
                with pytest.raises(NotConnectedError):
                    await t0.call("NOBODY", "Reset", {"type": "Soft"})
                # One outstanding call per connection: concurrent calls from everywhere queue up.
                results: list[Any] = []

                async def queued(index: int) -> None:
                    payload = {"vendorId": "slow", "data": "0.05"}
                    if index % 2:
                        results.append(ok(await n1.call(target, "DataTransfer", payload)))
                    else:
                        results.append(await t0.call(target, "DataTransfer", payload))

                async with trio.open_nursery() as calls:
                    for index in range(8):
                        calls.start_soon(queued, index)
                assert results == [{"status": "Accepted", "data": target}] * 8

                # Shared storage: transaction ids are unique across nodes.
                ids = [await t0.storage.next_id("transaction") for _ in range(3)]
                for node in nodes:
                    ids += [ok(await node.request("next_id", counter="transaction")) for _ in range(3)]
                assert sorted(ids) == list(range(1, 13))
                await n1.request("storage_set", namespace="p", identity=target, key="k", value={"a": [1]})
                assert await t0.storage.get("p", target, "k") == {"a": [1]}
                assert ok(await n3.request("storage_get", namespace="p", identity=target, key="k")) == {"a": [1]}
            await stop_all(cps, nodes)


async def test_duplicate_identity_newest_connection_wins(engine: Any, start_nodes: NodeFactory) -> None:
    with trio.fail_after(25):
        n1, n2, n3 = await start_nodes("n1", "n2", "n3")

        def answering(tag: str) -> Router:
            router = Router()

            @router.on("DataTransfer")
            async def data_transfer(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
                return {"status": "Accepted", "data": tag}

            return router

        async with connect(n1.url, "DUP", answering("first"), versions=["1.6"]) as first:
            await registered(n3, "DUP", "n1")
            assert ok(await n3.call("DUP", "DataTransfer", {"vendorId": "x"}))["data"] == "first"
            async with connect(n2.url, "DUP", answering("second"), versions=["1.6"]) as second:
                with trio.fail_after(5):
                    await first.wait_closed()  # n1 learned over its channel that it was replaced
                assert first.close_code == 4000
                await registered(n3, "DUP", "n2")
                for node in (n1, n2, n3):
                    assert ok(await node.call("DUP", "DataTransfer", {"vendorId": "x"}))["data"] == "second"
                assert ok(await n3.request("locate", identity="DUP")) == "n2"
                assert not second.closed


async def test_killed_node_fails_fast_and_its_charge_points_come_back(engine: Any, start_nodes: NodeFactory) -> None:
    with trio.fail_after(40):
        nodes = await start_nodes("n1", "n2", "n3")
        n1, n2, n3 = nodes
        balancer = Balancer(nodes)
        cps = spread(balancer, 6)
        async with trio.open_nursery() as nursery, in_test_node(engine) as t0:
            placement = await connect_all(cps, nursery)
            victims = sorted(identity for identity, node in placement.items() if node == "n2")
            assert victims

            # A call in flight when the node dies fails once its death is seen (liveness check).
            outcome: dict[str, BaseException] = {}

            async def in_flight() -> None:
                try:
                    await t0.call(victims[0], "DataTransfer", {"vendorId": "slow", "data": "20"}, timeout=30)
                except Exception as exc:
                    outcome["error"] = exc

            nursery.start_soon(in_flight)
            await trio.sleep(0.3)
            balancer.hold()
            balancer.down.add("n2")
            killed_at = trio.current_time()
            n2.kill(signal.SIGKILL)
            with trio.fail_after(3):
                while "error" not in outcome:
                    await trio.sleep(0.05)
            assert isinstance(outcome["error"], ConnectionClosedError)

            # New calls to its charge points fail fast with NotConnectedError, from every node.
            for identity in victims:
                start = trio.current_time()
                with pytest.raises(NotConnectedError):
                    await t0.call(identity, "Reset", {"type": "Soft"})
                answer = await n1.call(identity, "Reset", {"type": "Soft"})
                assert answer["error"]["type"] == "NotConnectedError"
                assert trio.current_time() - start < 1.0
            assert trio.current_time() - killed_at < 4.0

            # The load balancer sends them to the surviving nodes: reachable again at once.
            balancer.release()
            released = trio.current_time()
            for cp in cps:
                if cp.identity in victims:
                    assert await cp.wait_connected() in ("n1", "n3")
            with trio.fail_after(4.0):  # the registry TTL
                while True:
                    answers = await every_node_calls_every_cp([n1, n3], victims)
                    if all("ok" in answer for answer in answers.values()):
                        break
                    await trio.sleep(0.1)
            assert trio.current_time() - released < 4.0
            for identity in victims:
                assert (await t0.call(identity, "DataTransfer", {"vendorId": "x"}))["data"] == identity
            await stop_all(cps, nodes)


async def test_paused_node_is_treated_as_dead(engine: Any, start_nodes: NodeFactory) -> None:
    """A node that stops answering (SIGSTOP) keeps its subscription: its heartbeat expiry decides."""
    with trio.fail_after(25):
        nodes = await start_nodes("n1", "n2")
        n2 = nodes[1]
        balancer = Balancer(nodes)
        cp = SimulatedChargePoint("PAUSED", balancer, preferred="n2")
        async with trio.open_nursery() as nursery, in_test_node(engine) as t0:
            await connect_all([cp], nursery)
            n2.kill(signal.SIGSTOP)
            try:
                start = trio.current_time()
                with pytest.raises((NotConnectedError, ConnectionClosedError)):
                    await t0.call("PAUSED", "Reset", {"type": "Soft"}, timeout=20)
                assert trio.current_time() - start < 3.0  # node_ttl 1.5 s + liveness checks
                with pytest.raises(NotConnectedError):
                    await t0.call("PAUSED", "Reset", {"type": "Soft"}, timeout=20)
            finally:
                n2.kill(signal.SIGCONT)
            with trio.fail_after(5):  # it beats again: reachable without any reconnection
                while True:
                    try:
                        assert await t0.call("PAUSED", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
                        break
                    except NotConnectedError:
                        await trio.sleep(0.2)
            assert cp.connections == 1
            await stop_all([cp], nodes)


async def test_engine_restart_heals_without_restarting_nodes(engine: Any, start_nodes: NodeFactory) -> None:
    with trio.fail_after(45):
        nodes = await start_nodes("n1", "n2", "n3")
        n1 = nodes[0]
        balancer = Balancer(nodes)
        cps = spread(balancer, 6)
        async with trio.open_nursery() as nursery:
            placement = await connect_all(cps, nursery)
            answers = await every_node_calls_every_cp(nodes, list(placement))
            assert all("ok" in answer for answer in answers.values())

            engine.stop(signal.SIGKILL)
            # While the engine is away no call hangs: cross-node calls fail within the command
            # timeout; a node still reaches its own sockets.
            local = next(i for i, n in placement.items() if n == "n1")
            remote = next(i for i, n in placement.items() if n == "n2")
            start = trio.current_time()
            answer = await n1.call(remote, "Reset", {"type": "Soft"})
            assert answer["error"]["type"] in ("ClusterUnavailableError", "NotConnectedError")
            assert trio.current_time() - start < 3.0
            assert ok(await n1.call(local, "Reset", {"type": "Soft"})) == {"status": "Accepted"}

            engine.start()  # empty: no registry, no heartbeats, no subscriptions
            restarted = trio.current_time()
            with trio.fail_after(10):
                while True:
                    answers = await every_node_calls_every_cp(nodes, list(placement))
                    if all("ok" in answer for answer in answers.values()):
                        break
                    await trio.sleep(0.2)
            healed = trio.current_time() - restarted
            for identity, node in placement.items():
                assert ok(await n1.request("locate", identity=identity)) == node
            assert all(cp.connections == 1 for cp in cps)  # no charge point had to reconnect
            print(f"cluster healed {healed:.1f} s after the engine restart")
            await stop_all(cps, nodes)


async def test_event_stream_exactly_once_after_dedup(engine: Any, start_nodes: NodeFactory) -> None:
    with trio.fail_after(30):
        nodes = await start_nodes("n1", "n2", events=True)
        sent: set[tuple[str, str]] = set()

        def recorder() -> Hooks:
            async def on_message(cp: Any, direction: str, text: str) -> None:
                frame = orjson.loads(text)
                if direction == "out" and frame[0] == 2:
                    sent.add((cp.id, frame[1]))

            return Hooks(on_message=on_message)

        async def charge_point(identity: str, node: Node) -> None:
            async with connect(node.url, identity, versions=["1.6"], hooks=recorder()) as cp:
                await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
                await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
                started = await cp.call(
                    "StartTransaction",
                    {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2025-01-01T00:00:00Z"},
                )
                for value in range(3):
                    await cp.call(
                        "MeterValues",
                        {
                            "connectorId": 1,
                            "transactionId": started["transactionId"],
                            "meterValue": [
                                {"timestamp": "2025-01-01T00:01:00Z", "sampledValue": [{"value": str(value)}]}
                            ],
                        },
                    )
                await cp.call(
                    "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": "2025-01-01T00:00:00Z"}
                )

        async with trio.open_nursery() as cps:
            for index in range(6):
                cps.start_soon(charge_point, f"EV{index}", nodes[index % 2])
        assert len(sent) == 6 * 7

        processed: list[str] = []  # event keys, in processing order, over both consumers
        redelivered = 0
        # Consumer A processes (marks) half of what it reads, then dies without acknowledging.
        async with EventConsumer(engine.url, group="billing", consumer="a", block=0.2) as a:
            batch = await a.read()
            assert batch
            for event in batch[: len(batch) // 2]:
                assert await a.deduplicate(event)
                processed.append(event.key)
        # Consumer B claims A's pending entries (idle > claim_idle) and reads the rest.
        async with EventConsumer(engine.url, group="billing", consumer="b", block=0.2, claim_idle=0.3) as b:
            await trio.sleep(0.4)
            calls_seen: set[tuple[str, str]] = set()
            with trio.fail_after(10):
                while calls_seen != sent:
                    for event in await b.read():
                        if await b.deduplicate(event):
                            processed.append(event.key)
                        else:
                            redelivered += 1
                        if event.kind == "call":
                            calls_seen.add((event.identity, event.message_id))
                            assert event.node in ("n1", "n2")
                            assert event.version == "1.6"
                            assert isinstance(event.payload, dict)
                        await b.ack(event)
        assert redelivered >= 1  # at least once: A's unacknowledged events came again
        assert len(processed) == len(set(processed))  # exactly once after dedup
        call_keys = {key for key in processed if not key.endswith(("/connected", "/disconnected"))}
        assert len(call_keys) == len(sent)
        assert sum(key.endswith("/connected") for key in processed) == 6


async def test_cli_joins_the_cluster(engine: Any) -> None:
    """``ocpp-router serve --cluster-url ... --node-id ...``: the real command line."""
    command = [sys.executable, "-m", "ocpp_router", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--cluster-url", engine.url, "--node-id", "cli1"]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        with trio.fail_after(25):
            assert process.stdout is not None
            output = b""
            while b"joined the cluster" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, output
                output += chunk
            port = int(output.split(b"ws://127.0.0.1:")[1].split(b"/")[0])
            router = Router()

            @router.on("Reset")
            async def reset(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
                return {"status": "Accepted"}

            async with (
                in_test_node(engine) as t0,
                connect(f"ws://127.0.0.1:{port}/ocpp", "CLI-CP", router, versions=["1.6"]) as cp,
            ):
                await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
                assert cluster_of(t0) is not None
                assert await cluster_of(t0).locate("CLI-CP") == "cli1"
                assert "cli1" in await cluster_of(t0).nodes()
                metrics = Metrics(t0)  # cross-node call latencies are measured on the calling node
                assert await t0.call("CLI-CP", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
                process.send_signal(signal.SIGTERM)  # graceful: the node leaves the registry
                await process.wait()
                assert await cluster_of(t0).locate("CLI-CP") is None
                assert "cli1" not in await cluster_of(t0).nodes()
                with pytest.raises(NotConnectedError):
                    await t0.call("CLI-CP", "Reset", {"type": "Hard"})
                text = metrics.render().decode()
                assert 'cluster_call_duration_seconds_count{action="Reset",outcome="result"} 1.0' in text, text
                assert 'cluster_call_duration_seconds_count{action="Reset",outcome="not_connected"} 1.0' in text
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await process.wait()


def cluster_of(server: Any) -> Any:
    return server.cluster


async def test_engine_down_at_call_time_is_a_not_connected_error(engine: Any) -> None:
    async with in_test_node(engine) as t0:
        engine.stop(signal.SIGKILL)
        with trio.fail_after(5), pytest.raises(ClusterUnavailableError) as failed:
            await t0.call("ANY", "Reset", {"type": "Soft"})
        assert isinstance(failed.value, NotConnectedError)
