"""Helpers for the gateway tests: real sockets on 127.0.0.1, bounded, nothing outlives a test.

Wallboxes (and the ``ocpp``-package CSMS) are the PyPI ``ocpp`` package on ``websockets``,
running on their own asyncio loop in a worker thread (``run_asyncio``). The gateway and our
own upstream CSMS run under trio in the test; a scenario reaches the trio side with
``await bridge.trio(fn, *args)`` (the trio coroutine runs in the test's run and its result
comes back to the asyncio thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import orjson
import trio
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp_router import ChargePoint, Hooks, MemoryStorage, Server
from ocpp_router.gateway import Gateway, GatewayConfig, ListenSettings, ReconnectPolicy, WallboxConfig
from ocpp_router.testing import run_asyncio as _run_asyncio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")
PEER_TIMEOUT = 40.0
TRIO_CALL_TIMEOUT = 15.0
FAST_RECONNECT = ReconnectPolicy(initial=0.05, maximum=0.3, multiplier=2.0, jitter=0.5, stable_after=1.0)
BASE = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def at(minutes: float) -> str:
    """A fixed point in station time (distinct, stable timestamps per message)."""
    return iso(BASE + timedelta(minutes=minutes))


def now() -> str:
    return iso(datetime.now(timezone.utc))


# -- the asyncio side -------------------------------------------------------------------------


class Bridge:
    """The scenario's way into the trio run."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token

    async def trio(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def bounded() -> T:
            with trio.fail_after(TRIO_CALL_TIMEOUT):
                return await fn(*args, **kwargs)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, functools.partial(trio.from_thread.run, bounded, trio_token=self._token)
        )


async def run_asyncio(scenario: Callable[[Bridge], Awaitable[T]]) -> T:
    """Run ``scenario(bridge)`` on an asyncio loop in a worker thread, bounded twice (its
    own ``PEER_TIMEOUT``; and when the trio side is cancelled, the scenario is cancelled and
    its thread joined)."""
    bridge = Bridge(trio.lowlevel.current_trio_token())
    return await _run_asyncio(scenario, bridge, timeout=PEER_TIMEOUT)


class _Recording:
    """What a wallbox was asked by the CSMS, and how to answer."""

    def _init_recording(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: action -> seconds to wait before answering (to provoke time-outs)
        self.delays: dict[str, float] = {}
        self.follow_up = True

    async def _record(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received[action].append(kwargs)
        delay = self.delays.get(action)
        if delay:
            await asyncio.sleep(delay)


class Wallbox16(_Recording, OcppChargePoint16):
    """A 1.6 wallbox (the ``ocpp`` package) that answers what a CSMS asks."""

    def __init__(self, identity: str, ws: ClientConnection) -> None:
        super().__init__(identity, ws, response_timeout=10)
        self._init_recording()
        self.ws = ws
        self.meter = 1000

    async def send(self, message: Any) -> Any:
        return await self.call(message, suppress=False)

    async def boot(self) -> Any:
        return await self.send(call16.BootNotification(charge_point_vendor="Wallbox", charge_point_model="Pulsar"))

    async def status(self, connector: int, status: str, timestamp: str | None = None) -> Any:
        return await self.send(
            call16.StatusNotification(connector_id=connector, error_code="NoError", status=status, timestamp=timestamp)
        )

    async def start_tx(self, id_tag: str, timestamp: str, connector: int = 1) -> Any:
        return await self.send(
            call16.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=self.meter, timestamp=timestamp)
        )

    async def meter_values(self, transaction_id: int, timestamp: str, wh: int, connector: int = 1) -> Any:
        self.meter = wh
        sample = {"timestamp": timestamp, "sampled_value": [{"value": str(wh), "unit": "Wh"}]}
        return await self.send(
            call16.MeterValues(connector_id=connector, transaction_id=transaction_id, meter_value=[sample])
        )

    async def stop_tx(self, transaction_id: int, timestamp: str, wh: int, reason: str = "Local") -> Any:
        self.meter = wh
        return await self.send(
            call16.StopTransaction(transaction_id=transaction_id, meter_stop=wh, timestamp=timestamp, reason=reason)
        )

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kwargs: Any) -> Any:
        await self._record("RemoteStartTransaction", kwargs)
        return result16.RemoteStartTransaction(status="Accepted")

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag: str, connector_id: int = 1, **kwargs: Any) -> None:
        if self.follow_up:
            result = await self.start_tx(id_tag, now(), connector_id)
            self.received["StartTransaction.result"].append({"transaction_id": result.transaction_id})

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kwargs: Any) -> Any:
        await self._record("RemoteStopTransaction", kwargs)
        return result16.RemoteStopTransaction(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kwargs: Any) -> Any:
        await self._record("SetChargingProfile", kwargs)
        return result16.SetChargingProfile(status="Accepted")

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        await self._record("Reset", kwargs)
        return result16.Reset(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, **kwargs: Any) -> Any:
        await self._record("DataTransfer", kwargs)
        return result16.DataTransfer(status="Accepted", data="from-wallbox")


