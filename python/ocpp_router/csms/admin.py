"""The admin HTTP API of the reference CSMS (FastAPI on anyio, served by hypercorn's trio
worker in the CSMS's own trio run). Reference: docs/admin-api.md; schema: ``/openapi.json``.

Errors are JSON objects ``{"error": <kind>, "message": <text>, ...}``:

=====  ===================  ==========================================================
 400   ``bad_request``      malformed JSON body
 401   ``unauthorized``     ``--admin-token`` is set and the bearer token is missing/wrong
 404   ``not_found``        no such charge point, id token, tariff, transaction, ...
 409   ``not_connected``    the charge point is not connected (nothing was sent)
 409   ``not_accepted``     its registration (Rejected, Pending) forbids the call
 409   ``exists``           POST of a record that exists
 422   ``invalid_request``  the request body/query is invalid (``details`` lists why)
 422   ``invalid_payload``  the OCPP payload breaks the schema (nothing was sent)
 502   ``call_error``       the charge point answered CALLERROR (``code``, ``description``,
                            ``details``)
 502   ``invalid_response`` the charge point's answer broke the schema
 504   ``timeout``          no answer within ``timeout`` seconds
=====  ===================  ==========================================================
"""

import logging
import secrets
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..errors import (
    CallError,
    CallTimeoutError,
    ConnectionClosedError,
    LocalProtocolError,
    NotConnectedError,
    RemoteProtocolError,
)
from ..v16._base import NotAcceptedError as NotAccepted16
from ..v16._base import format_time
from ..v16.smart_charging import InvalidChargingProfileError
from ..v201._base import NotAcceptedError as NotAccepted201
from . import status_page
from .app import Csms
from .config import BOOT_STATUSES, TOKEN_STATUSES

__all__ = ["ApiError", "create_app"]

log = logging.getLogger("ocpp_router.admin")

BootStatus = Literal["Accepted", "Pending", "Rejected"]
TokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
assert BOOT_STATUSES == ("Accepted", "Pending", "Rejected")
assert TOKEN_STATUSES == ("Accepted", "Blocked", "Expired", "Invalid")

Timeout = Annotated[float | None, Field(gt=0, le=300, description="seconds to wait for the answer (default 30)")]


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


# -- request bodies --------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChargePointIn(_Body):
    identity: str | None = Field(None, min_length=1, max_length=48, description="required for POST")
    security_profile: int | None = Field(None, ge=0, le=3, description="the only profile allowed; null: any")
    password: str | None = Field(None, min_length=16, max_length=40, description="HTTP Basic password (write-only)")
    boot_status: BootStatus = "Accepted"
    description: str | None = None


class IdTokenIn(_Body):
    id_token: str | None = Field(None, min_length=1, max_length=36, description="required for POST")
    status: TokenStatus = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, min_length=1, max_length=36, description="1.6 parent / 2.x group token")
    type: str | None = Field(None, max_length=20, description="2.x IdTokenEnumType it must come as; null: any")


class SettingsIn(_Body):
    accept_unknown_charge_points: bool | None = None
    unknown_id_tokens: Literal["Invalid", "Accepted", "Blocked"] | None = None


class CallIn(_Body):
    action: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)
    timeout: Timeout = None


class RemoteStartIn(_Body):
    id_tag: str = Field(min_length=1, max_length=36)
    connector_id: int | None = Field(None, ge=0, description="1.6 connector")
    evse_id: int | None = Field(None, ge=1, description="2.x EVSE")
    token_type: str | None = Field(None, description="2.x IdTokenEnumType (default Central)")
    group_id_tag: str | None = None
    charging_profile: dict[str, Any] | None = Field(None, description="a TxProfile, wire form of the version")
    timeout: Timeout = None


class RemoteStopIn(_Body):
    transaction_id: int | str
    timeout: Timeout = None


class ResetIn(_Body):
    type: str | None = Field(None, description="1.6: Soft (default) or Hard; 2.x: Immediate (default) or OnIdle")
    evse_id: int | None = Field(None, ge=0)
    timeout: Timeout = None


