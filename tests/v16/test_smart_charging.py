"""Smart Charging: profile builders (every rule, table-driven) and the helpers end to end."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from ocpp_router import v16
from ocpp_router.v16.plugins import plugins
from ocpp_router.v16.smart_charging import (
    InvalidChargingProfileError,
    charge_point_max_profile,
    charging_profile,
    tx_default_profile,
    tx_profile,
    validate_charging_profile,
)

from ._peer import Peer, at, run_peer, start_server

TIMEOUT = 20


def test_builders_make_valid_profiles() -> None:
    tx = tx_profile(7, 42, [(0, 16.0), (900, 10.0, 1), (1800, 6)], stack_level=2)
    assert tx.to_wire() == {
        "chargingProfileId": 7,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": 42,
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 900, "limit": 10.0, "numberPhases": 1},
                {"startPeriod": 1800, "limit": 6},
            ],
        },
    }
    default = tx_default_profile(1, [(0, 0)], unit="W", connector_id=0)
    assert default.charging_profile_kind == v16.ChargingProfileKindType.Relative
    cap = charge_point_max_profile(2, [(0, 11000.0)], unit="W", connector_id=0)
    assert cap.charging_profile_kind == v16.ChargingProfileKindType.Absolute
    assert cap.charging_schedule.start_schedule is not None  # Absolute: starts now
    nightly = charge_point_max_profile(
        3,
        [(0, 32.0), (6 * 3600, 16.0)],
        recurrency_kind="Daily",
        start_schedule="2024-05-01T22:00:00Z",
        duration=8 * 3600,
        valid_from="2024-05-01T00:00:00Z",
        valid_to="2025-05-01T00:00:00Z",
        min_charging_rate=6.0,
    )
    assert (nightly.charging_profile_kind, nightly.recurrency_kind) == ("Recurring", "Daily")
    assert charging_profile(profile_id=4, purpose="TxDefaultProfile", periods=[(0, 12.7)]).charging_schedule
    validate_charging_profile(tx_profile(5, 1, [(0, 10)], kind="Relative"), connector_id=2)


def period(start: int, limit: Any, phases: Any = None) -> v16.ChargingSchedulePeriod:
    return v16.ChargingSchedulePeriod(start_period=start, limit=limit, number_phases=phases)


def profile(**changes: Any) -> v16.ChargingProfile:
    """A valid TxDefaultProfile with some fields changed (bypassing the builders' checks)."""
    schedule_fields = {"charging_rate_unit", "charging_schedule_period", "duration", "start_schedule"}
    schedule_fields.add("min_charging_rate")
    schedule = {
        "charging_rate_unit": v16.ChargingRateUnitType.A,
        "charging_schedule_period": [period(0, 16.0)],
        **{k: v for k, v in changes.items() if k in schedule_fields},
    }
    fields = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": v16.ChargingProfilePurposeType.TxDefaultProfile,
        "charging_profile_kind": v16.ChargingProfileKindType.Relative,
        **{k: v for k, v in changes.items() if k not in schedule_fields},
    }
    return v16.ChargingProfile(charging_schedule=v16.ChargingSchedule(**schedule), **fields)


TX = {"charging_profile_purpose": "TxProfile", "transaction_id": 9}
MAX = {"charging_profile_purpose": "ChargePointMaxProfile", "charging_profile_kind": "Absolute"}
RECURRING = {"charging_profile_kind": "Recurring", "recurrency_kind": "Daily", "start_schedule": at(0)}


