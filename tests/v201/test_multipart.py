"""The multi-part assembly shared by blocks K, N and O (``PartsAssembler``): resends,
parts without a request of ours, and the "expected" marks of the Pending guard."""

from __future__ import annotations

from typing import Any

from ocpp_router import ChargePoint, Router, Server, testing
from ocpp_router.v201._base import NS_EXPECTED
from ocpp_router.v201.diagnostics import DiagnosticsPlugin
from ocpp_router.v201.smart_charging import SmartChargingPlugin, tx_default_profile

NOW = "2024-05-01T10:00:00Z"


def monitoring_part(request_id: int, seq_no: int, tbc: bool, monitor_id: int) -> dict[str, Any]:
    monitor = {
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "variableMonitoring": [
            {"id": monitor_id, "transaction": False, "value": 100, "type": "UpperThreshold", "severity": 5}
        ],
    }
    return {"requestId": request_id, "seqNo": seq_no, "generatedAt": NOW, "monitor": [monitor], "tbc": tbc}


async def test_sequenced_parts_resends_and_unrequested_reports() -> None:
    diagnostics = DiagnosticsPlugin()
    server = Server(versions=["2.0.1"])
    server.install(diagnostics)
    async with testing.connect(server, "CS1", "2.0.1") as cs:
        await cs.call("NotifyMonitoringReport", monitoring_part(7, 1, False, 11))
        await cs.call("NotifyMonitoringReport", monitoring_part(7, 1, False, 99))  # a resend: the first copy stands
        partial = await diagnostics.monitoring_report("CS1", 7)
        await cs.call("NotifyMonitoringReport", monitoring_part(7, 0, True, 10))
    assert partial is not None and (partial.complete, partial.missing) == (False, (0,))
    report = await diagnostics.monitoring_report("CS1", 7)
    assert report is not None and (report.status, report.complete, report.parts) == (None, True, 2)
    assert [m.id for m in report.monitors] == [10, 11]
    assert sorted(await diagnostics.monitors("CS1")) == [10, 11]  # a complete report updates what is known
    assert await diagnostics.monitoring_reports.request_ids("CS1") == [7]
    assert await diagnostics.monitoring_report("CS1", 8) is None


async def test_unsequenced_parts_and_the_marks_of_the_pending_guard() -> None:
    smart = SmartChargingPlugin()
    server = Server(versions=["2.0.1"])
    server.install(smart)
    station = Router()
    profile = tx_default_profile(1, [(0, 16.0)]).to_wire()
    marks: list[dict[str, Any]] = []

    @station.on("GetChargingProfiles")
    async def get(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        marks.append(await server.storage.items(NS_EXPECTED, "CS1"))  # set before the request went out
        return {"status": "Accepted"}

    @station.after("GetChargingProfiles")
    async def report(cp: ChargePoint, request: dict[str, Any], response: dict[str, Any]) -> None:
        part = {"requestId": request["requestId"], "chargingLimitSource": "CSO", "evseId": 0, "tbc": True}
        await cp.call("ReportChargingProfiles", {**part, "chargingProfile": [profile]})
        await cp.call("ReportChargingProfiles", {**part, "chargingProfile": [profile]})  # an identical resend
        await cp.call("ReportChargingProfiles", {**part, "chargingProfile": [{**profile, "id": 2}], "tbc": False})

    async with testing.connect(server, "CS1", "2.0.1", router=station):
        fetched = await smart.fetch_charging_profiles("CS1", request_id=31, wait=5)
    assert [list(m) for m in marks] == [["ReportChargingProfiles#31"]]
    assert await server.storage.items(NS_EXPECTED, "CS1") == {}  # withdrawn once complete
    assert (fetched.complete, fetched.parts, [r.id for r in fetched.profiles]) == (True, 2, [1, 2])
