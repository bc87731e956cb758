"""Security profiles 1-3 end to end over real sockets, with certificates made by the test.

Real TLS clients: our own `connect()` and the PyPI `ocpp` package on `websockets`.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import pytest
import trio
import websockets
from _certs import Pki
from _raw_http import http_upgrade_status
from ocpp.routing import on
from ocpp.v16 import ChargePoint as PeerChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16.enums import Action as PeerAction16
from ocpp_router import (
    ConnectError,
    Hooks,
    PasswordStore,
    ProxyHeaders,
    SecurityEvent,
    Server,
    client_ssl_context,
    connect,
    default_router,
    server_ssl_context,
)

PASSWORD = "0123456789abcdef-pass"


async def start(nursery: trio.Nursery, **kwargs: Any) -> Server:
    server: Server = await nursery.start(Server(default_router(), **kwargs).serve, "127.0.0.1", 0)
    return server


def events_hook() -> tuple[Hooks, list[SecurityEvent]]:
    seen: list[SecurityEvent] = []
    return Hooks(on_security_event=seen.append), seen


async def test_profile1_basic_auth(nursery: trio.Nursery) -> None:
    store = PasswordStore()
    store.set("CP1", PASSWORD)
    hooks, seen = events_hook()
    server = await start(nursery, authenticate=store, hooks=hooks)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(20):
        async with connect(url, "CP1", versions=["2.0.1"], password=PASSWORD) as cp:
            assert (await cp.call("Heartbeat", {}))["currentTime"]
            assert server.charge_points["CP1"].security_profile == 1
        for password in ("wrong-password-123456", None):
            with pytest.raises(ConnectError) as info:
                async with connect(url, "CP1", versions=["2.0.1"], password=password):
                    pass  # pragma: no cover
            assert info.value.status_code == 401
        # the user name must equal the identity in the URL
        token = base64.b64encode(f"CP2:{PASSWORD}".encode()).decode()
        status = await http_upgrade_status(server.port, "/ocpp/CP1", {"Authorization": f"Basic {token}"})
        assert status == 401
    assert [e.kind for e in seen] == ["auth_failed", "auth_failed", "auth_failed"]


async def test_repeated_failures_are_rate_limited(nursery: trio.Nursery) -> None:
    store = PasswordStore()
    store.set("CP1", PASSWORD)
    hooks, seen = events_hook()
    server = await start(nursery, authenticate=store, hooks=hooks)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(30):
        for _ in range(server.auth_failures.max_failures):
            with pytest.raises(ConnectError):
                async with connect(url, "CP1", versions=["1.6"], password="x" * 20):
                    pass  # pragma: no cover
        with pytest.raises(ConnectError) as info:  # even the right password, while locked out
            async with connect(url, "CP1", versions=["1.6"], password=PASSWORD):
                pass  # pragma: no cover
        assert info.value.status_code == 401
    assert seen[-1].kind == "auth_rate_limited"


async def test_v16_authorization_key_raw_bytes_and_hex_text(nursery: trio.Nursery) -> None:
    hex_key = "00112233445566778899aabbccddeeff00112233"
    store = PasswordStore()
    store.set_authorization_key("AL1000", hex_key)
    store.set_authorization_key("STRICT", hex_key, accept_hex_text=False)
    server = await start(nursery, authenticate=store)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(30):
        async with connect(url, "AL1000", versions=["1.6"], password=bytes.fromhex(hex_key)) as cp:
            assert await cp.call("Heartbeat", {})
        async with connect(url, "AL1000", versions=["1.6"], password=hex_key) as cp:
            assert await cp.call("Heartbeat", {})
        with pytest.raises(ConnectError):
            async with connect(url, "STRICT", versions=["1.6"], password=hex_key):
                pass  # pragma: no cover
    with pytest.raises(ValueError, match="16 to 40"):
        store.set("X", "short")
    with pytest.raises(ValueError, match="16 to 20 bytes"):
        store.set_authorization_key("X", "abcd")


async def test_profile2_tls_with_ocpp_peer(nursery: trio.Nursery, pki: Pki) -> None:
    store = PasswordStore()
    store.set("CP-TLS", PASSWORD, security_profile=2)
    context = server_ssl_context(str(pki.server_cert), str(pki.server_key))
    server = await start(nursery, authenticate=store, ssl_context=context)
    port = server.port

    async def peer() -> dict[str, Any]:
        client_context = ssl.create_default_context(cafile=str(pki.ca_cert))
        token = base64.b64encode(f"CP-TLS:{PASSWORD}".encode()).decode()
        async with websockets.connect(
            f"wss://127.0.0.1:{port}/ocpp/CP-TLS",
            ssl=client_context,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as ws:
            cp = PeerChargePoint16("CP-TLS", ws)
            task = asyncio.ensure_future(cp.start())
            try:
                result = await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
                return {"status": result.status, "tls": ws.transport.get_extra_info("ssl_object").version()}
            finally:
                task.cancel()

    with trio.fail_after(20):
        result = await trio.to_thread.run_sync(asyncio.run, peer())
    assert result["status"] == "Accepted"
    assert result["tls"] in ("TLSv1.2", "TLSv1.3")


async def test_profiles_1_and_3_with_websockets_client(nursery: trio.Nursery, pki: Pki) -> None:
    """The independent `websockets` client (as the PyPI `ocpp` package uses it) on profiles 1 and 3."""
    store = PasswordStore()
    store.set("CP-P1", PASSWORD)
    plain = await start(nursery, authenticate=store)
    tls = server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert))
    mtls_server = await start(nursery, ssl_context=tls, minimum_security_profile=3)
    cert, key = pki.client("CP-P3")

    async def peer() -> list[str]:
        replies = []
        token = base64.b64encode(f"CP-P1:{PASSWORD}".encode()).decode()
        async with websockets.connect(
            f"ws://127.0.0.1:{plain.port}/ocpp/CP-P1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as ws:
            await ws.send('[2,"1","Heartbeat",{}]')
            replies.append(str(await ws.recv()))
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(cert), str(key))
        async with websockets.connect(
            f"wss://127.0.0.1:{mtls_server.port}/ocpp/CP-P3",
            ssl=context,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        ) as ws:
            await ws.send('[2,"2","Heartbeat",{}]')
            replies.append(str(await ws.recv()))
        return replies

    with trio.fail_after(20):
        replies = await trio.to_thread.run_sync(asyncio.run, peer())
    assert [r[:8] for r in replies] == ['[3,"1",{', '[3,"2",{']


async def test_profile2_pinned_station_refused_on_plain_ws(nursery: trio.Nursery) -> None:
    store = PasswordStore()
    store.set("CP-TLS", PASSWORD, security_profile=2)
    hooks, seen = events_hook()
    server = await start(nursery, authenticate=store, hooks=hooks)
    with trio.fail_after(20), pytest.raises(ConnectError) as info:
        async with connect(f"ws://127.0.0.1:{server.port}/o", "CP-TLS", versions=["1.6"], password=PASSWORD):
            pass  # pragma: no cover
    assert info.value.status_code == 401
    assert seen[-1].kind == "security_profile_mismatch"


async def test_tls11_client_is_refused(nursery: trio.Nursery, pki: Pki) -> None:
    context = server_ssl_context(str(pki.server_cert), str(pki.server_key))
    server = await start(nursery, ssl_context=context)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(pki.ca_cert))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point of this client
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with trio.fail_after(10), pytest.raises(ConnectError, match=r"SSL|TLS|alert|version"):
        async with connect(f"wss://127.0.0.1:{server.port}/o", "CP1", versions=["1.6"], ssl_context=old):
            pass  # pragma: no cover


async def test_profile3_client_certificates(nursery: trio.Nursery, pki: Pki) -> None:
    hooks, seen = events_hook()
    context = server_ssl_context(str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert))
    server = await start(nursery, ssl_context=context, hooks=hooks, minimum_security_profile=2)
    url = f"wss://127.0.0.1:{server.port}/ocpp"
    cert, key = pki.client("CP-MTLS")
    with trio.fail_after(20):
        good = client_ssl_context(str(pki.ca_cert), certfile=str(cert), keyfile=str(key))
        async with connect(url, "CP-MTLS", versions=["2.0.1"], ssl_context=good) as cp:
            assert await cp.call("Heartbeat", {})
            session = server.charge_points["CP-MTLS"]
            assert session.security_profile == 3
            assert session.peer_certificate is not None
            assert (("commonName", "CP-MTLS"),) in session.peer_certificate["subject"]  # type: ignore[operator]
        # a valid certificate, but for another identity
        with pytest.raises(ConnectError) as info:
            async with connect(url, "CP-OTHER", versions=["2.0.1"], ssl_context=good):
                pass  # pragma: no cover
        assert info.value.status_code == 403
        # TLS without certificate and without password: below the minimum profile
        plain_tls = client_ssl_context(str(pki.ca_cert))
        with pytest.raises(ConnectError) as info:
            async with connect(url, "CP-MTLS", versions=["2.0.1"], ssl_context=plain_tls):
                pass  # pragma: no cover
        assert info.value.status_code == 401
    assert [e.kind for e in seen] == ["certificate_mismatch", "security_profile_mismatch"]


async def test_profile3_untrusted_certificate_fails_tls(nursery: trio.Nursery, pki: Pki, tmp_path: Path) -> None:
    from _certs import make_pki

    other = make_pki(tmp_path)
    cert, key = other.client("CP-MTLS")
    context = server_ssl_context(
        str(pki.server_cert), str(pki.server_key), client_ca=str(pki.ca_cert), require_client_certificate=True
    )
    server = await start(nursery, ssl_context=context)
    bad = client_ssl_context(str(pki.ca_cert), certfile=str(cert), keyfile=str(key))
    with trio.fail_after(10), pytest.raises(ConnectError):
        async with connect(f"wss://127.0.0.1:{server.port}/o", "CP-MTLS", versions=["1.6"], ssl_context=bad) as cp:
            await cp.call("Heartbeat", {})  # TLS 1.3 reports the refusal on first use


async def test_certificate_from_trusted_proxy_header(nursery: trio.Nursery, pki: Pki) -> None:
    cert, _ = pki.client("CP-PROXY")
    escaped = urllib.parse.quote(cert.read_text())
    proxy = ProxyHeaders(real_ip="x-real-ip", client_certificate="x-client-cert")
    server = await start(nursery, trusted_proxy=proxy, minimum_security_profile=3)
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    headers = [("X-Client-Cert", escaped), ("X-Real-IP", "203.0.113.9")]
    with trio.fail_after(20):
        async with connect(url, "CP-PROXY", versions=["1.6"], headers=headers) as cp:
            assert await cp.call("Heartbeat", {})
            session = server.charge_points["CP-PROXY"]
            assert session.security_profile == 3
        status = await http_upgrade_status(server.port, "/ocpp/CP-OTHER", {"X-Client-Cert": escaped})
        assert status == 403
        status = await http_upgrade_status(server.port, "/ocpp/CP-PROXY", {})
        assert status == 401


async def test_untrusted_proxy_headers_are_ignored(nursery: trio.Nursery, pki: Pki) -> None:
    cert, _ = pki.client("CP-PROXY")
    server = await start(nursery, minimum_security_profile=3)
    status = await http_upgrade_status(
        server.port, "/ocpp/CP-PROXY", {"X-Client-Cert": urllib.parse.quote(cert.read_text())}
    )
    assert status == 401


# The `ocpp` peer's decorator import keeps its routing module exercised in this file.
assert on is not None and PeerAction16 is not None
