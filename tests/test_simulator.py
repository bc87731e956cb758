"""``ocpp-router simulate`` and ``ocpp_router.simulator``: simulated fleets against our server.

Everything runs on loopback and is bounded by ``trio.fail_after``; subprocesses are killed
in a ``finally``.
"""

import importlib.util
import re
import signal
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from ocpp_router import (
    ChargePoint,
    Handshake,
    Hooks,
    PasswordStore,
    Server,
    SessionOptions,
    default_router,
    server_ssl_context,
)
from ocpp_router.simulator import LatencyHistogram, Simulation, SimulationConfig, Stats
from test_cli import cli_serve, stop

ROOT = Path(__file__).resolve().parent


class Recorder:
    """The server's view: every CALL a charge point sent, as (identity, action, payload)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._changed = trio.Event()

    async def on_message(self, cp: ChargePoint, direction: str, text: str) -> None:
        if direction == "in":
            frame = orjson.loads(text)
            if frame[0] == 2:
                self.calls.append((cp.id, frame[2], frame[3]))
                self._changed.set()
                self._changed = trio.Event()

    def find(
        self, identity: str, action: str, where: Callable[[dict[str, Any]], bool] = lambda p: True
    ) -> list[dict[str, Any]]:
        return [p for i, a, p in self.calls if i == identity and a == action and where(p)]

    async def wait_for(
        self, identity: str, action: str, where: Callable[[dict[str, Any]], bool] = lambda p: True
    ) -> dict[str, Any]:
        with trio.fail_after(10):
            while not (found := self.find(identity, action, where)):
                await self._changed.wait()
        return found[-1]


def config(url: str, **overrides: Any) -> SimulationConfig:
    settings: dict[str, Any] = {
        "count": 2,
        "version": "mixed",
        "duration": 3,
        "meter_interval": 0.5,
        "transaction_duration": 1.0,
        "idle_time": 0.3,
        "seed": 7,
    }
    settings.update(overrides)
    return SimulationConfig(url, **settings)


async def test_two_hundred_mixed_charge_points() -> None:
    recorder = Recorder()
    server = Server(default_router(), hooks=Hooks(on_message=recorder.on_message))
    with trio.fail_after(50):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            cfg = config(
                f"ws://127.0.0.1:{server.port}/ocpp",
                count=200,
                duration=6,
                meter_interval=1.0,
                transaction_duration=2.0,
                idle_time=1.0,
                connect_rate=400,
            )
            stats = await Simulation(cfg).run()
            await server.aclose(grace_period=1)
            nursery.cancel_scope.cancel()
    assert stats.error_count == 0, stats.summary_table()
    assert stats.ever_connected == stats.connects == 200
    assert stats.connected == 0
    assert stats.frames_out == len(recorder.calls) == stats.frames_in  # one answer per call
    booted = {identity for identity, action, _ in recorder.calls if action == "BootNotification"}
    assert len(booted) == 200
    versions = {"1.6": set(), "2.0.1": set()}
    for identity, action, payload in recorder.calls:
        if action == "StartTransaction":
            versions["1.6"].add(identity)
        elif action == "TransactionEvent" and payload["eventType"] == "Started":
            versions["2.0.1"].add(identity)
    # Every charge point of both versions ran at least one transaction, and stopped it.
    assert len(versions["1.6"]) == len(versions["2.0.1"]) == 100
    assert stats.transactions_started == stats.transactions_stopped
    assert stats.calls["MeterValues"].sent > 0
    assert sum(1 for _, a, p in recorder.calls if a == "TransactionEvent" and p["eventType"] == "Updated") > 0
    table = stats.summary_table()
    assert re.search(r"^total\s+\d+\s+0\s", table, re.MULTILINE), table
    assert "charge points 200" in table


async def test_answers_the_csms_calls() -> None:
    recorder = Recorder()
    server = Server(default_router(), hooks=Hooks(on_message=recorder.on_message))
    with trio.fail_after(50):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            # Only the CSMS starts transactions here, and they last until it stops them.
            cfg = config(
                f"ws://127.0.0.1:{server.port}/ocpp", duration=60, transactions=False, transaction_duration=600
            )
            sim = await nursery.start(Simulation(cfg).run)
            await sim.wait_booted()
            s16, s201 = sim.stations["SIM-00001"], sim.stations["SIM-00002"]
            assert (s16.version, s201.version) == ("1.6", "2.0.1")
            call = server.call

            # -- 1.6 ------------------------------------------------------------------------
            assert await call("SIM-00001", "RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 1}) == {
                "status": "Accepted"
            }
            started = await recorder.wait_for("SIM-00001", "StartTransaction", lambda p: p["idTag"] == "REMOTE1")
            assert started["connectorId"] == 1
            assert not recorder.find("SIM-00001", "Authorize", lambda p: p["idTag"] == "REMOTE1")
            with trio.fail_after(5):
                while s16.connectors[0].transaction is None:
                    await trio.sleep(0.01)
            tx_id = s16.connectors[0].transaction.id
            busy = await call("SIM-00001", "RemoteStartTransaction", {"idTag": "REMOTE2", "connectorId": 1})
            assert busy == {"status": "Rejected"}
            assert await call("SIM-00001", "RemoteStopTransaction", {"transactionId": tx_id}) == {"status": "Accepted"}
            stopped = await recorder.wait_for("SIM-00001", "StopTransaction")
            assert (stopped["transactionId"], stopped["reason"]) == (tx_id, "Remote")
            assert await call("SIM-00001", "RemoteStopTransaction", {"transactionId": 999}) == {"status": "Rejected"}

            assert await call("SIM-00001", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "42"}) == {
                "status": "Accepted"
            }
            config_reply = await call("SIM-00001", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
            assert config_reply["configurationKey"] == [{"key": "HeartbeatInterval", "readonly": False, "value": "42"}]
            assert config_reply["unknownKey"] == ["Nope"]
            assert s16.heartbeat_interval == 42

            before = len(recorder.find("SIM-00001", "StatusNotification"))
            trigger = {"requestedMessage": "StatusNotification", "connectorId": 1}
            assert await call("SIM-00001", "TriggerMessage", trigger) == {"status": "Accepted"}
            with trio.fail_after(5):
                while len(recorder.find("SIM-00001", "StatusNotification")) == before:
                    await trio.sleep(0.01)
            assert await call("SIM-00001", "TriggerMessage", {"requestedMessage": "MeterValues"}) == {
                "status": "Accepted"
            }
            await recorder.wait_for(
                "SIM-00001", "MeterValues", lambda p: p["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
            )

            for message, action in [
                ("Heartbeat", "Heartbeat"),
                ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
                ("FirmwareStatusNotification", "FirmwareStatusNotification"),
                ("BootNotification", "BootNotification"),
            ]:
                count = len(recorder.find("SIM-00001", action))
                assert await call("SIM-00001", "TriggerMessage", {"requestedMessage": message}) == {
                    "status": "Accepted"
                }
                with trio.fail_after(5):
                    while len(recorder.find("SIM-00001", action)) == count:
                        await trio.sleep(0.01)

            change = {"connectorId": 1, "type": "Inoperative"}
            assert await call("SIM-00001", "ChangeAvailability", change) == {"status": "Accepted"}
            await recorder.wait_for("SIM-00001", "StatusNotification", lambda p: p["status"] == "Unavailable")
            refused = await call("SIM-00001", "RemoteStartTransaction", {"idTag": "REMOTE3", "connectorId": 1})
            assert refused == {"status": "Rejected"}
            assert await call("SIM-00001", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}) == {
                "status": "Accepted"
            }
            assert await call("SIM-00001", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
            assert await call("SIM-00001", "ClearCache", {}) == {"status": "Accepted"}
            assert (await call("SIM-00001", "DataTransfer", {"vendorId": "acme"}))["status"] == "Accepted"
            boots = len(recorder.find("SIM-00001", "BootNotification"))
            assert await call("SIM-00001", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
            with trio.fail_after(5):
                while len(recorder.find("SIM-00001", "BootNotification")) == boots:
                    await trio.sleep(0.01)

            # -- 2.0.1 ----------------------------------------------------------------------
            start = {"idToken": {"idToken": "REMOTE201", "type": "Central"}, "remoteStartId": 77, "evseId": 1}
            assert await call("SIM-00002", "RequestStartTransaction", start) == {"status": "Accepted"}
            event = await recorder.wait_for(
                "SIM-00002",
                "TransactionEvent",
                lambda p: p["eventType"] == "Started" and p["triggerReason"] == "RemoteStart",
            )
            assert event["transactionInfo"]["remoteStartId"] == 77
            assert event["evse"] == {"id": 1, "connectorId": 1}
            tx201 = event["transactionInfo"]["transactionId"]
            get = {
                "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]
            }
            set_ = {
                "setVariableData": [
                    {
                        "attributeValue": "55",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            }
            assert (await call("SIM-00002", "SetVariables", set_))["setVariableResult"][0][
                "attributeStatus"
            ] == "Accepted"
            result = (await call("SIM-00002", "GetVariables", get))["getVariableResult"][0]
            assert (result["attributeStatus"], result["attributeValue"]) == ("Accepted", "55")
            unknown = {"getVariableData": [{"component": {"name": "Nope"}, "variable": {"name": "X"}}]}
            assert (await call("SIM-00002", "GetVariables", unknown))["getVariableResult"][0][
                "attributeStatus"
            ] == "UnknownComponent"
            trigger201 = {"requestedMessage": "TransactionEvent", "evse": {"id": 1}}
            assert await call("SIM-00002", "TriggerMessage", trigger201) == {"status": "Accepted"}
            await recorder.wait_for("SIM-00002", "TransactionEvent", lambda p: p["triggerReason"] == "Trigger")
            for message, action in [
                ("MeterValues", "MeterValues"),
                ("Heartbeat", "Heartbeat"),
                ("LogStatusNotification", "LogStatusNotification"),
                ("FirmwareStatusNotification", "FirmwareStatusNotification"),
                ("StatusNotification", "StatusNotification"),
            ]:
                count = len(recorder.find("SIM-00002", action))
                assert await call("SIM-00002", "TriggerMessage", {"requestedMessage": message}) == {
                    "status": "Accepted"
                }
                with trio.fail_after(5):
                    while len(recorder.find("SIM-00002", action)) == count:
                        await trio.sleep(0.01)
            assert await call("SIM-00002", "TriggerMessage", {"requestedMessage": "SignV2GCertificate"}) == {
                "status": "NotImplemented"
            }
            assert await call("SIM-00002", "TriggerMessage", {"requestedMessage": "BootNotification"}) == {
                "status": "Rejected"  # already accepted (F06.FR.17)
            }
            assert await call("SIM-00002", "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
                "status": "OngoingAuthorizedTransaction"
            }
            assert await call("SIM-00002", "RequestStopTransaction", {"transactionId": tx201}) == {"status": "Accepted"}
            ended = await recorder.wait_for("SIM-00002", "TransactionEvent", lambda p: p["eventType"] == "Ended")
            with trio.fail_after(5):  # the station's view: stopped once the CSMS answered
                while s201.connectors[0].transaction is not None:
                    await trio.sleep(0.01)
            assert ended["transactionInfo"]["stoppedReason"] == "Remote"
            assert ended["triggerReason"] == "RemoteStop"
            seq = [
                p["seqNo"]
                for p in recorder.find("SIM-00002", "TransactionEvent")
                if p["transactionInfo"]["transactionId"] == tx201
            ]
            assert seq == list(range(len(seq)))
            change201 = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
            assert await call("SIM-00002", "ChangeAvailability", change201) == {"status": "Accepted"}
            await recorder.wait_for("SIM-00002", "StatusNotification", lambda p: p["connectorStatus"] == "Unavailable")
            assert await call("SIM-00002", "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
            await recorder.wait_for("SIM-00002", "BootNotification", lambda p: p["reason"] == "RemoteReset")

            sim.stop()  # ends the run early, gracefully
            while sim.stats.finished_at is None:
                await trio.sleep(0.02)
            await server.aclose(grace_period=1)
            nursery.cancel_scope.cancel()
    stats = sim.stats
    assert stats.error_count == 0, stats.summary_table()
    assert stats.elapsed < 30
    assert stats.answered["RemoteStartTransaction"] == 3
    assert stats.answered["RequestStartTransaction"] == 1


async def test_basic_auth_and_tls_profiles(tmp_path: Path) -> None:
    certs = _load_certs_helper()
    pki = certs.make_pki(tmp_path)
    for n in (1, 2):
        pki.client(f"TLS-{n:05d}")
    store = PasswordStore()
    for n in (1, 2):
        store.set(f"PW-{n:05d}", "a-16-to-40-char-secret")
    plain = Server(default_router(), authenticate=store)
    tls = Server(
        default_router(),
        authenticate=store,
        ssl_context=server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert)),
    )
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await nursery.start(plain.serve, "127.0.0.1", 0)
            await nursery.start(tls.serve, "127.0.0.1", 0)
            common = {"duration": 1.5, "stop_grace": 5}
            runs = {
                "password": config(
                    f"ws://127.0.0.1:{plain.port}/ocpp", id_prefix="PW", password="a-16-to-40-char-secret", **common
                ),
                "wrong password": config(
                    f"ws://127.0.0.1:{plain.port}/ocpp",
                    id_prefix="PW",
                    password="not-the-password!!",
                    reconnect=False,
                    **common,
                ),
                "tls + password": config(
                    f"wss://127.0.0.1:{tls.port}/ocpp",
                    id_prefix="PW",
                    password="a-16-to-40-char-secret",
                    ca=str(pki.ca_cert),
                    **common,
                ),
                "mtls": config(
                    f"wss://127.0.0.1:{tls.port}/ocpp",
                    id_prefix="TLS",
                    ca=str(pki.ca_cert),
                    cert=str(tmp_path / "cp-{identity}.pem"),
                    key=str(tmp_path / "cp-{identity}.key"),
                    **common,
                ),
            }
            results: dict[str, Stats] = {}
            seen_profiles: dict[str, set[int]] = {"password": set(), "tls + password": set(), "mtls": set()}

            async def run(name: str) -> None:
                sim = await nursery.start(Simulation(runs[name]).run)
                if name != "wrong password":
                    await sim.wait_booted()
                    server = tls if runs[name].url.startswith("wss") else plain
                    seen_profiles[name] = {cp.security_profile for cp in server.charge_points.values()}
                while sim.stats.finished_at is None:
                    await trio.sleep(0.02)
                results[name] = sim.stats

            for name in runs:  # one after the other: the PW identities are shared
                await run(name)
            nursery.cancel_scope.cancel()
    for name in ("password", "tls + password", "mtls"):
        assert results[name].error_count == 0, results[name].summary_table()
        assert results[name].ever_connected == 2
    assert seen_profiles == {"password": {1}, "tls + password": {2}, "mtls": {3}}
    wrong = results["wrong password"]
    assert wrong.connect_failures == 2 and wrong.ever_connected == 0
    assert wrong.errors["connect failed"] == 2
    assert "HTTP 401" in "".join(wrong.error_samples)


async def test_connections_spread_over_loopback_source_addresses() -> None:
    remotes: set[str] = set()

    async def on_connected(cp: ChargePoint) -> None:
        assert cp.remote is not None
        remotes.add(cp.remote[0])

    server = Server(default_router(), hooks=Hooks(on_connected=on_connected))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            cfg = config(f"ws://127.0.0.1:{server.port}/ocpp", count=6, duration=1, source_addresses=3)
            stats = await Simulation(cfg).run()
            nursery.cancel_scope.cancel()
    assert stats.error_count == 0, stats.summary_table()
    assert remotes == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}


async def test_an_unreachable_csms_is_an_error_and_the_run_still_ends() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(20):
        stats = await Simulation(config(f"ws://127.0.0.1:{port}/ocpp", duration=1.5, count=3)).run()
    assert stats.connect_failures >= 3
    assert stats.ever_connected == 0
    assert stats.error_count == stats.connect_failures
    assert stats.elapsed < 5


async def test_cli_simulate_against_cli_serve_with_audit_log(tmp_path: Path) -> None:
    """Both commands as a user runs them; the audit log holds every frame the simulator saw."""
    log = tmp_path / "audit.jsonl"
    summary_path = tmp_path / "summary.json"
    with trio.fail_after(60):
        async with cli_serve("--audit-log", str(log), "--log-level", "WARNING") as cli:
            command = [
                sys.executable,
                "-m",
                "ocpp_router",
                "simulate",
                "--url",
                f"ws://127.0.0.1:{cli.port}/ocpp",
                "--count",
                "20",
                "--version",
                "mixed",
                "--duration",
                "3",
                "--meter-interval",
                "0.5",
                "--transaction-duration",
                "1",
                "--idle-time",
                "0.3",
                "--summary-json",
                str(summary_path),
            ]
            result = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
            stdout = result.stdout.decode()
            assert result.returncode == 0, (stdout, result.stderr.decode())
            assert await stop(cli, signal.SIGTERM) == 0  # SIGTERM: the audit log is flushed before exit
    assert "Traceback" not in cli.stderr.text, cli.stderr.text
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["errors"] == 0
    assert summary["ever_connected"] == 20
    # Not a terminal: progress comes as plain lines, then the summary table.
    assert re.search(r"^\[\s*[\d.]+s\] connected \d+/20 ", stdout, re.MULTILINE), stdout
    assert "\r" not in stdout
    assert re.search(r"^total\s+\d+\s+0\s", stdout, re.MULTILINE), stdout
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert sum(1 for line in lines if line["direction"] == "in") == summary["frames_sent"] > 0
    assert sum(1 for line in lines if line["direction"] == "out") == summary["frames_received"]
    assert {line["identity"] for line in lines} == {f"SIM-{n:05d}" for n in range(1, 21)}


async def test_cli_exit_code_is_1_on_errors() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "ocpp_router", "simulate", "--url", f"ws://127.0.0.1:{port}/ocpp"]
    command += ["--duration", "1", "--no-reconnect", "--quiet"]
    with trio.fail_after(30):
        result = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 1, result.stdout.decode()
    assert "error connect failed: 1" in result.stdout.decode()


def test_latency_quantiles_are_close() -> None:
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) is None
    for n in range(1, 1001):
        histogram.add(n / 1000)  # 1 ms ... 1 s
    assert histogram.quantile(0.5) == pytest.approx(0.5, rel=0.03)
    assert histogram.quantile(0.99) == pytest.approx(0.99, rel=0.03)
    assert histogram.quantile(1.0) == pytest.approx(1.0, rel=0.03)
    assert histogram.max == 1.0 and histogram.count == 1000


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"url": "http://x"}, "ws://"),
        ({"count": 0}, "count"),
        ({"version": "2.1"}, "version"),
        ({"cert": "a.pem"}, "cert and key"),
    ],
)
def test_bad_configuration_is_refused(bad: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"url": "ws://127.0.0.1:1/ocpp", **bad}
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**settings)


def _load_certs_helper() -> Any:
    """tests/security/_certs.py (the test PKI), loaded by path."""
    spec = importlib.util.spec_from_file_location("_simulator_test_certs", ROOT / "security" / "_certs.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("doc", ["simulator.md", "observability.md"])
async def test_docs_examples_run(doc: str) -> None:
    """Every ``python`` block of the doc runs as written; a block's ``main()`` is awaited."""
    path = ROOT.parent / "docs" / doc
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert blocks
    for number, block in enumerate(blocks, 1):
        namespace: dict[str, Any] = {"__name__": f"doc_example_{number}"}
        exec(compile(block, f"{path} (block {number})", "exec"), namespace)
        if "main" in namespace:
            with trio.fail_after(40):
                await namespace["main"]()


