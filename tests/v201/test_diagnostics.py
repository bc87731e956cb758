"""Block N (Diagnostics) against a real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import ocpp.exceptions
import pytest
import trio
from ocpp_router import ChargePoint, Router, Server, testing, v201
from ocpp_router.v201.diagnostics import DiagnosticsPlugin, MonitorSpec, StationEvent
from ocpp_router.v201.plugins import MultipartRefusedError, MultipartTimeoutError, plugins

from ._peer import Peer, Station, at, run_peer, start_server

TIMEOUT = 20


def event_data(event_id: int, minute: int, component: str, variable: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": at(minute),
        "trigger": "Alerting",
        "actual_value": value,
        "event_notification_type": "HardWiredNotification",
        "component": {"name": component, "evse": {"id": 1, "connector_id": 1}}
        if component == "Connector"
        else {"name": component},
        "variable": {"name": variable},
        **extra,
    }


async def test_get_log_until_uploaded(nursery: trio.Nursery) -> None:
    p = plugins()
    diagnostics = p.diagnostics
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            request = await peer.csms(
                diagnostics.get_log,
                "CS1",
                "ftp://logs.example.com/upload",
                "SecurityLog",
                oldest_timestamp=at(0),
                latest_timestamp=at(60),
                retries=1,
            )
            uploaded = await peer.csms(diagnostics.wait_for_log, "CS1", request.request_id, timeout=5)
            cs.answers["GetLog"] = {"status": "Rejected"}
            refused = await peer.csms(diagnostics.get_log, "CS1", "ftp://logs.example.com/upload")
            await cs.send(cs._call.LogStatusNotification(status="Idle"))  # triggered
            return request, uploaded, refused, cs.received["GetLog"][0]

    with trio.fail_after(TIMEOUT):
        request, uploaded, refused, sent = await run_peer(server, scenario)
    assert (request.answer, request.filename, request.log_type) == (
        "Accepted",
        f"log-{request.request_id}.tar.gz",
        "SecurityLog",
    )
    assert sent["log"] == {
        "remote_location": "ftp://logs.example.com/upload",
        "oldest_timestamp": at(0),
        "latest_timestamp": at(60),
    }
    assert [s.status for s in uploaded.statuses] == ["Uploading", "Uploaded"] and uploaded.uploaded
    assert refused.answer == "Rejected" and refused.finished
    assert [r.request_id for r in await diagnostics.log_requests("CS1")] == [request.request_id, refused.request_id]
    last = await diagnostics.log_status("CS1")
    assert last is not None and last.status == "Idle"


async def test_notify_event_in_parts(nursery: trio.Nursery) -> None:
    groups: list[list[StationEvent]] = []

    async def on_events(cp: ChargePoint, events: list[StationEvent]) -> None:
        groups.append(events)

    p = plugins(on_events=on_events)
    diagnostics = p.diagnostics
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            generated = at(5)
            first = [event_data(1, 1, "Connector", "AvailabilityState", "Occupied")]
            second = [
                event_data(
                    2,
                    2,
                    "EVSE",
                    "Power",
                    "11000",
                    trigger="Delta",
                    event_notification_type="CustomMonitor",
                    variable_monitoring_id=101,
                )
            ]
            third = [event_data(3, 3, "ChargingStation", "Problem", "true", tech_code="E42", cause=1, cleared=False)]
            await cs.send(cs._call.NotifyEvent(generated_at=generated, seq_no=0, event_data=first, tbc=True))
            await cs.send(cs._call.NotifyEvent(generated_at=generated, seq_no=1, event_data=second, tbc=True))
            await cs.send(cs._call.NotifyEvent(generated_at=generated, seq_no=1, event_data=second, tbc=True))  # resend
            await cs.send(cs._call.NotifyEvent(generated_at=generated, seq_no=2, event_data=third, tbc=False))
            single = [event_data(4, 9, "Connector", "AvailabilityState", "Available")]
            await cs.send(cs._call.NotifyEvent(generated_at=at(9), seq_no=0, event_data=single))

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
    assert [[e.event_id for e in group] for group in groups] == [[1, 2, 3], [4]]
    events = await diagnostics.events("CS1")
    assert [e.event_id for e in events] == [1, 2, 3, 4]  # each once
    connector = await diagnostics.events("CS1", ref="Connector.AvailabilityState")
    assert [(e.ref, e.actual_value) for e in connector] == [
        ("Connector@1:1.AvailabilityState", "Occupied"),
        ("Connector@1:1.AvailabilityState", "Available"),
    ]
    problem = (await diagnostics.events("CS1", ref="ChargingStation.Problem"))[0]
    assert (problem.tech_code, problem.cause, problem.cleared) == ("E42", 1, False)
    delta = await diagnostics.events("CS1", trigger="Delta")
    assert [(e.event_id, e.variable_monitoring_id, e.event_notification_type) for e in delta] == [
        (2, 101, "CustomMonitor")
    ]
    assert [e.event_id for e in await diagnostics.events("CS1", since=at(3))] == [3, 4]


async def test_monitoring_set_report_clear(nursery: trio.Nursery) -> None:
    p = plugins()
    diagnostics = p.diagnostics
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            empty = await peer.csms(diagnostics.fetch_monitoring_report, "CS1", wait=5)
            results = await peer.csms(
                diagnostics.set_variable_monitoring,
                "CS1",
                [
                    MonitorSpec("OCPPCommCtrlr.HeartbeatInterval", "UpperThreshold", 600, severity=4),
                    MonitorSpec("EVSE@1.AvailabilityState", "Delta", 0, severity=7),
                    MonitorSpec("TxCtrlr.EVConnectionTimeOut", "Periodic", 300, severity=8, transaction=True),
                    MonitorSpec("Nope.Missing", "Delta", 1),
                ],
            )
            with pytest.raises(ValueError, match=r"severity must be 0\.\.9"):
                await peer.csms(diagnostics.set_variable_monitoring, "CS1", [MonitorSpec("A.B", "Periodic", 0, 12)])
            report = await peer.csms(diagnostics.fetch_monitoring_report, "CS1", criteria=["DeltaMonitoring"], wait=5)
            base = await peer.csms(diagnostics.set_monitoring_base, "CS1", "All")
            level = await peer.csms(diagnostics.set_monitoring_level, "CS1", 5)
            cleared = await peer.csms(diagnostics.clear_variable_monitoring, "CS1", [results[0].id, 999])
            known = await peer.csms(diagnostics.monitors, "CS1")
            await peer.csms(diagnostics.set_monitoring_base, "CS1", "FactoryDefault")  # drops custom monitors
            return empty, results, report, base, level, cleared, known, cs.received["GetMonitoringReport"]

    with trio.fail_after(TIMEOUT):
        empty, results, report, base, level, cleared, known, asked = await run_peer(server, scenario)
    assert (empty.status, empty.complete, empty.monitors) == ("EmptyResultSet", True, ())
    assert [(r.ref, r.status, r.id) for r in results] == [
        ("OCPPCommCtrlr.HeartbeatInterval", "Accepted", 100),
        ("EVSE@1.AvailabilityState", "Accepted", 101),
        ("TxCtrlr.EVConnectionTimeOut", "Accepted", 102),
        ("Nope.Missing", "UnknownVariable", None),
    ]
    assert asked[1]["monitoring_criteria"] == ["DeltaMonitoring"]
    assert (report.status, report.complete, report.parts, report.missing) == ("Accepted", True, 3, ())
    assert [(m.id, m.ref, m.type, m.severity) for m in report.monitors] == [
        (100, "OCPPCommCtrlr.HeartbeatInterval", "UpperThreshold", 4),
        (101, "EVSE@1.AvailabilityState", "Delta", 7),
        (102, "TxCtrlr.EVConnectionTimeOut", "Periodic", 8),
    ]
    assert base.status == "Accepted" and level.status == "Accepted"
    assert cleared == {100: "Accepted", 999: "NotFound"}
    assert sorted(known) == [101, 102] and known[102].transaction and known[101].source == "set"
    assert await diagnostics.monitors("CS1") == {}
    assert await diagnostics.monitoring_settings("CS1") == {"monitoring_base": "FactoryDefault", "monitoring_level": 5}


async def test_customer_information_in_parts_and_refusals(nursery: trio.Nursery) -> None:
    p = plugins()
    diagnostics = p.diagnostics
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            data = await peer.csms(diagnostics.fetch_customer_information, "CS1", id_token="RFID-1", clear=True, wait=5)
            cs.answers["CustomerInformation"] = {"status": "Invalid"}
            with pytest.raises(MultipartRefusedError) as refused:
                await peer.csms(diagnostics.fetch_customer_information, "CS1", customer_identifier="nobody", wait=5)
            with pytest.raises(ValueError, match="name the customer"):
                await peer.csms(diagnostics.customer_information, "CS1")
            return data, refused.value.status, cs.received["CustomerInformation"][0]

    with trio.fail_after(TIMEOUT):
        data, refused, asked = await run_peer(server, scenario)
    assert (data.complete, data.parts, data.data) == (True, 3, "name=Jane Doe;tokens=RFID-1;sessions=2")
    assert asked["id_token"] == {"id_token": "RFID-1", "type": "ISO14443"} and asked["clear"] is True
    assert refused == "Invalid"


async def test_missing_parts_time_out_with_the_partial_answer(nursery: trio.Nursery, autojump_clock: Any) -> None:
    server = Server(versions=["2.0.1"])
    diagnostics = DiagnosticsPlugin()
    server.install(diagnostics)
    station = Router()

    @station.on("CustomerInformation")
    async def accept(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    @station.after("CustomerInformation")
    async def parts(cp: ChargePoint, request: dict[str, Any], response: dict[str, Any]) -> None:
        for seq_no in (0, 2):  # seqNo 1 is lost
            await cp.call(
                "NotifyCustomerInformation",
                {
                    "data": f"part {seq_no}",
                    "seqNo": seq_no,
                    "generatedAt": at(0),
                    "requestId": request["requestId"],
                    "tbc": seq_no < 2,
                },
            )

    async with testing.connect(server, "CS1", "2.0.1", router=station):
        with pytest.raises(MultipartTimeoutError) as timed_out:
            await diagnostics.fetch_customer_information("CS1", customer_identifier="x", wait=30)
    partial = timed_out.value.assembled
    assert (partial.complete, partial.parts, partial.missing) == (False, 2, (1,))
    assert isinstance(timed_out.value, trio.TooSlowError)


async def test_report_parts_pass_the_pending_guard_others_do_not(nursery: trio.Nursery) -> None:
    async def policy(cp: ChargePoint, request: v201.BootNotificationRequest) -> str:
        return "Pending"

    p = plugins(boot_policy=policy)
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1", Station) as cs:
            await cs.boot()
            await peer.csms(
                p.diagnostics.set_variable_monitoring,
                "CS1",
                [MonitorSpec("OCPPCommCtrlr.HeartbeatInterval", "UpperThreshold", 600)],
            )
            report = await peer.csms(p.diagnostics.fetch_monitoring_report, "CS1", wait=5)
            with pytest.raises(ocpp.exceptions.SecurityError):
                await cs.send(
                    cs._call.NotifyEvent(generated_at=at(0), seq_no=0, event_data=[event_data(1, 0, "A", "B", "1")])
                )
            return report

    with trio.fail_after(TIMEOUT):
        report = await run_peer(server, scenario)
    assert report.complete and len(report.monitors) == 1


async def test_2_1_periodic_event_streams() -> None:
    server = Server(versions=["2.0.1", "2.1"])
    diagnostics = DiagnosticsPlugin()
    server.install(diagnostics)
    station = Router()

    @station.on("GetPeriodicEventStream")
    async def get(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"constantStreamData": [{"id": 1, "params": {"interval": 5, "values": 10}, "variableMonitoringId": 101}]}

    @station.on("AdjustPeriodicEventStream")
    async def adjust(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    async with testing.connect(server, "CS21", "2.1", router=station) as cs:
        opened = await cs.call(
            "OpenPeriodicEventStream",
            {"constantStreamData": {"id": 1, "params": {"interval": 5, "values": 10}, "variableMonitoringId": 101}},
        )
        await cs.send(
            "NotifyPeriodicEventStream",
            {
                "id": 1,
                "pending": 0,
                "basetime": "2024-05-01T10:00:00Z",
                "data": [{"t": 0, "v": "11.5"}, {"t": 5.5, "v": "11.7"}],
            },
        )
        streams = await diagnostics.get_periodic_event_streams("CS21")
        adjusted = await diagnostics.adjust_periodic_event_stream("CS21", 1, interval=10)
        await cs.call("ClosePeriodicEventStream", {"id": 1})
        with trio.fail_after(5):
            while not (await diagnostics.periodic_event_streams("CS21"))[0].closed_at:
                await trio.sleep(0.01)
    assert opened == {"status": "Accepted"}
    assert streams.constant_stream_data is not None and streams.constant_stream_data[0].id == 1
    assert adjusted.status == "Accepted"
    [stream] = await diagnostics.periodic_event_streams("CS21")
    assert (stream.variable_monitoring_id, stream.interval, stream.values, stream.pending) == (101, 10, 10, 0)
    assert stream.data == (("2024-05-01T10:00:00.000Z", "11.5"), ("2024-05-01T10:00:05.500Z", "11.7"))
