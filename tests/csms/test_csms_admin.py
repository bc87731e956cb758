"""The admin API in-process: the CSMS in this trio run, httpx on its ASGI app, charge points
over real loopback sockets. Validation, error bodies, tariffs, charging profiles, auth."""

from __future__ import annotations

import pytest
import trio
from csms_support import BOOT16, BOOT201, Station, running_csms
from ocpp_router import connect
from ocpp_router.csms.admin import create_app

PASSWORD = "0123456789abcdef"


async def test_openapi_health_and_ready() -> None:
    with trio.fail_after(20):
        async with running_csms() as (csms, api, _):
            schema = (await api.get("/openapi.json")).json()
            for path in (
                "/charge-points",
                "/charge-points/{identity}",
                "/charge-points/{identity}/calls",
                "/charge-points/{identity}/remote-start",
                "/charge-points/{identity}/remote-stop",
                "/charge-points/{identity}/reset",
                "/charge-points/{identity}/trigger",
                "/charge-points/{identity}/charging-profiles",
                "/charge-points/{identity}/reservations",
                "/charge-points/{identity}/frames",
                "/id-tokens",
                "/transactions",
                "/reservations",
                "/tariffs",
                "/settings",
                "/health",
                "/ready",
            ):
                assert path in schema["paths"], path
            assert (await api.get("/ready")).json()["ready"] is True
            csms.ready = False
            assert (await api.get("/ready")).status_code == 503


async def test_registry_validation_and_errors() -> None:
    with trio.fail_after(20):
        async with running_csms() as (csms, api, _):
            short = await api.post("/charge-points", json={"identity": "CP1", "password": "short"})
            assert short.status_code == 422
            assert short.json()["error"] == "invalid_request"
            assert "password" in short.json()["message"]
            missing = await api.post("/charge-points", json={"identity": "CP1", "security_profile": 1})
            assert (missing.status_code, missing.json()["message"]) == (422, "security profile 1 needs a password")
            unknown_field = await api.post("/charge-points", json={"identity": "CP1", "colour": "red"})
            assert unknown_field.status_code == 422
            broken = await api.post(
                "/charge-points", content=b"{not json", headers={"content-type": "application/json"}
            )
            assert (broken.status_code, broken.json()["error"]) == (400, "bad_request")

            made = await api.post(
                "/charge-points", json={"identity": "CP1", "password": PASSWORD, "security_profile": 2}
            )
            assert made.status_code == 201
            # PUT without a password keeps the stored one; PATCH changes only what it names.
            put = await api.put("/charge-points/CP1", json={"security_profile": 1, "description": "hall 2"})
            assert put.json()["has_password"] is True and put.json()["security_profile"] == 1
            patched = await api.patch("/charge-points/CP1", json={"boot_status": "Pending"})
            assert (patched.json()["description"], patched.json()["boot_status"]) == ("hall 2", "Pending")
            removed = await api.patch("/charge-points/CP1", json={"password": None, "security_profile": 0})
            assert removed.json()["has_password"] is False
            assert (await api.patch("/charge-points/NOPE", json={})).status_code == 404
            assert (await api.get("/charge-points/NOPE")).json() == {
                "error": "not_found",
                "message": "charge point 'NOPE' not found",
            }
            assert (await api.delete("/charge-points/NOPE")).status_code == 404
            assert (await api.delete("/charge-points/CP1")).status_code == 204

            # id tokens: case-insensitive, expiry makes Accepted read as Expired, groups block members
            assert (await api.post("/id-tokens", json={"id_token": "GROUP", "status": "Blocked"})).status_code == 201
            member = await api.post("/id-tokens", json={"id_token": "member", "parent_id_tag": "GROUP"})
            assert member.json()["status"] == "Accepted"
            assert (await api.get("/id-tokens/MEMBER")).json()["effective_status"] == "Blocked"
            old = await api.put("/id-tokens/OLD", json={"expiry_date": "2020-01-01T00:00:00Z"})
            assert old.json()["expiry_date"] == "2020-01-01T00:00:00.000Z"
            assert csms.token_verdict("old")[0] == "Expired"
            assert (await api.post("/id-tokens", json={"id_token": "old"})).status_code == 409
            assert (await api.post("/id-tokens", json={"id_token": "X", "status": "Maybe"})).status_code == 422
            assert (await api.delete("/id-tokens/old")).status_code == 204
            assert sorted(t["id_token"] for t in (await api.get("/id-tokens")).json()) == ["GROUP", "member"]
            assert csms.token_verdict("never-seen")[0] == "Invalid"
            assert (await api.patch("/settings", json={"unknown_id_tokens": "Accepted"})).status_code == 200
            assert csms.token_verdict("never-seen")[0] == "Accepted"