async def test_a_ping_that_meets_a_closed_connection_ends_the_session_quietly() -> None:
    """Found by a 3,000-station run: a keep-alive ping in flight when the peer closed raised
    ``TransportClosed`` out of the session (an ExceptionGroup the server did not expect)."""
    from ocpp_router._transport import TransportClosed
    from ocpp_router.testing import memory_transport_pair

    client, server_end = memory_transport_pair("ocpp1.6")

    async def ping() -> None:
        # The peer's close frame arrives while the pong is awaited; the ping fails first.
        client._out.send_nowait((1000, ""))
        raise TransportClosed(1000)

    server_end.ping = ping  # type: ignore[method-assign]
    server = Server(default_router(), options=SessionOptions(ping_interval=0.01))
    handshake = Handshake(path="/ocpp/PING", headers=(), subprotocols=("ocpp1.6",))
    with trio.fail_after(5):
        await server.attach("PING", "1.6", server_end, handshake)  # returns; raises nothing
    assert "PING" not in server.charge_points


async def test_a_ping_crossing_our_close_is_not_answered() -> None:
    """Found by a 3,000-station run: the CSMS's keep-alive ping arriving after our close
    frame made trio-websocket try a pong that wsproto refuses (LocalProtocolError), and
    ``connect()`` failed on exit instead of closing quietly."""
    from ocpp_router import connect
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request

    async def csms(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some())
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection(subprotocol="ocpp1.6")))
                elif isinstance(event, CloseConnection):
                    await stream.send_all(b"\x89\x04late")  # a ping frame crossing the client's close
                    await trio.sleep(0.1)
                    await stream.send_all(ws.send(event.response()))
                    return

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            [listener] = await nursery.start(partial(trio.serve_tcp, csms, 0, host="127.0.0.1"))
            port = listener.socket.getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/ocpp", "LATE-PING", versions=["1.6"]) as cp:
                assert cp.version == "1.6"
            nursery.cancel_scope.cancel()