@pytest.mark.parametrize(
    ("changes", "options", "problem"),
    [
        ({"stack_level": -1}, {}, "stackLevel must be an integer >= 0"),
        ({"charging_profile_id": -3}, {}, "chargingProfileId must be an integer >= 0"),
        ({"charging_profile_purpose": "TxProfile"}, {}, "needs the transactionId"),
        ({"transaction_id": 5}, {}, "only a TxProfile may name a transactionId"),
        (TX, {"connector_id": 0}, "TxProfile can only be set on a connector > 0"),
        (MAX, {"connector_id": 1}, "ChargePointMaxProfile can only be set on connector 0"),
        ({**MAX, "charging_profile_kind": "Relative"}, {}, "cannot be Relative"),
        ({}, {"connector_id": -1}, "connectorId must be an integer >= 0"),
        (TX, {"remote_start": True}, "must not have a transactionId"),
        ({}, {"remote_start": True}, "RemoteStartTransaction takes only a TxProfile"),
        ({"charging_profile_kind": "Recurring", "start_schedule": at(0)}, {}, "needs a recurrencyKind"),
        ({"recurrency_kind": "Daily"}, {}, "only allowed with a Recurring profile"),
        ({**RECURRING, "start_schedule": None}, {}, "Recurring profile needs a startSchedule"),
        ({**RECURRING, "duration": 90000}, {}, "longer than one Daily recurrence"),
        ({"start_schedule": at(0)}, {}, "Relative profile must not have a startSchedule"),
        ({"charging_profile_kind": "Sometimes"}, {}, "unknown chargingProfileKind"),
        ({"charging_profile_purpose": "Whatever"}, {}, "unknown chargingProfilePurpose"),
        ({"charging_rate_unit": "kW"}, {}, "chargingRateUnit must be A or W"),
        ({"charging_schedule_period": []}, {}, "at least one period"),
        ({"charging_schedule_period": [period(60, 16)]}, {}, "first period must start at 0"),
        ({"charging_schedule_period": [period(0, 16), period(0, 8)]}, {}, "must be greater than the previous 0"),
        (
            {"charging_schedule_period": [period(0, 16), period(600, 8), period(300, 4)]},
            {},
            "greater than the previous",
        ),
        ({"charging_schedule_period": [period(0, -1)]}, {}, "limit must be >= 0"),
        ({"charging_schedule_period": [period(0, 6.25)]}, {}, "limit must be a multiple of 0.1"),
        ({"charging_schedule_period": [period(0, "16")]}, {}, "limit must be a number"),
        ({"charging_schedule_period": [period(0, float("nan"))]}, {}, "finite number"),
        ({"charging_schedule_period": [period(0, 16, 4)]}, {}, "numberPhases must be 1, 2 or 3"),
        ({"charging_schedule_period": [period(0, 16, 0)]}, {}, "numberPhases must be 1, 2 or 3"),
        ({"charging_schedule_period": [period(0, 16), period(3600, 8)], "duration": 3600}, {}, "within the duration"),
        ({"duration": 0}, {}, "duration must be a positive"),
        ({"min_charging_rate": 0.05}, {}, "minChargingRate must be a multiple of 0.1"),
        ({"valid_from": at(10), "valid_to": at(5)}, {}, "validTo must be after validFrom"),
        ({"valid_from": "yesterday"}, {}, "validFrom is not a date-time"),
        ({**RECURRING, "start_schedule": "soon"}, {}, "startSchedule is not a date-time"),
    ],
)
def test_invalid_profiles_are_refused(changes: dict[str, Any], options: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidChargingProfileError) as refused:
        validate_charging_profile(profile(**changes), **options)
    assert any(problem in p for p in refused.value.problems), refused.value.problems
    assert isinstance(refused.value, ValueError)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidChargingProfileError) as refused:
        tx_profile(1, 5, [(10, 6.25, 7)], stack_level=-2, connector_id=0)
    assert len(refused.value.problems) == 5
    assert str(refused.value).startswith("invalid charging profile: ")


@pytest.mark.parametrize(
    "options",
    [{"unit": "kW"}, {"kind": "Sometimes"}, {"recurrency_kind": "Monthly"}],
)
def test_builders_refuse_unknown_enum_values(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidChargingProfileError):
        tx_default_profile(1, [(0, 16)], **options)


