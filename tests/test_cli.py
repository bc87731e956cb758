"""``ocpp-router serve`` as a user runs it: a subprocess, real sockets, signals.

The charge points are the PyPI ``ocpp`` package (asyncio + ``websockets``) in a worker thread.
The process is always killed in a ``finally``; every wait is bounded.
"""

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio
from ocpp.v16 import ChargePoint as PeerChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as PeerChargePoint201
from ocpp.v201 import call as call201
from ocpp_router.testing import run_asyncio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedOK

LISTENING = re.compile(r"ocpp-router listening on ws://([^\s:]+):(\d+)/<identity> \(OCPP ([^)]*)\)")
PEER_TIMEOUT = 20.0


# -- the asyncio peer in a thread (same helper as tests/interop/conftest.py) -------------------


async def run_peer(async_fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run ``async_fn(*args)`` on its own asyncio loop in a worker thread; cancelled with the caller."""
    return await run_asyncio(async_fn, *args, timeout=PEER_TIMEOUT)


# -- the CLI process -----------------------------------------------------------------------------


class Output:
    """Everything a pipe produced so far; ``wait_for(regex)`` waits for a match."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._changed = trio.Event()
        self.eof = False

    async def drain(self, stream: trio.abc.ReceiveStream) -> None:
        async for chunk in stream:
            self.data += chunk
            self._changed.set()
            self._changed = trio.Event()
        self.eof = True
        self._changed.set()

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")

    async def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        while True:
            match = pattern.search(self.text)
            if match is not None:
                return match
            if self.eof:
                raise AssertionError(f"process output ended without {pattern.pattern!r}:\n{self.text}")
            await self._changed.wait()


class Cli:
    def __init__(self, process: trio.Process, stdout: Output, stderr: Output) -> None:
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
        self.host = ""
        self.port = 0
        self.versions: list[str] = []

    def url(self, identity: str) -> str:
        return f"ws://{self.host}:{self.port}/ocpp/{identity}"


@contextlib.asynccontextmanager
async def cli_serve(*extra: str) -> AsyncIterator[Cli]:
    """``python -m ocpp_router serve --host 127.0.0.1 --port 0 ...``, up and listening."""
    command = [sys.executable, "-m", "ocpp_router", "serve", "--host", "127.0.0.1", "--port", "0", *extra]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            assert process.stderr is not None
            stdout, stderr = Output(), Output()
            nursery.start_soon(stdout.drain, process.stdout)
            nursery.start_soon(stderr.drain, process.stderr)
            cli = Cli(process, stdout, stderr)
            try:
                with trio.fail_after(20):
                    match = await stdout.wait_for(LISTENING)
            except (trio.TooSlowError, AssertionError):
                raise AssertionError(f"no listening line; stdout={stdout.text!r} stderr={stderr.text!r}") from None
            cli.host, cli.port = match.group(1), int(match.group(2))
            cli.versions = [v.strip() for v in match.group(3).split(",")]
            yield cli
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                    await stream.aclose()


async def stop(cli: Cli, signum: int) -> int:
    """Send ``signum`` and wait (bounded) for the process to exit; its exit code."""
    cli.process.send_signal(signum)
    with trio.fail_after(10):
        return await cli.process.wait()


# -- peers ---------------------------------------------------------------------------------------


async def peer16_boot_and_heartbeat(url: str) -> dict[str, Any]:
    async with ws_connect(url, subprotocols=["ocpp1.6"]) as ws:
        cp = PeerChargePoint16("CLI-16", ws, response_timeout=10)
        loop = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call16.BootNotification(charge_point_vendor="PeerVendor", charge_point_model="PeerModel"),
                suppress=False,
            )
            heartbeat = await cp.call(call16.Heartbeat(), suppress=False)
            status = await cp.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"), suppress=False
            )
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        return {"subprotocol": ws.subprotocol, "boot": boot, "heartbeat": heartbeat, "status": status}


