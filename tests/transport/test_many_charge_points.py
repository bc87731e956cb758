"""Many charge points over real sockets, and calls crossing in flight on one connection.

Our ``connect()`` clients and our server share one trio process on 127.0.0.1. Each
connection carries calls in both directions at the same moment: a charge point's Heartbeat
is still being handled by the server while the server's GetConfiguration / GetVariables is
being handled by that charge point (each handler waits until the other one has started, so
the overlap is guaranteed, not just likely).
"""

import time
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import trio
from ocpp_router import ChargePoint, Router, Server, connect, utc_now

N_CHARGE_POINTS = 1000
CONNECT_CONCURRENCY = 100  # handshakes in flight at once: no connect storm on the listener
CALL_TIMEOUT = 60

BOOT = {
    "1.6": {"chargePointVendor": "LoadTest", "chargePointModel": "M1"},
    "2.0.1": {"chargingStation": {"vendorName": "LoadTest", "model": "M2"}, "reason": "PowerUp"},
}
STATUS = {
    "1.6": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "2.0.1": {"timestamp": "2024-05-01T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
}
# The server's calls to a charge point: the first one crosses the charge point's Heartbeat.
SERVER_CALLS = {
    "1.6": [
        ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
    ],
    "2.0.1": [
        (
            "GetVariables",
            {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
        ),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}),
    ],
}


def _station_answer(identity: str, action: str) -> dict[str, Any]:
    """What a charge point answers; it carries the identity so mixed-up replies would show."""
    if action == "GetConfiguration":
        return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": identity}]}
    if action == "GetVariables":
        return {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": identity,
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        }
    return {"status": "Accepted"}


class Crossing:
    """Per-identity rendezvous: both handlers start before either one answers."""

    def __init__(self) -> None:
        self.server_handling: dict[str, trio.Event] = {}
        self.station_handling: dict[str, trio.Event] = {}

    def events(self, identity: str) -> tuple[trio.Event, trio.Event]:
        if identity not in self.server_handling:
            self.server_handling[identity] = trio.Event()
            self.station_handling[identity] = trio.Event()
        return self.server_handling[identity], self.station_handling[identity]


