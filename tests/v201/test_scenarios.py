"""End-to-end scenarios: a CSMS built only from the block plugins (no handlers of its own)
against real ``ocpp`` 2.0.1 / 2.1 stations over WebSockets.

Blocks A-H first, then I-P: a priced transaction with resends and out-of-order events, a
signed firmware update, smart charging, display messages, diagnostics, and the 2.1-only
helpers of blocks I, K and N.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp_router import ChargePoint, v201
from ocpp_router.v201.diagnostics import MonitorSpec
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.smart_charging import tx_default_profile, tx_profile
from ocpp_router.v201.tariff_and_cost import Tariff

from ._peer import CHAIN, Peer, Station21, at, run_peer, start_server

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


# -- blocks I-P ---------------------------------------------------------------------------


async def test_priced_transaction_with_meter_values_cost_updates_resends_and_out_of_order_events(
    nursery: trio.Nursery,
) -> None:
    """Started/Updated/Ended priced at 0.30 EUR/kWh: running totalCost in every answer,
    a CostUpdated pushed by the CSMS, the connection lost after two events whose answers
    the station never saw (resent after the reconnect), one event out of order. Exactly one
    transaction, no energy counted twice, final cost 2.70 EUR for 9 kWh."""
    p = plugins(id_tokens={"RFID-1": "Accepted"}, default_tariff=Tariff(energy_price=0.3, text="0.30 EUR/kWh"))
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            authorized = await cs.authorize("RFID-1")
            await cs.send(
                cs._call.MeterValues(
                    evse_id=0,
                    meter_value=[
                        {
                            "timestamp": at(0),
                            "sampled_value": [{"value": 1_200_000, "unit_of_measure": {"unit": "Wh"}}],
                        }
                    ],
                )
            )
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
            first = [await cs.send(event) for event in events[:4]]
            cs.abort()  # the answers to seqNo 2 and 3 "got lost"
        await peer.wait_disconnected("CS1")
        async with peer.connect("CS1") as cs:
            resent = [await cs.send(events[2]), await cs.send(events[3])]
            pushed = await peer.csms(p.tariff_and_cost.cost_updated, "CS1", "TX-1")
            late = [await cs.send(events[5]), await cs.send(events[4])]  # out of order: 5 before 4
            ended = await cs.send(events[6])
            return authorized, first, resent, pushed, late, ended, cs.displayed_costs

    with trio.fail_after(TIMEOUT):
        authorized, first, resent, pushed, late, ended, displayed = await run_peer(server, scenario)
    tariff_text = {"format": "UTF8", "content": "0.30 EUR/kWh"}
    assert authorized.id_token_info == {"status": "Accepted", "personal_message": tariff_text}
    assert first[0].id_token_info == {"status": "Accepted", "personal_message": tariff_text}
    assert [r.total_cost for r in first] == [0.0, 0.0, 0.75, 1.5]
    assert [(r.total_cost, r.updated_personal_message) for r in resent] == [
        (a.total_cost, a.updated_personal_message) for a in first[2:]
    ]  # a resend gets the first answer
    assert displayed == [("TX-1", 1.5)] and pushed is not None
    assert [r.total_cost for r in late] == [1.5, 2.25]
    assert ended.total_cost == 2.7
    assert ended.updated_personal_message == {"format": "UTF8", "content": "2.70 EUR (9.00 kWh)"}
    [tx] = await p.transactions.transactions("CS1")
    assert (tx.transaction_id, tx.complete, tx.duplicates, tx.seq_nos) == ("TX-1", True, 2, list(range(7)))
    assert [s.value for s in await p.transactions.meter_values("CS1", "TX-1")] == [
        10_000,
        12_500,
        15_000,
        17_500,
        19_000,
    ]
    assert await p.transactions.energy_wh("CS1", "TX-1") == 9_000
    cost = await p.tariff_and_cost.transaction_cost("CS1", "TX-1")
    assert cost is not None and (cost.total_cost, cost.final, cost.energy_wh) == (2.7, True, 9_000)
    main_meter = await p.meter_values.latest("CS1", 0)
    assert main_meter is not None and main_meter.wh == 1_200_000


async def test_signed_firmware_update_reports_every_step(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            update = await peer.csms(
                p.firmware_management.update_firmware,
                "CS1",
                "https://fw.example.com/pulsar-2.1.0.bin",
                at(0),
                install_date_time=at(5),
                signing_certificate=CHAIN,
                signature="TUVVQ0lRRHNpZ25hdHVyZQ==",
            )
            done = await peer.csms(p.firmware_management.wait_for_firmware, "CS1", update.request_id, timeout=10)
            return update, done, cs.received["UpdateFirmware"][0]["firmware"]

    with trio.fail_after(TIMEOUT):
        update, done, firmware = await run_peer(server, scenario)
    assert update.answer == "Accepted" and update.signed
    assert (firmware["signing_certificate"], firmware["signature"]) == (CHAIN, "TUVVQ0lRRHNpZ25hdHVyZQ==")
    assert firmware["install_date_time"] == at(5)
    assert [s.status for s in done.statuses] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "Installed",
    ]
    assert done.installed and all(s.request_id == update.request_id for s in done.statuses)


async def test_smart_charging_default_and_transaction_profiles(nursery: trio.Nursery) -> None:
    p = plugins()
    smart = p.smart_charging
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            default = tx_default_profile(1, [(0, 32.0), (3600, 16.0)], evse_id=0)
            set_default = await peer.csms(smart.set_charging_profile, "CS1", 0, default)
            await cs.send(cs.event("Started", "TX-S", "CablePluggedIn", at(0), evse=1, energy=0))
            tx = tx_profile(2, "TX-S", [(0, 10.0), (600, 20.0)], stack_level=1, evse_id=1)
            set_tx = await peer.csms(smart.set_charging_profile, "CS1", 1, tx)
            composite = await peer.csms(smart.get_composite_schedule, "CS1", 1, 1200)
            report = await peer.csms(smart.fetch_charging_profiles, "CS1", wait=10)
            return set_default, set_tx, composite, report

    with trio.fail_after(TIMEOUT):
        set_default, set_tx, composite, report = await run_peer(server, scenario)
    assert (set_default.status, set_tx.status) == ("Accepted", "Accepted")
    assert composite.status == "Accepted" and composite.schedule is not None
    assert [(x.start_period, x.limit) for x in composite.schedule.charging_schedule_period] == [(0, 10.0), (600, 20.0)]
    assert (report.status, report.complete, report.parts) == ("Accepted", True, 2)  # two ReportChargingProfiles
    assert {(r.evse_id, r.purpose) for r in report.profiles} == {(0, "TxDefaultProfile"), (1, "TxProfile")}
    assert [(i.evse_id, i.id) for i in await smart.charging_profiles("CS1")] == [(0, 1), (1, 2)]


async def test_display_message_set_listed_and_cleared(nursery: trio.Nursery) -> None:
    p = plugins()
    display = p.display_message
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            first, answer = await peer.csms(display.set_display_message, "CS1", "Welcome to ACME charging")
            second, _ = await peer.csms(display.set_display_message, "CS1", "Card payment only", priority="InFront")
            listed = await peer.csms(display.fetch_display_messages, "CS1", wait=10)
            cleared = await peer.csms(display.clear_display_message, "CS1", first)
            after = await peer.csms(display.fetch_display_messages, "CS1", wait=10)
            return first, second, answer, listed, cleared, after

    with trio.fail_after(TIMEOUT):
        first, second, answer, listed, cleared, after = await run_peer(server, scenario)
    assert answer.status == "Accepted"
    assert (listed.complete, listed.parts) == (True, 2)
    assert [(m["id"], m["message"]["content"]) for m in listed.messages] == [
        (first, "Welcome to ACME charging"),
        (second, "Card payment only"),
    ]
    assert cleared.status == "Accepted"
    assert [m["id"] for m in after.messages] == [second]
    assert [m.id for m in await display.display_messages("CS1")] == [second]


async def test_diagnostics_monitoring_report_customer_information_and_log(nursery: trio.Nursery) -> None:
    p = plugins()
    diagnostics = p.diagnostics
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await peer.csms(
                diagnostics.set_variable_monitoring,
                "CS1",
                [
                    MonitorSpec("OCPPCommCtrlr.HeartbeatInterval", "UpperThreshold", 900, severity=3),
                    MonitorSpec("EVSE@1.AvailabilityState", "Delta", 0, severity=6),
                ],
            )
            monitoring = await peer.csms(diagnostics.fetch_monitoring_report, "CS1", wait=10)
            customer = await peer.csms(diagnostics.fetch_customer_information, "CS1", id_token="RFID-1", wait=10)
            log_request = await peer.csms(diagnostics.get_log, "CS1", "https://logs.example.com/upload")
            uploaded = await peer.csms(diagnostics.wait_for_log, "CS1", log_request.request_id, timeout=10)
            sent = [name for name, _ in cs.sent]
            return monitoring, customer, uploaded, sent

    with trio.fail_after(TIMEOUT):
        monitoring, customer, uploaded, sent = await run_peer(server, scenario)
    assert (monitoring.complete, monitoring.parts, monitoring.missing) == (True, 2, ())
    assert [(m.ref, m.type) for m in monitoring.monitors] == [
        ("OCPPCommCtrlr.HeartbeatInterval", "UpperThreshold"),
        ("EVSE@1.AvailabilityState", "Delta"),
    ]
    assert sent.count("NotifyMonitoringReport") == 2 and sent.count("NotifyCustomerInformation") == 3
    assert (customer.complete, customer.parts, customer.data) == (True, 3, "name=Jane Doe;tokens=RFID-1;sessions=2")
    assert [s.status for s in uploaded.statuses] == ["Uploading", "Uploaded"]


async def test_every_block_i_to_p_helper_end_to_end(nursery: trio.Nursery) -> None:
    """The I-P helpers the scenarios above do not drive, once each, against real stations
    (2.0.1, and 2.1 for the 2.1-only messages)."""
    p = plugins()
    server = await start_server(nursery, p)
    checksum = "0123456789abcdef0123456789abcdef"

    async def scenario(peer: Peer) -> Any:
        out: dict[str, Any] = {}
        async with peer.connect("CS1") as cs:
            await cs.boot()
            await cs.send(cs.event("Started", "TX-H", "Authorized", at(0), evse=1, energy=0))
            out["cost"] = await peer.csms(p.tariff_and_cost.cost_updated, "CS1", "TX-H", 1.23)
            profile = tx_default_profile(5, [(0, 16.0)])
            out["set"] = await peer.csms(p.smart_charging.set_charging_profile, "CS1", 1, profile)
            out["get"] = await peer.csms(p.smart_charging.get_charging_profiles, "CS1", evse_id=1)
            out["clear"] = await peer.csms(p.smart_charging.clear_charging_profile, "CS1", profile_id=5)
            out["publish"] = await peer.csms(
                p.firmware_management.publish_firmware, "CS1", "https://fw/x.bin", checksum
            )
            out["unpublish"] = await peer.csms(p.firmware_management.unpublish_firmware, "CS1", checksum)
            out["install"] = await peer.csms(p.iso15118.install_certificate, "CS1", "CSMSRootCertificate", CHAIN)
            ids = await peer.csms(p.iso15118.get_installed_certificate_ids, "CS1", ["CSMSRootCertificate"])
            out["ids"] = ids
            hash_data = ids.certificate_hash_data_chain[0].certificate_hash_data
            out["delete"] = await peer.csms(p.iso15118.delete_certificate, "CS1", hash_data)
            out["base"] = await peer.csms(p.diagnostics.set_monitoring_base, "CS1", "HardWiredOnly")
            out["level"] = await peer.csms(p.diagnostics.set_monitoring_level, "CS1", 2)
            monitor = MonitorSpec("AuthCtrlr.Enabled", "Delta", 0)
            [result] = await peer.csms(p.diagnostics.set_variable_monitoring, "CS1", [monitor])
            out["unmonitor"] = await peer.csms(p.diagnostics.clear_variable_monitoring, "CS1", [result.id])
            out["report"] = await peer.csms(
                p.diagnostics.get_monitoring_report, "CS1", component_variables=["AuthCtrlr"]
            )
            out["customer"] = await peer.csms(
                p.diagnostics.customer_information, "CS1", report=False, clear=True, customer_identifier="c-1"
            )
            out["messages"] = await peer.csms(p.display_message.get_display_messages, "CS1")
            out["transfer"] = await peer.csms(p.data_transfer.data_transfer, "CS1", "com.acme", data="ping")
        async with peer.connect("CS21", Station21) as cs21:
            await cs21.boot()
            tariff = Tariff(energy_price=0.3).to_v21("T-21")
            out["default_tariff"] = await peer.csms(p.tariff_and_cost.set_default_tariff, "CS21", tariff)
            out["tariffs"] = await peer.csms(p.tariff_and_cost.get_tariffs, "CS21")
            out["clear_tariffs"] = await peer.csms(p.tariff_and_cost.clear_tariffs, "CS21")
            out["change_tariff"] = await peer.csms(p.tariff_and_cost.change_transaction_tariff, "CS21", "TX-21", tariff)
            out["priority"] = await peer.csms(p.smart_charging.use_priority_charging, "CS21", "TX-21")
            out["dynamic"] = await peer.csms(p.smart_charging.update_dynamic_schedule, "CS21", 9, {"limit": 10.0})
            opened = await cs21.send(
                cs21._call.OpenPeriodicEventStream(
                    constant_stream_data={"id": 3, "params": {"interval": 5}, "variable_monitoring_id": 100}
                )
            )
            out["opened"] = opened.status
            out["streams"] = await peer.csms(p.diagnostics.get_periodic_event_streams, "CS21")
            out["adjust"] = await peer.csms(p.diagnostics.adjust_periodic_event_stream, "CS21", 3, values=20)
        return out

    with trio.fail_after(TIMEOUT):
        out = await run_peer(server, scenario)
    statuses = {name: str(getattr(getattr(answer, "status", None), "value", None)) for name, answer in out.items()}
    assert statuses["cost"] == "None"  # CostUpdated has an empty answer
    assert {k: statuses[k] for k in ("set", "get", "clear", "install", "ids", "delete", "base", "level")} == {
        "set": "Accepted",
        "get": "Accepted",
        "clear": "Accepted",
        "install": "Accepted",
        "ids": "Accepted",
        "delete": "Accepted",
        "base": "Accepted",
        "level": "Accepted",
    }
    assert out["publish"].answer == "Accepted" and statuses["unpublish"] == "Unpublished"
    assert out["unmonitor"] == {100: "Accepted"}
    assert statuses["report"] == "EmptyResultSet" and statuses["customer"] == "Accepted"
    assert statuses["messages"] == "Unknown" and out["transfer"].data == {"echo": "ping"}
    assert statuses["default_tariff"] == "Accepted" and statuses["tariffs"] == "NoTariff"
    assert out["clear_tariffs"].clear_tariffs_result[0].status == "NoTariff"
    assert {statuses[k] for k in ("change_tariff", "priority", "dynamic", "adjust")} == {"Accepted"}
    assert out["opened"] == "Accepted" and out["streams"].constant_stream_data is None
    [stream] = await p.diagnostics.periodic_event_streams("CS21")
    assert (stream.id, stream.interval, stream.values) == (3, 5, 20)