async def test_against_a_csms_built_with_the_ocpp_package() -> None:
    """Another CSMS than ours: the PyPI ``ocpp`` package on ``websockets`` (asyncio, in a
    worker thread). It validates every payload the simulator sends with its own schemas."""
    import asyncio
    import contextlib
    import itertools
    import threading
    from datetime import datetime, timezone

    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as Peer16
    from ocpp.v16 import call_result as r16
    from ocpp.v201 import ChargePoint as Peer201
    from ocpp.v201 import call_result as r201
    from test_cli import run_peer
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    def now() -> str:
        return datetime.now(timezone.utc).isoformat()

    transaction_ids = itertools.count(1)
    seen: list[tuple[str, str]] = []

    class Csms16(Peer16):  # type: ignore[misc]
        @on("BootNotification")
        async def on_boot(self, **kwargs: Any) -> Any:
            seen.append((self.id, "BootNotification"))
            return r16.BootNotification(current_time=now(), interval=10, status="Accepted")

        @on("Heartbeat")
        async def on_heartbeat(self, **kwargs: Any) -> Any:
            return r16.Heartbeat(current_time=now())

        @on("StatusNotification")
        async def on_status(self, **kwargs: Any) -> Any:
            return r16.StatusNotification()

        @on("Authorize")
        async def on_authorize(self, **kwargs: Any) -> Any:
            return r16.Authorize(id_tag_info={"status": "Accepted"})

        @on("StartTransaction")
        async def on_start(self, **kwargs: Any) -> Any:  # not `start`: the peer's run loop
            seen.append((self.id, "StartTransaction"))
            return r16.StartTransaction(transaction_id=next(transaction_ids), id_tag_info={"status": "Accepted"})

        @on("MeterValues")
        async def on_meter_values(self, **kwargs: Any) -> Any:
            return r16.MeterValues()

        @on("StopTransaction")
        async def on_stop(self, **kwargs: Any) -> Any:
            seen.append((self.id, "StopTransaction"))
            return r16.StopTransaction()

    class Csms201(Peer201):  # type: ignore[misc]
        @on("BootNotification")
        async def on_boot(self, **kwargs: Any) -> Any:
            seen.append((self.id, "BootNotification"))
            return r201.BootNotification(current_time=now(), interval=10, status="Accepted")

        @on("Heartbeat")
        async def on_heartbeat(self, **kwargs: Any) -> Any:
            return r201.Heartbeat(current_time=now())

        @on("StatusNotification")
        async def on_status(self, **kwargs: Any) -> Any:
            return r201.StatusNotification()

        @on("Authorize")
        async def on_authorize(self, **kwargs: Any) -> Any:
            return r201.Authorize(id_token_info={"status": "Accepted"})

        @on("TransactionEvent")
        async def on_transaction_event(self, event_type: str, **kwargs: Any) -> Any:
            seen.append((self.id, f"TransactionEvent {event_type}"))
            if "id_token" in kwargs:
                return r201.TransactionEvent(id_token_info={"status": "Accepted"})
            return r201.TransactionEvent()

    token = trio.lowlevel.current_trio_token()
    listening = trio.Event()
    ports: list[int] = []
    done = threading.Event()

    async def csms() -> None:
        async def handler(ws: ServerConnection) -> None:
            identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
            peer = (Csms16 if ws.subprotocol == "ocpp1.6" else Csms201)(identity, ws, response_timeout=10)
            with contextlib.suppress(ConnectionClosed):
                await peer.start()

        async with ws_serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as server:
            ports.append(next(iter(server.sockets)).getsockname()[1])
            trio.from_thread.run_sync(listening.set, trio_token=token)
            while not done.is_set():
                await asyncio.sleep(0.05)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_peer, csms)
            await listening.wait()
            try:
                cfg = config(f"ws://127.0.0.1:{ports[0]}/ocpp", count=10, duration=3)
                stats = await Simulation(cfg).run()
            finally:
                done.set()
    assert stats.error_count == 0, stats.summary_table()
    assert stats.ever_connected == 10
    assert sum(1 for _, what in seen if what == "BootNotification") == 10
    assert {what for _, what in seen} >= {
        "StartTransaction",
        "StopTransaction",
        "TransactionEvent Started",
        "TransactionEvent Ended",
    }
    assert stats.transactions_started == stats.transactions_stopped > 0


