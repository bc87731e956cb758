"""Block K (Smart Charging): the profile builders and validation, and the helpers against a
real ``ocpp`` 2.0.1 station over WebSockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import ChargePoint, testing, v201
from ocpp_router.errors import LocalProtocolError
from ocpp_router.v201.plugins import plugins
from ocpp_router.v201.smart_charging import (
    ChargingNeeds,
    InvalidChargingProfileError,
    SmartChargingPlugin,
    charging_profile,
    charging_schedule,
    charging_station_max_profile,
    tx_default_profile,
    tx_profile,
    validate_charging_profile,
)

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


def _problems(excinfo: pytest.ExceptionInfo[InvalidChargingProfileError]) -> str:
    return " | ".join(excinfo.value.problems)


# -- builders and validation --------------------------------------------------------------


def test_builders_make_valid_profiles() -> None:
    default = tx_default_profile(1, [(0, 16.0), (3600, 10.0, 3)], stack_level=1)
    assert default.to_wire() == {
        "id": 1,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 3600, "limit": 10.0, "numberPhases": 3},
                ],
            }
        ],
    }
    tx = tx_profile(2, "TX-1", [(0, 11000.0, 1, 2)], unit="W", evse_id=1)
    assert tx.transaction_id == "TX-1" and tx.charging_schedule[0].charging_schedule_period[0].phase_to_use == 2
    station = charging_station_max_profile(3, [(0, 63.0)], evse_id=0)
    assert station.charging_profile_kind == v201.ChargingProfileKindEnumType.Absolute
    assert station.charging_schedule[0].start_schedule is not None  # Absolute starts now
    daily = charging_profile(
        profile_id=4,
        purpose="TxDefaultProfile",
        periods=[(0, 32.0), (7 * 3600, 16.0)],
        recurrency_kind="Daily",
        start_schedule="2024-05-01T00:00:00Z",
        duration=24 * 3600,
        valid_from="2024-05-01T00:00:00Z",
        valid_to="2024-06-01T00:00:00Z",
    )
    assert (daily.charging_profile_kind, daily.recurrency_kind) == ("Recurring", "Daily")
    remote = tx_profile(5, None, [(0, 16.0)], remote_start=True)
    assert remote.transaction_id is None
    two = charging_profile(
        profile_id=6,
        purpose="TxProfile",
        transaction_id="TX-2",
        schedules=[charging_schedule([(0, 16.0)], schedule_id=1), charging_schedule([(0, 8.0)], schedule_id=2)],
    )
    assert [s.id for s in two.charging_schedule] == [1, 2]


def test_every_problem_is_listed_before_sending() -> None:
    profile = {
        "id": -1,
        "stackLevel": -2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Recurring",
        "validFrom": "2024-06-01T00:00:00Z",
        "validTo": "2024-05-01T00:00:00Z",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "kW",
                "startSchedule": "2024-05-01T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 10, "limit": -1},
                    {"startPeriod": 5, "limit": 6.25, "numberPhases": 4},
                    {"startPeriod": 20, "limit": 16, "numberPhases": 3, "phaseToUse": 1},
                ],
            }
        ],
    }
    with pytest.raises(InvalidChargingProfileError) as excinfo:
        validate_charging_profile(profile, evse_id=0)
    text = _problems(excinfo)
    for expected in (
        "id must be an integer >= 0",
        "stackLevel must be an integer >= 0",
        "a TxProfile needs the transactionId",
        "a TxProfile can only be set on an EVSE",
        "a Recurring profile needs a recurrencyKind",
        "validTo must be after validFrom",
        "chargingRateUnit must be A or W",
        "the first period must start at 0",
        "limit must be >= 0",
        "startPeriod 5 must be greater than the previous 10",
        "at most one fractional digit",
        "numberPhases must be 1, 2 or 3",
        "phaseToUse is only allowed with numberPhases 1",
    ):
        assert expected in text, expected
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("changes", "evse_id", "expected"),
    [
        ({"chargingProfilePurpose": "ChargingStationExternalConstraints"}, 0, "set by external systems"),
        ({"chargingProfilePurpose": "ChargingStationMaxProfile"}, 1, "only be set on evseId 0"),
        ({"chargingProfilePurpose": "ChargingStationMaxProfile", "chargingProfileKind": "Relative"}, 0, "Relative"),
        ({"transactionId": "TX-1"}, 1, "only a TxProfile may name a transactionId"),
        ({"recurrencyKind": "Daily"}, 1, "only allowed with a Recurring profile"),
        ({"chargingProfileKind": "Dynamic"}, 1, "unknown chargingProfileKind"),
        ({"chargingSchedule": []}, 1, "at least one chargingSchedule"),
        ({"chargingProfileKind": "Absolute"}, 1, "needs a startSchedule"),
    ],
)
def test_single_rules(changes: dict[str, Any], evse_id: int, expected: str) -> None:
    profile = tx_default_profile(1, [(0, 16.0)]).to_wire() | changes
    with pytest.raises(InvalidChargingProfileError) as excinfo:
        validate_charging_profile(profile, evse_id=evse_id)
    assert expected in _problems(excinfo)


def test_limits_on_schedules_and_periods() -> None:
    schedule = charging_schedule([(n * 10, 16.0) for n in range(1025)]).to_wire()
    profile = tx_default_profile(1, [(0, 16.0)]).to_wire()
    with pytest.raises(InvalidChargingProfileError, match="at most 1024"):
        validate_charging_profile({**profile, "chargingSchedule": [schedule]})
    with pytest.raises(InvalidChargingProfileError, match="at most 3 chargingSchedules"):
        validate_charging_profile(
            {**profile, "chargingSchedule": [{**profile["chargingSchedule"][0], "id": n} for n in range(4)]}
        )
    with pytest.raises(InvalidChargingProfileError, match="distinct"):
        validate_charging_profile({**profile, "chargingSchedule": [profile["chargingSchedule"][0]] * 2})
    with pytest.raises(InvalidChargingProfileError, match="not within the duration"):
        tx_default_profile(1, [(0, 16.0), (600, 8.0)], duration=600)
    with pytest.raises(InvalidChargingProfileError, match="must not have a transactionId"):
        tx_profile(1, "TX-1", [(0, 16.0)], remote_start=True)
    # 2.1 widens the purposes and kinds, and a period's limit becomes optional
    dynamic = {**profile, "chargingProfilePurpose": "PriorityCharging", "chargingProfileKind": "Dynamic"}
    dynamic["chargingSchedule"] = [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0}]}]
    validate_charging_profile(dynamic, version="2.1")
    with pytest.raises(InvalidChargingProfileError):
        validate_charging_profile(dynamic)


# -- against a real station ---------------------------------------------------------------


async def test_set_get_clear_and_composite_schedule(nursery: trio.Nursery) -> None:
    p = plugins()
    smart = p.smart_charging
    server = await start_server(nursery, p)
    default = tx_default_profile(10, [(0, 32.0), (1800, 16.0)], stack_level=0)
    station_max = charging_station_max_profile(11, [(0, 20.0)], evse_id=0)
    capped = tx_profile(12, "TX-9", [(0, 24.0)], evse_id=1)

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            answers = [
                await peer.csms(smart.set_charging_profile, "CS1", 0, default),
                await peer.csms(smart.set_charging_profile, "CS1", 0, station_max),
                await peer.csms(smart.set_charging_profile, "CS1", 1, capped),
            ]
            with pytest.raises(InvalidChargingProfileError):  # nothing is sent
                await peer.csms(smart.set_charging_profile, "CS1", 0, capped)
            composite = await peer.csms(smart.get_composite_schedule, "CS1", 1, 3600, charging_rate_unit="A")
            report = await peer.csms(smart.fetch_charging_profiles, "CS1", wait=5)
            none = await peer.csms(smart.fetch_charging_profiles, "CS1", purpose="TxProfile", evse_id=2, wait=5)
            cleared = await peer.csms(smart.clear_charging_profile, "CS1", purpose="TxDefaultProfile", evse_id=0)
            unknown = await peer.csms(smart.clear_charging_profile, "CS1", profile_id=999)
            await cs.send(
                cs.event("Ended", "TX-9", "EVDeparted", at(5), evse=1, stopped_reason="EVDisconnected", seq_no=7)
            )
            return answers, composite, report, none, cleared, unknown, len(cs.received["SetChargingProfile"])

    with trio.fail_after(TIMEOUT):
        answers, composite, report, none, cleared, unknown, sent = await run_peer(server, scenario)
    assert [a.status for a in answers] == ["Accepted"] * 3 and sent == 3
    assert composite.status == "Accepted" and composite.schedule is not None
    assert [(x.start_period, x.limit) for x in composite.schedule.charging_schedule_period] == [(0, 20.0)]
    assert (await smart.composite_schedule("CS1", 1))["evseId"] == 1  # type: ignore[index]
    assert (report.status, report.complete, report.parts) == ("Accepted", True, 3)
    assert sorted((r.evse_id, r.id, r.charging_limit_source) for r in report.profiles) == [
        (0, 10, "CSO"),
        (0, 11, "CSO"),
        (1, 12, "CSO"),
    ]
    assert (none.status, none.complete, none.profiles) == ("NoProfiles", True, ())
    assert cleared.status == "Accepted" and unknown.status == "Unknown"
    await trio.sleep(0.05)  # the TxProfile is dropped after the Ended event was answered
    assert [(i.evse_id, i.id, i.purpose) for i in await smart.charging_profiles("CS1")] == [
        (0, 11, "ChargingStationMaxProfile")
    ]


async def test_station_notifications_are_stored_and_answered(nursery: trio.Nursery) -> None:
    seen: list[ChargingNeeds] = []

    async def needs_hook(cp: ChargePoint, needs: ChargingNeeds) -> str:
        seen.append(needs)
        return "Processing"

    p = plugins(on_charging_needs=needs_hook)
    smart = p.smart_charging
    server = await start_server(nursery, p)
    schedule = {
        "id": 1,
        "charging_rate_unit": "W",
        "charging_schedule_period": [{"start_period": 0, "limit": 7000.0}],
        "start_schedule": at(0),
    }

    async def scenario(peer: Peer) -> Any:
        async with peer.connect("CS1") as cs:
            await cs.boot()
            needs = await cs.send(
                cs._call.NotifyEVChargingNeeds(
                    evse_id=1,
                    charging_needs={
                        "requested_energy_transfer": "AC_three_phase",
                        "departure_time": at(120),
                        "ac_charging_parameters": {
                            "energy_amount": 20000,
                            "ev_min_current": 6,
                            "ev_max_current": 32,
                            "ev_max_voltage": 400,
                        },
                    },
                    max_schedule_tuples=3,
                )
            )
            ev = await cs.send(
                cs._call.NotifyEVChargingSchedule(time_base=at(0), charging_schedule=schedule, evse_id=1)
            )
            await cs.send(
                cs._call.NotifyChargingLimit(
                    charging_limit={"charging_limit_source": "SO", "is_grid_critical": True},
                    charging_schedule=[schedule],
                    evse_id=1,
                )
            )
            await cs.send(cs._call.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"}))
            await cs.send(cs._call.ClearedChargingLimit(charging_limit_source="SO", evse_id=1))
            return needs, ev

    with trio.fail_after(TIMEOUT):
        needs, ev = await run_peer(server, scenario)
    assert needs.status == "Processing" and ev.status == "Accepted"
    stored = await smart.charging_needs("CS1", 1)
    assert stored is not None and (stored.status, stored.requested_energy_transfer, stored.max_schedule_tuples) == (
        "Processing",
        "AC_three_phase",
        3,
    )
    assert stored.ac_charging_parameters == {
        "energyAmount": 20000,
        "evMinCurrent": 6,
        "evMaxCurrent": 32,
        "evMaxVoltage": 400,
    }
    assert [n.evse_id for n in seen] == [1]
    chosen = await smart.ev_charging_schedule("CS1", 1)
    assert chosen is not None and chosen.charging_schedule["chargingSchedulePeriod"][0]["limit"] == 7000.0
    limits = {(limit.charging_limit_source, limit.evse_id): limit for limit in await smart.charging_limits("CS1")}
    assert limits[("SO", 1)].is_grid_critical and not limits[("SO", 1)].active
    assert limits[("SO", 1)].charging_schedule[0]["id"] == 1
    assert [
        (limit.charging_limit_source, limit.evse_id) for limit in await smart.charging_limits("CS1", active=True)
    ] == [("EMS", None)]


async def test_needs_without_a_hook_are_rejected_and_2_1_messages(nursery: trio.Nursery) -> None:
    """Without an app that computes schedules the honest answer is Rejected; the 2.1
    priority-charging and dynamic-profile messages are served on 2.1 connections only."""

    async def dynamic(cp: ChargePoint, profile_id: int) -> dict[str, Any] | None:
        return {"limit": 11.0} if profile_id == 7 else None

    smart = SmartChargingPlugin(dynamic_schedule=dynamic)
    from ocpp_router import Router, Server

    server = Server(versions=["2.0.1", "2.1"])
    server.install(smart)
    station = Router()

    @station.on("UsePriorityCharging")
    async def use(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    @station.on("UpdateDynamicSchedule")
    async def update(cp: ChargePoint, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    needs = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}}
    async with testing.connect(server, "CS20", "2.0.1") as cs20:
        assert (await cs20.call("NotifyEVChargingNeeds", needs)) == {"status": "Rejected"}
        with pytest.raises(LocalProtocolError):
            await smart.use_priority_charging("CS20", "TX-1")
    async with testing.connect(server, "CS21", "2.1", router=station) as cs21:
        assert (await cs21.call("PullDynamicScheduleUpdate", {"chargingProfileId": 7}))["scheduleUpdate"] == {
            "limit": 11.0
        }
        assert (await cs21.call("PullDynamicScheduleUpdate", {"chargingProfileId": 8}))["status"] == "Rejected"
        await cs21.call("NotifyPriorityCharging", {"transactionId": "TX-21", "activated": True})
        assert (await smart.use_priority_charging("CS21", "TX-21", False)).status == "Accepted"
        assert (await smart.update_dynamic_schedule("CS21", 7, {"limit": 8.0})).status == "Accepted"
    assert await smart.priority_charging("CS21") == {"TX-21": True}
