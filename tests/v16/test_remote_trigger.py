"""Remote Trigger: every requested message arrives, and passes the Pending guard only when triggered."""

from __future__ import annotations

import asyncio
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp_router import ChargePoint, v16
from ocpp_router.v16.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_every_trigger_is_answered_and_followed(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    trigger = p.remote_trigger.trigger_message

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            cp.connectors = {0: "Available", 1: "Charging", 2: "Faulted"}
            for message in v16.MessageTrigger:
                assert (await peer.csms(trigger, "CP1", message)).status == "Accepted"
            await cp.wait_for(lambda: len(cp.sent) >= 1 + 8)  # boot, then 6 triggers (3 StatusNotifications)
            cp.connectors[1] = "SuspendedEV"
            await peer.csms(trigger, "CP1", "StatusNotification", connector_id=1)
            await cp.wait_for(lambda: len(cp.sent) >= 10)
            assert [m["requested_message"] for m in cp.received["TriggerMessage"]] == [
                *(m.value for m in v16.MessageTrigger),
                "StatusNotification",
            ]
            assert cp.received["TriggerMessage"][-1]["connector_id"] == 1

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert {c: s.status for c, s in (await p.core.connectors("CP1")).items()} == {
        0: "Available",
        1: "SuspendedEV",
        2: "Faulted",
    }
    assert [s.context for s in await p.core.meter_values("CP1")] == ["Sample.Periodic"]
    assert await p.firmware_management.firmware_status("CP1") == "Idle"
    assert await p.firmware_management.diagnostics_status("CP1") == "Idle"


async def test_only_accepted_triggers_open_the_pending_guard(nursery: trio.Nursery) -> None:
    async def pending(cp: ChargePoint, request: Any) -> str:
        return "Pending"

    p = plugins(boot_policy=pending, trigger_window=1.0)
    server = await start_server(nursery, p)
    trigger = p.remote_trigger.trigger_message

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            assert (await cp.boot()).status == "Pending"
            cp.follow_up = False
            # Refused by the station: nothing is let through.
            cp.answers["TriggerMessage"] = {"status": "NotImplemented"}
            assert (await peer.csms(trigger, "CP1", "Heartbeat")).status == "NotImplemented"
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.heartbeat()
            # Accepted: the triggered message passes, others still do not ...
            del cp.answers["TriggerMessage"]
            await peer.csms(trigger, "CP1", "Heartbeat")
            await cp.heartbeat()
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.authorize("TAG")
            # ... and only within the trigger window.
            await asyncio.sleep(1.1)
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cp.heartbeat()
            with pytest.raises(ValueError, match="connector_id"):
                await peer.csms(trigger, "CP1", "StatusNotification", connector_id=0)
            with pytest.raises(ValueError, match="SignChargePointCertificate"):
                await peer.csms(trigger, "CP1", "SignChargePointCertificate")  # an extended trigger only

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
