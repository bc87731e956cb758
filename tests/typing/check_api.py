"""Checked by mypy --strict only: the public API's types as a user sees them."""

from __future__ import annotations

from typing import Any

import ocpp_router
from ocpp_router import ChargePoint, Router, Server, v16
from ocpp_router.errors import CallError, CallTimeoutError, OcppError
from typing_extensions import assert_type

router = Router()


@router.on(v16.Action.BootNotification)
async def boot(cp: ChargePoint, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
    assert_type(request.charge_point_vendor, str)
    return v16.BootNotificationResponse(
        status=v16.RegistrationStatus.Accepted, current_time=ocpp_router.utc_now(), interval=300
    )


@router.on("Heartbeat")
async def heartbeat(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": ocpp_router.utc_now()}


async def remote_reset(server: Server) -> None:
    try:
        result = await server.call("CP1", v16.ResetRequest(type=v16.ResetType.Soft), timeout=10)
    except CallError as exc:
        assert_type(exc.code, str)
    except CallTimeoutError:
        pass
    except OcppError:
        raise
    else:
        print(result)


registry = ocpp_router.SchemaRegistry.bundled("1.6")
failure = registry.validate("Heartbeat", "request", {})
assert_type(failure, ocpp_router.ValidationFailure | None)
