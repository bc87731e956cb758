"""Interception: the local charging cap, the allow-list, and user interceptors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from ocpp.exceptions import GenericError as PeerGenericError
from ocpp.exceptions import InternalError as PeerInternalError
from ocpp.v16 import call as call16
from ocpp_router import v16
from ocpp_router.errors import CallError
from ocpp_router.gateway import AllowList, Answer, Drop, Interceptor, LocalCap, Relayed, WallboxConfig
from ocpp_router.v16.plugins import plugins as v16_plugins
from ocpp_router.v16.smart_charging import tx_default_profile
from ocpp_router.v201.plugins import plugins as v201_plugins

from ._support import (
    Bridge,
    GatewayRunner,
    Upstream,
    Wallbox16,
    Wallbox201,
    at,
    gateway_config,
    run_asyncio,
    wallbox,
)

TAG = "04A2B3C4"


async def test_local_cap_clamps_upstream_profiles(tmp_path: Path) -> None:
    upstream = Upstream("1.6", lambda: v16_plugins())
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(tmp_path, [WallboxConfig("WB1", upstream.url)])
            cap = LocalCap(amps=16)
            gateway = await GatewayRunner(config, local_cap=cap).start(nursery)
            smart = upstream.plugins.smart_charging

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB1", Wallbox16) as wb:
                    await wb.boot()
                    # Upstream asks for 32 A; the local load manager allows 16 A.
                    answer = await bridge.trio(smart.set_charging_profile, "WB1", 1, tx_default_profile(7, [(0, 32.0)]))
                    assert answer.status == v16.ChargingProfileStatus.Accepted  # the CSMS sees Accepted
                    [received] = wb.received["SetChargingProfile"]
                    schedule = received["cs_charging_profiles"]["charging_schedule"]
                    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 16}]
                    assert received["cs_charging_profiles"]["charging_profile_id"] == 7

                    # A W schedule: 16 A x 230 V x 3 phases = 11040 W; a lower one is left alone.
                    watts = tx_default_profile(8, [(0, 22000.0), (600, 9000.0), (1200, 22000.0, 1)], unit="W")
                    await bridge.trio(smart.set_charging_profile, "WB1", 1, watts)
                    periods = wb.received["SetChargingProfile"][1]["cs_charging_profiles"]["charging_schedule"][
                        "charging_schedule_period"
                    ]
                    assert [p["limit"] for p in periods] == [11040, 9000, 3680]

                    # The load manager lowers the limit: the remembered profiles go out again.
                    results = await bridge.trio(cap.set_limit, amps=10)
                    assert results == {"WB1": ["Accepted", "Accepted"]}
                    again = wb.received["SetChargingProfile"][2:]
                    assert [r["cs_charging_profiles"]["charging_profile_id"] for r in again] == [7, 8]
                    assert (
                        again[0]["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
                        == 10
                    )

            await run_asyncio(scenario)
            # The CSMS's own record is the profile it sent (22000 W replaced 32 A: same purpose
            # and stack level), as accepted; the clamped copy stays between gateway and wallbox.
            [installed] = await smart.charging_profiles("WB1")
            assert installed.id == 8
            assert installed.profile.charging_schedule.charging_schedule_period[0].limit == 22000.0
            nursery.cancel_scope.cancel()


def test_local_cap_clamp_rules() -> None:
    cap = LocalCap(amps=16, limits={"WB9": (None, 7400.0)})
    profile_201: dict[str, Any] = {
        "id": 1,
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "minChargingRate": 20.0,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}, {"startPeriod": 60, "limit": 6.0}],
            }
        ],
    }
    assert cap.clamp("WB1", profile_201)
    schedule = profile_201["chargingSchedule"][0]
    assert [p["limit"] for p in schedule["chargingSchedulePeriod"]] == [16, 6.0]
    assert schedule["minChargingRate"] == 16
    assert not cap.clamp("WB1", profile_201)  # already within the cap
    # A per-wallbox watt limit converts to A with 230 V and the period's phases: 7400 / 690 = 10.72 → 10.7.
    single = {
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}]}
    }
    assert cap.clamp("WB9", single)
    assert single["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10.7  # type: ignore[index]
    assert LocalCap().limit("WB1", "A") is None


async def test_local_cap_clamps_201_profiles(tmp_path: Path) -> None:
    upstream = Upstream("2.0.1", lambda: v201_plugins())
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(tmp_path, [WallboxConfig("WB2", upstream.url, version="2.0.1")])
            gateway = await GatewayRunner(config, local_cap=LocalCap(amps=16)).start(nursery)
            smart = upstream.plugins.smart_charging
            profile = {
                "id": 3,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}]}
                ],
            }

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB2", Wallbox201) as wb:
                    await wb.boot()
                    answer = await bridge.trio(smart.set_charging_profile, "WB2", 1, profile)
                    assert answer.status == "Accepted"
                    [received] = wb.received["SetChargingProfile"]
                    period = received["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]
                    assert period["limit"] == 16

            await run_asyncio(scenario)
            nursery.cancel_scope.cancel()


async def test_allow_list_answers_authorize_while_upstream_is_down(tmp_path: Path) -> None:
    # Upstream, TAG is Blocked: while it is reachable, its verdict is what the wallbox gets.
    upstream = Upstream("1.6", lambda: v16_plugins(id_tags={TAG: "Blocked"}))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(tmp_path, [WallboxConfig("WB1", upstream.url)])
            gateway = await GatewayRunner(config, allow_list=AllowList([TAG, "FLEET-7"])).start(nursery)

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB1", Wallbox16) as wb:
                    await wb.boot()
                    assert (await wb.send(call16.Authorize(id_tag=TAG))).id_tag_info["status"] == "Blocked"
                    await bridge.trio(upstream.stop)
                    online = await bridge.trio(_online, gateway.links["WB1"])
                    assert not online
                    # Upstream down: the allow-list answers (case-insensitively, like CiString20).
                    assert (await wb.send(call16.Authorize(id_tag=TAG.lower()))).id_tag_info["status"] == "Accepted"
                    assert (await wb.send(call16.Authorize(id_tag="NOBODY"))).id_tag_info["status"] == "Invalid"
                    # ... and decides the idTagInfo of a StartTransaction answered locally.
                    started = await wb.start_tx("NOBODY", at(0))
                    assert started.id_tag_info["status"] == "Invalid"
                    # Messages that cannot be answered locally get a CALLERROR.
                    with pytest.raises(PeerInternalError) as refused:
                        await wb.send(call16.DataTransfer(vendor_id="com.acme"))
                    assert "upstream CSMS is unreachable" in str(refused.value.description)

            await run_asyncio(scenario)
            frames = [(a, p) for a, p in upstream.frames.of("Authorize")]
            assert frames == [("Authorize", {"idTag": TAG})]  # only the first one went upstream
            nursery.cancel_scope.cancel()


async def _online(link: Any) -> bool:
    with trio.fail_after(5):
        while link.online:
            await trio.sleep(0.01)
    return bool(link.online)


class Audit(Interceptor):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    async def response(self, message: Relayed, response: dict[str, Any]) -> dict[str, Any] | None:
        self.seen.append((message.direction, message.action, message.answered_locally))
        if message.action == "DataTransfer" and message.direction == "to_csms":
            return {**response, "data": f"{response.get('data')}+gateway"}
        return None


async def test_interceptors_pass_modify_answer_and_drop(tmp_path: Path) -> None:
    upstream = Upstream("1.6", lambda: v16_plugins())
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            core = upstream.plugins.core

            @core.on_data_transfer("com.acme")
            async def echo(cp: Any, request: v16.DataTransferRequest) -> v16.DataTransferResponse:
                return v16.DataTransferResponse(status=v16.DataTransferStatus.Accepted, data=request.data)

            audit = Audit()

            async def policy(message: Relayed) -> Answer | Drop | None:
                if message.action == "DataTransfer" and message.payload.get("vendorId") == "local.site":
                    return Answer({"status": "Accepted", "data": "answered by the gateway"})
                if message.action == "DataTransfer":
                    message.payload["data"] = message.payload.get("data", "").upper()  # modify, then relay
                if message.action == "DiagnosticsStatusNotification":
                    return Drop("diagnostics stay on site")
                if message.direction == "to_wallbox" and message.action == "Reset":
                    return Drop("resets are not allowed from upstream", code="SecurityError")
                return None

            config = gateway_config(tmp_path, [WallboxConfig("WB1", upstream.url)])
            gateway = await GatewayRunner(config, interceptors=[policy, audit]).start(nursery)

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB1", Wallbox16) as wb:
                    await wb.boot()
                    relayed = await wb.send(call16.DataTransfer(vendor_id="com.acme", data="hello"))
                    assert (relayed.status, relayed.data) == ("Accepted", "HELLO+gateway")
                    local = await wb.send(call16.DataTransfer(vendor_id="local.site", data="x"))
                    assert local.data == "answered by the gateway+gateway"
                    with pytest.raises(PeerGenericError) as dropped:
                        await wb.send(call16.DiagnosticsStatusNotification(status="Idle"))
                    assert dropped.value.description == "diagnostics stay on site"
                    with pytest.raises(CallError) as refused:
                        await bridge.trio(core.reset, "WB1", "Hard")
                    assert refused.value.code == "SecurityError"
                    assert wb.received["Reset"] == []

            await run_asyncio(scenario)
            assert [p for _, p in upstream.frames.of("DataTransfer")] == [{"vendorId": "com.acme", "data": "HELLO"}]
            assert "DiagnosticsStatusNotification" not in upstream.frames.actions()
            assert ("to_csms", "DataTransfer", True) in audit.seen
            assert ("to_csms", "BootNotification", False) in audit.seen
            nursery.cancel_scope.cancel()
