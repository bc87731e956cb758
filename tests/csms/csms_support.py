"""Shared by the reference-CSMS tests: the CLI as a subprocess, the CSMS in-process, charge
points (our own ``ocpp_router.connect`` client) that answer what the CSMS sends."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp_router import Router
from ocpp_router.csms import Csms, load_config
from ocpp_router.csms.admin import create_app

LISTENING = re.compile(r"ocpp-router listening on ws://([^\s:]+):(\d+)/<identity> \(OCPP ([^)]*)\)")
TLS_LISTENING = re.compile(r"ocpp-router TLS listening on wss://([^\s:]+):(\d+)/<identity>")
ADMIN = re.compile(r"ocpp-router admin API on (http://\S+)")

BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "One"}
BOOT201 = {"chargingStation": {"vendorName": "Acme", "model": "Two"}, "reason": "PowerUp"}


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


@dataclass
class Cli:
    process: trio.Process
    stdout: Output
    stderr: Output
    ws: str = ""
    wss: str = ""
    admin: str = ""


@contextlib.asynccontextmanager
async def cli_serve(*extra: str, env: dict[str, str] | None = None, tls: bool = False) -> AsyncIterator[Cli]:
    """``python -m ocpp_router serve --host 127.0.0.1 --port 0 --admin-port 0 ...``, listening."""
    command = [
        sys.executable,
        "-m",
        "ocpp_router",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--admin-port",
        "0",
        *extra,
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OCPP_ROUTER_")}
    environment.update(env or {})
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            assert process.stderr is not None
            cli = Cli(process, Output(), Output())
            nursery.start_soon(cli.stdout.drain, process.stdout)
            nursery.start_soon(cli.stderr.drain, process.stderr)
            try:
                with trio.fail_after(20):
                    match = await cli.stdout.wait_for(LISTENING)
                    cli.ws = f"ws://{match.group(1)}:{match.group(2)}/ocpp"
                    if tls:
                        tls_match = await cli.stdout.wait_for(TLS_LISTENING)
                        cli.wss = f"wss://localhost:{tls_match.group(2)}/ocpp"
                    cli.admin = (await cli.stdout.wait_for(ADMIN)).group(1)
            except (trio.TooSlowError, AssertionError):
                raise AssertionError(f"not listening; stdout={cli.stdout.text!r} stderr={cli.stderr.text!r}") from None
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


@contextlib.asynccontextmanager
async def running_csms(**settings: Any) -> AsyncIterator[tuple[Csms, httpx.AsyncClient, str]]:
    """The CSMS in this trio run on 127.0.0.1 (port 0) and an httpx client on its ASGI app
    (no admin socket); yields (csms, client, ws base URL). ``settings`` by dotted name."""
    config = load_config({"host": "127.0.0.1", "port": 0, **settings}, environ={})
    csms = Csms(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(csms.run)
        transport = httpx.ASGITransport(app=create_app(csms))
        async with httpx.AsyncClient(transport=transport, base_url="http://csms") as client:
            yield csms, client, f"ws://127.0.0.1:{csms.server.port}/ocpp"
        with trio.fail_after(15):
            await csms.aclose(grace_period=1)
        nursery.cancel_scope.cancel()


@dataclass
class Station:
    """What a simulated charge point was asked, and a gate for a slow answer."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    release_slow: trio.Event = field(default_factory=trio.Event)

    def router(self) -> Router:
        """Answers every CSMS-initiated message the tests use (both versions); leaves
        ``UnlockConnector`` unhandled (the client answers NotSupported) and holds
        ``GetConfiguration`` / ``GetVariables`` until ``release_slow`` is set."""
        router = Router()
        accepted = (
            "RemoteStartTransaction",
            "RemoteStopTransaction",
            "RequestStartTransaction",
            "RequestStopTransaction",
            "Reset",
            "ReserveNow",
            "CancelReservation",
            "TriggerMessage",
            "SetChargingProfile",
        )
        for action in accepted:

            async def answer(cp: Any, payload: dict[str, Any], action: str = action) -> dict[str, Any]:
                self.received.append((action, payload))
                return {"status": "Accepted"}

            router.on(action)(answer)

        async def slow(cp: Any, payload: dict[str, Any]) -> dict[str, Any]:
            await self.release_slow.wait()
            return {}

        router.on("GetConfiguration", version="1.6")(slow)
        return router


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1, as files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CSMS Root")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