class Wallbox201(_Recording, OcppChargePoint201):
    """A 2.0.1 charging station (the ``ocpp`` package) that answers what a CSMS asks."""

    def __init__(self, identity: str, ws: ClientConnection) -> None:
        super().__init__(identity, ws, response_timeout=10)
        self._init_recording()
        self.ws = ws
        self.seq = 0

    async def send(self, message: Any) -> Any:
        return await self.call(message, suppress=False)

    async def boot(self) -> Any:
        return await self.send(
            call201.BootNotification(
                charging_station={"vendor_name": "Wallbox", "model": "Commander"}, reason="PowerUp"
            )
        )

    async def status(self, evse: int, status: str, timestamp: str) -> Any:
        return await self.send(
            call201.StatusNotification(timestamp=timestamp, connector_status=status, evse_id=evse, connector_id=1)
        )

    async def event(
        self, event_type: str, transaction_id: str, timestamp: str, wh: int, trigger: str, **extra: Any
    ) -> Any:
        seq, self.seq = self.seq, self.seq + 1
        meter = [
            {
                "timestamp": timestamp,
                "sampled_value": [
                    {"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}
                ],
            }
        ]
        return await self.send(
            call201.TransactionEvent(
                event_type=event_type,
                timestamp=timestamp,
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info={"transaction_id": transaction_id, **extra.pop("info", {})},
                meter_value=meter,
                **extra,
            )
        )

    @on("RequestStartTransaction")
    async def on_request_start(self, **kwargs: Any) -> Any:
        await self._record("RequestStartTransaction", kwargs)
        return result201.RequestStartTransaction(status="Accepted", transaction_id=None)

    @on("RequestStopTransaction")
    async def on_request_stop(self, **kwargs: Any) -> Any:
        await self._record("RequestStopTransaction", kwargs)
        return result201.RequestStopTransaction(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kwargs: Any) -> Any:
        await self._record("SetChargingProfile", kwargs)
        return result201.SetChargingProfile(status="Accepted")


W = TypeVar("W", Wallbox16, Wallbox201)


@contextlib.asynccontextmanager
async def wallbox(port: int, identity: str, cls: type[W], *, path: str = "") -> AsyncIterator[W]:
    """A wallbox connected to the gateway on ``port``, served until the block ends."""
    subprotocol = "ocpp1.6" if issubclass(cls, OcppChargePoint16) else "ocpp2.0.1"
    async with ws_connect(f"ws://127.0.0.1:{port}{path}/{identity}", subprotocols=[subprotocol]) as ws:
        station = cls(identity, ws)
        serving = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await serving


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """(asyncio) Until ``predicate()`` holds."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


# -- the trio side ----------------------------------------------------------------------------


class Frames:
    """CALLs an upstream CSMS received (``Hooks.on_message``), across its restarts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (identity, action, payload)

    async def on_message(self, cp: ChargePoint, direction: str, text: str) -> None:
        if direction != "in":
            return
        frame = orjson.loads(text)
        if frame[0] == 2:
            self.calls.append((cp.id, frame[2], frame[3]))

    def actions(self, identity: str | None = None) -> list[str]:
        return [action for who, action, _ in self.calls if identity is None or who == identity]

    def of(self, *actions: str) -> list[tuple[str, dict[str, Any]]]:
        return [(action, payload) for _, action, payload in self.calls if action in actions]


class Upstream:
    """Our ``Server`` as the upstream CSMS, stoppable and restartable on the same port
    (same storage, same plugins' state)."""

    def __init__(self, version: str, make_plugins: Callable[[], Any]) -> None:
        self.version = version
        self.make_plugins = make_plugins
        self.storage = MemoryStorage()
        self.frames = Frames()
        self.port = 0
        self.server: Server | None = None
        self.plugins: Any = None
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self, nursery: trio.Nursery) -> Server:
        self.plugins = self.make_plugins()
        server = Server(versions=[self.version], storage=self.storage, hooks=Hooks(on_message=self.frames.on_message))
        server.install(*self.plugins)
        self.server = server
        self._done = trio.Event()

        async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with trio.CancelScope() as scope:
                    self._scope = scope
                    async with trio.open_nursery() as inner:
                        await inner.start(server.serve, "127.0.0.1", self.port)
                        self.port = server.port
                        task_status.started()
            finally:
                self._done.set()

        await nursery.start(serve)
        return server

    async def stop(self, *, abrupt: bool = False) -> None:
        """Stop it: sockets closed at once, nothing answered any more. ``abrupt``: like a
        killed process, without WebSocket close frames (the tasks are just cancelled)."""
        assert self.server is not None and self._scope is not None
        if not abrupt:
            await self.server.aclose(grace_period=0)
        self._scope.cancel()
        await self._done.wait()
        self.server = None