async def test_admin_token_is_required_when_configured() -> None:
    with trio.fail_after(20):
        async with running_csms(**{"admin.token": "s3cret"}) as (_csms, api, _):
            assert (await api.get("/health")).status_code == 200
            refused = await api.get("/charge-points")
            assert refused.status_code == 401
            assert refused.json()["error"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
            wrong = await api.get("/charge-points", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await api.get("/charge-points", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200


async def test_tariffs_charging_profiles_and_trigger() -> None:
    station = Station()
    with trio.fail_after(30):
        async with running_csms(**{"id_tokens": ["TAG"]}) as (csms, api, ws):
            general = await api.post(
                "/tariffs", json={"currency": "EUR", "price_kwh": 0.39, "display_text": "0.39 EUR/kWh"}
            )
            assert general.status_code == 201
            own = await api.post(
                "/tariffs", json={"charge_point": "CP2", "currency": "EUR", "display_text": "Free today"}
            )
            assert [t["id"] for t in (await api.get("/tariffs", params={"charge_point": "CP2"})).json()] == [
                general.json()["id"],
                own.json()["id"],
            ]
            assert (await api.get(f"/tariffs/{own.json()['id']}")).json()["display_text"] == "Free today"

            async with connect(ws, "CP2", station.router(), versions=["2.0.1"]) as cp:
                await cp.call("BootNotification", BOOT201)
                info = (await cp.call("Authorize", {"idToken": {"idToken": "TAG", "type": "ISO14443"}}))["idTokenInfo"]
                assert info["personalMessage"] == {"format": "UTF8", "content": "Free today"}
                profile = await api.post(
                    "/charge-points/CP2/charging-profiles",
                    json={"evse_id": 1, "purpose": "TxDefaultProfile", "periods": [[0, 16.0], [3600, 8.0]]},
                )
                assert profile.status_code == 200, profile.text
                assert profile.json()["status"] == "Accepted"
                sent = station.received[-1][1]
                assert sent["evseId"] == 1
                assert sent["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][1] == {
                    "startPeriod": 3600,
                    "limit": 8.0,
                }
                trigger = await api.post("/charge-points/CP2/trigger", json={"message": "StatusNotification"})
                assert trigger.json() == {"status": "Accepted"}
                assert station.received[-1] == ("TriggerMessage", {"requestedMessage": "StatusNotification"})

            async with connect(ws, "CP1", station.router(), versions=["1.6"]) as cp:
                await cp.call("BootNotification", BOOT16)
                info = (await cp.call("Authorize", {"idTag": "TAG"}))["idTagInfo"]
                assert info == {"status": "Accepted"}
                bad = await api.post(
                    "/charge-points/CP1/charging-profiles",
                    json={"connector_id": 1, "purpose": "ChargePointMaxProfile", "periods": [[0, 6.25]]},
                )
                assert bad.status_code == 422
                assert "a ChargePointMaxProfile can only be set on connector 0, not 1" in bad.json()["problems"]
                good = await api.post(
                    "/charge-points/CP1/charging-profiles",
                    json={"connector_id": 0, "purpose": "ChargePointMaxProfile", "periods": [[0, 32.0]], "unit": "A"},
                )
                assert good.status_code == 200, good.text
                recorded = (await api.get("/charge-points/CP1/charging-profiles")).json()
                assert [(p["location"], p["status"], p["profile"]["chargingProfilePurpose"]) for p in recorded] == [
                    (0, "Accepted", "ChargePointMaxProfile")
                ]
                assert [p.id for p in await csms.v16.smart_charging.charging_profiles("CP1")] == [
                    recorded[0]["profile"]["chargingProfileId"]
                ]
                nonsense = await api.post("/charge-points/CP1/charging-profiles", json={"profile": {"nonsense": 1}})
                assert (nonsense.status_code, nonsense.json()["error"]) == (422, "invalid_request")
                wrong_reset = await api.post("/charge-points/CP1/reset", json={"type": "Immediate"})
                assert wrong_reset.status_code == 422
                stop = await api.post("/charge-points/CP1/remote-stop", json={"transaction_id": "abc"})
                assert stop.status_code == 422
                trigger = await api.post("/charge-points/CP1/trigger", json={"message": "Heartbeat"})
                assert trigger.json() == {"status": "Accepted"}


async def test_rejected_charge_point_gets_no_calls_from_the_helpers() -> None:
    station = Station()
    with trio.fail_after(20):
        async with running_csms() as (_csms, api, ws):
            await api.put("/charge-points/CP9", json={"boot_status": "Rejected"})
            async with connect(ws, "CP9", station.router(), versions=["1.6"]) as cp:
                assert (await cp.call("BootNotification", BOOT16))["status"] == "Rejected"
                refused = await api.post("/charge-points/CP9/reset", json={})
                assert refused.status_code == 409
                assert refused.json()["error"] == "not_accepted"
            assert station.received == []
            gone = await api.post("/charge-points/CP9/reset", json={})
            assert gone.status_code == 409 and gone.json()["error"] == "not_connected"


def test_metrics_route_only_with_metrics() -> None:
    from ocpp_router.csms import Csms, load_config

    config = load_config({}, environ={})
    assert "/metrics" not in {getattr(route, "path", "") for route in create_app(Csms(config)).routes}
    metrics_module = pytest.importorskip("ocpp_router.observability.metrics")
    with_metrics = create_app(Csms(config, metrics=metrics_module.Metrics()))
    assert "/metrics" in {getattr(route, "path", "") for route in with_metrics.routes}


async def test_tariffs_reach_the_tariff_and_cost_plugin() -> None:
    with trio.fail_after(20):
        async with running_csms() as (csms, api, _):
            plugin = csms.tariff_plugin()
            if plugin is None:
                pytest.skip("ocpp_router.v201.plugins() has no Tariff and Cost plugin")
            await api.post("/tariffs", json={"currency": "EUR", "price_kwh": 0.3})
            own = await api.post(
                "/tariffs", json={"charge_point": "CP1", "currency": "EUR", "price_kwh": 0.5, "display_text": "x"}
            )
            assert plugin.default_tariff.energy_price == 0.3
            mine = await plugin.station_tariff("CP1")
            assert (mine.energy_price, mine.text) == (0.5, "x")
            assert await csms._tariff_message("CP1") is None  # the plugin shows the texts
            assert (await api.delete(f"/tariffs/{own.json()['id']}")).status_code == 204
            assert (await plugin.station_tariff("CP1")).energy_price == 0.3  # back to the default
