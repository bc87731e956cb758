"""Keep-alive and limits over real sockets: each limit does what its docstring says."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from _raw_http import upgrade_request
from ocpp_router import (
    ChargePoint,
    CloseCode,
    ConnectError,
    Hooks,
    Limits,
    Router,
    SecurityEvent,
    Server,
    SessionOptions,
    connect,
    default_router,
)
from websockets.sync.client import connect as sync_connect


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[Server, list[SecurityEvent]]:
    seen: list[SecurityEvent] = []
    hooks = kwargs.pop("hooks", Hooks(on_security_event=seen.append))
    router = kwargs.pop("router", default_router())
    server: Server = await nursery.start(Server(router, hooks=hooks, **kwargs).serve, "127.0.0.1", 0)
    return server, seen


async def silent_client(port: int, identity: str) -> trio.SocketStream:
    """Completes the upgrade, then never reads again (so never answers a ping)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(upgrade_request(f"/ocpp/{identity}", {}))
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(4096)
    assert data.startswith(b"HTTP/1.1 101")
    return stream


async def test_server_pings_and_closes_when_no_pong(nursery: trio.Nursery) -> None:
    options = SessionOptions(ping_interval=0.2, pong_timeout=0.3)
    server, seen = await start(nursery, options=options)
    with trio.fail_after(10):
        stream = await silent_client(server.port, "MUTE")
        async with stream:
            while "MUTE" not in server.charge_points:
                await trio.sleep(0.01)
            session = server.charge_points["MUTE"]
            await session.wait_closed()
    assert session.close_reason == "keep-alive timeout"
    assert [e.kind for e in seen] == ["keepalive_timeout"]


async def test_pings_are_answered_both_ways(nursery: trio.Nursery) -> None:
    server, _ = await start(nursery, options=SessionOptions(ping_interval=0.1, pong_timeout=5))

    def client(port: int) -> bool:
        with sync_connect(f"ws://127.0.0.1:{port}/ocpp/PINGER", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            pong = ws.ping()
            answered = pong.wait(timeout=5)
            ws.send('[2,"1","Heartbeat",{}]')
            ws.recv(timeout=5)
            return answered

    with trio.fail_after(15):
        answered = await trio.to_thread.run_sync(client, server.port)
    assert answered
    # The server's own pings (every 0.1 s) were answered by the client, or the session
    # would have been closed for a missing pong before the heartbeat went through.


async def test_idle_timeout(nursery: trio.Nursery) -> None:
    server, _ = await start(nursery, options=SessionOptions(ping_interval=0, idle_timeout=0.3))
    with trio.fail_after(10):
        async with connect(f"ws://127.0.0.1:{server.port}/o", "IDLE", versions=["1.6"]) as cp:
            await cp.wait_closed()
    assert cp.close_code == CloseCode.GOING_AWAY


async def test_oversized_message_closes_with_1009(nursery: trio.Nursery) -> None:
    server, seen = await start(nursery, limits=Limits(max_message_size=4096))
    with trio.fail_after(10):
        async with connect(f"ws://127.0.0.1:{server.port}/o", "BIG", versions=["1.6"]) as cp:
            huge = {"vendorId": "V", "data": "x" * 10_000}
            cp.connection.set_incoming_mode("off")
            with pytest.raises(Exception):  # noqa: B017, PT011 - closed mid-call: ConnectionClosedError
                await cp.call("DataTransfer", huge, timeout=5)
            await cp.wait_closed()
    assert cp.close_code == CloseCode.MESSAGE_TOO_BIG
    assert "oversized_frame" in [e.kind for e in seen]


async def test_max_connections_answers_503(nursery: trio.Nursery) -> None:
    server, seen = await start(nursery, limits=Limits(max_connections=2))
    url = f"ws://127.0.0.1:{server.port}/o"
    with trio.fail_after(10):
        async with connect(url, "A", versions=["1.6"]), connect(url, "B", versions=["1.6"]):
            with pytest.raises(ConnectError) as info:
                async with connect(url, "C", versions=["1.6"]):
                    pass  # pragma: no cover
            assert info.value.status_code == 503
        # room again once they left
        while server.charge_points:
            await trio.sleep(0.01)
        async with connect(url, "C", versions=["1.6"]) as cp:
            assert await cp.call("Heartbeat", {})
    assert [e.kind for e in seen] == ["connection_limit"]


async def test_handshake_never_finished_is_dropped(nursery: trio.Nursery) -> None:
    server, _ = await start(nursery, limits=Limits(handshake_timeout=0.3))
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(b"GET /ocpp/SLOW HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            assert await stream.receive_some(1024) == b""  # the server hung up
    assert server.charge_points == {}


async def test_flood_is_throttled_not_dropped(nursery: trio.Nursery) -> None:
    options = SessionOptions(max_messages_per_second=500, message_burst=5)
    server, seen = await start(nursery, options=options)
    with trio.fail_after(20):
        stream = await silent_client(server.port, "FLOOD")
        async with stream:
            from wsproto.connection import Connection, ConnectionType
            from wsproto.events import TextMessage

            ws = Connection(ConnectionType.CLIENT)
            frames = b"".join(ws.send(TextMessage(f'[2,"{i}","Heartbeat",{{}}]')) for i in range(100))
            await stream.send_all(frames)
            answers = 0
            buffer = b""
            while answers < 100:
                buffer += await stream.receive_some(65536)
                ws.receive_data(buffer)
                buffer = b""
                answers += sum(1 for event in ws.events() if isinstance(event, TextMessage))
    assert answers == 100
    assert [e.kind for e in seen] == ["message_flood"]


async def test_handler_concurrency_is_bounded(nursery: trio.Nursery) -> None:
    router = Router()
    running = 0
    most = 0

    @router.on("Heartbeat")
    async def slow(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(0.05)
        running -= 1
        return {"currentTime": "2024-01-01T00:00:00Z"}

    server, _ = await start(nursery, router=router, limits=Limits(max_concurrent_handlers=2))
    url = f"ws://127.0.0.1:{server.port}/o"

    async def station(n: int) -> None:
        async with connect(url, f"CP{n}", versions=["1.6"]) as cp:
            await cp.call("Heartbeat", {})

    with trio.fail_after(20):
        async with trio.open_nursery() as stations:
            for n in range(6):
                stations.start_soon(station, n)
    assert most == 2