def gateway_config(
    tmp_path: Path,
    wallboxes: list[WallboxConfig],
    **options: Any,
) -> GatewayConfig:
    options.setdefault("reconnect", FAST_RECONNECT)
    options.setdefault("upstream_timeout", 3.0)
    options.setdefault("wallbox_timeout", 3.0)
    local = options.pop("local", ListenSettings(host="127.0.0.1", port=0, versions=("1.6", "2.0.1")))
    return GatewayConfig(wallboxes=tuple(wallboxes), local=local, queue_path=str(tmp_path / "queue.sqlite3"), **options)


class GatewayRunner:
    """A gateway that can be stopped and started again (same config, same queue file)."""

    def __init__(self, config: GatewayConfig, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self.gateway: Gateway | None = None
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()

    @property
    def port(self) -> int:
        assert self.gateway is not None
        return self.gateway.port

    async def start(self, nursery: trio.Nursery, port: int | None = None) -> Gateway:
        config = self.config if port is None else replace(self.config, local=replace(self.config.local, port=port))
        gateway = Gateway(config, **self.kwargs)
        self._done = trio.Event()

        async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                with trio.CancelScope() as scope:
                    self._scope = scope
                    async with trio.open_nursery() as inner:
                        await inner.start(gateway.run)
                        task_status.started()
            finally:
                self._done.set()

        await nursery.start(run)
        self.gateway = gateway
        return gateway

    async def stop(self) -> None:
        assert self.gateway is not None and self._scope is not None
        await self.gateway.aclose(grace_period=0.5)
        self._scope.cancel()
        await self._done.wait()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """(trio) Until ``predicate()`` holds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


@contextlib.asynccontextmanager
async def gateway_process(site: Path) -> AsyncIterator[tuple[trio.Process, int]]:
    """``python -m ocpp_router gateway --config site`` until its listening line; (process,
    port). Killed in the ``finally`` if still running; its log goes to ``site``.log."""
    import re
    import subprocess
    import sys

    listening = re.compile(r"ocpp-router gateway listening on wss?://[^\s:]+:(\d+)/<identity>")
    log_path = site.with_suffix(".log")
    with log_path.open("ab") as log:
        command = [sys.executable, "-m", "ocpp_router", "gateway", "--config", str(site)]
        process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=log)
        try:
            assert process.stdout is not None
            output = bytearray()
            with trio.fail_after(15):
                while (match := listening.search(output.decode(errors="replace"))) is None:
                    chunk = await process.stdout.receive_some()
                    assert chunk, f"no listening line: {output!r}\n{log_path.read_text()}"
                    output += chunk
            yield process, int(match.group(1))
        finally:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await process.wait()
            with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await process.stdout.aclose()  # type: ignore[union-attr]
