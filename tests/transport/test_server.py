"""The server over real sockets on 127.0.0.1: handshake rules, lifecycle, compression.

Every test binds port 0 on loopback and runs under ``trio.fail_after``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio_websocket
from _raw import raw_connect
from ocpp_router import ChargePoint, CloseCode, Hooks, Refuse, Router, Server, connect, default_router
from ocpp_router._client import ConnectError
from ocpp_router._transport import Handshake
from ocpp_router.errors import ConnectionClosedError
from websockets.sync.client import connect as sync_connect

BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}


async def start(nursery: trio.Nursery, **kwargs: Any) -> Server:
    server: Server = await nursery.start(Server(kwargs.pop("router", default_router()), **kwargs).serve, "127.0.0.1", 0)
    return server


@pytest.mark.parametrize(
    ("path", "identity"),
    [
        ("/ocpp/CP1", "CP1"),
        ("/a/b/c/steve/websocket/CentralSystemService/CP%201", "CP 1"),
        ("/RDAM%7C123", "RDAM|123"),
        ("/ocpp/CP7?token=abc", "CP7"),
    ],
)
async def test_identity_is_last_segment_percent_decoded(nursery: trio.Nursery, path: str, identity: str) -> None:
    server = await start(nursery)
    with trio.fail_after(10):
        async with raw_connect(server.port, path, ["ocpp1.6"]) as ws:
            await ws.send_message('[2,"1","Heartbeat",{}]')
            assert (await ws.get_message()).startswith('[3,"1"')
            assert list(server.charge_points) == [identity]
            assert server.charge_points[identity].path == path


@pytest.mark.parametrize("path", ["/", "/ocpp/", "/ocpp/%FF"])
async def test_missing_identity_is_refused_with_404(nursery: trio.Nursery, path: str) -> None:
    server = await start(nursery)
    with trio.fail_after(10), pytest.raises(trio_websocket.ConnectionRejected) as info:
        async with raw_connect(server.port, path, ["ocpp1.6"]):
            pass  # pragma: no cover
    assert info.value.status_code == 404


@pytest.mark.parametrize(
    ("offered", "versions", "prefer", "chosen"),
    [
        (["ocpp1.6", "ocpp2.0.1"], ["2.1", "2.0.1", "1.6"], "client", "ocpp1.6"),
        (["ocpp1.6", "ocpp2.0.1"], ["2.1", "2.0.1", "1.6"], "server", "ocpp2.0.1"),
        (["ocpp2.1", "ocpp2.0.1"], ["2.0.1", "1.6"], "client", "ocpp2.0.1"),
        (["foo", "ocpp1.6"], ["1.6"], "client", "ocpp1.6"),
    ],
)
async def test_subprotocol_choice(
    nursery: trio.Nursery, offered: list[str], versions: list[str], prefer: str, chosen: str
) -> None:
    server = await start(nursery, versions=versions, prefer=prefer)
    with trio.fail_after(10):
        async with raw_connect(server.port, "/ocpp/CP1", offered) as ws:
            assert ws.subprotocol == chosen
            await ws.send_message('[2,"1","Heartbeat",{}]')
            assert (await ws.get_message()).startswith("[3,")


@pytest.mark.parametrize("offered", [[], ["ocpp1.5"], ["ocpp2.0"]])
async def test_no_supported_subprotocol_completes_handshake_then_closes(
    nursery: trio.Nursery, offered: list[str]
) -> None:
    server = await start(nursery)
    with trio.fail_after(10):
        async with raw_connect(server.port, "/ocpp/CP1", offered) as ws:
            assert ws.subprotocol is None
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == CloseCode.PROTOCOL_ERROR
    assert server.charge_points == {}


async def test_fallback_version_for_stations_without_subprotocol(nursery: trio.Nursery) -> None:
    server = await start(nursery, fallback_version=lambda identity: "1.6" if identity.startswith("OLD") else None)
    with trio.fail_after(10):
        async with raw_connect(server.port, "/ocpp/OLD-1", []) as ws:
            await ws.send_message('[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
            assert '"status":"Accepted"' in await ws.get_message()
            assert server.charge_points["OLD-1"].version == "1.6"


async def test_on_connect_refuses_unknown_identity(nursery: trio.Nursery) -> None:
    async def only_known(handshake: Handshake, identity: str) -> bool:
        if identity == "banned":
            raise Refuse(403, "banned")
        return identity == "known"

    server = await start(nursery, hooks=Hooks(on_connect=only_known))
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(10):
        for identity, status in (("stranger", 404), ("banned", 403)):
            with pytest.raises(ConnectError) as info:
                async with connect(url, identity, versions=["1.6"]):
                    pass  # pragma: no cover
            assert info.value.status_code == status
        async with connect(url, "known", versions=["1.6"]) as cp:
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"


async def test_duplicate_identity_replaces_old_connection(nursery: trio.Nursery) -> None:
    disconnected: list[tuple[str, int | None]] = []

    async def on_disconnected(cp: ChargePoint) -> None:
        disconnected.append((cp.id, cp.close_code))

    server = await start(nursery, hooks=Hooks(on_disconnected=on_disconnected))
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(10):
        async with connect(url, "CP1", versions=["1.6"]) as first:
            old_session = server.charge_points["CP1"]
            async with connect(url, "CP1", versions=["1.6"]) as second:
                await first.wait_closed()
                assert first.close_code == CloseCode.REPLACED
                assert server.charge_points["CP1"] is not old_session
                assert (await second.call("Heartbeat", {}))["currentTime"]
    assert ("CP1", CloseCode.REPLACED) in disconnected


async def test_duplicate_identity_can_be_rejected(nursery: trio.Nursery) -> None:
    server = await start(nursery, on_duplicate="reject")
    url = f"ws://127.0.0.1:{server.port}/ocpp"
    with trio.fail_after(10):
        async with connect(url, "CP1", versions=["1.6"]):
            with pytest.raises(ConnectError) as info:
                async with connect(url, "CP1", versions=["1.6"]):
                    pass  # pragma: no cover
            assert info.value.status_code == 409


async def test_disconnect_mid_call_fails_the_call_immediately(nursery: trio.Nursery) -> None:
    server = await start(nursery)
    cp_router = Router()
    entered = trio.Event()

    @cp_router.on("ClearCache")
    async def hang(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        await trio.sleep_forever()
        raise AssertionError

    with trio.fail_after(10):
        async with connect(f"ws://127.0.0.1:{server.port}/x", "CP1", cp_router, versions=["1.6"]) as cp:

            async def drop() -> None:
                await entered.wait()
                await cp.close()

            nursery.start_soon(drop)
            with pytest.raises(ConnectionClosedError):
                await server.call("CP1", "ClearCache", {}, timeout=60)


async def test_graceful_shutdown(nursery: trio.Nursery) -> None:
    handler_finished = trio.Event()
    router = Router()
    router.include(default_router())

    @router.on("Authorize")
    async def slow_authorize(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await trio.sleep(0.2)
        handler_finished.set()
        return {"idTagInfo": {"status": "Accepted"}}

    cp_router = Router()

    @cp_router.on("ClearCache")
    async def hang(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    server = await start(nursery, router=router)
    outcome: dict[str, Any] = {}
    with trio.fail_after(10):
        async with connect(f"ws://127.0.0.1:{server.port}/x", "CP1", cp_router, versions=["1.6"]) as cp:

            async def authorize() -> None:
                outcome["authorize"] = await cp.call("Authorize", {"idTag": "T"})

            async def pending_server_call() -> None:
                try:
                    await server.call("CP1", "ClearCache", {}, timeout=60)
                except ConnectionClosedError as exc:
                    outcome["pending"] = exc

            nursery.start_soon(authorize)
            nursery.start_soon(pending_server_call)
            await trio.sleep(0.05)
            await server.aclose(grace_period=5)
            await cp.wait_closed()
            assert handler_finished.is_set(), "running handler finished within the grace period"
            assert cp.close_code == CloseCode.GOING_AWAY
    assert outcome["authorize"] == {"idTagInfo": {"status": "Accepted"}}
    assert isinstance(outcome["pending"], ConnectionClosedError)
    # no new connections after shutdown
    with pytest.raises(ConnectError):
        async with connect(f"ws://127.0.0.1:{server.port}/x", "CP2", versions=["1.6"], connect_timeout=2):
            pass  # pragma: no cover


def _compressed_roundtrip(port: int, subprotocol: str) -> tuple[list[str], str]:
    with sync_connect(
        f"ws://127.0.0.1:{port}/ocpp/CPZ", subprotocols=[subprotocol], compression="deflate", open_timeout=5
    ) as ws:  # type: ignore[arg-type]
        ws.send('[2,"1","Heartbeat",{}]')
        reply = str(ws.recv(timeout=5))
        extensions = [ext.name for ext in ws.protocol.extensions]
        return extensions, reply


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp1.6"])
async def test_permessage_deflate_negotiated_when_offered(nursery: trio.Nursery, subprotocol: str) -> None:
    server = await start(nursery)
    with trio.fail_after(15):
        extensions, reply = await trio.to_thread.run_sync(_compressed_roundtrip, server.port, subprotocol)
    assert extensions == ["permessage-deflate"]
    assert reply.startswith('[3,"1",{"currentTime"')


async def test_binary_frame_closes_with_1003(nursery: trio.Nursery) -> None:
    server = await start(nursery)
    with trio.fail_after(10):
        async with raw_connect(server.port, "/ocpp/CPB", ["ocpp2.0.1"]) as ws:
            await ws.send_message(b"\x00\x01")
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == CloseCode.UNSUPPORTED_DATA