async def test_a_call_on_a_socket_that_just_closed_raises_connection_closed() -> None:
    """Found against the ``ocpp`` package's CSMS: a call whose frame met a socket closed a
    moment earlier leaked the internal ``TransportClosed`` instead of ``ConnectionClosedError``."""
    from ocpp_router import Router
    from ocpp_router._session import ChargePoint as Session
    from ocpp_router.errors import ConnectionClosedError
    from ocpp_router.testing import memory_transport_pair

    client, _server_end = memory_transport_pair("ocpp1.6")
    cp = Session("GONE", "1.6", client, Router())
    client.close_code = 1000  # closed by the peer; the session has not read that yet
    with trio.fail_after(5), pytest.raises(ConnectionClosedError):
        await cp.call("Heartbeat", {})
    assert not cp.connection.calls_in_progress and cp.connection.pending_call is None


async def test_a_csms_that_does_not_answer_is_cut_short_after_the_stop_grace() -> None:
    from ocpp_router import Router

    stuck = Router()

    @stuck.on("BootNotification")
    async def never(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    server = Server(stuck)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, "127.0.0.1", 0)
            cfg = config(f"ws://127.0.0.1:{server.port}/ocpp", count=4, duration=1, stop_grace=1, call_timeout=60)
            stats = await Simulation(cfg).run()
            nursery.cancel_scope.cancel()
    assert dict(stats.errors) == {"stop grace exceeded": 1}
    assert "4 charge points still busy" in stats.error_samples[0]
    assert stats.abandoned == 4  # one BootNotification each, not counted as errors
    assert 2 <= stats.elapsed < 5
    assert "calls abandoned when the stop grace ran out: 4" in stats.summary_table()