class TriggerIn(_Body):
    message: str = Field(description="the requestedMessage, e.g. StatusNotification")
    connector_id: int | None = Field(None, ge=0)
    evse_id: int | None = Field(None, ge=0)
    timeout: Timeout = None


class ChargingProfileIn(_Body):
    connector_id: int | None = Field(None, ge=0, description="1.6 connector (0: the charge point)")
    evse_id: int | None = Field(None, ge=0, description="2.x EVSE (0: the station)")
    profile: dict[str, Any] | None = Field(None, description="the profile in the wire form of the version")
    profile_id: int | None = Field(None, ge=0, description="builder: allocated when absent")
    purpose: str | None = Field(None, description="builder: TxDefaultProfile, TxProfile, ChargePointMaxProfile, ...")
    periods: list[list[int | float]] | None = Field(None, description="builder: [[start_s, limit(, phases)], ...]")
    unit: Literal["A", "W"] | None = None
    stack_level: int | None = Field(None, ge=0)
    kind: Literal["Absolute", "Recurring", "Relative"] | None = None
    transaction_id: int | str | None = None
    recurrency_kind: Literal["Daily", "Weekly"] | None = None
    start_schedule: str | None = None
    duration: int | None = Field(None, gt=0)
    min_charging_rate: float | None = Field(None, ge=0)
    valid_from: str | None = None
    valid_to: str | None = None
    timeout: Timeout = None


class ReservationIn(_Body):
    id_tag: str = Field(min_length=1, max_length=36)
    connector_id: int | None = Field(None, ge=0, description="1.6 connector (0: any)")
    evse_id: int | None = Field(None, ge=0, description="2.x EVSE (absent: any)")
    expiry_seconds: int | None = Field(None, gt=0, description="from now (default 900)")
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, max_length=36)
    token_type: str | None = Field(None, description="2.x IdTokenEnumType (default ISO14443)")
    timeout: Timeout = None


class TariffIn(_Body):
    charge_point: str | None = Field(None, description="null: every charge point without its own tariff")
    currency: str = Field(min_length=3, max_length=3)
    price_kwh: float | None = Field(None, ge=0)
    price_hour: float | None = Field(None, ge=0)
    price_session: float | None = Field(None, ge=0)
    display_text: str | None = Field(None, max_length=512, description="2.x: sent as personalMessage on Authorize")
    description: str | None = None


# -- the app ---------------------------------------------------------------------------------


def _profile_consistency(security_profile: int | None, has_password: bool) -> None:
    if security_profile in (1, 2) and not has_password:
        raise ApiError(422, "invalid_request", f"security profile {security_profile} needs a password")
    if security_profile == 0 and has_password:
        raise ApiError(422, "invalid_request", "security profile 0 uses no password; remove it or pick profile 1/2")


