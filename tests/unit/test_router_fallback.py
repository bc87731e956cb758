"""``Router.fallback``: the catch-all for actions no route handles (in-process, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp_router import ChargePoint, Router, Server, testing, utc_now
from ocpp_router.errors import CallError, PropertyConstraintViolationError


async def test_without_fallback_unhandled_actions_are_not_supported() -> None:
    router = Router()
    assert router.resolve("1.6", "Heartbeat") is None
    async with testing.connect(Server(router), "CP1", "1.6") as cp:
        with pytest.raises(CallError) as caught:
            await cp.call("Heartbeat", {})
    assert caught.value.code == "NotSupported"


async def test_fallback_answers_every_action_without_a_route() -> None:
    router = Router()
    seen: list[tuple[str, str, dict[str, Any]]] = []

    @router.on("BootNotification")
    async def boot(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted", "currentTime": utc_now(), "interval": 5}

    @router.fallback
    async def relay(cp: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append((cp.id, action, payload))
        if action == "Authorize":
            if payload["idTag"] == "bad":
                raise PropertyConstraintViolationError("blocked tag")
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "Heartbeat":
            return {"currentTime": utc_now()}
        return {}

    assert router.actions("1.6") == {"BootNotification"}  # the fallback is no route of its own
    async with testing.connect(Server(router), "CP1", "1.6") as cp:
        assert (await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}))["interval"] == 5
        assert (await cp.call("Authorize", {"idTag": "T1"}))["idTagInfo"]["status"] == "Accepted"
        assert "currentTime" in await cp.call("Heartbeat", {})
        with pytest.raises(CallError) as caught:
            await cp.call("Authorize", {"idTag": "bad"})
        assert caught.value.code == "PropertyConstraintViolation"
    # The specific route won for BootNotification; everything else reached the fallback.
    assert [(identity, action) for identity, action, _ in seen] == [
        ("CP1", "Authorize"),
        ("CP1", "Heartbeat"),
        ("CP1", "Authorize"),
    ]
    assert seen[0][2] == {"idTag": "T1"}


async def test_fallback_response_is_validated() -> None:
    router = Router()

    @router.fallback
    async def wrong(cp: ChargePoint, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": {"status": "Maybe"}}

    async with testing.connect(Server(router), "CP1", "1.6") as cp:
        with pytest.raises(CallError) as caught:
            await cp.call("Authorize", {"idTag": "T1"})
    assert caught.value.code == "InternalError"


def test_included_routes_win_over_the_fallback_and_outermost_fallback_wins() -> None:
    outer, plugin, inner = Router(), Router(), Router()

    @plugin.on("Heartbeat")
    async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    @inner.fallback
    async def inner_fallback(cp: ChargePoint, action: str, payload: Any) -> Any:
        return "inner"

    outer.include(plugin)
    outer.include(inner)
    heartbeat_route = outer.resolve("1.6", "Heartbeat")
    assert heartbeat_route is not None and heartbeat_route.handler is heartbeat
    authorize_route = outer.resolve("1.6", "Authorize")
    assert authorize_route is not None and not authorize_route.typed
    assert "inner_fallback" in authorize_route.handler.__qualname__

    @outer.fallback
    async def outer_fallback(cp: ChargePoint, action: str, payload: Any) -> Any:
        return "outer"

    # Registering invalidates the cache: the outermost fallback wins now.
    route = outer.resolve("1.6", "Authorize")
    assert route is not None and "outer_fallback" in route.handler.__qualname__


def test_fallback_must_be_async() -> None:
    router = Router()
    with pytest.raises(TypeError, match="must be an async function"):
        router.fallback(lambda cp, action, payload: None)  # type: ignore[arg-type,return-value]