async def test_thousand_charge_points_with_calls_in_both_directions() -> None:
    started = time.perf_counter()
    crossing = Crossing()
    server_handled: Counter[tuple[str, str]] = Counter()  # (identity, action) the server's handlers ran
    station_handled: Counter[tuple[str, str]] = Counter()  # (identity, action) the stations' handlers ran
    station_got: Counter[tuple[str, str]] = Counter()  # answers the stations received
    server_got: Counter[tuple[str, str]] = Counter()  # answers the server received
    errors: list[BaseException] = []
    server_calls_done: dict[str, trio.Event] = {}
    versions_seen: Counter[str] = Counter()

    router = Router()

    @router.on("BootNotification")
    async def boot(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        server_handled[cp.id, "BootNotification"] += 1
        versions_seen[cp.version] += 1
        return {"status": "Accepted", "currentTime": utc_now(), "interval": 300}

    @router.on("Heartbeat")
    async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        server_handled[cp.id, "Heartbeat"] += 1
        server_handling, station_handling = crossing.events(cp.id)
        server_handling.set()
        await station_handling.wait()  # the server's call is being handled by the station right now
        return {"currentTime": utc_now()}

    @router.on("StatusNotification")
    async def status(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        server_handled[cp.id, "StatusNotification"] += 1
        return {}

    @router.after("BootNotification")
    async def call_the_station(cp: ChargePoint, request: Any, response: Any) -> None:
        # Runs after the Boot answer went out, concurrently with the station's next calls.
        try:
            for action, payload in SERVER_CALLS[cp.version]:
                answer = await cp.call(action, payload, timeout=CALL_TIMEOUT)
                assert answer == _station_answer(cp.id, action), (cp.id, action, answer)
                server_got[cp.id, action] += 1
        except BaseException as exc:
            errors.append(exc)
            raise
        finally:
            server_calls_done.setdefault(cp.id, trio.Event()).set()

    station_router = Router()

    async def crossing_handler(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        action = "GetConfiguration" if cp.version == "1.6" else "GetVariables"
        station_handled[cp.id, action] += 1
        server_handling, station_handling = crossing.events(cp.id)
        station_handling.set()
        await server_handling.wait()  # our Heartbeat is being handled by the server right now
        return _station_answer(cp.id, action)

    station_router.on("GetConfiguration", version="1.6")(crossing_handler)
    station_router.on("GetVariables", version="2.0.1")(crossing_handler)

    @station_router.on("TriggerMessage")
    async def trigger(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        station_handled[cp.id, "TriggerMessage"] += 1
        return _station_answer(cp.id, "TriggerMessage")

    limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)
    all_called = trio.Event()
    release = trio.Event()
    finished = 0

    async def station(index: int, port: int) -> None:
        nonlocal finished
        identity = f"CP{index:04d}"
        version = "1.6" if index % 2 else "2.0.1"
        async with AsyncExitStack() as stack:
            async with limiter:
                cp = await stack.enter_async_context(
                    connect(f"ws://127.0.0.1:{port}/ocpp", identity, station_router, versions=[version])
                )
            boot_answer = await cp.call("BootNotification", BOOT[version], timeout=CALL_TIMEOUT)
            assert boot_answer["status"] == "Accepted"
            station_got[identity, "BootNotification"] += 1
            beat = await cp.call("Heartbeat", {}, timeout=CALL_TIMEOUT)
            assert set(beat) == {"currentTime"}
            station_got[identity, "Heartbeat"] += 1
            assert await cp.call("StatusNotification", STATUS[version], timeout=CALL_TIMEOUT) == {}
            station_got[identity, "StatusNotification"] += 1
            await server_calls_done.setdefault(identity, trio.Event()).wait()
            finished += 1
            if finished == N_CHARGE_POINTS:
                all_called.set()
            await release.wait()  # keep every connection open until the server was counted

    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(Server(router).serve, "127.0.0.1", 0)
            async with trio.open_nursery() as stations:
                for index in range(N_CHARGE_POINTS):
                    stations.start_soon(station, index, server.port)
                await all_called.wait()
                calls_done = time.perf_counter()
                assert len(server.charge_points) == N_CHARGE_POINTS
                assert sorted(server.charge_points) == [f"CP{i:04d}" for i in range(N_CHARGE_POINTS)]
                release.set()
            closed = time.perf_counter()
            with trio.fail_after(10):
                while server.charge_points:
                    await trio.sleep(0.01)
            await server.aclose(grace_period=1)
    ended = time.perf_counter()
    print(
        f"\n{N_CHARGE_POINTS} charge points: connect+calls {calls_done - started:.2f}s, "
        f"clients closed {closed - calls_done:.2f}s, server drained {ended - closed:.2f}s, "
        f"total {ended - started:.2f}s"
    )

    assert errors == []
    identities = [f"CP{i:04d}" for i in range(N_CHARGE_POINTS)]
    assert versions_seen == {"1.6": N_CHARGE_POINTS // 2, "2.0.1": N_CHARGE_POINTS // 2}
    expected_server = Counter(
        {(i, a): 1 for i in identities for a in ("BootNotification", "Heartbeat", "StatusNotification")}
    )
    assert server_handled == expected_server
    assert station_got == expected_server
    expected_station = Counter(
        {(i, a): 1 for n, i in enumerate(identities) for a, _ in SERVER_CALLS["1.6" if n % 2 else "2.0.1"]}
    )
    assert station_handled == expected_station
    assert server_got == expected_station


async def test_calls_cross_in_flight_on_one_connection() -> None:
    """Both sides call at the same moment; handlers sleep and wait for each other; all complete."""
    server_in_handler = trio.Event()
    station_in_handler = trio.Event()
    log: list[str] = []

    router = Router()

    @router.on("Heartbeat")
    async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        log.append("server handles Heartbeat")
        server_in_handler.set()
        await trio.sleep(0.05)
        await station_in_handler.wait()
        log.append("server answers Heartbeat")
        return {"currentTime": "2024-05-01T10:00:00Z"}

    @router.on("StatusNotification")
    async def status(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        log.append(f"server handles StatusNotification {payload['status']}")
        await trio.sleep(0.01)
        return {}

    station_router = Router()

    @station_router.on("Reset")
    async def reset(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        log.append("station handles Reset")
        station_in_handler.set()
        await trio.sleep(0.05)
        await server_in_handler.wait()
        log.append("station answers Reset")
        return {"status": "Accepted"}

    @station_router.on("GetConfiguration")
    async def get_configuration(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        log.append("station handles GetConfiguration")
        await trio.sleep(0.01)
        return {"configurationKey": [], "unknownKey": payload["key"]}

    results: dict[str, Any] = {}

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(Server(router, versions=["1.6"]).serve, "127.0.0.1", 0)
            async with connect(f"ws://127.0.0.1:{server.port}/ocpp", "CROSS", station_router, versions=["1.6"]) as cp:
                while "CROSS" not in server.charge_points:
                    await trio.sleep(0.005)

                async def from_station(name: str, action: str, payload: dict[str, Any]) -> None:
                    results[name] = await cp.call(action, payload, timeout=10)

                async def from_server(name: str, action: str, payload: dict[str, Any]) -> None:
                    results[name] = await server.call("CROSS", action, payload, timeout=10)

                begin = trio.current_time()
                async with trio.open_nursery() as calls:
                    calls.start_soon(from_station, "heartbeat", "Heartbeat", {})
                    calls.start_soon(from_server, "reset", "Reset", {"type": "Soft"})
                    # More calls on both sides: they queue behind the crossing pair (one CALL in
                    # flight per direction) and must still be answered exactly once each.
                    for status in ("Available", "Preparing"):
                        calls.start_soon(
                            from_station,
                            f"status {status}",
                            "StatusNotification",
                            {"connectorId": 1, "errorCode": "NoError", "status": status},
                        )
                    calls.start_soon(from_server, "config", "GetConfiguration", {"key": ["A", "B"]})
                elapsed = trio.current_time() - begin
            await server.aclose(grace_period=1)

    assert results == {
        "heartbeat": {"currentTime": "2024-05-01T10:00:00Z"},
        "reset": {"status": "Accepted"},
        "status Available": {},
        "status Preparing": {},
        "config": {"configurationKey": [], "unknownKey": ["A", "B"]},
    }
    # Both handlers were running before either answered: the calls really crossed.
    first_answer = min(log.index("server answers Heartbeat"), log.index("station answers Reset"))
    assert log.index("server handles Heartbeat") < first_answer
    assert log.index("station handles Reset") < first_answer
    assert sorted(log) == sorted(
        [
            "server handles Heartbeat",
            "server answers Heartbeat",
            "station handles Reset",
            "station answers Reset",
            "server handles StatusNotification Available",
            "server handles StatusNotification Preparing",
            "station handles GetConfiguration",
        ]
    )
    # The crossing pair overlapped instead of running one after the other.
    assert elapsed < 5
