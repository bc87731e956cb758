"""Whole stories against a CSMS made of the 1.6 plugins only (no custom handlers), each
with a real ``ocpp`` charge point over WebSockets."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp.v16 import call
from ocpp_router import ChargePoint, v16
from ocpp_router.v16.plugins import V16Plugins, plugins
from ocpp_router.v16.smart_charging import charge_point_max_profile, tx_default_profile, tx_profile

from ._peer import Peer, at, now, run_peer, start_server

TIMEOUT = 30


async def connector_states(p: V16Plugins, identity: str) -> dict[int, str]:
    return {c: s.status for c, s in (await p.core.connectors(identity)).items()}


async def test_wallbox_charges_loses_power_and_restarts(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"04A2B3C4": "Accepted"}, heartbeat_interval=60)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> dict[str, int]:
        async with peer.connect("WALLBOX-1") as cp:
            assert (await cp.boot()).status == "Accepted"
            await cp.status(0, "Available")
            await cp.status(1, "Available")
            assert (await cp.authorize("04a2b3c4")).id_tag_info["status"] == "Accepted"
            await cp.status(1, "Preparing")
            first = (await cp.start_transaction(1, "04A2B3C4", 12000, now())).transaction_id
            await cp.status(1, "Charging")
            energy = 12000
            for _ in range(5):  # MeterValueSampleInterval, shortened
                await asyncio.sleep(0.05)
                energy += 150
                await cp.meter(1, first, now(), energy=energy, power=11000)
            lost_at = now()
            cp.power_loss()
        await peer.wait_disconnected("WALLBOX-1")
        async with peer.connect("WALLBOX-1") as cp:  # power is back: the station reboots
            assert (await cp.boot()).status == "Accepted"
            await cp.status(0, "Available")
            stop = call.StopTransaction(
                transaction_id=first,
                meter_stop=energy,
                timestamp=lost_at,
                reason="PowerLoss",
                id_tag="04A2B3C4",
                transaction_data=[
                    {
                        "timestamp": lost_at,
                        "sampled_value": [{"value": str(energy), "context": "Transaction.End", "unit": "Wh"}],
                    }
                ],
            )
            assert (await cp.send(stop)).id_tag_info == {"status": "Accepted"}
            await cp.status(1, "Preparing")
            second = (await cp.start_transaction(1, "04A2B3C4", energy, now())).transaction_id
            await cp.status(1, "Charging")
            await cp.meter(1, second, now(), energy=energy + 10)
        return {"first": first, "second": second}

    with trio.fail_after(TIMEOUT):
        ids = await run_peer(server, scenario)
    first = await p.core.transaction("WALLBOX-1", ids["first"])
    second = await p.core.transaction("WALLBOX-1", ids["second"])
    assert first is not None and second is not None and first.id != second.id
    assert (first.stop_reason, first.energy_wh, first.active) == ("PowerLoss", 750, False)
    assert second.active and second.meter_start == 12750
    samples = await p.core.meter_values("WALLBOX-1", transaction_id=first.id)
    energy = [
        s.number for s in samples if s.measurand == "Energy.Active.Import.Register" and s.context != "Transaction.End"
    ]
    assert energy == [12150, 12300, 12450, 12600, 12750]
    assert samples[-1].context == "Transaction.End"
    assert [s.number for s in samples if s.measurand == "Power.Active.Import"] == [11000] * 5
    assert await connector_states(p, "WALLBOX-1") == {0: "Available", 1: "Charging"}
    registration = await p.core.registration("WALLBOX-1")
    assert registration is not None and (registration.status, registration.interval) == ("Accepted", 60)
    assert await p.core.unmatched("WALLBOX-1") == []


async def test_energy_platform_remote_controls_a_charger(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"PLATFORM": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CHARGER-7") as cp:
            await cp.boot()
            await cp.status(1, "Available")
            for key, value in [
                ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
                ("MeterValueSampleInterval", "60"),
            ]:
                assert (await peer.csms(p.core.change_configuration, "CHARGER-7", key, value)).status == "Accepted"
            assert cp.configuration["MeterValueSampleInterval"] == "60"

            async def expect(status: str, **extra: Any) -> None:
                await cp.status(1, status, **extra)
                assert (await peer.csms(connector_states, p, "CHARGER-7"))[1] == status

            await expect("Available")
            await expect("Preparing")
            tx = (await cp.start_transaction(1, "PLATFORM", 0, now())).transaction_id
            await expect("Charging")
            await cp.meter(1, tx, now(), energy=500, power=7400)
            limit = tx_profile(100, tx, [(0, 16.0), (600, 8.0)])
            assert (await peer.csms(p.smart_charging.set_charging_profile, "CHARGER-7", 1, limit)).status == "Accepted"
            site = charge_point_max_profile(101, [(0, 22000.0)], unit="W")
            assert (await peer.csms(p.smart_charging.set_charging_profile, "CHARGER-7", 0, site)).status == "Accepted"
            assert [entry["connector_id"] for entry in cp.profiles] == [1, 0]
            assert cp.profiles[0]["cs_charging_profiles"]["transaction_id"] == tx
            await expect("SuspendedEV")
            await expect("SuspendedEVSE")
            await expect("Charging")
            # The platform double-checks what the charger reports.
            booted = len([name for name, _ in cp.sent if name == "BootNotification"])
            assert (await peer.csms(p.remote_trigger.trigger_message, "CHARGER-7", "BootNotification")).status == (
                "Accepted"
            )
            await cp.wait_for(lambda: len([n for n, _ in cp.sent if n == "BootNotification"]) == booted + 1)
            trigger = p.remote_trigger.trigger_message
            assert (await peer.csms(trigger, "CHARGER-7", "StatusNotification", connector_id=1)).status == "Accepted"
            await cp.wait_for(lambda: cp.sent[-1][0] == "StatusNotification")
            assert (await peer.csms(connector_states, p, "CHARGER-7"))[1] == "Charging"
            await cp.meter(1, tx, now(), energy=1500, power=3700)
            await cp.stop_transaction(tx, 1500, now(), reason="EVDisconnected")
            await expect("Finishing")
            await expect("Available")
            await expect("Faulted", error_code="OverCurrentFailure", info="tripped")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    faulted = await p.core.connector("CHARGER-7", 1)
    assert faulted is not None and (faulted.status, faulted.error_code) == ("Faulted", "OverCurrentFailure")
    configuration = await p.core.configuration("CHARGER-7")
    assert configuration["MeterValuesSampledData"].value == "Energy.Active.Import.Register,Power.Active.Import"
    assert configuration["MeterValueSampleInterval"].value == "60"
    [tx] = await p.core.transactions("CHARGER-7")
    assert (tx.stop_reason, tx.energy_wh) == ("EVDisconnected", 1500)
    power = [s.number for s in await p.core.meter_values("CHARGER-7", measurand="Power.Active.Import")]
    assert power == [7400, 3700]
    # The TxProfile ended with its transaction; the site limit stays.
    remaining = await p.smart_charging.charging_profiles("CHARGER-7")
    assert [(i.connector_id, i.purpose) for i in remaining] == [(0, "ChargePointMaxProfile")]


async def test_local_load_manager_blocks_then_clears(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    sc = p.smart_charging

    async def scenario(peer: Peer) -> None:
        async with peer.connect("SITE-CP") as cp:
            await cp.boot()
            forbid = tx_default_profile(1, [(0, 0.0)], stack_level=5)  # no charging at all
            assert (await peer.csms(sc.set_charging_profile, "SITE-CP", 0, forbid)).status == "Accepted"
            [installed] = await peer.csms(sc.charging_profiles, "SITE-CP")
            assert installed.purpose == "TxDefaultProfile"
            assert installed.profile.charging_schedule.charging_schedule_period[0].limit == 0
            schedule = await peer.csms(sc.get_composite_schedule, "SITE-CP", 0, 86400)
            assert schedule.status == "Accepted"
            assert (await peer.csms(sc.clear_charging_profile, "SITE-CP")).status == "Accepted"  # everything
            assert cp.received["ClearChargingProfile"] == [{}]
            assert cp.profiles == []

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert await sc.charging_profiles("SITE-CP") == []


async def test_offline_transactions_are_resent_in_order_with_stable_ids(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"OFFLINE-1": "Accepted", "OFFLINE-2": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> dict[str, int]:
        async with peer.connect("CP-OFF") as cp:
            await cp.boot()
            entries = {"OFFLINE-1": "Accepted", "OFFLINE-2": "Accepted", "STOLEN": "Blocked"}
            assert (await peer.csms(p.local_auth_list.send_local_list, "CP-OFF", entries)).status == "Accepted"
        # The CSMS is unreachable: the station authorises locally and queues transaction messages.
        local = cp.local_list
        assert local["OFFLINE-1"]["status"] == "Accepted" and local["STOLEN"]["status"] == "Blocked"
        queue = [
            ("start", 1, "OFFLINE-1", 100, at(0)),
            ("meter", 1, at(5), 400),
            ("stop", 1, 900, at(10)),
            ("start", 2, "OFFLINE-2", 5000, at(12)),
        ]
        ids: dict[str, int] = {}
        async with peer.connect("CP-OFF") as cp:  # back online: drain the queue in order
            for item in queue:
                if item[0] == "start":
                    _, connector, tag, meter, timestamp = item
                    result = await cp.start_transaction(connector, tag, meter, timestamp)
                    ids[tag] = result.transaction_id
                    assert result.id_tag_info["status"] == "Accepted"
                elif item[0] == "meter":
                    _, connector, timestamp, energy = item
                    await cp.meter(connector, ids["OFFLINE-1"], timestamp, energy=energy)
                else:
                    _, connector, meter, timestamp = item
                    await cp.stop_transaction(ids["OFFLINE-1"], meter, timestamp, reason="Local")
            # The last answer was lost: the station resends that StartTransaction, twice.
            for _ in range(2):
                again = await cp.start_transaction(2, "OFFLINE-2", 5000, at(12))
                assert again.transaction_id == ids["OFFLINE-2"]
            # A sample the station queued before it had the id.
            await cp.meter(2, -1, at(13), energy=5100)
            await cp.status(2, "Charging")
        return ids

    with trio.fail_after(TIMEOUT):
        ids = await run_peer(server, scenario)
    first, second = ids["OFFLINE-1"], ids["OFFLINE-2"]
    assert first < second
    transactions = await p.core.transactions("CP-OFF")
    assert [(tx.id, tx.connector_id, tx.start_time, tx.active) for tx in transactions] == [
        (first, 1, at(0), False),
        (second, 2, at(12), True),
    ]
    assert transactions[0].energy_wh == 800
    assert [s.number for s in await p.core.meter_values("CP-OFF", transaction_id=second)] == [5100]
    local = await p.local_auth_list.local_list("CP-OFF")
    assert local is not None and local.version == 1 and set(local.entries) == {"OFFLINE-1", "OFFLINE-2", "STOLEN"}


async def test_boot_pending_then_accepted(nursery: trio.Nursery) -> None:
    approved: set[str] = set()

    async def policy(cp: ChargePoint, request: v16.BootNotificationRequest) -> Any:
        return "Accepted" if cp.id in approved else ("Pending", 10)

    p = plugins(boot_policy=policy)
    server = await start_server(nursery, p)

    async def approve(identity: str) -> None:
        approved.add(identity)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("NEW-CP") as cp:
            boot = await cp.boot()
            assert (boot.status, boot.interval) == ("Pending", 10)
            for attempt in (cp.heartbeat(), cp.status(1, "Available"), cp.authorize("TAG")):
                with pytest.raises(ocpp.exceptions.SecurityError):
                    await attempt
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.send(call.DataTransfer(vendor_id="com.wallbox"))
            # While Pending the CSMS may configure the station and ask for messages.
            read = await peer.csms(p.core.get_configuration, "NEW-CP", ["HeartbeatInterval"])
            assert read.configuration_key[0].value == "300"
            await peer.csms(p.core.change_configuration, "NEW-CP", "HeartbeatInterval", "120")
            cp.connectors = {0: "Available", 1: "Available", 2: "Unavailable"}
            await peer.csms(p.remote_trigger.trigger_message, "NEW-CP", "StatusNotification")
            await cp.wait_for(lambda: sum(name == "StatusNotification" for name, _ in cp.sent) == 3)
            assert await peer.csms(connector_states, p, "NEW-CP") == {0: "Available", 1: "Available", 2: "Unavailable"}
            # Still pending for everything else.
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.heartbeat()
            # Approved: the CSMS triggers a BootNotification and accepts it.
            await peer.csms(approve, "NEW-CP")
            await peer.csms(p.remote_trigger.trigger_message, "NEW-CP", "BootNotification")
            await cp.wait_for(lambda: cp.sent[-1][0] == "BootNotification")
            assert cp.sent[-1][1].status == "Accepted"
            await cp.heartbeat()
            await cp.authorize("TAG")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    registration = await p.core.registration("NEW-CP")
    assert registration is not None and (registration.status, registration.interval) == ("Accepted", 300)


def test_every_helper_is_exercised_end_to_end() -> None:
    """Each public coroutine of every profile plugin is called somewhere in tests/v16."""
    sources = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    missing = []
    for plugin in plugins():
        for name, _ in inspect.getmembers(type(plugin), inspect.iscoroutinefunction):
            if name.startswith("_") or name not in vars(type(plugin)):  # shared plumbing lives in the bases
                continue
            if not re.search(rf"\.{name}\b", sources):
                missing.append(f"{type(plugin).__name__}.{name}")
    assert missing == []
