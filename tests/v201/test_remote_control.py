"""Block F (Remote Control) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, Router, testing, v201
from ocpp_router.errors import CallError, CallTimeoutError
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_remote_start_correlated_and_remote_stop(nursery: trio.Nursery) -> None:
    p = plugins()
    remote = p.remote_control
    server = await start_server(nursery, p)
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}
        ],
    }

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            start = await peer.csms(
                remote.request_start_transaction, "CS1", "APP-USER-1", evse_id=1, charging_profile=profile
            )
            correlated = await peer.csms(remote.wait_for_transaction, "CS1", start.remote_start_id, timeout=5)
            stop = await peer.csms(remote.request_stop_transaction, "CS1", correlated.transaction_id)
            await cs.wait_for(lambda: len(cs.sent) == 3)  # boot, Started, Ended
            cs.answers["RequestStartTransaction"] = {"status": "Rejected"}
            refused = await peer.csms(remote.request_start_transaction, "CS1", "APP-USER-2", remote_start_id=500)
            with pytest.raises(ValueError, match="TxProfile"):
                await peer.csms(
                    remote.request_start_transaction,
                    "CS1",
                    "X",
                    charging_profile={**profile, "chargingProfilePurpose": "TxDefaultProfile"},
                )
            return start, correlated, stop, refused, cs.received["RequestStartTransaction"]

    with trio.fail_after(TIMEOUT):
        start, correlated, stop, refused, asked = await run_peer(server, scenario)
    assert (start.status, start.evse_id, start.id_token) == (
        "Accepted",
        1,
        {"idToken": "APP-USER-1", "type": "Central"},
    )
    assert correlated.transaction_id == f"CS1-remote-{start.remote_start_id}"
    assert correlated.started_at is not None
    assert asked[0]["remote_start_id"] == start.remote_start_id
    assert asked[0]["charging_profile"]["charging_profile_purpose"] == "TxProfile"
    assert stop.status == v201.RequestStartStopStatusEnumType.Accepted
    assert (refused.status, refused.remote_start_id, refused.transaction_id) == ("Rejected", 500, None)
    tx = await p.transactions.transaction_by_remote_start_id("CS1", start.remote_start_id)
    assert tx is not None
    assert (tx.transaction_id, tx.ended, tx.stopped_reason, tx.trigger_reasons) == (
        correlated.transaction_id,
        True,
        "Remote",
        ["RemoteStart", "RemoteStop"],
    )
    assert [r.remote_start_id for r in await remote.remote_starts("CS1")] == [start.remote_start_id, 500]


async def test_unlock_connector_and_trigger_message(nursery: trio.Nursery) -> None:
    p = plugins()
    remote = p.remote_control
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            unlocked = await peer.csms(remote.unlock_connector, "CS1", 1, 1)
            cs.answers["UnlockConnector"] = {"status": "OngoingAuthorizedTransaction"}
            busy = await peer.csms(remote.unlock_connector, "CS1", 2, 1)
            beat = await peer.csms(remote.trigger_message, "CS1", v201.MessageTriggerEnumType.Heartbeat)
            status = await peer.csms(remote.trigger_message, "CS1", "StatusNotification", evse_id=2, connector_id=1)
            await cs.wait_for(lambda: [name for name, _ in cs.sent][-2:] == ["Heartbeat", "StatusNotification"])
            cs.answers["TriggerMessage"] = {"status": "NotImplemented"}
            refused = await peer.csms(remote.trigger_message, "CS1", "LogStatusNotification")
            with pytest.raises(ValueError, match="needs an evse_id"):
                await peer.csms(remote.trigger_message, "CS1", "StatusNotification", connector_id=1)
            return unlocked, busy, beat, status, refused, cs.received

    with trio.fail_after(TIMEOUT):
        unlocked, busy, beat, status, refused, received = await run_peer(server, scenario)
    assert unlocked.status == v201.UnlockStatusEnumType.Unlocked
    assert busy.status == v201.UnlockStatusEnumType.OngoingAuthorizedTransaction
    assert received["UnlockConnector"] == [{"evse_id": 1, "connector_id": 1}, {"evse_id": 2, "connector_id": 1}]
    assert (beat.status, status.status, refused.status) == ("Accepted", "Accepted", "NotImplemented")
    assert received["TriggerMessage"][1] == {
        "requested_message": "StatusNotification",
        "evse": {"id": 2, "connector_id": 1},
    }
    assert (await p.availability.connector("CS1", 2, 1)).status == "Available"  # type: ignore[union-attr]


async def test_remote_start_without_an_answer_or_refused_with_an_error(nursery: trio.Nursery) -> None:
    """No answer: the record stays (the transaction may still come); a CALLERROR: it goes."""
    p = plugins()
    server = await start_server(nursery, p)
    station = Router()

    @station.on("RequestStartTransaction")
    async def start(cp: ChargePoint, payload: dict[str, Any]) -> Any:
        if payload["remoteStartId"] == 1:
            await trio.sleep(0.3)  # answers too late
            return {"status": "Accepted"}
        raise ValueError("the station's software crashed")

    async with testing.connect(server, "CS1", "2.0.1", router=station):
        with pytest.raises(CallTimeoutError):
            await p.remote_control.request_start_transaction("CS1", "A", remote_start_id=1, timeout=0.2)
        with pytest.raises(CallError):
            await p.remote_control.request_start_transaction("CS1", "B", remote_start_id=2)
    assert [(r.remote_start_id, r.status) for r in await p.remote_control.remote_starts("CS1")] == [(1, "Unanswered")]
