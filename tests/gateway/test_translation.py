"""Version translation: a 1.6 wallbox appears to a 2.0.1 CSMS as a 2.0.1 charging station."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from ocpp.v16 import call as call16
from ocpp_router.gateway import WallboxConfig
from ocpp_router.gateway._translate import charging_profile_16, meter_values
from ocpp_router.v201.plugins import plugins as v201_plugins

from ._support import (
    Bridge,
    GatewayRunner,
    Upstream,
    Wallbox16,
    at,
    gateway_config,
    run_asyncio,
    until,
    wait_until,
    wallbox,
)

TAG = "04A2B3C4"


async def test_16_wallbox_appears_as_201_station(tmp_path: Path) -> None:
    upstream = Upstream("2.0.1", lambda: v201_plugins(id_tokens={TAG: "Accepted", "CARD-2": "Blocked"}))
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await upstream.start(nursery)
            config = gateway_config(
                tmp_path, [WallboxConfig("WB16", upstream.url, upstream_identity="CS-201", version="2.0.1")]
            )
            runner = GatewayRunner(config)
            gateway = await runner.start(nursery)
            p = upstream.plugins
            found: dict[str, Any] = {}

            async def scenario(bridge: Bridge) -> None:
                async with wallbox(gateway.port, "WB16", Wallbox16) as wb:
                    boot = await wb.boot()
                    assert (boot.status, boot.interval) == ("Accepted", 300)
                    await wb.status(0, "Available", at(0))  # station-wide: answered by the gateway
                    await wb.status(1, "Preparing", at(0))
                    assert (await wb.send(call16.Authorize(id_tag=TAG))).id_tag_info == {"status": "Accepted"}
                    assert (await wb.send(call16.Authorize(id_tag="CARD-2"))).id_tag_info == {"status": "Blocked"}
                    assert (await wb.send(call16.Authorize(id_tag="NOBODY"))).id_tag_info == {"status": "Invalid"}
                    started = await wb.start_tx(TAG, at(1))
                    assert started.transaction_id == 1 and started.id_tag_info["status"] == "Accepted"
                    await wb.meter_values(1, at(2), 3500)
                    await wb.stop_tx(1, at(3), 6000, reason="EVDisconnected")
                    assert (await wb.send(call16.Heartbeat())).current_time

                    # RequestStartTransaction → RemoteStartTransaction; the wallbox's StartTransaction
                    # comes back upstream with the remoteStartId and triggerReason RemoteStart.
                    remote = await bridge.trio(p.remote_control.request_start_transaction, "CS-201", TAG, evse_id=1)
                    assert remote.status == "Accepted"
                    assert wb.received["RemoteStartTransaction"] == [{"id_tag": TAG, "connector_id": 1}]
                    await until(lambda: bool(wb.received["StartTransaction.result"]))
                    local_tx = wb.received["StartTransaction.result"][0]["transaction_id"]
                    assert local_tx == 2
                    linked = await bridge.trio(
                        p.remote_control.wait_for_transaction, "CS-201", remote.remote_start_id, timeout=5
                    )
                    found["remote"] = linked.transaction_id
                    stop = await bridge.trio(p.remote_control.request_stop_transaction, "CS-201", linked.transaction_id)
                    assert stop.status == "Accepted"
                    assert wb.received["RemoteStopTransaction"] == [{"transaction_id": 2}]
                    await wb.stop_tx(2, at(5), 6100, reason="Remote")

                    # Upstream outage: the translated events queue and replay, flagged offline.
                    await bridge.trio(upstream.stop)
                    offline = await wb.start_tx(TAG, at(6))
                    assert offline.transaction_id == 3  # the gateway's own ids: no provisional ones
                    await wb.stop_tx(3, at(7), 6300)
                    await bridge.trio(upstream.start, nursery)
                    await bridge.trio(wait_until, lambda: gateway.links["WB16"].queued == 0)

            await run_asyncio(scenario)

            first, remote, offline = sorted(await p.transactions.transactions("CS-201"), key=lambda t: t.first_seen_at)
            assert first.complete and first.evse_id == 1 and first.id_token == {"idToken": TAG, "type": "ISO14443"}
            assert first.stopped_reason == "EVDisconnected"
            assert await p.transactions.energy_wh("CS-201", first.transaction_id) == 5000
            assert remote.transaction_id == found["remote"] and remote.remote_start_id is not None
            assert "RemoteStart" in remote.trigger_reasons and remote.stopped_reason == "Remote"
            assert offline.offline and offline.complete
            [(_, status)] = upstream.frames.of("StatusNotification")
            assert status == {"timestamp": at(0), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
            [(_, boot)] = upstream.frames.of("BootNotification")
            assert boot == {"reason": "PowerUp", "chargingStation": {"model": "Pulsar", "vendorName": "Wallbox"}}
            nursery.cancel_scope.cancel()


def test_meter_value_and_profile_conversion() -> None:
    converted = meter_values(
        [
            {
                "timestamp": at(0),
                "sampledValue": [
                    {"value": "7.5", "unit": "kWh", "context": "Sample.Periodic"},
                    {"value": "16.2", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "35", "measurand": "Temperature", "unit": "Celsius"},  # not in 2.0.1
                    {"value": "0A1B", "format": "SignedData"},  # signed data is not carried over
                ],
            },
            {"timestamp": at(1), "sampledValue": [{"value": "21", "measurand": "RPM"}]},  # nothing left
        ]
    )
    assert converted == [
        {
            "timestamp": at(0),
            "sampledValue": [
                {"value": 7.5, "context": "Sample.Periodic", "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
                {"value": 16.2, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
            ],
        }
    ]
    profile = {
        "id": 4,
        "stackLevel": 1,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": at(0),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0, "numberPhases": 3}],
            }
        ],
    }
    assert charging_profile_16(profile, None) == {
        "chargingProfileId": 4,
        "stackLevel": 1,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": at(0),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0, "numberPhases": 3}],
        },
    }