async def test_profiles_set_cleared_and_remembered(nursery: trio.Nursery) -> None:
    p = plugins(id_tags={"TAG": "Accepted"})
    server = await start_server(nursery, p)
    sc = p.smart_charging

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            await cp.boot()
            tx = (await cp.start_transaction(1, "TAG", 0, at(0))).transaction_id
            limited = tx_profile(10, tx, [(0, 16.0), (1800, 10.0)])
            assert (await peer.csms(sc.set_charging_profile, "CP1", 1, limited)).status == "Accepted"
            site = charge_point_max_profile(20, [(0, 22000.0)], unit="W")
            assert (await peer.csms(sc.set_charging_profile, "CP1", 0, site)).status == "Accepted"
            default = tx_default_profile(30, [(0, 32.0)], stack_level=1)
            await peer.csms(sc.set_charging_profile, "CP1", 0, default)
            # Same stack level and purpose on the same connector replaces it (new id).
            tighter = tx_default_profile(31, [(0, 20.0)], stack_level=1)
            await peer.csms(sc.set_charging_profile, "CP1", 0, tighter)
            assert [i.id for i in await peer.csms(sc.charging_profiles, "CP1")] == [10, 20, 31]
            # Refused before sending: a TxProfile on connector 0.
            with pytest.raises(InvalidChargingProfileError):
                await peer.csms(sc.set_charging_profile, "CP1", 0, limited)
            assert len(cp.received["SetChargingProfile"]) == 4
            # A profile the charge point rejects is not remembered.
            cp.answers["SetChargingProfile"] = {"status": "Rejected"}
            assert (await peer.csms(sc.set_charging_profile, "CP1", 2, tx_default_profile(40, [(0, 8)]))).status == (
                "Rejected"
            )
            del cp.answers["SetChargingProfile"]
            assert [i.id for i in await peer.csms(sc.charging_profiles, "CP1", connector_id=0)] == [20, 31]
            composite = await peer.csms(sc.get_composite_schedule, "CP1", 1, 3600, charging_rate_unit="A")
            assert composite.status == "Accepted" and composite.charging_schedule.charging_rate_unit == "A"
            assert cp.received["GetCompositeSchedule"] == [
                {"connector_id": 1, "duration": 3600, "charging_rate_unit": "A"}
            ]
            # Clearing by criteria: every given criterion must match.
            cleared = await peer.csms(sc.clear_charging_profile, "CP1", connector_id=0, purpose="ChargePointMaxProfile")
            assert cleared.status == "Accepted"
            assert [i.id for i in await peer.csms(sc.charging_profiles, "CP1")] == [10, 31]
            # The TxProfile goes away with its transaction.
            await cp.stop_transaction(tx, 500, at(10))

            async def tx_profile_dropped() -> bool:
                return [i.id for i in await sc.charging_profiles("CP1")] == [31]

            await peer.until(tx_profile_dropped)  # an after-hook, right behind the answer
            await peer.csms(sc.clear_charging_profile, "CP1", profile_id=31, stack_level=7)  # the id decides
            assert await peer.csms(sc.charging_profiles, "CP1") == []
            assert cp.received["ClearChargingProfile"][-1] == {"id": 31, "stack_level": 7}

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)


async def test_helper_argument_checks(nursery: trio.Nursery) -> None:
    p = plugins()
    server = await start_server(nursery, p)

    async def scenario(peer: Peer) -> None:
        async with peer.connect("CP1") as cp:
            with pytest.raises(ValueError, match="duration"):
                await peer.csms(p.smart_charging.get_composite_schedule, "CP1", 1, 0)
            with pytest.raises(ValueError, match="connector_id"):
                await peer.csms(p.smart_charging.get_composite_schedule, "CP1", -1, 60)
            with pytest.raises(ValueError, match="Everything"):
                await peer.csms(p.smart_charging.clear_charging_profile, "CP1", purpose="Everything")
            assert not cp.received

    with trio.fail_after(TIMEOUT):
        await run_peer(server, scenario)
