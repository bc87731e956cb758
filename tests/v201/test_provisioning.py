"""Block B (Provisioning) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp_router import ChargePoint, v201
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.provisioning import NotAcceptedError, ReportRefusedError, ReportTimeoutError, VariableRef

from ._peer import Peer, run_peer, start_server

TIMEOUT = 20


async def test_boot_heartbeat_and_registration_survive_reconnect(nursery: trio.Nursery) -> None:
    p = plugins(heartbeat_interval=42)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CS1") as cs:
            boot = await cs.boot(serial_number="SN-1", firmware_version="1.2.3")
            assert (boot.status, boot.interval) == ("Accepted", 42)
            assert datetime.fromisoformat(boot.current_time.replace("Z", "+00:00"))
            assert (await cs.heartbeat()).current_time
        async with peer.connect("CS1") as cs:  # a plain reconnect: no BootNotification expected
            await cs.heartbeat()
            await cs.status(1, 1, "Available")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    registration = await p.provisioning.registration("CS1")
    assert registration is not None
    assert (registration.status, registration.interval, registration.reason) == ("Accepted", 42, "PowerUp")
    assert registration.charging_station == {
        "model": "Pulsar",
        "vendorName": "Wallbox",
        "serialNumber": "SN-1",
        "firmwareVersion": "1.2.3",
    }
    assert await p.availability.last_heartbeat("CS1") is not None


async def test_rejected_station_gets_security_error_and_no_calls(nursery: trio.Nursery) -> None:
    seen: list[v201.BootNotificationRequest] = []

    async def policy(cp: ChargePoint, request: v201.BootNotificationRequest) -> Any:
        seen.append(request)
        return (v201.RegistrationStatusEnumType.Rejected, 120)

    p = plugins(boot_policy=policy)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CS-BAD") as cs:
            boot = await cs.boot()
            assert (boot.status, boot.interval) == ("Rejected", 120)
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cs.heartbeat()
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cs.status(1, 1, "Available")
            # The CSMS must not initiate messages to a Rejected station.
            with pytest.raises(NotAcceptedError):
                await peer.csms(p.provisioning.reset, "CS-BAD")
            assert "Reset" not in cs.received
            # An operator decision overrides the policy at the next boot; a Rejected
            # station is not sent a TriggerMessage for it.
            assert await peer.csms(p.provisioning.accept, "CS-BAD") is None
            assert "TriggerMessage" not in cs.received
            assert (await cs.boot()).status == "Accepted"
            await cs.heartbeat()
            await peer.csms(p.provisioning.set_decision, "CS-BAD", None)  # back to the policy
            assert (await cs.boot()).status == "Rejected"

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert [r.charging_station.vendor_name for r in seen] == ["Wallbox", "Wallbox"]
    assert (await p.provisioning.registration("CS-BAD")).status == "Rejected"  # type: ignore[union-attr]


async def test_unknown_registration_is_served_normally(nursery: trio.Nursery) -> None:
    """The CSMS may have restarted (or lost its store): no state means no guard."""
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CS-OLD") as cs:
            await cs.heartbeat()
            await cs.status(1, 1, "Available")

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert await p.provisioning.registration("CS-OLD") is None


async def test_pending_guard_lets_through_only_what_the_csms_asked_for(nursery: trio.Nursery) -> None:
    p = plugins(boot_policy=lambda cp, request: _const("Pending"))
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            assert (await cs.boot()).status == "Pending"
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cs.heartbeat()
            with pytest.raises(ocpp.exceptions.SecurityError):  # a report nobody asked for
                await cs.send(cs._call.NotifyReport(request_id=999, generated_at="2024-05-01T10:00:00Z", seq_no=0))
            # Configuring a Pending station is allowed: a report we asked for comes through.
            report = await peer.csms(p.provisioning.fetch_base_report, "CS1", "ConfigurationInventory", wait=5)
            # So does a triggered message.
            await peer.csms(p.remote_control.trigger_message, "CS1", "StatusNotification", evse_id=1, connector_id=1)
            await cs.wait_for(lambda: any(name == "StatusNotification" for name, _ in cs.sent))
            # RequestStartTransaction is refused locally while Pending.
            with pytest.raises(NotAcceptedError):
                await peer.csms(p.remote_control.request_start_transaction, "CS1", "TAG")
            return report

    with trio.fail_after(TIMEOUT):
        report = await run_peer(server, scenario)
    assert report.complete
    assert report.values()["OCPPCommCtrlr.HeartbeatInterval"] == "300"
    assert (await p.availability.connector("CS1", 1, 1)) is not None


async def _const(value: Any) -> Any:
    return value


async def test_get_and_set_variables_with_typed_results(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            read = await peer.csms(
                p.provisioning.get_variables,
                "CS1",
                ["OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.MessageAttempts[TransactionEvent]", "Foo.Bar"],
            )
            written = await peer.csms(
                p.provisioning.set_variables,
                "CS1",
                {
                    "OCPPCommCtrlr.HeartbeatInterval": 120,
                    VariableRef("AuthCtrlr", "Enabled"): False,
                    "SecurityCtrlr.Identity": "other",
                    "SecurityCtrlr.BasicAuthPassword": "a-new-secret-of-24-chars",
                },
            )
            return read, written, cs.variables, cs.received["SetVariables"][0]

    with trio.fail_after(TIMEOUT):
        read, written, station_vars, sent = await run_peer(server, scenario)
    assert {k: (r.status, r.value) for k, r in read.items()} == {
        "OCPPCommCtrlr.HeartbeatInterval": ("Accepted", "300"),
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": ("Accepted", "3"),
        "Foo.Bar": ("UnknownVariable", None),
    }
    assert read["Foo.Bar"].ok is False
    assert {k: r.status for k, r in written.items()} == {
        "OCPPCommCtrlr.HeartbeatInterval": "Accepted",
        "AuthCtrlr.Enabled": "Accepted",
        "SecurityCtrlr.Identity": "Rejected",
        "SecurityCtrlr.BasicAuthPassword": "Accepted",
    }
    assert station_vars["AuthCtrlr.Enabled"] == "false"  # booleans as the device model spells them
    assert [item["attribute_value"] for item in sent["set_variable_data"]][:2] == ["120", "false"]
    model = await p.provisioning.device_model("CS1")
    assert model["OCPPCommCtrlr.HeartbeatInterval"].value == "120"
    assert model["OCPPCommCtrlr.HeartbeatInterval"].source == "set"
    assert model["OCPPCommCtrlr.MessageAttempts[TransactionEvent]"].value == "3"
    assert "SecurityCtrlr.Identity" not in model  # rejected: not remembered
    assert "SecurityCtrlr.BasicAuthPassword" not in model  # write-only secrets are never stored
    assert (await p.provisioning.variable("CS1", "AuthCtrlr.Enabled")).value == "false"  # type: ignore[union-attr]


async def test_report_assembly_out_of_order_with_resent_part(nursery: trio.Nursery) -> None:
    reports: list[Any] = []

    async def on_report(cp: ChargePoint, report: Any) -> None:
        reports.append(report)

    p = plugins(on_report=on_report)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            cs.report_parts = 4
            cs.report_order = [3, 1, 1, 0, 2]  # part 1 resent
            full = await peer.csms(p.provisioning.fetch_base_report, "CS1")
            cs.report_parts, cs.report_order = 2, [1, 0]
            custom = await peer.csms(
                p.provisioning.fetch_report, "CS1", component_variables=["OCPPCommCtrlr", "EVSE@1.AvailabilityState"]
            )
            return full, custom, cs.received["GetReport"][0]

    with trio.fail_after(TIMEOUT):
        full, custom, asked = await run_peer(server, scenario)
    assert (full.status, full.complete, full.parts, full.missing) == ("Accepted", True, 4, ())
    assert len(full.report_data) == 9  # every variable once, although part 1 came twice
    assert full.values()["EVSE@1.AvailabilityState"] == "Available"
    assert set(custom.values()) == {
        "OCPPCommCtrlr.HeartbeatInterval",
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
        "EVSE@1.AvailabilityState",
    }
    assert asked["component_variable"] == [
        {"component": {"name": "OCPPCommCtrlr"}},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}},
    ]
    assert [r.request_id for r in reports] == [full.request_id, custom.request_id]
    model = await p.provisioning.device_model("CS1")
    assert model["EVSE@1.AvailabilityState"].mutability == "ReadOnly"
    assert model["SecurityCtrlr.Identity"].source == "report"
    assert (await p.provisioning.report("CS1", full.request_id)) == full


async def test_report_timeout_refusal_and_empty_result(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            cs.report_order = [0, 2]  # part 1 is lost
            with pytest.raises(ReportTimeoutError) as lost:
                await peer.csms(p.provisioning.fetch_base_report, "CS1", wait=0.5)
            cs.answers["GetBaseReport"] = {"status": "NotSupported"}
            with pytest.raises(ReportRefusedError) as refused:
                await peer.csms(p.provisioning.fetch_base_report, "CS1", "SummaryInventory")
            cs.answers["GetReport"] = {"status": "EmptyResultSet"}
            empty = await peer.csms(p.provisioning.fetch_report, "CS1", component_criteria=["Problem"])
            return lost.value.report, refused.value.status, empty, cs.received["GetReport"][0]

    with trio.fail_after(TIMEOUT):
        partial, refused, empty, asked = await run_peer(server, scenario)
    assert (partial.complete, partial.parts, partial.missing) == (False, 2, (1,))
    assert refused == "NotSupported"
    assert (empty.status, empty.complete, empty.report_data) == ("EmptyResultSet", True, ())
    assert await p.provisioning.report("CS1", empty.request_id) == empty
    assert asked["component_criteria"] == ["Problem"]


async def test_network_profile_and_reset(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)
    profile = v201.NetworkConnectionProfileType(
        ocpp_version=v201.OCPPVersionEnumType.OCPP20,
        ocpp_transport=v201.OCPPTransportEnumType.JSON,
        ocpp_csms_url="wss://csms.example.com/ocpp",
        message_timeout=30,
        security_profile=2,
        ocpp_interface=v201.OCPPInterfaceEnumType.Wired0,
    )

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            stored = await peer.csms(p.provisioning.set_network_profile, "CS1", 1, profile)
            cs.answers["Reset"] = {"status": "Scheduled"}
            reset = await peer.csms(p.provisioning.reset, "CS1", "OnIdle", evse_id=1)
            return stored, reset, cs.received

    with trio.fail_after(TIMEOUT):
        stored, reset, received = await run_peer(server, scenario)
    assert stored.status == v201.SetNetworkProfileStatusEnumType.Accepted
    assert reset.status == v201.ResetStatusEnumType.Scheduled
    assert received["SetNetworkProfile"][0]["connection_data"]["ocpp_csms_url"] == "wss://csms.example.com/ocpp"
    assert received["Reset"] == [{"type": "OnIdle", "evse_id": 1}]


def test_variable_references_round_trip() -> None:
    for key in (
        "OCPPCommCtrlr.HeartbeatInterval",
        "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
        "EVSE@1.AvailabilityState",
        "Connector@1:2.AvailabilityState",
        "Controller[main]@2.Power[L1]/MaxSet",
    ):
        assert VariableRef.parse(key).key == key
    ref = VariableRef.parse("Connector@1:2.Power/Target")
    assert ref.component_type().to_wire() == {"name": "Connector", "evse": {"id": 1, "connectorId": 2}}
    assert ref.attribute_type() == v201.AttributeEnumType.Target
    with pytest.raises(ValueError, match="not a variable"):
        VariableRef.parse("NoVariable")
