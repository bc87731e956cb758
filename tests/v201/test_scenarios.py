"""End-to-end scenarios: a CSMS built only from the block plugins (no handlers of its own)
against real ``ocpp`` 2.0.1 / 2.1 stations over WebSockets.

Cost updates (block I: CostUpdated, totalCost in TransactionEvent responses) are not part of
these scenarios yet: block I is not implemented so far.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp_router import ChargePoint, v201
from ocpp_router.v201.plugins import plugins

from ._peer import Peer, Station21, at, run_peer, start_server

TIMEOUT = 30


async def test_pending_station_is_configured_reported_and_accepted(nursery: trio.Nursery) -> None:
    """Boot Pending -> the CSMS reads a 3-part base report (parts out of order) and writes
    the heartbeat interval while the station is Pending -> accept -> TriggerMessage
    BootNotification -> Accepted."""
    configured: list[Any] = []

    async def policy(cp: ChargePoint, request: v201.BootNotificationRequest) -> Any:
        return "Pending", 5

    async def on_pending(cp: ChargePoint, request: v201.BootNotificationRequest) -> None:
        provisioning = p.provisioning
        report = await provisioning.fetch_base_report(cp.id, "FullInventory", wait=10)
        written = await provisioning.set_variables(cp.id, {"OCPPCommCtrlr.HeartbeatInterval": 60})
        configured.append((report, written))
        await provisioning.accept(cp.id)

    p = plugins(boot_policy=policy, on_pending=on_pending, heartbeat_interval=60)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS-NEW") as cs:
            first = await cs.boot()
            with pytest.raises(ocpp.exceptions.SecurityError):  # not yet accepted
                await cs.status(1, 1, "Available")
            await cs.wait_for(lambda: len([r for name, r in cs.sent if name == "BootNotification"]) == 2, timeout=10)
            second = [r for name, r in cs.sent if name == "BootNotification"][1]
            await cs.status(1, 1, "Available")  # accepted now: served
            await cs.heartbeat()
            return first, second, [name for name, _ in cs.sent], dict(cs.variables), cs.received["TriggerMessage"]

    with trio.fail_after(TIMEOUT):
        first, second, sent, variables, triggers = await run_peer(server, scenario)
    assert (first.status, first.interval) == ("Pending", 5)
    assert (second.status, second.interval) == ("Accepted", 60)
    assert sent[:4] == ["BootNotification", "NotifyReport", "NotifyReport", "NotifyReport"]
    assert triggers == [{"requested_message": "BootNotification"}]
    assert variables["OCPPCommCtrlr.HeartbeatInterval"] == "60"
    [(report, written)] = configured
    assert (report.complete, report.parts, report.missing) == (True, 3, ())
    assert len(report.report_data) == len(variables)  # the three parts, assembled in seqNo order
    assert report.values()["SecurityCtrlr.Identity"] == "CS-NEW"
    assert written["OCPPCommCtrlr.HeartbeatInterval"].status == "Accepted"
    registration = await p.provisioning.registration("CS-NEW")
    assert registration is not None and (registration.status, registration.reason) == ("Accepted", "Triggered")
    assert (await p.provisioning.variable("CS-NEW", "OCPPCommCtrlr.HeartbeatInterval")).value == "60"  # type: ignore[union-attr]


async def test_full_transaction_with_resends_after_reconnect_and_out_of_order_events(nursery: trio.Nursery) -> None:
    """Started/Updated/Ended with meter values; the connection drops after two events whose
    answers the station never saw, so it resends them; one event arrives out of order.
    Exactly one transaction, every seqNo once, no duplicated energy."""
    p = plugins(id_tokens={"RFID-1": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            assert (await cs.authorize("RFID-1")).id_token_info["status"] == "Accepted"
            await cs.status(1, 1, "Occupied", at(0))
            events = [
                cs.event(
                    "Started",
                    "TX-1",
                    "Authorized",
                    at(0),
                    energy=10_000,
                    context="Transaction.Begin",
                    evse=1,
                    id_token="RFID-1",
                    charging_state="EVConnected",
                ),
                cs.event("Updated", "TX-1", "ChargingStateChanged", at(1), charging_state="Charging"),
                cs.event("Updated", "TX-1", "MeterValuePeriodic", at(15), energy=12_500),
                cs.event("Updated", "TX-1", "MeterValuePeriodic", at(30), energy=15_000),
                cs.event("Updated", "TX-1", "MeterValuePeriodic", at(45), energy=17_500, offline=True),
                cs.event("Updated", "TX-1", "ChargingStateChanged", at(50), charging_state="SuspendedEV", offline=True),
                cs.event(
                    "Ended",
                    "TX-1",
                    "EVDeparted",
                    at(60),
                    energy=19_000,
                    context="Transaction.End",
                    stopped_reason="EVDisconnected",
                    charging_state="Idle",
                    id_token="RFID-1",
                ),
            ]
            first_answers = [await cs.send(event) for event in events[:4]]
            cs.abort()  # the answers to seqNo 2 and 3 "got lost": the station will resend them
        await peer.wait_disconnected("CS1")
        async with peer.connect("CS1") as cs:
            resent = [await cs.send(events[2]), await cs.send(events[3])]
            await cs.send(events[5])  # out of order: 5 before 4
            await cs.send(events[4])
            ended = await cs.send(events[6])
            await cs.status(1, 1, "Available", at(61))
        return first_answers, resent, ended

    with trio.fail_after(TIMEOUT):
        first_answers, resent, ended = await run_peer(server, scenario)
    assert first_answers[0].id_token_info == {"status": "Accepted"}
    assert [(r.id_token_info, r.total_cost) for r in resent] == [(None, None), (None, None)]
    assert ended.id_token_info == {"status": "Accepted"}
    [tx] = await p.transactions.transactions("CS1")
    assert tx.transaction_id == "TX-1"
    assert (tx.complete, tx.seq_nos, tx.missing_seq_nos, tx.duplicates) == (True, list(range(7)), [], 2)
    assert tx.offline and [n for n, e in tx.events.items() if e.offline] == [4, 5]
    assert tx.trigger_reasons[-1] == "EVDeparted" and tx.stopped_reason == "EVDisconnected"
    samples = await p.transactions.meter_values("CS1", "TX-1")
    assert [s.value for s in samples] == [10_000, 12_500, 15_000, 17_500, 19_000]  # each sample once
    assert await p.transactions.energy_wh("CS1", "TX-1") == 9_000
    assert (await p.availability.connector("CS1", 1, 1)).status == "Available"  # type: ignore[union-attr]


async def test_reservation_used_and_another_cancelled(nursery: trio.Nursery) -> None:
    p = plugins(id_tokens={"RFID-1": "Accepted", "RFID-2": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            kept = await peer.csms(p.reservation.reserve_now, "CS1", "RFID-1", timedelta(minutes=15), evse_id=1)
            dropped = await peer.csms(p.reservation.reserve_now, "CS1", "RFID-2", timedelta(minutes=15), evse_id=2)
            await cs.status(1, 1, "Reserved", at(0))
            await cs.status(2, 1, "Reserved", at(0))
            cancel = await peer.csms(p.reservation.cancel_reservation, "CS1", dropped.id)
            await cs.status(2, 1, "Available", at(1))
            started = await cs.send(
                cs.event("Started", "TX-R", "Authorized", at(5), evse=1, id_token="RFID-1", reservation_id=kept.id)
            )
            await cs.status(1, 1, "Occupied", at(5))
            return kept, dropped, cancel, started

    with trio.fail_after(TIMEOUT):
        kept, dropped, cancel, started = await run_peer(server, scenario)
    assert cancel.status == v201.CancelReservationStatusEnumType.Accepted
    assert started.id_token_info == {"status": "Accepted"}
    used = await p.reservation.reservation("CS1", kept.id)
    gone = await p.reservation.reservation("CS1", dropped.id)
    assert used is not None and (used.state, used.transaction_id) == ("used", "TX-R")
    assert gone is not None and gone.state == "cancelled"
    states = await p.availability.connectors("CS1")
    assert (states[(1, 1)].status, states[(2, 1)].status) == ("Occupied", "Available")


async def test_every_other_helper_end_to_end(nursery: trio.Nursery) -> None:
    """The helpers not driven by the scenarios above, once each, against the real station."""
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            base = await peer.csms(p.provisioning.get_base_report, "CS1", "SummaryInventory", request_id=4242)
            await cs.wait_for(lambda: sum(name == "NotifyReport" for name, _ in cs.sent) == 3)
            report = await peer.csms(p.provisioning.report, "CS1", 4242)
            custom = await peer.csms(
                p.provisioning.get_report, "CS1", component_variables=["AuthCtrlr"], request_id=4343
            )
            await cs.wait_for(lambda: sum(name == "NotifyReport" for name, _ in cs.sent) == 6)
            version = await peer.csms(p.local_auth_list.get_local_list_version, "CS1")
            cleared = await peer.csms(p.authorization.clear_cache, "CS1")
            reset = await peer.csms(p.provisioning.reset, "CS1")
            return base, report, custom, version, cleared, reset

    with trio.fail_after(TIMEOUT):
        base, report, custom, version, cleared, reset = await run_peer(server, scenario)
    assert base.status == v201.GenericDeviceModelStatusEnumType.Accepted
    assert report is not None and (report.complete, report.status) == (True, "Accepted")
    assert custom.status == v201.GenericDeviceModelStatusEnumType.Accepted
    custom_report = await p.provisioning.report("CS1", 4343)
    assert custom_report is not None and set(custom_report.values()) == {
        "AuthCtrlr.Enabled",
        "AuthCtrlr.AuthorizeRemoteStart",
    }
    assert version.version_number == 0
    assert cleared.status == v201.ClearCacheStatusEnumType.Accepted
    assert reset.status == v201.ResetStatusEnumType.Accepted


async def test_a_2_1_station_is_served_by_the_same_plugins(nursery: trio.Nursery) -> None:
    """2.1 only adds fields and enum values in blocks A-H: open id-token types, the
    TxResumed trigger after a reboot, ReservationStatusUpdate NoTransaction, Reset
    ImmediateAndResume."""
    p = plugins(id_tokens={"PAY-1": "Accepted"})
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS21", Station21) as cs:
            assert (await cs.boot()).status == "Accepted"
            authorized = await cs.authorize("PAY-1", "DirectPayment")  # 2.1: an open token type
            reservation = await peer.csms(p.reservation.reserve_now, "CS21", "PAY-1", timedelta(minutes=5), evse_id=1)
            await cs.send(
                cs._call.ReservationStatusUpdate(
                    reservation_id=reservation.id, reservation_update_status="NoTransaction"
                )
            )
            await cs.send(cs.event("Started", "TX-21", "Authorized", at(0), energy=100, evse=1, evse_sleep=False))
            assert (await cs.boot(reason="PowerUp")).status == "Accepted"  # rebooted mid-transaction
            await cs.send(cs.event("Updated", "TX-21", "TxResumed", at(3), energy=150))
            await cs.send(
                cs.event("Ended", "TX-21", "EVDeparted", at(9), energy=900, stopped_reason="ReqEnergyTransferRejected")
            )
            variables = await peer.csms(p.provisioning.get_variables, "CS21", ["OCPPCommCtrlr.HeartbeatInterval"])
            reset = await peer.csms(p.provisioning.reset, "CS21", "ImmediateAndResume")
            return authorized, variables, reset, cs.received["Reset"]

    with trio.fail_after(TIMEOUT):
        authorized, variables, reset, resets = await run_peer(server, scenario)
    assert authorized.id_token_info == {"status": "Accepted"}  # registered for any type
    tx = await p.transactions.transaction("CS21", "TX-21")
    assert tx is not None
    assert (tx.complete, tx.trigger_reasons, tx.stopped_reason) == (
        True,
        ["Authorized", "TxResumed", "EVDeparted"],
        "ReqEnergyTransferRejected",
    )
    assert tx.events[0].payload["evseSleep"] is False  # 2.1 extras are kept
    assert await p.transactions.energy_wh("CS21", "TX-21") == 800
    [reservation] = await p.reservation.reservations("CS21")
    assert reservation.state == "no_transaction"
    assert variables["OCPPCommCtrlr.HeartbeatInterval"].value == "300"
    assert reset.status == v201.ResetStatusEnumType.Accepted and resets == [{"type": "ImmediateAndResume"}]
