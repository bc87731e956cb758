"""Router and session behaviour through the public API, in-process (ocpp_router.testing)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, Router, Server, SessionOptions, testing, utc_now, v16, v201
from ocpp_router.errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    NotConnectedError,
    PropertyConstraintViolationError,
)

BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}


def make_router() -> Router:
    router = Router()

    @router.on(v16.Action.BootNotification)
    async def boot(cp: ChargePoint, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        assert isinstance(request, v16.BootNotificationRequest)
        return v16.BootNotificationResponse(status=v16.RegistrationStatus.Accepted, current_time=utc_now(), interval=60)

    @router.on("Heartbeat")
    async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        assert payload == {}
        return {"currentTime": utc_now()}

    @router.on("Authorize")
    async def authorize(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["idTag"] == "crash":
            raise RuntimeError("secret internals")
        if payload["idTag"] == "bad":
            raise PropertyConstraintViolationError("idTag is not allowed", {"idTag": "bad"})
        if payload["idTag"] == "invalid-answer":
            return {"idTagInfo": {"status": "Maybe"}}
        return {"idTagInfo": {"status": "Accepted"}}

    return router


async def test_typed_and_dict_handlers() -> None:
    server = Server(make_router())
    async with testing.connect(server, "CP1", "1.6") as cp:
        boot = await cp.call(v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M"))
        assert isinstance(boot, v16.BootNotificationResponse)
        assert boot.status == v16.RegistrationStatus.Accepted and boot.interval == 60
        beat = await cp.call("Heartbeat", {})
        assert isinstance(beat, dict) and beat["currentTime"].endswith("Z")


@pytest.mark.parametrize(
    ("version", "id_tag", "code"),
    [
        ("1.6", "crash", "InternalError"),
        ("1.6", "bad", "PropertyConstraintViolation"),
        ("1.6", "invalid-answer", "InternalError"),
    ],
)
async def test_handler_failures_become_call_errors(version: str, id_tag: str, code: str) -> None:
    server = Server(make_router())
    async with testing.connect(server, "CP1", version) as cp:
        with pytest.raises(CallError) as info:
            await cp.call("Authorize", {"idTag": id_tag})
        assert info.value.code == code
        assert "secret" not in info.value.description, "exception text never leaks"


async def test_not_supported_and_not_implemented() -> None:
    server = Server(make_router())
    async with testing.connect(server, "CP1", "2.0.1") as cp:
        with pytest.raises(CallError) as info:
            await cp.call(
                "StatusNotification",
                {"timestamp": utc_now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
            )
        assert info.value.code == "NotSupported"
        # An unknown action cannot even be sent by our own client (schema registry check):
        with pytest.raises(LocalProtocolError):
            await cp.call("NoSuchAction", {})


@pytest.mark.parametrize(
    ("version", "payload", "code"),
    [
        ("1.6", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        ("1.6", {**BOOT_16, "extra": 1}, "FormationViolation"),
        ("2.0.1", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (
            "2.0.1",
            {"reason": "Nope", "chargingStation": {"model": "M", "vendorName": "V"}},
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_schema_errors_spelled_per_version(version: str, payload: dict[str, Any], code: str) -> None:
    server = Server(make_router())
    sloppy = SessionOptions(outgoing_validation="off")  # let our client send what a broken station would
    async with testing.connect(server, "CP1", version, options=sloppy) as cp:
        with pytest.raises(CallError) as info:
            await cp.call("BootNotification", payload)
        assert info.value.code == code
        assert info.value.description


async def test_per_version_routes_and_include_precedence() -> None:
    plugin = Router()

    @plugin.on("Heartbeat")
    async def plugin_heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": "2020-01-01T00:00:00Z"}

    app = Router()

    @app.on("Heartbeat", version="2.0.1")
    async def app_heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"currentTime": "2030-01-01T00:00:00Z"}

    app.include(plugin)
    server = Server(app)
    async with testing.connect(server, "A", "2.0.1") as cp201:
        assert (await cp201.call("Heartbeat", {}))["currentTime"].startswith("2030")
    async with testing.connect(server, "B", "1.6") as cp16:
        assert (await cp16.call("Heartbeat", {}))["currentTime"].startswith("2020")


async def test_after_hook_runs_after_answer() -> None:
    router = make_router()
    seen: list[tuple[str, Any]] = []
    done = trio.Event()

    @router.after("Heartbeat")
    async def after(cp: ChargePoint, request: Any, response: Any) -> None:
        seen.append((cp.id, response["currentTime"]))
        done.set()

    server = Server(router)
    async with testing.connect(server, "CP9", "1.6") as cp:
        reply = await cp.call("Heartbeat", {})
        with trio.fail_after(5):
            await done.wait()
    assert seen == [("CP9", reply["currentTime"])]


def test_registration_rejects_sync_handlers() -> None:
    router = Router()
    with pytest.raises(TypeError, match="async"):

        @router.on("Heartbeat")
        def sync_handler(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
            return {}


async def test_server_calls_charge_point_and_timeouts(autojump_clock: trio.testing.MockClock) -> None:
    cp_router = Router()
    release = trio.Event()

    @cp_router.on("Reset")
    async def reset(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    @cp_router.on("ClearCache")
    async def slow(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    server = Server(make_router())
    async with testing.connect(server, "CP1", "2.0.1", router=cp_router):
        typed = await server.call("CP1", v201.ResetRequest(type=v201.ResetEnumType.Immediate))
        assert typed.status == v201.ResetStatusEnumType.Accepted
        with pytest.raises(CallTimeoutError) as timed_out:
            await server.call("CP1", "ClearCache", {}, timeout=5)
        assert isinstance(timed_out.value, trio.TooSlowError)
        # the slot is free again: the next call goes out and is answered
        release.set()
        assert await server.call("CP1", "Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
        with pytest.raises(NotConnectedError):
            await server.call("nobody", "Reset", {"type": "OnIdle"})


async def test_calls_queue_one_outstanding_per_direction() -> None:
    cp_router = Router()
    active = 0
    most = 0

    @cp_router.on("ClearCache")
    async def clear(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await trio.sleep(0.01)
        active -= 1
        return {"status": "Accepted"}

    server = Server(make_router())
    async with testing.connect(server, "CP1", "1.6", router=cp_router):
        results: list[Any] = []

        async def one() -> None:
            results.append(await server.call("CP1", "ClearCache", {}))

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(one)
    assert len(results) == 10 and most == 1


async def test_disconnect_mid_call_fails_fast() -> None:
    cp_router = Router()

    @cp_router.on("ClearCache")
    async def never(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    server = Server(make_router())
    with trio.fail_after(5):
        async with testing.connect(server, "CP1", "1.6", router=cp_router) as cp:
            async with trio.open_nursery() as nursery:

                async def close_soon() -> None:
                    await trio.sleep(0.05)
                    await cp.close()

                nursery.start_soon(close_soon)
                with pytest.raises(ConnectionClosedError):
                    await server.call("CP1", "ClearCache", {}, timeout=60)


async def test_local_payload_errors_never_reach_the_wire() -> None:
    server = Server(make_router())
    async with testing.connect(server, "CP1", "1.6") as cp:
        with pytest.raises(LocalProtocolError) as info:
            await cp.call("BootNotification", {"chargePointVendor": "V"})
        assert info.value.code == "OccurrenceConstraintViolation"
        assert await cp.call("BootNotification", BOOT_16)


def test_typed_handler_is_bound_to_its_version() -> None:
    router = Router()

    @router.on("BootNotification")
    async def boot16(cp: ChargePoint, request: v16.BootNotificationRequest) -> dict[str, Any]:
        return {}

    assert router.resolve("1.6", "BootNotification") is not None
    assert router.resolve("2.0.1", "BootNotification") is None
    with pytest.raises(TypeError, match=r"OCPP 1\.6 message"):

        @router.on("Heartbeat", version="2.0.1")
        async def wrong(cp: ChargePoint, request: v16.HeartbeatRequest) -> dict[str, Any]:  # pragma: no cover
            return {}


async def test_typed_call_must_match_the_connection_version() -> None:
    server = Server(make_router())
    async with testing.connect(server, "CP1", "2.0.1") as cp:
        with pytest.raises(LocalProtocolError, match=r"1\.6 message"):
            await cp.call(v16.HeartbeatRequest())


async def test_typed_request_with_a_value_field_is_not_taken_for_an_action() -> None:
    cp_router = Router()

    @cp_router.on("ChangeConfiguration")
    async def change(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    server = Server(make_router())
    async with testing.connect(server, "CP1", "1.6", router=cp_router):
        reply = await server.call("CP1", v16.ChangeConfigurationRequest(key="MeterValueSampleInterval", value="60"))
        assert reply.status == v16.ConfigurationStatus.Accepted