def create_app(csms: Csms) -> FastAPI:
    """The ASGI app for one ``Csms``."""

    async def authorized(request: Request) -> None:
        token = csms.config.admin_token
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(401, "unauthorized", "this admin API needs 'Authorization: Bearer <token>'")

    app = FastAPI(
        title="ocpp-router admin API",
        version=__version__,
        description="Operate the reference CSMS: charge points, id tokens, calls, transactions, reservations.",
    )
    guarded = [Depends(authorized)]

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.error, "message": exc.message, **exc.extra}, exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if any(d["type"] == "json_invalid" for d in details):
            return JSONResponse({"error": "bad_request", "message": "the body is not valid JSON"}, 400)
        message = "; ".join(f"{'.'.join(d['loc'][1:]) or d['loc'][0]}: {d['msg']}" for d in details)
        return JSONResponse({"error": "invalid_request", "message": message, "details": details}, 422)

    @app.exception_handler(NotConnectedError)
    @app.exception_handler(ConnectionClosedError)
    async def not_connected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "not_connected", "message": str(exc)}, 409)

    @app.exception_handler(NotAccepted16)
    @app.exception_handler(NotAccepted201)
    async def not_accepted(request: Request, exc: LocalProtocolError) -> JSONResponse:
        return JSONResponse({"error": "not_accepted", "message": exc.description}, 409)

    @app.exception_handler(LocalProtocolError)
    async def invalid_payload(request: Request, exc: LocalProtocolError) -> JSONResponse:
        return JSONResponse({"error": "invalid_payload", "message": exc.description, "code": exc.code}, 422)

    @app.exception_handler(CallError)
    async def call_error(request: Request, exc: CallError) -> JSONResponse:
        body = {
            "error": "call_error",
            "message": str(exc),
            "code": exc.code,
            "description": exc.description,
            "details": exc.details,
        }
        return JSONResponse(body, 502)

    @app.exception_handler(RemoteProtocolError)
    async def invalid_response(request: Request, exc: RemoteProtocolError) -> JSONResponse:
        return JSONResponse({"error": "invalid_response", "message": exc.description, "code": exc.code}, 502)

    @app.exception_handler(CallTimeoutError)
    async def timeout(request: Request, exc: CallTimeoutError) -> JSONResponse:
        return JSONResponse({"error": "timeout", "message": exc.description or "the charge point did not answer"}, 504)

    @app.exception_handler(InvalidChargingProfileError)
    async def invalid_profile(request: Request, exc: InvalidChargingProfileError) -> JSONResponse:
        return JSONResponse({"error": "invalid_request", "message": str(exc), "problems": exc.problems}, 422)

    @app.exception_handler(ValueError)
    async def invalid_value(request: Request, exc: ValueError) -> JSONResponse:
        body: dict[str, Any] = {"error": "invalid_request", "message": str(exc)}
        problems = getattr(exc, "problems", None)  # the 2.0.1 smart-charging plugin's errors
        if isinstance(problems, list):
            body["problems"] = problems
        return JSONResponse(body, 422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("admin API: %s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal_error", "message": "internal error; see the server log"}, 500)

    # -- health -------------------------------------------------------------------------

    @app.get("/health", tags=["health"], summary="the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["health"], summary="listening and the store is open (503 otherwise)")
    async def ready() -> JSONResponse:
        ok = csms.ready and csms.store.is_open
        body = {
            "ready": ok,
            "ocpp": f"ws://{csms.server.host}:{csms.server.port}/" if csms.server.port else None,
            "tls": [f"wss://{h}:{p}/" for h, p in csms.tls_addresses],
            "connected": len(csms.server.charge_points),
            "started_at": csms.started_at,
        }
        return JSONResponse(body, 200 if ok else 503)

    # -- settings -------------------------------------------------------------------------

    @app.get("/settings", tags=["settings"], dependencies=guarded)
    async def get_settings() -> dict[str, Any]:
        return csms.settings()

    @app.patch("/settings", tags=["settings"], dependencies=guarded)
    async def patch_settings(body: SettingsIn) -> dict[str, Any]:
        return await csms.update_settings(
            accept_unknown_charge_points=body.accept_unknown_charge_points, unknown_id_tokens=body.unknown_id_tokens
        )

    # -- charge points --------------------------------------------------------------------

    @app.get("/charge-points", tags=["charge points"], dependencies=guarded, summary="every known charge point")
    async def list_charge_points(connected: bool | None = None) -> list[dict[str, Any]]:
        states = [await csms.charge_point_state(identity) for identity in await csms.known_identities()]
        return [s for s in states if connected is None or s["connected"] is connected]

    @app.get("/charge-points/{identity}", tags=["charge points"], dependencies=guarded)
    async def get_charge_point(identity: str) -> dict[str, Any]:
        if identity not in await csms.known_identities():
            raise _not_found(f"charge point {identity!r}")
        return await csms.charge_point_state(identity)

    async def _save_charge_point(identity: str, body: ChargePointIn, *, partial: bool) -> dict[str, Any]:
        old = csms.store.charge_point(identity)
        given = body.model_fields_set if partial else set(ChargePointIn.model_fields) - {"identity"}
        if not partial and "password" not in body.model_fields_set:
            given = given - {"password"}  # PUT without a password keeps the stored one
        profile = body.security_profile if "security_profile" in given else (old.security_profile if old else None)
        has_password = body.password is not None if "password" in given else old is not None and old.has_password
        _profile_consistency(profile, has_password)
        changes: dict[str, Any] = {name: getattr(body, name) for name in given if name != "identity"}
        record = await csms.store.put_charge_point(identity, **changes)
        return record.public()

    @app.post("/charge-points", tags=["charge points"], dependencies=guarded, status_code=201)
    async def create_charge_point(body: ChargePointIn) -> dict[str, Any]:
        if body.identity is None:
            raise ApiError(422, "invalid_request", "identity: required")
        if csms.store.charge_point(body.identity) is not None:
            raise ApiError(409, "exists", f"charge point {body.identity!r} is already registered")
        return await _save_charge_point(body.identity, body, partial=False)

    @app.put("/charge-points/{identity}", tags=["charge points"], dependencies=guarded)
    async def put_charge_point(identity: str, body: ChargePointIn) -> dict[str, Any]:
        if body.identity not in (None, identity):
            raise ApiError(422, "invalid_request", "identity in the body differs from the path")
        return await _save_charge_point(identity, body, partial=False)

    @app.patch("/charge-points/{identity}", tags=["charge points"], dependencies=guarded)
    async def patch_charge_point(identity: str, body: ChargePointIn) -> dict[str, Any]:
        if csms.store.charge_point(identity) is None:
            raise _not_found(f"charge point {identity!r} in the registry")
        if body.identity not in (None, identity):
            raise ApiError(422, "invalid_request", "identity cannot be changed")
        return await _save_charge_point(identity, body, partial=True)

    @app.delete("/charge-points/{identity}", tags=["charge points"], dependencies=guarded, status_code=204)
    async def delete_charge_point(identity: str) -> Response:
        if not await csms.store.delete_charge_point(identity):
            raise _not_found(f"charge point {identity!r} in the registry")
        return Response(status_code=204)

    # -- calls ----------------------------------------------------------------------------

    @app.post(
        "/charge-points/{identity}/calls",
        tags=["calls"],
        dependencies=guarded,
        summary="send any OCPP call; answers the CALLRESULT payload",
    )
    async def call(identity: str, body: CallIn) -> Any:
        return await csms.server.call(identity, body.action, body.payload, timeout=body.timeout)

    @app.post("/charge-points/{identity}/remote-start", tags=["calls"], dependencies=guarded)
    async def remote_start(identity: str, body: RemoteStartIn) -> dict[str, Any]:
        return await csms.remote_start(
            identity,
            body.id_tag,
            connector_id=body.evse_id if body.evse_id is not None else body.connector_id,
            charging_profile=body.charging_profile,
            token_type=body.token_type,
            group_id_tag=body.group_id_tag,
            timeout=body.timeout,
        )

    @app.post("/charge-points/{identity}/remote-stop", tags=["calls"], dependencies=guarded)
    async def remote_stop(identity: str, body: RemoteStopIn) -> dict[str, Any]:
        result: dict[str, Any] = await csms.remote_stop(identity, body.transaction_id, timeout=body.timeout)
        return result

    @app.post("/charge-points/{identity}/reset", tags=["calls"], dependencies=guarded)
    async def reset(identity: str, body: ResetIn) -> dict[str, Any]:
        return await csms.reset(identity, body.type, evse_id=body.evse_id, timeout=body.timeout)

    @app.post("/charge-points/{identity}/trigger", tags=["calls"], dependencies=guarded)
    async def trigger(identity: str, body: TriggerIn) -> dict[str, Any]:
        return await csms.trigger(
            identity, body.message, connector_id=body.connector_id, evse_id=body.evse_id, timeout=body.timeout
        )

    @app.post("/charge-points/{identity}/charging-profiles", tags=["charging profiles"], dependencies=guarded)
    async def set_charging_profile(identity: str, body: ChargingProfileIn) -> dict[str, Any]:
        location = body.evse_id if body.evse_id is not None else (body.connector_id or 0)
        fields = body.model_fields_set - {"connector_id", "evse_id", "profile", "timeout"}
        builder = {name: getattr(body, name) for name in fields} if fields else None
        return await csms.set_charging_profile(
            identity, location, profile=body.profile, builder=builder, timeout=body.timeout
        )

    @app.get("/charge-points/{identity}/charging-profiles", tags=["charging profiles"], dependencies=guarded)
    async def list_charging_profiles(identity: str) -> list[dict[str, Any]]:
        return await csms.store.charging_profiles(identity)

    # -- transactions ---------------------------------------------------------------------

    @app.get("/transactions", tags=["transactions"], dependencies=guarded)
    async def list_transactions(
        charge_point: str | None = None, id_tag: str | None = None, active: bool | None = None
    ) -> list[dict[str, Any]]:
        return await csms.transactions(charge_point=charge_point, id_tag=id_tag, active=active)

    @app.get("/charge-points/{identity}/transactions", tags=["transactions"], dependencies=guarded)
    async def charge_point_transactions(
        identity: str, id_tag: str | None = None, active: bool | None = None
    ) -> list[dict[str, Any]]:
        return await csms.transactions(charge_point=identity, id_tag=id_tag, active=active)

    @app.get("/charge-points/{identity}/transactions/{transaction_id}", tags=["transactions"], dependencies=guarded)
    async def get_transaction(identity: str, transaction_id: str) -> dict[str, Any]:
        found = await csms.transaction(identity, transaction_id)
        if found is None:
            raise _not_found(f"transaction {transaction_id!r} of {identity!r}")
        return found

    # -- reservations ---------------------------------------------------------------------

    @app.get("/reservations", tags=["reservations"], dependencies=guarded)
    async def list_reservations(charge_point: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        return await csms.reservations(charge_point=charge_point, state=state)

    @app.get("/charge-points/{identity}/reservations", tags=["reservations"], dependencies=guarded)
    async def charge_point_reservations(identity: str, state: str | None = None) -> list[dict[str, Any]]:
        return await csms.reservations(charge_point=identity, state=state)

    @app.post("/charge-points/{identity}/reservations", tags=["reservations"], dependencies=guarded, status_code=201)
    async def create_reservation(identity: str, body: ReservationIn) -> dict[str, Any]:
        if body.expiry_date is not None and body.expiry_seconds is not None:
            raise ApiError(422, "invalid_request", "give expiry_seconds or expiry_date, not both")
        expiry: datetime | timedelta = timedelta(seconds=body.expiry_seconds or 900)
        if body.expiry_date is not None:
            expiry = body.expiry_date if body.expiry_date.tzinfo else body.expiry_date.replace(tzinfo=timezone.utc)
        return await csms.reserve(
            identity,
            body.id_tag,
            expiry=expiry,
            connector_id=body.evse_id if body.evse_id is not None else body.connector_id,
            parent_id_tag=body.parent_id_tag,
            token_type=body.token_type,
            timeout=body.timeout,
        )

    @app.delete("/charge-points/{identity}/reservations/{reservation_id}", tags=["reservations"], dependencies=guarded)
    async def cancel_reservation(identity: str, reservation_id: int, timeout: Timeout = None) -> dict[str, Any]:
        return await csms.cancel_reservation(identity, reservation_id, timeout=timeout)

    # -- frames ---------------------------------------------------------------------------

    @app.get("/charge-points/{identity}/frames", tags=["frames"], dependencies=guarded)
    async def frames(identity: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> list[dict[str, str]]:
        return csms.recent_frames(identity, limit)

    if csms.metrics is not None:
        metrics = csms.metrics

        @app.get("/metrics", tags=["health"], dependencies=guarded, summary="Prometheus text exposition")
        async def prometheus() -> Response:
            return Response(metrics.render(), media_type=metrics.content_type)

    # -- id tokens ------------------------------------------------------------------------

    async def _save_token(id_token: str, body: IdTokenIn, *, partial: bool) -> dict[str, Any]:
        given = body.model_fields_set if partial else set(IdTokenIn.model_fields)
        changes: dict[str, Any] = {name: getattr(body, name) for name in given if name != "id_token"}
        if changes.get("expiry_date") is not None:
            expiry: datetime = changes["expiry_date"]
            changes["expiry_date"] = format_time(expiry if expiry.tzinfo else expiry.replace(tzinfo=timezone.utc))
        record = await csms.store.put_id_token(id_token, **changes)
        return record.public()

    @app.get("/id-tokens", tags=["id tokens"], dependencies=guarded)
    async def list_id_tokens() -> list[dict[str, Any]]:
        return [record.public() for record in csms.store.id_tokens()]

    @app.post("/id-tokens", tags=["id tokens"], dependencies=guarded, status_code=201)
    async def create_id_token(body: IdTokenIn) -> dict[str, Any]:
        if body.id_token is None:
            raise ApiError(422, "invalid_request", "id_token: required")
        if csms.store.id_token(body.id_token) is not None:
            raise ApiError(409, "exists", f"id token {body.id_token!r} exists")
        return await _save_token(body.id_token, body, partial=False)

    @app.get("/id-tokens/{id_token}", tags=["id tokens"], dependencies=guarded)
    async def get_id_token(id_token: str) -> dict[str, Any]:
        record = csms.store.id_token(id_token)
        if record is None:
            raise _not_found(f"id token {id_token!r}")
        status, _ = csms.token_verdict(id_token)
        return {**record.public(), "effective_status": status}

    @app.put("/id-tokens/{id_token}", tags=["id tokens"], dependencies=guarded)
    async def put_id_token(id_token: str, body: IdTokenIn) -> dict[str, Any]:
        if body.id_token is not None and body.id_token.casefold() != id_token.casefold():
            raise ApiError(422, "invalid_request", "id_token in the body differs from the path")
        return await _save_token(id_token, body, partial=False)

    @app.patch("/id-tokens/{id_token}", tags=["id tokens"], dependencies=guarded)
    async def patch_id_token(id_token: str, body: IdTokenIn) -> dict[str, Any]:
        if csms.store.id_token(id_token) is None:
            raise _not_found(f"id token {id_token!r}")
        return await _save_token(id_token, body, partial=True)

    @app.delete("/id-tokens/{id_token}", tags=["id tokens"], dependencies=guarded, status_code=204)
    async def delete_id_token(id_token: str) -> Response:
        if not await csms.store.delete_id_token(id_token):
            raise _not_found(f"id token {id_token!r}")
        return Response(status_code=204)

    # -- tariffs --------------------------------------------------------------------------

    @app.get("/tariffs", tags=["tariffs"], dependencies=guarded)
    async def list_tariffs(charge_point: str | None = None) -> list[dict[str, Any]]:
        return await csms.store.tariffs(charge_point)

    @app.post("/tariffs", tags=["tariffs"], dependencies=guarded, status_code=201)
    async def create_tariff(body: TariffIn) -> dict[str, Any]:
        data = body.model_dump(exclude={"charge_point"}, exclude_none=True)
        return await csms.add_tariff(body.charge_point, data)

    @app.get("/tariffs/{tariff_id}", tags=["tariffs"], dependencies=guarded)
    async def get_tariff(tariff_id: int) -> dict[str, Any]:
        found = await csms.store.tariff(tariff_id)
        if found is None:
            raise _not_found(f"tariff {tariff_id}")
        return found

    @app.delete("/tariffs/{tariff_id}", tags=["tariffs"], dependencies=guarded, status_code=204)
    async def delete_tariff(tariff_id: int) -> Response:
        if not await csms.delete_tariff(tariff_id):
            raise _not_found(f"tariff {tariff_id}")
        return Response(status_code=204)

    # The status page (/status, /status.js, /status.json): ocpp_router.csms.status_page.
    status_page.install(app, csms, dependencies=guarded)

    @app.get("/", include_in_schema=False, response_model=None)
    async def index(request: Request) -> dict[str, Any] | Response:
        if status_page.wants_html(request):  # a browser: the status page
            return status_page.page_response()
        return {
            "name": "ocpp-router admin API",
            "openapi": "/openapi.json",
            "docs": "/docs",
            "status": "/status",
            "now": _now(),
        }

    return app


def _now() -> str:
    return format_time(datetime.now(timezone.utc))