async def peer201_boot_and_heartbeat(url: str) -> dict[str, Any]:
    async with ws_connect(url, subprotocols=["ocpp2.0.1"]) as ws:
        cp = PeerChargePoint201("CLI-201", ws, response_timeout=10)
        loop = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "PeerModel", "vendor_name": "PeerVendor"}, reason="PowerUp"
                ),
                suppress=False,
            )
            heartbeat = await cp.call(call201.Heartbeat(), suppress=False)
            authorize = await cp.call(
                call201.Authorize(id_token={"id_token": "TAG", "type": "ISO14443"}), suppress=False
            )
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        return {"subprotocol": ws.subprotocol, "boot": boot, "heartbeat": heartbeat, "authorize": authorize}


async def peer16_stays_connected(url: str, token: trio.lowlevel.TrioToken, booted: trio.Event) -> int | None:
    """Boot, tell trio, then wait for the server to close the connection; the close code."""
    async with ws_connect(url, subprotocols=["ocpp1.6"]) as ws:
        cp = PeerChargePoint16("CLI-STAY", ws, response_timeout=10)
        loop = asyncio.create_task(cp.start())
        await cp.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"), suppress=False)
        trio.from_thread.run_sync(booted.set, trio_token=token)
        with contextlib.suppress(ConnectionClosedOK):
            await loop
        return ws.close_code


# -- tests ---------------------------------------------------------------------------------------


async def test_serve_answers_ocpp_peers_and_exits_0_on_sigterm() -> None:
    with trio.fail_after(60):
        async with cli_serve() as cli:
            assert cli.host == "127.0.0.1"
            assert cli.port > 0
            assert cli.versions == ["2.1", "2.0.1", "1.6"]

            r16 = await run_peer(peer16_boot_and_heartbeat, cli.url("CLI-16"))
            assert r16["subprotocol"] == "ocpp1.6"
            assert r16["boot"].status == "Accepted"
            assert r16["boot"].interval == 300
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r16["boot"].current_time)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r16["heartbeat"].current_time)

            r201 = await run_peer(peer201_boot_and_heartbeat, cli.url("CLI-201"))
            assert r201["subprotocol"] == "ocpp2.0.1"
            assert r201["boot"].status == "Accepted"
            assert r201["boot"].interval == 300
            assert r201["heartbeat"].current_time.endswith("Z")
            # The reference CSMS answers id tokens it does not know with Invalid (docs/csms.md).
            assert r201["authorize"].id_token_info == {"status": "Invalid"}

            assert await stop(cli, signal.SIGTERM) == 0
    assert "Traceback" not in cli.stderr.text, cli.stderr.text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_closes_connected_charge_points_with_1001_and_exits_0(signum: int) -> None:
    token = trio.lowlevel.current_trio_token()
    booted = trio.Event()
    close_code: list[int | None] = []

    async def stay(url: str) -> None:
        close_code.append(await run_peer(peer16_stays_connected, url, token, booted))

    with trio.fail_after(60):
        async with cli_serve("--versions", "1.6", "--heartbeat-interval", "42") as cli:
            assert cli.versions == ["1.6"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stay, cli.url("CLI-STAY"))
                await booted.wait()
                assert await stop(cli, signum) == 0
    assert close_code == [1001]  # going away: the graceful shutdown closed the session
    assert "Traceback" not in cli.stderr.text, cli.stderr.text


async def test_versions_option_limits_the_endpoint() -> None:
    """``--versions 1.6``: a 2.0.1-only charge point is closed with 1002; a 1.6 one gets interval 42."""

    async def offer_201_only(url: str) -> tuple[str | None, int | None]:
        async with ws_connect(url, subprotocols=["ocpp2.0.1"]) as ws:
            with contextlib.suppress(Exception):
                await ws.recv()
            return ws.subprotocol, ws.close_code

    with trio.fail_after(60):
        async with cli_serve("--versions", "1.6", "--heartbeat-interval", "42") as cli:
            assert await run_peer(offer_201_only, cli.url("CLI-NEW")) == (None, 1002)
            r16 = await run_peer(peer16_boot_and_heartbeat, cli.url("CLI-16"))
            assert r16["boot"].interval == 42
            assert await stop(cli, signal.SIGTERM) == 0
