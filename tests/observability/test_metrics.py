"""Prometheus metrics: counts after a simulated run, outcomes, violations, queue depths."""

from typing import Any

import pytest
import trio
from ocpp_router import (
    ChargePoint,
    ConnectError,
    PasswordStore,
    Router,
    Server,
    SessionOptions,
    connect,
    default_router,
)
from ocpp_router._transport import Handshake
from ocpp_router.errors import CallError, CallTimeoutError
from ocpp_router.observability import Metrics
from ocpp_router.simulator import Simulation, SimulationConfig
from ocpp_router.testing import connect as memory_connect
from ocpp_router.testing import memory_transport_pair
from prometheus_client.parser import text_string_to_metric_families


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``render()``'s text, keyed by (name, labels)."""
    parsed: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            parsed[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return parsed


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((f"ocpp_router_{name}", frozenset(labels.items())), 0.0)


async def test_counts_after_a_simulated_run() -> None:
    server = Server(default_router())
    metrics = Metrics(server)
    assert metrics.content_type.startswith("text/plain")
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            config = SimulationConfig(
                f"ws://127.0.0.1:{server.port}/ocpp",
                count=20,
                version="mixed",
                duration=3,
                meter_interval=0.5,
                transaction_duration=1.0,
                idle_time=0.3,
            )
            sim = await nursery.start(Simulation(config).run)
            await sim.wait_booted()
            assert value(metrics, "connected_charge_points", version="1.6") == 10
            assert value(metrics, "connected_charge_points", version="2.0.1") == 10
            reply = await server.call("SIM-00001", "GetConfiguration", {"key": ["HeartbeatInterval"]})
            assert reply["configurationKey"][0]["key"] == "HeartbeatInterval"
            await server.call("SIM-00002", "ClearCache", {})
            while sim.stats.finished_at is None:
                await trio.sleep(0.05)
            await server.aclose(grace_period=1)
            nursery.cancel_scope.cancel()
    stats = sim.stats
    assert stats.error_count == 0, stats.summary_table()

    def messages(action: str, direction: str = "in", outcome: str = "result") -> float:
        return value(metrics, "messages_total", action=action, direction=direction, outcome=outcome)

    assert messages("BootNotification") == 20
    assert messages("Heartbeat") == 20
    assert messages("StatusNotification") == stats.calls["StatusNotification"].sent
    assert messages("StartTransaction") == stats.calls["StartTransaction"].sent > 0
    assert messages("TransactionEvent") == stats.calls["TransactionEvent"].sent > 0
    assert messages("GetConfiguration", "out") == 1
    assert messages("ClearCache", "out") == 1
    assert value(metrics, "frames_total", direction="in", type="call") == stats.frames_out - 2  # minus 2 results
    assert value(metrics, "frames_total", direction="out", type="result") == stats.frames_out - 2
    assert value(metrics, "frames_total", direction="out", type="call") == 2
    assert value(metrics, "connections_total", version="1.6") == 10
    assert value(metrics, "disconnections_total", version="2.0.1", code="1000") == 10
    assert value(metrics, "connected_charge_points", version="1.6") == 0
    assert value(metrics, "call_duration_seconds_count", action="GetConfiguration") == 1
    assert value(metrics, "call_duration_seconds_bucket", action="GetConfiguration", le="+Inf") == 1
    assert 0 < value(metrics, "call_duration_seconds_sum", action="GetConfiguration") < 5


async def test_call_outcomes_timeouts_and_queue_depth(autojump_clock: Any) -> None:
    release = trio.Event()
    station = Router()

    @station.on("Reset")
    async def reset(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    server = Server(default_router())
    metrics = Metrics(server)
    async with memory_connect(server, "CP1", "1.6", router=station):
        with trio.fail_after(300):
            # Not handled by the station: NotSupported; never answered: timeout.
            with pytest.raises(CallError) as refused:
                await server.call("CP1", "ClearCache", {})
            assert refused.value.code == "NotSupported"
            with pytest.raises(CallTimeoutError):
                await server.call("CP1", "Reset", {"type": "Soft"}, timeout=5)
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(server.call, "CP1", "Reset", {"type": "Hard"})
                await trio.sleep(1)
                assert value(metrics, "outgoing_calls", state="pending") == 1
                assert value(metrics, "outgoing_calls", state="queued") == 2
                assert value(metrics, "max_outgoing_queue") == 3
                release.set()
    assert value(metrics, "messages_total", action="ClearCache", direction="out", outcome="NotSupported") == 1
    assert value(metrics, "messages_total", action="Reset", direction="out", outcome="timeout") == 1
    assert value(metrics, "messages_total", action="Reset", direction="out", outcome="result") == 3
    assert value(metrics, "call_duration_seconds_count", action="Reset") == 4
    assert value(metrics, "outgoing_calls", state="queued") == 0


async def test_bad_frames_unknown_actions_and_lenient_validation() -> None:
    server = Server(default_router(), options=SessionOptions(incoming_validation="lenient"))
    metrics = Metrics(server)
    client, server_end = memory_transport_pair("ocpp2.0.1")
    handshake = Handshake(path="/ocpp/RAW", headers=(), subprotocols=("ocpp2.0.1",))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.attach, "RAW", "2.0.1", server_end, handshake)
            frames = [
                '[2,"1","NoSuchAction",{}]',  # NotImplemented: counted as action "unknown"
                '[2,"2","Heartbeat",{"unexpected":1}]',  # lenient: answered, and counted as a violation
                "not json at all",  # a protocol violation, unparsable
                '[2,"4","AnotherMadeUpName",{}]',
            ]
            answers = []
            for frame in frames:
                await client.send(frame)
                answers.append(await client.receive())
            await client.close()
    assert [a[:3] for a in answers] == ["[4,", "[3,", "[4,", "[4,"]
    assert value(metrics, "messages_total", action="unknown", direction="in", outcome="NotImplemented") == 2
    assert value(metrics, "messages_total", action="Heartbeat", direction="in", outcome="result") == 1
    violation = frozenset({("action", "Heartbeat"), ("mode", "lenient"), ("code", "FormatViolation")})
    assert samples(metrics)[("ocpp_router_validation_violations_total", violation)] == 1
    assert value(metrics, "frames_total", direction="in", type="unparsable") == 1
    assert value(metrics, "protocol_violations_total", code="NotImplemented") == 2
    assert value(metrics, "protocol_violations_total", code="RpcFrameworkError") == 1
    assert value(metrics, "security_events_total", kind="malformed_frame") == 3
    assert value(metrics, "frame_bytes_total", direction="in") == sum(map(len, frames))
    # No label carries the made-up action names.
    assert "NoSuchAction" not in metrics.render().decode()


async def test_security_events_by_kind() -> None:
    store = PasswordStore()
    store.set("CP-AUTH", "a-16-to-40-char-secret")
    server = Server(default_router(), authenticate=store)
    metrics = Metrics(server)
    metrics.attach(server)  # attaching twice changes nothing
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            url = f"ws://127.0.0.1:{server.port}/ocpp"
            for password in ("wrong-password-0000", None):
                with pytest.raises(ConnectError) as refused:
                    async with connect(url, "CP-AUTH", versions=["1.6"], password=password):
                        pass
                assert refused.value.status_code == 401
            async with connect(url, "CP-AUTH", versions=["1.6"], password="a-16-to-40-char-secret") as cp:
                await cp.call("Heartbeat", {})
            nursery.cancel_scope.cancel()
    assert value(metrics, "security_events_total", kind="auth_failed") == 2
    assert value(metrics, "messages_total", action="Heartbeat", direction="in", outcome="result") == 1
    assert value(metrics, "connections_total", version="1.6") == 1


def test_metrics_of_two_servers_are_separate() -> None:
    a, b = Metrics(Server(default_router())), Metrics(Server(default_router()))
    a.observe_call("Reset", 0.1, "result")
    assert value(a, "call_duration_seconds_count", action="Reset") == 1
    assert value(b, "call_duration_seconds_count", action="Reset") == 0
    a.observe_call("Reset", 0.1, "SomethingOdd")  # a peer's invented error code is bounded
    assert value(a, "messages_total", action="Reset", direction="out", outcome="other") == 1
